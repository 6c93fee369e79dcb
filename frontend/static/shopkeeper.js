// 积分超市: the shop keeper's pages, enhanced. Every form works without this file.
"use strict";

(function shopkeeper() {
  const english = (document.documentElement.lang || "").toLowerCase().startsWith("en");
  const TEXT = english ? {
    less: "One less: ",
    more: "One more: ",
    pin: "This is a printed card: let the resident type their PIN, then confirm.",
    tooBig: "The photo is larger than 5 MB: choose a smaller one.",
  } : {
    less: "减少一件：",
    more: "增加一件：",
    pin: "这是实体卡：请居民输入数字密码，然后确认兑换。",
    tooBig: "照片超过 5 MB，请换一张小一些的。",
  };

  // -- the counter's cart: +/- beside each quantity, and the total as it changes -------------
  const cart = document.getElementById("cart");
  const total = document.getElementById("cart-total");

  function hundredths(price) {
    const [whole, part = ""] = String(price).split(".");
    return Number(whole) * 100 + Number((part + "00").slice(0, 2));
  }

  function showTotal() {
    if (!cart || !total) {
      return;
    }
    let sum = 0;
    cart.querySelectorAll(".cart-line").forEach((line) => {
      const input = line.querySelector("input");
      const quantity = Number(input.value);
      if (!input.disabled && Number.isInteger(quantity) && quantity > 0 && quantity <= 99) {
        sum += hundredths(line.dataset.price) * quantity;
      }
    });
    total.textContent = Math.floor(sum / 100) + "." + String(sum % 100).padStart(2, "0");
  }

  if (cart) {
    cart.querySelectorAll(".cart-line").forEach((line) => {
      const input = line.querySelector("input");
      if (input.disabled) {
        return;
      }
      const name = line.querySelector("label").textContent.trim();
      const step = (by, text, label) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "step-button";
        button.textContent = text;
        button.setAttribute("aria-label", label + name);
        button.addEventListener("click", () => {
          const max = Number(input.max) || 99;
          const now = Number(input.value) || 0;
          input.value = String(Math.min(max, Math.max(0, now + by)));
          if (input.value === "0") {
            input.value = "";
          }
          showTotal();
        });
        return button;
      };
      input.before(step(-1, "−", TEXT.less));
      input.after(step(1, "+", TEXT.more));
    });
    cart.addEventListener("input", showTotal);
    showTotal();
  }

  // -- a printed card needs its PIN: ask for it before the form goes ---------------------------
  const counterForm = document.getElementById("counter-form");
  const pinField = document.getElementById("pin-field");
  if (counterForm && pinField) {
    const code = counterForm.elements.namedItem("member_code");
    const pin = counterForm.elements.namedItem("pin");
    const note = pinField.querySelector(".note");
    // A card's code is a token of kind 2: base32 "A" then one of I–L (a phone's code: E–H).
    const isCard = () => /^A[IJKL]/.test(code.value.replace(/\s+/g, "").toUpperCase());
    const reveal = () => {
      if (isCard()) {
        pinField.hidden = false;
      }
    };
    code.addEventListener("input", reveal);
    counterForm.addEventListener("submit", (event) => {
      if (isCard() && !pin.value) {
        event.preventDefault();
        event.stopPropagation();  // the form is not sent: its button stays usable
        pinField.hidden = false;
        note.textContent = TEXT.pin;
        note.setAttribute("role", "alert");
        pin.focus();
      }
    });
  }

  // -- print buttons (receipt, the day's accounts) -----------------------------------------------
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  });

  // -- a photo over the limit is refused before minutes of uploading ------------------------------
  document.querySelectorAll("[data-photo-form]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      const input = form.querySelector("input[type=file][data-max-bytes]");
      const file = input && input.files && input.files[0];
      if (file && file.size > Number(input.dataset.maxBytes)) {
        event.preventDefault();
        event.stopPropagation();
        let message = form.querySelector(".photo-too-big");
        if (!message) {
          message = document.createElement("p");
          message.className = "field-error photo-too-big";
          message.setAttribute("role", "alert");
          input.after(message);
        }
        message.textContent = TEXT.tooBig;
        input.focus();
      }
    });
  });
})();
