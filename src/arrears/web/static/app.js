/* arrears web UI: HTMX settings and the ECharts charts. No inline scripts: pages carry their chart
   data as <script type="application/json"> and a [data-chart] element. */
(function () {
  "use strict";
  if (window.htmx) {
    // Swap error answers too (a blocked call, a wrong code, a form to correct); 401 carries HX-Redirect.
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "401", swap: false, error: true },
      { code: "[23]..", swap: true },
      { code: "[4]..", swap: true, error: false },
      { code: "...", swap: false, error: true },
    ];
  }

  function historyChart(el) {
    if (!window.echarts || el.dataset.ready) { return; }
    var source = document.getElementById(el.dataset.source);
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    el.dataset.ready = "1";
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: [el.dataset.labelDpd, el.dataset.labelAmount], bottom: 0 },
      grid: { left: 48, right: 64, top: 36, bottom: 56 },
      xAxis: { type: "category", data: data.dates },
      yAxis: [{ type: "value", name: el.dataset.labelDpd, minInterval: 1, nameTextStyle: { align: "left" } },
              { type: "value", name: el.dataset.labelAmount, position: "right",
                nameTextStyle: { align: "right" } }],
      series: [
        { name: el.dataset.labelDpd, type: "line", step: "end", data: data.dpd, showSymbol: false },
        { name: el.dataset.labelAmount, type: "line", yAxisIndex: 1, data: data.past_due.map(Number), showSymbol: false },
      ],
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function charts(root) {
    (root || document).querySelectorAll('[data-chart="history"]').forEach(historyChart);
  }

  // The outcome form: show the fields of the chosen next step only (all are shown without JS).
  function nextStep(root) {
    (root || document).querySelectorAll("fieldset[data-next-step]").forEach(function (fs) {
      function update() {
        var chosen = fs.querySelector('input[name="next_step"]:checked');
        fs.querySelectorAll("[data-for-step]").forEach(function (group) {
          group.hidden = !chosen || group.dataset.forStep !== chosen.value;
        });
      }
      fs.addEventListener("change", update);
      update();
    });
  }

  function enhance(root) { charts(root); nextStep(root); }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterSwap", function (e) {
    var flash = document.getElementById("flash");
    if (flash && e.target !== flash) { flash.innerHTML = ""; }
    enhance(e.target);
  });
})();
