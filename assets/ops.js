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
    /* One format everywhere, with units: 2天3时 / 5时07分 / 12分05秒. */
    if (d > 0) { return d + "天" + h + "时"; }
    if (h > 0) { return h + "时" + pad(m) + "分"; }
    return m + "分" + pad(sec) + "秒";
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
    placeLabels();
    alarm();
  }

  function refreshGrid() {
    if (!window.dash_ag_grid || !document.getElementById("console-grid")) { return; }
    try {
      var api = window.dash_ag_grid.getApi("console-grid");
      if (api) { api.refreshCells({ columns: ["countdown"], force: true }); }
    } catch (e) { /* grid not ready yet */ }
  }

  /* Fit a map to layout.meta.fit = [west, south, east, north] for the panel's real pixel size, and keep it
     fitted: every tick and after every redraw the live zoom is compared with the fit, not a remembered key. */
  function mapReady(gd) {
    /* Restyling a map whose style is still loading makes plotly throw; wait for it. */
    var sub = gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    return !!(sub && sub.map && sub.map.isStyleLoaded && sub.map.isStyleLoaded());
  }
  function fitFor(gd) {
    var fit = gd.layout && gd.layout.meta && gd.layout.meta.fit;
    var w = gd.clientWidth, h = gd.clientHeight;
    if (!fit || !w || !h) { return null; }
    var west = fit[0], south = fit[1], east = fit[2], north = fit[3];
    var merc = function (lat) { return Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360)); };
    var zx = Math.log2((w * 360) / (512 * Math.max(east - west, 1e-6)));
    var zy = Math.log2((h * 2 * Math.PI) / (512 * Math.max(merc(north) - merc(south), 1e-9)));
    var lat = (Math.atan(Math.sinh((merc(north) + merc(south)) / 2)) * 180) / Math.PI;
    return { zoom: Math.min(zx, zy) - 0.08, lon: (west + east) / 2, lat: lat, h: h,
             key: fit.join(",") + "|" + w + "x" + h };
  }
  window.opsMapFit = function (gd) {  /* for tests and screenshots: [wanted zoom, live zoom] */
    var want = fitFor(gd), live = gd._fullLayout && gd._fullLayout.map;
    return want && live ? [want.zoom, live.zoom] : null;
  };
  function fitMap(gd) {
    if (!window.Plotly || !mapReady(gd)) { return; }
    var want = fitFor(gd);
    if (!want) { return; }
    var live = gd._fullLayout.map;
    var off = Math.abs(live.zoom - want.zoom) > 0.01 || Math.abs(live.center.lon - want.lon) > 1e-5 ||
              Math.abs(live.center.lat - want.lat) > 1e-5;
    if (off) {
      window.Plotly.relayout(gd, { "map.zoom": want.zoom, "map.center": { lon: want.lon, lat: want.lat } });
    }
    if (off || gd.getAttribute("data-fitted") !== want.key) {
      scaleMarkers(gd, want.h);
      gd.setAttribute("data-fitted", want.key);  /* lets screenshots and tests wait for the fitted view */
    }
  }
  /* A redraw must not flash the server's guess of the zoom: Plotly.react is given the fitted view up front. */
  function patchReact() {
    var P = window.Plotly;
    if (!P || P._opsPatched || !P.react) { return; }
    var react = P.react;
    P.react = function (gd, figure) {
      try {
        var lay = figure && figure.layout;
        if (gd && gd.clientWidth && lay && lay.meta && lay.meta.fit && lay.map) {
          var want = fitFor({ layout: lay, clientWidth: gd.clientWidth, clientHeight: gd.clientHeight });
          if (want) { lay.map.zoom = want.zoom; lay.map.center = { lon: want.lon, lat: want.lat }; }
        }
      } catch (e) { /* draw as sent */ }
      return react.apply(this, arguments);
    };
    P._opsPatched = true;
  }
  function fitMaps() {
    patchReact();
    var plots = document.querySelectorAll(".js-plotly-plot");
    for (var i = 0; i < plots.length; i++) {
      var gd = plots[i];
      if (!(gd.layout && gd.layout.meta && gd.layout.meta.fit)) { continue; }
      if (!gd._opsHooked && gd.on) {  /* a redraw that reset the view is refitted at once, not a tick later */
        gd._opsHooked = true;
        gd.on("plotly_afterplot", function () { var self = this; setTimeout(function () { fitMap(self); placeLabels(); }, 0); }.bind(gd));
      }
      fitMap(gd);
    }
  }

  /* Area names over a map from layout.meta.labels = [[lon, lat, name], ...]: the offline style has no glyphs. */
  function placeLabels() {
    var plots = document.querySelectorAll(".js-plotly-plot");
    for (var i = 0; i < plots.length; i++) {
      var gd = plots[i];
      var labels = gd.layout && gd.layout.meta && gd.layout.meta.labels;
      var box = gd.querySelector(".ops-map-labels");
      if (!labels || !mapReady(gd)) { if (box && !labels) { box.remove(); } continue; }
      var map = gd._fullLayout.map._subplot.map;
      if (!box) {
        box = document.createElement("div");
        box.className = "ops-map-labels";
        gd.appendChild(box);
      }
      var c = map.getCenter();
      var key = JSON.stringify(labels) + "|" + map.getZoom() + "|" + c.lng + "," + c.lat + "|" + gd.clientWidth + "x" + gd.clientHeight;
      if (box.getAttribute("data-key") === key) { continue; }
      box.setAttribute("data-key", key);
      box.textContent = "";
      for (var j = 0; j < labels.length; j++) {
        var p = map.project([labels[j][0], labels[j][1]]);
        var el = document.createElement("span");
        el.className = "ops-map-label";
        el.textContent = labels[j][2];
        el.style.left = p.x + "px";
        el.style.top = p.y + "px";
        box.appendChild(el);
      }
    }
  }

  /* A new P1 rings: the wall's flash element changes class for each; sound once the user switched it on. */
  var audio = null, lastFlash = null;
  window.opsAlarms = [];
  function beep() {
    if (!audio) { return false; }
    var t0 = audio.currentTime;
    for (var k = 0; k < 3; k++) {
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = k % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.2, t0 + k * 0.35);
      gain.gain.setValueAtTime(0, t0 + k * 0.35 + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0 + k * 0.35);
      osc.stop(t0 + k * 0.35 + 0.3);
    }
    return audio.state === "running";
  }
  function alarm() {
    var flash = document.getElementById("wall-flash");
    if (!flash) { lastFlash = null; return; }
    var cls = flash.className;
    if (lastFlash !== null && cls !== lastFlash && /flash-/.test(cls)) {
      window.opsAlarms.push({ at: Date.now(), sound: beep() });
    }
    lastFlash = cls;
  }
  document.addEventListener("click", function (ev) {
    var btn = ev.target && ev.target.closest ? ev.target.closest("#wall-sound") : null;
    if (!btn) { return; }
    if (audio) { audio.close(); audio = null; } else {
      try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
    }
    btn.textContent = audio ? "声音：开" : "声音：关";
    btn.classList.toggle("on", !!audio);
  });

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

  /* 区域钻取: a place link (layouts/areas.py place_link) sets the page's own URL (areas-url) at once, the way a
     dcc.Location with refresh=False does: render draws the place in the page; the pages router is not asked to
     draw the whole page again. A plain or modified click elsewhere behaves as a link. */
  document.addEventListener("click", function (ev) {
    var link = ev.target && ev.target.closest ? ev.target.closest("a[data-areas-search]") : null;
    if (!link || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) {
      return;
    }
    var dc = window.dash_clientside;
    if (!dc || !dc.set_props || !document.getElementById("areas-title")) { return; }
    ev.preventDefault();
    dc.set_props("areas-url", { search: link.getAttribute("data-areas-search") });
  });

  /* 区域钻取 owns its history steps: Back/Forward between two views of /areas set the page's own URL (areas-url)
     and render redraws the place, as a place link does. Left to themselves, the pages router would draw the whole
     page again at the same moment, and the two redraws raced a click (the flaky drill-down test). A capture
     listener on window runs before dcc.Location's own listeners. */
  window.addEventListener("popstate", function (ev) {
    var dc = window.dash_clientside;
    if (window.location.pathname !== "/areas" || !document.getElementById("areas-title") || !dc || !dc.set_props) {
      return;
    }
    ev.stopImmediatePropagation();
    dc.set_props("areas-url", { search: window.location.search });
  }, true);

  setInterval(tick, 1000);
  setInterval(pulse, 700);
})();
