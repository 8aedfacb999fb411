/* ops-center browser helpers: server-clock countdowns, wall clock, P1 pulse, console shortcuts.
   Everything here only reads the DOM Dash renders or fills elements Dash leaves empty. */
(function () {
  "use strict";
  var offset = 0;          // server now - browser now, in ms
  var lastServerNow = null;
  var TZ = "Asia/Shanghai";
  var clockFmt = null;
  try {
    clockFmt = new Intl.DateTimeFormat("zh-CN", {
      timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
    });
  } catch (e) { clockFmt = null; }

  function serverNow() {
    var el = document.querySelector("[data-server-now]");
    if (el) {
      var v = el.getAttribute("data-server-now");
      if (v !== lastServerNow) {
        lastServerNow = v;
        offset = parseInt(v, 10) - Date.now();
      }
    }
    return Date.now() + offset;
  }
  window.opsNow = serverNow;

  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function fmtSpan(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d > 0) { return d + "天" + h + "时"; }
    if (h > 0) { return h + ":" + pad(m) + ":" + pad(sec); }
    return pad(m) + ":" + pad(sec);
  }
  window.opsCountdown = function (dueMs, now) {
    if (dueMs === null || dueMs === undefined || dueMs === "") { return "—"; }
    var left = Number(dueMs) - (now || serverNow());
    return (left < 0 ? "超 " : "剩 ") + fmtSpan(left);
  };
  /* Functions dash-ag-grid column definitions may call by name. */
  var grid = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
  grid.opsCountdown = function (dueMs) { return window.opsCountdown(dueMs); };
  grid.opsDueState = function (dueMs) {
    if (dueMs === null || dueMs === undefined) { return ""; }
    var left = Number(dueMs) - serverNow();
    return left < 0 ? "late" : (left < 10 * 60 * 1000 ? "warn" : "ok");
  };

  function tick() {
    var now = serverNow();
    var clock = document.getElementById("wall-clock");
    if (clock && clockFmt) { clock.textContent = clockFmt.format(new Date(now)).replace(/\//g, "-"); }
    var spans = document.querySelectorAll("[data-due]");
    for (var i = 0; i < spans.length; i++) {
      var el = spans[i];
      var left = Number(el.getAttribute("data-due")) - now;
      var label = el.getAttribute("data-label") || "";
      el.textContent = (label ? label + " " : "") + window.opsCountdown(el.getAttribute("data-due"), now);
      var state = left < 0 ? "late" : (left < 10 * 60 * 1000 ? "warn" : "ok");
      if (el.getAttribute("data-state") !== state) { el.setAttribute("data-state", state); }
    }
    refreshGrid();
    fitMaps();
  }

  function refreshGrid() {
    if (!window.dash_ag_grid || !document.getElementById("console-grid")) { return; }
    try {
      var api = window.dash_ag_grid.getApi("console-grid");
      if (api) { api.refreshCells({ columns: ["countdown"], force: true }); }
    } catch (e) { /* grid not ready yet */ }
  }

  /* Fit a map to layout.meta.fit = [west, south, east, north] for the panel's real pixel size. */
  var fitted = new WeakMap();
  function mapReady(gd) {
    /* Restyling a map whose style is still loading makes plotly throw; wait for it. */
    var sub = gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    return !!(sub && sub.map && sub.map.isStyleLoaded && sub.map.isStyleLoaded());
  }
  function fitMaps() {
    var plots = document.querySelectorAll(".js-plotly-plot");
    for (var i = 0; i < plots.length; i++) {
      var gd = plots[i];
      var fit = gd.layout && gd.layout.meta && gd.layout.meta.fit;
      if (!fit || !window.Plotly || !mapReady(gd)) { continue; }
      var w = gd.clientWidth, h = gd.clientHeight;
      if (!w || !h) { continue; }
      var key = fit.join(",") + "|" + w + "x" + h;
      if (fitted.get(gd.layout) === key) { continue; }
      fitted.set(gd.layout, key);
      var west = fit[0], south = fit[1], east = fit[2], north = fit[3];
      var merc = function (lat) { return Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360)); };
      var zx = Math.log2((w * 360) / (512 * Math.max(east - west, 1e-6)));
      var zy = Math.log2((h * 2 * Math.PI) / (512 * Math.max(merc(north) - merc(south), 1e-9)));
      var zoom = Math.min(zx, zy) - 0.08;
      var lat = (Math.atan(Math.sinh((merc(north) + merc(south)) / 2)) * 180) / Math.PI;
      window.Plotly.relayout(gd, { "map.zoom": zoom, "map.center": { lon: (west + east) / 2, lat: lat } });
      scaleMarkers(gd, h);
      gd.setAttribute("data-fitted", key);  /* lets screenshots and tests wait for the fitted view */
    }
  }

  /* Marker sizes are authored for a ~560 px high map panel; a 4K wall doubles them so they read from 5 m. */
  var markerScale = 1;
  function scaleMarkers(gd, h) {
    markerScale = Math.max(1, h / 560);
    var idx = [], sizes = [];
    for (var i = 0; i < gd.data.length; i++) {
      var t = gd.data[i];
      if (t.type !== "scattermap" || t.meta === "p1-pulse" || !t.marker) { continue; }
      if (t._baseSize === undefined) { t._baseSize = t.marker.size || 10; }
      idx.push(i);
      sizes.push(t._baseSize * markerScale);
    }
    if (idx.length) { window.Plotly.restyle(gd, { "marker.size": sizes }, idx); }
  }

  var pulseBig = false;
  function pulse() {
    var gd = document.querySelector("#wall-map .js-plotly-plot");
    if (!gd || !window.Plotly || !gd._fullData || !mapReady(gd)) { return; }
    var idx = -1;
    for (var i = 0; i < gd.data.length; i++) { if (gd.data[i].meta === "p1-pulse") { idx = i; } }
    if (idx < 0 || !gd.data[idx].lat || gd.data[idx].lat.length === 0) { return; }
    pulseBig = !pulseBig;
    window.Plotly.restyle(gd, { "marker.size": (pulseBig ? 46 : 24) * markerScale, "marker.opacity": pulseBig ? 0.15 : 0.6 }, [idx]);
  }

  /* Console shortcuts: a acknowledge, d dispatch, e escalate, r resolve, c verify-close, n note, j/k move. */
  var KEYS = { a: "console-act-acknowledge", d: "console-act-dispatch", e: "console-act-escalate",
               r: "console-act-resolve", c: "console-act-close" };
  function moveSelection(step) {
    if (!window.dash_ag_grid) { return; }
    var api;
    try { api = window.dash_ag_grid.getApi("console-grid"); } catch (e) { return; }
    if (!api) { return; }
    var selected = api.getSelectedNodes();
    var index = selected.length ? selected[selected.length - 1].rowIndex : -1;
    var next = Math.max(0, Math.min(api.getDisplayedRowCount() - 1, index + step));
    var node = api.getDisplayedRowAtIndex(next);
    if (node) {
      api.deselectAll();
      node.setSelected(true);
      api.ensureIndexVisible(next);
    }
  }
  document.addEventListener("keydown", function (ev) {
    if (!document.getElementById("console-root")) { return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var t = ev.target;
    var tag = t && t.tagName ? t.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (t && t.isContentEditable)) { return; }
    var key = ev.key;
    if (key === "j" || key === "k") { moveSelection(key === "j" ? 1 : -1); ev.preventDefault(); return; }
    if (key === "n") {
      var note = document.getElementById("console-note");
      if (note) { note.focus(); ev.preventDefault(); }
      return;
    }
    var id = KEYS[key];
    if (id) {
      var btn = document.getElementById(id);
      if (btn && !btn.disabled) { btn.click(); ev.preventDefault(); }
    }
  });

  setInterval(tick, 1000);
  setInterval(pulse, 700);
})();
