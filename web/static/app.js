/* LeiAn pages: small progressive enhancements. Data comes from JSON blocks in the page
   (<script type="application/json">), never from inline scripts (the CSP forbids them). */
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // Case page: the "add to library" form posts to the chosen library.
  var addForm = document.getElementById("add-to-library");
  if (addForm) {
    addForm.addEventListener("submit", function () {
      addForm.action = document.getElementById("library-select").value;
    });
  }

  // Ingest: say that work is under way while the upload is processed.
  var ingestForm = document.getElementById("ingest-form");
  if (ingestForm) {
    ingestForm.addEventListener("submit", function () {
      document.getElementById("ingest-progress").hidden = false;
      document.getElementById("ingest-button").disabled = true;
    });
  }

  // Dashboard: one line per dispute type over the periods.
  var trend = readJson("trend-data");
  var trendCanvas = document.getElementById("trend-chart");
  if (trend && trendCanvas && window.Chart) {
    var palette = ["#0f5468", "#c8553d", "#2f7d4f", "#b7791f", "#3182ce", "#805ad5", "#d53f8c", "#718096", "#38a169", "#dd6b20"];
    var types = Object.keys(trend.trend);
    new window.Chart(trendCanvas, {
      type: "line",
      data: {
        labels: trend.periods,
        datasets: types.map(function (name, i) {
          return {
            label: name, data: trend.trend[name], borderColor: palette[i % palette.length],
            backgroundColor: palette[i % palette.length], tension: 0.25, pointRadius: 2, borderWidth: 2,
            hidden: i >= 6
          };
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "件数" } } }
      }
    });
  }
})();
