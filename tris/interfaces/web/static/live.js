// Progressive enhancement: while a market is open, refresh its tally every 15 seconds.
// The page is complete without this script; it only replaces the figures' text.
(function () {
  "use strict";
  var box = document.getElementById("live-tally");
  if (!box || !box.dataset.live || !window.fetch) { return; }
  var language = document.documentElement.lang || "de";
  var numbers = new Intl.NumberFormat(language);
  function refresh() {
    fetch(box.dataset.live, { headers: { Accept: "application/json" } })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (stats) {
        if (!stats) { return; }
        box.querySelectorAll("[data-figure]").forEach(function (figure) {
          var value = stats[figure.dataset.figure];
          if (typeof value === "number") { figure.textContent = numbers.format(value); }
        });
      })
      .catch(function () { /* the figures on the page stay as they were */ });
  }
  window.setInterval(refresh, 15000);
})();
