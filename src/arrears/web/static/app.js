/* arrears web UI: HTMX settings and the ECharts charts. No inline scripts: pages carry their chart
   data as <script type="application/json"> and a [data-chart] element. */
(function () {
  "use strict";
  if (window.htmx) {
    // No <style> element injected for the request indicators: the content security policy refuses
    // inline styles (style-src 'self'), and no page uses htmx-indicator.
    window.htmx.config.includeIndicatorStyles = false;
    // Swap error answers too (a blocked call, a wrong code, a form to correct); 401 carries HX-Redirect.
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "401", swap: false, error: true },
      { code: "[23]..", swap: true },
      { code: "[4]..", swap: true, error: false },
      { code: "...", swap: false, error: true },
    ];
  }

  // Tooltips drawn by ECharts on the chart's canvas (rich text), not as HTML: ECharts writes its HTML
  // tooltips with style="" attributes, which the content security policy refuses (style-src 'self').
  function canvasTooltips(option) {
    if (option.tooltip) { option.tooltip.renderMode = "richText"; }
    return option;
  }

  function historyChart(el) {
    if (!window.echarts || el.dataset.ready) { return; }
    var source = document.getElementById(el.dataset.source);
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    el.dataset.ready = "1";
    var chart = window.echarts.init(el);
    chart.setOption(canvasTooltips({
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
    }));
    window.addEventListener("resize", function () { chart.resize(); });
  }

  // The dashboards: every chart reads the page's one JSON block (data-source) and its labels from data-*.
  function heatmap(min, max) {
    return { min: min, max: max, dimension: 2, calculable: true, orient: "horizontal", left: "center", bottom: 0,
             inRange: { color: ["#f0f4f8", "#9fb3c8", "#2f6f9f"] } };
  }

  var DASHBOARD = {
    bucket: function (d, el) {
      return {
        tooltip: { trigger: "axis" },
        legend: { bottom: 0 },
        grid: { left: 56, right: 72, top: 36, bottom: 56 },
        xAxis: { type: "category", data: d.bucket.buckets },
        yAxis: [{ type: "value", name: el.dataset.labelAccounts, minInterval: 1 },
                { type: "value", name: el.dataset.labelBalance, position: "right" }],
        series: [
          { name: el.dataset.labelAccounts, type: "bar", data: d.bucket.accounts },
          { name: el.dataset.labelBalance, type: "bar", yAxisIndex: 1, data: d.bucket.balance.map(Number) },
          { name: el.dataset.labelPastDue, type: "bar", yAxisIndex: 1, data: d.bucket.past_due.map(Number) },
        ],
      };
    },
    roll: function (d, el) {
      return {
        tooltip: { position: "top" },
        grid: { left: 56, right: 24, top: 16, bottom: 72 },
        xAxis: { type: "category", data: d.roll.columns, splitArea: { show: true } },
        yAxis: { type: "category", data: d.roll.rows, inverse: true, splitArea: { show: true } },
        visualMap: heatmap(0, 100),
        series: [{ name: el.dataset.labelShare, type: "heatmap", data: d.roll.cells, label: { show: true } }],
      };
    },
    cure: function (d, el) {
      return {
        tooltip: { trigger: "axis" },
        grid: { left: 56, right: 24, top: 36, bottom: 36 },
        xAxis: { type: "category", data: d.cure.dates },
        yAxis: { type: "value", name: el.dataset.labelRate, min: 0, nameTextStyle: { align: "left" } },
        series: [{ name: el.dataset.labelRate, type: "line", data: d.cure.rates, connectNulls: false }],
      };
    },
    promise: function (d, el) {
      var p = d.promise;
      return {
        tooltip: { trigger: "item" },
        legend: { bottom: 0 },
        series: [{ type: "pie", radius: ["40%", "70%"], data: [
          { name: el.dataset.labelKept, value: p.kept }, { name: el.dataset.labelPartlyKept, value: p.partly_kept },
          { name: el.dataset.labelBroken, value: p.broken }, { name: el.dataset.labelOpen, value: p.open },
        ].filter(function (x) { return x.value > 0; }) }],
      };
    },
    rpc: function (d, el) {
      var hours = [];
      for (var h = 0; h < 24; h++) { hours.push(String(h)); }
      return {
        tooltip: { position: "top", formatter: function (x) {
          return x.value[2] === null ? "" : x.value[2] + " % (" + el.dataset.labelAttempts + " " + x.value[3] + ")";
        } },
        grid: { left: 56, right: 24, top: 16, bottom: 72 },
        xAxis: { type: "category", data: hours, splitArea: { show: true } },
        yAxis: { type: "category", data: JSON.parse(el.dataset.weekdays || "[]"), inverse: true, splitArea: { show: true } },
        visualMap: heatmap(0, 100),
        series: [{ name: el.dataset.labelRate, type: "heatmap", data: d.rpc.cells }],
      };
    },
  };

  function dashboardChart(el) {
    if (!window.echarts || el.dataset.ready) { return; }
    var source = document.getElementById(el.dataset.source);
    var build = DASHBOARD[el.dataset.chart];
    if (!source || !build) { return; }
    el.dataset.ready = "1";
    var chart = window.echarts.init(el);
    chart.setOption(canvasTooltips(build(JSON.parse(source.textContent), el)));
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function charts(root) {
    (root || document).querySelectorAll('[data-chart="history"]').forEach(historyChart);
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.chart !== "history") { dashboardChart(el); }
    });
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

  // A table wider than the screen scrolls inside its .scroll box: the box is reachable by keyboard
  // (tabindex) and named after the table's caption, so it can be scrolled without a mouse.
  function scrollRegions(root) {
    var boxes = Array.prototype.slice.call(root.querySelectorAll ? root.querySelectorAll(".scroll") : []);
    if (root.classList && root.classList.contains("scroll")) { boxes.push(root); }
    boxes.forEach(function (box) {
      if (box.hasAttribute("tabindex")) { return; }
      box.tabIndex = 0;
      var caption = box.querySelector("caption");
      var name = caption ? caption.textContent.trim() : "";
      if (name && !box.hasAttribute("role")) {
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", name);
      }
    });
  }

  function enhance(root) { charts(root); nextStep(root); scrollRegions(root); }

  // Per-field errors: an HTMX error answer naming a field triggers "arrears:field-error" on the form
  // that was sent (HX-Trigger). The input is marked aria-invalid, the message shown next to it
  // (aria-describedby) and focused; the typed values stay. Without JS the error page says it all.
  function formOf(el) {
    if (!el || !el.closest) { return null; }
    return el.tagName === "FORM" ? el : el.closest("form");
  }

  function clearFieldErrors(form) {
    form.querySelectorAll('[aria-invalid="true"]').forEach(function (el) {
      el.removeAttribute("aria-invalid");
      var ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
        return id && id.indexOf("field-error-") !== 0;
      });
      if (ids.length) { el.setAttribute("aria-describedby", ids.join(" ")); }
      else { el.removeAttribute("aria-describedby"); }
    });
    form.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
  }

  document.addEventListener("arrears:field-error", function (e) {
    var form = formOf(e.target);
    var detail = e.detail || {};
    if (!form || !detail.field) { return; }
    clearFieldErrors(form);
    var inputs = Array.prototype.filter.call(form.elements, function (el) {
      return el.name === detail.field && el.type !== "hidden";
    });
    if (!inputs.length) { return; }
    var first = inputs[0];
    var choice = first.type === "radio" || first.type === "checkbox";
    var message = document.createElement(choice ? "p" : "span");
    message.className = "field-error";
    message.id = "field-error-" + (first.id || detail.field);
    message.textContent = detail.message || "";
    var box = choice ? (first.closest("fieldset") || first.parentNode) : (first.closest("p") || first.parentNode);
    box.appendChild(message);
    inputs.forEach(function (el) {
      el.setAttribute("aria-invalid", "true");
      var ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      ids.push(message.id);
      el.setAttribute("aria-describedby", ids.join(" "));
    });
    var group = first.closest("[data-for-step]");
    if (group) { group.hidden = false; }
    var details = first.closest("details");
    if (details) { details.open = true; }
    first.focus();
  });

  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = formOf(e.target);
    if (form) { clearFieldErrors(form); }
  });

  // After a step of the call script is swapped in, focus lands on the next thing to do: the alert when
  // there is one (a blocked call, a wrong code), else the first field of the step's main form (the one
  // with the primary button), else that button, else the "Next step" link. The notice (role=status)
  // is announced by screen readers as it appears.
  function shown(el) {
    return el.type !== "hidden" && !el.disabled && el.tagName !== "FIELDSET" && el.tagName !== "BUTTON" &&
      el.getClientRects().length > 0;
  }

  function focusNextThing(script) {
    var alert = script.querySelector('[role="alert"]');
    if (alert) {
      if (!alert.hasAttribute("tabindex")) { alert.setAttribute("tabindex", "-1"); }
      alert.focus();
      return;
    }
    var step = script.querySelector(".step");
    var primary = step ? step.querySelector("form button.primary") : null;
    var form = primary ? primary.form : (step ? step.querySelector("form") : null);
    var field = form ? Array.prototype.filter.call(form.elements, shown)[0] : null;
    if (field && field.type === "radio") {
      field = form.querySelector('input[type="radio"][name="' + field.name + '"]:checked') || field;
    }
    var target = field || primary || script.querySelector(".step-next a") ||
      script.querySelector('.steps a[aria-current="step"]');
    if (target) {
      target.focus();
      settling = { el: target, until: Date.now() + 1500 };
    }
  }

  // The focus just placed is kept for a moment against a late swap elsewhere on the page (the lazily
  // loaded best hours) that drops it to the page's body; anything the agent does ends the watch.
  var settling = null;
  document.addEventListener("focusout", function (e) {
    var watch = settling;
    if (!watch || e.target !== watch.el || e.relatedTarget || Date.now() > watch.until) { return; }
    window.setTimeout(function () {
      if (document.activeElement === document.body && document.contains(watch.el)) { watch.el.focus(); }
    }, 0);
  });
  document.addEventListener("pointerdown", function () { settling = null; }, true);

  // Keyboard shortcuts (listed on every page in the "Keyboard shortcuts" panel, _shortcuts.html):
  // Alt+N / Alt+P the next / previous step of the call script, Alt+S saves the step's form; without a
  // modifier, and never while typing in a field: "n" takes the next case, "?" shows the list.
  function typing(el) {
    if (!el || !el.tagName) { return false; }
    var tag = el.tagName;
    return el.isContentEditable || tag === "TEXTAREA" || tag === "SELECT" ||
      (tag === "INPUT" && !/^(button|submit|reset|checkbox|radio|hidden)$/i.test(el.type));
  }

  function stepForm(script) {
    var active = document.activeElement;
    var form = active && script.contains(active) ? formOf(active) : null;
    if (form && script.querySelector(".step").contains(form)) { return form; }
    var primary = script.querySelector(".step form button.primary");
    return primary ? primary.form : script.querySelector(".step form");
  }

  function showShortcuts() {
    var panel = document.getElementById("shortcuts");
    if (!panel) { return; }
    panel.open = true;
    panel.querySelector("summary").focus();
    panel.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (e) {
    settling = null;
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.isComposing) { return; }
    var script = document.getElementById("script");
    var done = false;
    if (e.altKey) {
      if (e.shiftKey || !script) { return; }
      // a key pressed straight after a step was swapped in may come before htmx has wired the new
      // step's links and forms (its settle delay): wire them now, or the link would load a whole page
      if (window.htmx) { window.htmx.process(script); }
      if (e.code === "KeyN") {
        var next = script.querySelector(".step-next a");
        if (next) { next.click(); done = true; }
      } else if (e.code === "KeyP") {
        var current = script.querySelector('.steps a[aria-current="step"]');
        var before = current ? current.closest("li").previousElementSibling : null;
        if (before) { before.querySelector("a").click(); done = true; }
      } else if (e.code === "KeyS") {
        var form = stepForm(script);
        if (form) {
          form.requestSubmit(form.querySelector("button.primary") || undefined);
          done = true;
        }
      }
    } else if (!typing(e.target)) {
      if (e.key === "?") {
        showShortcuts();
        done = true;
      } else if (e.key === "n") {
        var take = document.querySelector('form[action="/queue/take"] button[type="submit"]');
        if (take) { take.click(); done = true; }
      } else if (e.key === "Escape") {
        var panel = document.getElementById("shortcuts");
        if (panel && panel.open) { panel.open = false; panel.querySelector("summary").focus(); done = true; }
      }
    }
    if (done) { e.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    // a step opened as a whole page (the link's own address, …#script) gets the same focus as a swap
    var script = document.getElementById("script");
    if (script && window.location.hash === "#script") { focusNextThing(script); }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var flash = document.getElementById("flash");
    if (flash && e.target !== flash) { flash.innerHTML = ""; }
    enhance(e.target);
    if (e.target.id === "script") { focusNextThing(e.target); }
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    // once more after the settle, when the swap's own focus handling has left the focus nowhere
    var active = document.activeElement;
    if (e.target.id === "script" && (!active || active === document.body)) { focusNextThing(e.target); }
  });
})();
