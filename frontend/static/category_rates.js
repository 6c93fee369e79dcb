// 积分超市, the activity form: choosing an earning category fills in its default rates, which
// the organizer may still change. Without script the server fills in rates left empty.
"use strict";

document.querySelectorAll("input[name=category][data-points-per-checkin]").forEach((choice) => {
  choice.addEventListener("change", () => {
    if (!choice.checked) {
      return;
    }
    for (const [field, key] of [["points_per_checkin", "pointsPerCheckin"], ["points_per_hour", "pointsPerHour"]]) {
      const input = document.getElementById(field);
      if (input) {
        input.value = choice.dataset[key];
      }
    }
  });
});
