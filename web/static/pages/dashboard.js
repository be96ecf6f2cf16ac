/* Dashboard: charts and tables. */
(function () {
  "use strict";

  // Dashboard: one line per dispute type over the periods.
  var trend = window.LeiAn.readJson("trend-data");
  var trendCanvas = document.getElementById("trend-chart");
  if (trend && trendCanvas && window.Chart) {
    var palette = ["#0f5468", "#c8553d", "#2f7d4f", "#b7791f", "#3182ce", "#805ad5", "#d53f8c", "#718096", "#38a169", "#dd6b20"];
    var types = trend.types;  // busiest first (the keys of trend.trend arrive sorted by name)
    new window.Chart(trendCanvas, {
      type: "line",
      data: {
        labels: trend.periods,
        datasets: types.map(function (name, i) {
          return {
            label: name, data: trend.trend[name], borderColor: palette[i % palette.length],
            backgroundColor: palette[i % palette.length], tension: 0.25, pointRadius: 2, borderWidth: 2,
            hidden: i >= 5
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
