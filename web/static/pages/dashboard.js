/* Dashboard: the choices apply at once; the trend chart, whose points open the cases behind them,
   draws a period that is not over yet as a dashed line; charts download as PNG. */
(function () {
  "use strict";
  var form = document.getElementById("dashboard-form");
  if (form) {
    Array.prototype.forEach.call(form.querySelectorAll("select"), function (select) {
      select.addEventListener("change", function () {
        // Periods of months and of weeks are different lists: a new granularity starts at its latest period.
        if (select.id === "period-kind") { var at = document.getElementById("period-at"); if (at) { at.disabled = true; } }
        form.submit();
      });
    });
  }

  var trend = window.LeiAn.readJson("trend-data");
  var canvas = document.getElementById("trend-chart");
  if (!(trend && canvas && window.Chart)) { return; }
  var palette = ["#0f5468", "#c8553d", "#2f7d4f", "#b7791f", "#3182ce", "#805ad5", "#a0aec0"];
  var last = trend.periods.length - 1;
  var unfinished = trend.incomplete && trend.periods[last] === trend.incomplete;
  var labels = trend.periods.map(function (p, i) { return unfinished && i === last ? p + "（未完）" : p; });
  var chart = new window.Chart(canvas, {
    type: "line",
    data: {
      labels: labels,
      datasets: trend.order.map(function (name, i) {
        var colour = name === trend.folded_name ? "#a0aec0" : palette[i % palette.length];
        return {
          label: name, data: trend.trend[name], borderColor: colour, backgroundColor: colour, tension: 0.25,
          pointRadius: trend.periods.length > 30 ? 1.5 : 3, pointHoverRadius: 6, borderWidth: 2,
          segment: { borderDash: function (ctx) { return unfinished && ctx.p1DataIndex === last ? [6, 4] : undefined; } }
        };
      })
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "nearest", intersect: true },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: { callbacks: { footer: function () { return "单击查看这些案件"; } } }
      },
      scales: {
        x: { ticks: { autoSkip: true, maxRotation: 60, maxTicksLimit: 14 } },
        y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "件数" } }
      },
      onClick: function (event, elements) {
        if (!elements.length) { return; }
        var point = elements[0];
        var name = trend.order[point.datasetIndex];
        var range = trend.ranges[trend.periods[point.index]];
        var params = new URLSearchParams({ since: range[0], until: range[1] });
        if (name !== trend.folded_name) { params.set("type", trend.filters[name] || name); }
        window.location.href = trend.list_url + "?" + params.toString();
      }
    }
  });
  canvas.chart = chart;  // reachable from the end-to-end tests

  var png = document.getElementById("trend-png");
  if (png) {
    png.addEventListener("click", function () { png.href = chart.toBase64Image("image/png", 1); });
  }
})();
