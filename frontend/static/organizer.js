// 积分超市, the organizer's pages: the live attendance list, the rotating code on the screen
// page, the poster's print button. Every page works without this file (it shows what was true
// when it loaded, with a reload link).
"use strict";

// Beijing time as HH:MM (China has no daylight saving, so a fixed +8 h is exact).
function beijingTime(iso) {
  if (!iso) {
    return "—";
  }
  const at = new Date(Date.parse(iso) + 8 * 3600 * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return two(at.getUTCHours()) + ":" + two(at.getUTCMinutes());
}

function nowBeijing() {
  const iso = new Date().toISOString();
  return beijingTime(iso) + ":" + iso.slice(17, 19);
}

// The activity page: fetch the attendance every few seconds and re-render the list from the
// row the page itself rendered as a <template>, so the markup and its texts live in one place.
(function liveAttendance() {
  const list = document.getElementById("stays");
  const template = document.getElementById("stay-template");
  if (!list || !template) {
    return;
  }
  const labels = JSON.parse(list.dataset.labels);
  const EVERY = 5000;
  let last = null;
  document.querySelectorAll(".live").forEach((node) => { node.hidden = false; });

  function fill(row, stay) {
    const slot = (name) => row.querySelector("[data-slot=" + name + "]");
    row.dataset.person = stay.person_id;
    row.dataset.approval = stay.approval || "";
    slot("name").textContent = stay.name;
    slot("phone").textContent = stay.phone;
    slot("in").textContent = beijingTime(stay.in_at);
    slot("out").textContent = beijingTime(stay.out_at);
    slot("hours").textContent = stay.hours || "—";
    slot("points").textContent = stay.points;
    const status = slot("status");
    status.dataset.value = stay.status;
    status.textContent = labels.status[stay.status] || stay.status;
    const approval = slot("approval");
    approval.dataset.value = stay.approval || "";
    approval.textContent = stay.approval ? labels.approval[stay.approval] || stay.approval : "";
    approval.hidden = !stay.approval;
    // An assisted check-in (by name and room): who made it.
    const assisted = slot("assisted");
    if (assisted) {
      assisted.hidden = !stay.assisted_by;
      slot("assisted-by").textContent = stay.assisted_by_name || "";
    }
    row.querySelectorAll("[data-when]").forEach((actions) => {
      const wanted = actions.dataset.when === "pending" ? stay.approval === "pending" : stay.status === "closed";
      if (!wanted) {
        actions.remove();
      }
    });
    row.querySelectorAll("input[name=person_id]").forEach((input) => { input.value = stay.person_id; });
    row.querySelectorAll("a[data-href]").forEach((link) => { link.href = link.dataset.href + stay.person_id; });
  }

  function render(items) {
    const rows = items.map((stay) => {
      const row = template.content.firstElementChild.cloneNode(true);
      fill(row, stay);
      return row;
    });
    list.replaceChildren(...rows);
    const count = (test) => items.filter(test).length;
    const set = (id, value) => {
      const node = document.getElementById(id);
      if (node) {
        node.textContent = String(value);
      }
    };
    set("count-came", items.length);
    set("count-present", count((stay) => stay.status === "in"));
    const pending = count((stay) => stay.approval === "pending");
    set("count-pending", pending);
    const approveAll = document.getElementById("approve-all");
    if (approveAll) {
      approveAll.hidden = pending === 0;
    }
    document.getElementById("no-stays").hidden = items.length > 0;
  }

  async function refresh() {
    // Not while hidden, nor under the organizer's finger (a button about to be pressed).
    if (document.hidden || list.contains(document.activeElement)) {
      return;
    }
    try {
      const response = await fetch(list.dataset.source, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        return;  // signed out or cancelled meanwhile: the next reload says so
      }
      const text = await response.text();
      const asOf = document.getElementById("as-of");
      if (asOf) {
        asOf.textContent = nowBeijing();
      }
      if (text !== last) {
        last = text;
        render(JSON.parse(text).items);
      }
    } catch (error) {
      // Offline for a moment: the next round tries again.
    }
  }

  window.setInterval(refresh, EVERY);
})();

// The screen page: count down, then fetch the next code and swap the picture without a reload.
(function rotatingCode() {
  const figure = document.getElementById("activity-code");
  if (!figure) {
    return;
  }
  const image = document.getElementById("activity-code-image");
  const countdown = document.getElementById("screen-countdown");
  let token = figure.dataset.token;
  let left = Number(figure.dataset.refresh) || 30;
  let busy = false;

  // The new picture is loaded off screen first, so the screen never shows a blank square.
  function show(source) {
    return new Promise((resolve, reject) => {
      const next = new Image();
      next.onload = () => { image.src = source; resolve(); };
      next.onerror = reject;
      next.src = source;
    });
  }

  async function refresh() {
    try {
      const response = await fetch(figure.dataset.source, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        window.location.reload();  // signed out or no longer allowed: the page says why
        return;
      }
      const code = await response.json();
      if (code.token !== token) {
        await show(figure.dataset.source + ".png?v=" + encodeURIComponent(code.token));
        token = code.token;
      }
      left = code.refresh_in;
    } catch (error) {
      left = 3;  // offline for a moment: try again soon
    }
    countdown.textContent = String(left);
  }

  window.setInterval(() => {
    if (busy) {
      return;
    }
    left -= 1;
    countdown.textContent = String(Math.max(left, 0));
    if (left <= 0) {
      busy = true;
      refresh().finally(() => { busy = false; });
    }
  }, 1000);

  // A phone showing the code should not go dark (where the browser allows it: HTTPS only).
  async function stayAwake() {
    try {
      if (navigator.wakeLock && document.visibilityState === "visible") {
        await navigator.wakeLock.request("screen");
      }
    } catch (error) {
      // Not allowed here (battery saver, no HTTPS): the screen may dim, nothing else changes.
    }
  }
  stayAwake();
  document.addEventListener("visibilitychange", stayAwake);

  const full = document.getElementById("fullscreen");
  if (full && document.fullscreenEnabled) {
    full.hidden = false;
    full.addEventListener("click", () => {
      if (document.fullscreenElement) {
        document.exitFullscreen();
      } else {
        document.documentElement.requestFullscreen().catch(() => {});
      }
    });
  }
})();

// The poster page: a print button (without JS, the browser's own Print menu does the same).
(function printButton() {
  const button = document.getElementById("print");
  if (!button) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", () => window.print());
})();
