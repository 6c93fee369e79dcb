// 民声求助: the photo picker says which photo was chosen (its own button hides the browser's).
"use strict";

document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.classList.contains("file-input")) {
    return;
  }
  const shown = document.getElementById(input.id + "-name");
  if (!shown) {
    return;
  }
  const file = input.files && input.files[0];
  shown.textContent = file ? shown.dataset.chosen.replace("{name}", file.name) : "";
  shown.hidden = !file;
});
