// Charts of the portal (Chart.js from npm, served as vendor/chartjs). No inline
// scripts: a page declares <canvas data-chart="KIND" data-source="JSON-ID"> and
// puts its data in a {{ data|json_script:"JSON-ID" }} element (or a small JSON
// object in the canvas's data-values attribute).
(function () {
  "use strict";
  var BRAND = "#e1251b", OK = "#1a7f37", ERR = "#b42318", BLUE = "#0b5cad", GREY = "#98a2b3";
  var number = new Intl.NumberFormat("zh-CN");

  // A phone-sized chart (under 480 px wide): fewer, unrotated ticks, small legend, no
  // axis titles, so every label stays readable instead of being cut off.
  var NARROW = 480;
  var narrow = false;

  function xTicks() {
    return narrow ? {maxRotation: 0, autoSkip: true, maxTicksLimit: 5, font: {size: 11}} : {maxRotation: 0, autoSkip: true};
  }

  function commonOptions(extra) {
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: {mode: "index", intersect: false},
      plugins: {
        legend: {position: "bottom", labels: narrow ? {boxWidth: 12, font: {size: 11}} : {}},
        tooltip: {callbacks: {label: function (ctx) {
          return ctx.dataset.label + "：" + number.format(ctx.parsed.y !== undefined ? ctx.parsed.y : ctx.parsed) + " 条";
        }}}
      }
    };
    return Object.assign(options, extra || {});
  }

  var builders = {
    // 短信账户: parts charged per day (bars, left axis) and the balance at each day's end
    // (line, right axis); credits show as the balance rising (on one axis with the
    // charges they would dwarf them).
    "balance-usage": function (data) {
      return {
        data: {labels: data.labels, datasets: [
          {type: "bar", label: "当日扣费", data: data.charged, backgroundColor: BRAND, yAxisID: "y", maxBarThickness: 24},
          {type: "line", label: "日终余量", data: data.balance, borderColor: BLUE, backgroundColor: BLUE,
           pointRadius: 2, tension: 0, yAxisID: "y1"}
        ]},
        options: commonOptions({scales: {
          x: {ticks: xTicks()},
          y: {beginAtZero: true, position: "left", title: {display: !narrow, text: "条/天"}, ticks: {precision: 0}},
          y1: {beginAtZero: true, position: "right", grid: {drawOnChartArea: false}, title: {display: !narrow, text: "余量（条）"}}
        }})
      };
    },
    // 营销任务: messages handed over, delivered and failed per hour.
    "campaign-timeline": function (data) {
      return {
        type: "bar",
        data: {labels: data.labels, datasets: [
          {label: "已提交", data: data.sent, backgroundColor: BLUE, maxBarThickness: 40},
          {label: "发送成功", data: data.delivered, backgroundColor: OK, maxBarThickness: 40},
          {label: "发送失败", data: data.failed, backgroundColor: ERR, maxBarThickness: 40}
        ]},
        options: commonOptions({scales: {x: {ticks: xTicks()}, y: {beginAtZero: true, ticks: {precision: 0}}}})
      };
    },
    // 营销任务: where every recipient ended up.
    "campaign-outcome": function (d) {
      var awaiting = Math.max(d.sent - d.delivered - d.failed - d.expired, 0);
      return {
        type: "doughnut",
        data: {labels: ["发送成功", "发送失败", "等待回执", "已过滤", "无回执退回"],
               datasets: [{data: [d.delivered, d.failed, awaiting, d.suppressed, d.expired],
                           backgroundColor: [OK, ERR, "#f79009", GREY, "#7a5af8"]}]},
        options: {responsive: true, maintainAspectRatio: false, animation: false,
                  plugins: {legend: {position: narrow ? "bottom" : "right",
                                     labels: narrow ? {boxWidth: 12, font: {size: 11}} : {}}, tooltip: {callbacks: {label: function (ctx) {
                    return ctx.label + "：" + number.format(ctx.parsed) + " 人";
                  }}}}}
      };
    }
  };

  function draw(canvas) {
    // Data from a json_script element (data-source) or a small JSON attribute (data-values).
    var source = document.getElementById(canvas.getAttribute("data-source") || "");
    var text = source ? source.textContent : canvas.getAttribute("data-values");
    var build = builders[canvas.getAttribute("data-chart")];
    if (!text || !build || !window.Chart) return;
    var data = JSON.parse(text);
    narrow = canvas.parentElement.clientWidth < NARROW;
    canvas.setAttribute("data-narrow", narrow ? "true" : "false");
    var existing = window.Chart.getChart(canvas);
    if (existing) existing.destroy();
    var config = build(data);
    if (!config.type) config.type = "bar";
    new window.Chart(canvas, config);
    canvas.setAttribute("data-drawn", "true");
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // A chart that crosses the phone width (a rotated phone, a resized window) is built again
  // with the options of its new width; Chart.js itself only rescales it.
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () {
      document.querySelectorAll("canvas[data-drawn]").forEach(function (canvas) {
        var now = canvas.parentElement.clientWidth < NARROW;
        if ((canvas.getAttribute("data-narrow") === "true") !== now) draw(canvas);
      });
    }, 50);
  });
  // Redraw charts inside content that htmx swapped in (progress and statistics).
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
