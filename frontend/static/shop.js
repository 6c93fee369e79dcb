// 积分超市 shop pages: big − and + buttons beside the quantity, and the total kept up to date.
// The reservation form works without this file (the total is then the one the server wrote).
"use strict";

(function reserveForm() {
  const form = document.querySelector("form.reserve");
  if (!form) {
    return;
  }
  const input = form.querySelector("#quantity");
  const total = form.querySelector("#total");
  const most = Number(input.max) || 99;
  // Points are exact: work in whole hundredths, never in floating-point points.
  const [whole, part = ""] = form.dataset.price.split(".");
  const priceHundredths = Number(whole) * 100 + Number((part + "00").slice(0, 2));

  function quantity() {
    const typed = Number(input.value);
    return Number.isInteger(typed) && typed >= 1 ? typed : 1;
  }

  function showTotal() {
    const hundredths = priceHundredths * quantity();
    // As the pages' ``points`` filter writes amounts: "5" for 5.00, "5.5" for 5.50, "5.25".
    const cents = hundredths % 100;
    const fraction = cents === 0 ? "" : "." + String(cents).padStart(2, "0").replace(/0$/, "");
    const text = Math.floor(hundredths / 100) + fraction;
    total.textContent = total.dataset.template.replace("{points}", text);
  }

  form.querySelectorAll("button.step").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => {
      const next = quantity() + Number(button.dataset.step);
      input.value = String(Math.min(Math.max(next, 1), most));
      showTotal();
    });
  });
  input.addEventListener("input", showTotal);
})();
