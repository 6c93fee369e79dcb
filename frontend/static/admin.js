// 积分超市: the admin's pages. Small enhancements; every page works without this file.
"use strict";

// The card sheet: a print button (without script, the browser's own print menu does the same).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});

// Forms that cannot be undone ask first (issuing a new card stops the old one): the first press puts
// the question above the button and makes the button the "yes"; the second sends. No pop-up: 长辈版
// allows none (MIIT's 适老化 rules), and a question on the page is one everybody can read again.
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (form.dataset.asked === "yes") {
      return;
    }
    event.preventDefault();
    event.stopPropagation();  // market.js would disable the button of a form not sent
    form.dataset.asked = "yes";
    const question = document.createElement("p");
    question.className = "alert";
    question.setAttribute("role", "alert");
    question.dataset.question = "";
    question.textContent = form.dataset.confirm;
    form.prepend(question);
    const button = form.querySelector("button[type=submit], button:not([type])");
    if (button && form.dataset.confirmLabel) {
      button.textContent = form.dataset.confirmLabel;
    }
  });
});

// A roster being checked or imported: move the progress bar until the job is done, then show
// the result. Without script, the page refreshes itself instead (<noscript> meta refresh).
(function importProgress() {
  const job = document.getElementById("import-job");
  if (!job || !["checking", "importing"].includes(job.dataset.state)) {
    return;
  }
  const bar = document.getElementById("progress-bar");
  const stage = document.getElementById("progress-stage");
  const count = document.getElementById("progress-count");
  const labels = JSON.parse(stage.dataset.labels || "{}");

  async function poll() {
    let status;
    try {
      const response = await fetch(job.dataset.status, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        window.location.reload();  // signed out, or the job is gone: the page says which
        return;
      }
      status = await response.json();
    } catch (error) {
      window.setTimeout(poll, 3000);  // offline for a moment: try again
      return;
    }
    if (status.state !== job.dataset.state) {
      window.location.reload();
      return;
    }
    stage.textContent = labels[status.stage] || "";
    if (status.percent === null) {
      bar.removeAttribute("value");  // nothing to count yet: an indeterminate bar
      count.textContent = "";
    } else {
      bar.max = status.total;
      bar.value = status.done;
      count.textContent = status.done + " / " + status.total;
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 1000);
})();
