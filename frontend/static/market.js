// 积分超市: small enhancements; every page works without this file.
"use strict";

// A form submits once: a second tap on a slow phone would only send it again.
document.addEventListener("submit", (event) => {
  const button = event.target.querySelector("button[type=submit]");
  if (button) {
    window.setTimeout(() => { button.disabled = true; }, 0);
  }
});

// The member code page: count down, then fetch a fresh code and picture without reloading.
// 延长时间 (more time) shows while the code on the screen stops working within 3 minutes; a
// longer code, once it is due for renewal, is followed by an ordinary one (more time is asked for
// each time, never given for good).
(function memberCode() {
  const figure = document.getElementById("member-code");
  if (!figure) {
    return;
  }
  const image = document.getElementById("code-image");
  const text = document.getElementById("code-text");
  const countdown = document.getElementById("countdown");
  const extendBox = document.getElementById("extend-box");
  const extendedNote = document.getElementById("extended-note");
  const extendWithin = Number(figure.dataset.extendWithin) || 180;
  let left = Number(figure.dataset.refresh) || 30;
  let expiresIn = Number(figure.dataset.expiresIn) || left;
  let busy = false;

  function offerMoreTime() {
    if (extendBox) {
      extendBox.hidden = expiresIn > extendWithin;
    }
  }

  async function refresh() {
    try {
      const response = await fetch("/api/me/code", { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        window.location.reload();  // signed out meanwhile: the page sends to sign-in
        return;
      }
      const code = await response.json();
      text.textContent = code.code;
      image.src = "/api/me/code.png?t=" + Date.now();
      left = code.refresh_in;
      // Accepted one step longer than it is shown (the server's rule for both kinds of code).
      expiresIn = code.refresh_in + code.step_seconds;
      if (extendedNote) {
        extendedNote.hidden = true;
      }
      offerMoreTime();
    } catch (error) {
      left = 5;  // offline for a moment: try again soon
    }
    countdown.textContent = String(left);
  }

  window.setInterval(() => {
    if (busy) {
      return;
    }
    left -= 1;
    expiresIn -= 1;
    offerMoreTime();
    countdown.textContent = String(Math.max(left, 0));
    if (left <= 0) {
      busy = true;
      refresh().finally(() => { busy = false; });
    }
  }, 1000);
})();
