/* lprd report timelines: every chart shares one time axis [0, duration] and one cursor. */
(function () {
  "use strict";
  const node = document.getElementById("lprd-timelines");
  if (!node) return;
  const data = JSON.parse(node.textContent);
  const duration = Math.max(data.duration || 0, 0.1);
  const AXIS = 70;
  const charts = [];
  const fmt = (v, d) => (v == null ? "–" : (+v).toFixed(d));

  function bandsPlugin(bands) {
    return {
      hooks: {
        drawClear: (u) => {
          const ctx = u.ctx;
          ctx.save();
          for (const band of bands) {
            ctx.fillStyle = band.color;
            for (const [a, b] of band.spans) {
              const x0 = u.valToPos(a, "x", true);
              const x1 = u.valToPos(b, "x", true);
              ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
            }
          }
          ctx.restore();
        },
      },
    };
  }

  function wordsPlugin(words) {
    return {
      hooks: {
        draw: (u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.font = `${Math.round(11 * devicePixelRatio)}px sans-serif`;
          ctx.fillStyle = "#222";
          ctx.textBaseline = "middle";
          words.forEach(([start, , word], i) => {
            const x = u.valToPos(start, "x", true);
            const y = u.valToPos(i % 3, "y", true);
            ctx.fillText(word, x, y);
          });
          ctx.restore();
        },
      },
    };
  }

  function highlightWord(t) {
    let current = null;
    for (const span of document.querySelectorAll("#transcript-text span[data-start]")) {
      const on = t >= +span.dataset.start && t <= +span.dataset.end;
      span.classList.toggle("now", on);
      if (on) current = span;
    }
    return current;
  }

  function baseOptions(spec, width, height) {
    const right = Object.values(spec.scales || {}).some((s) => s.side === 1);
    const scales = { x: { time: false, range: () => [0, duration] } };
    const axes = [{ label: "seconds", size: 40 }];
    const leftScales = [];
    for (const [key, s] of Object.entries(spec.scales || { y: {} })) {
      scales[key] = s.range ? { range: () => s.range } : { auto: true };
      axes.push({ scale: key, label: s.label || "", size: AXIS, side: s.side === 1 ? 1 : 3 });
      if (s.side !== 1) leftScales.push(key);
    }
    if (!spec.scales) scales.y = { auto: true };
    return {
      width, height, scales, axes,
      padding: [10, right ? 0 : AXIS, 0, leftScales.length ? 0 : AXIS],
      cursor: { sync: { key: "lprd" }, drag: { x: false, y: false } },
      legend: { live: true },
      hooks: { setCursor: [(u) => { if (u.cursor.left >= 0) highlightWord(u.posToVal(u.cursor.left, "x")); }] },
    };
  }

  function lineChart(spec, el, width) {
    const opts = baseOptions(spec, width, spec.kind === "turns" ? 50 + 26 * spec.rows.length : 170);
    opts.series = [{ label: "t (s)", value: (u, v) => fmt(v, 2) }];
    for (const s of spec.series) {
      opts.series.push({
        label: s.label, scale: s.scale, stroke: s.color, width: s.width || 1.5,
        points: { show: false }, value: (u, v) => fmt(v, 2),
      });
    }
    if (spec.kind === "turns") {
      opts.scales.y = { range: () => [-0.6, spec.rows.length - 0.4] };
      opts.axes = [opts.axes[0], {
        scale: "y", size: Math.max(AXIS * 2, 8 + 7 * Math.max(...spec.rows.map((r) => r.length))),
        splits: () => spec.rows.map((_, i) => i),
        values: (u, splits) => splits.map((v) => spec.rows[v] || ""),
      }];
      opts.padding = [10, AXIS, 0, 0];
      opts.series.slice(1).forEach((s, i) => { s.value = (u, v) => (v == null ? "" : "speaking"); s.width = 10; s.stroke = spec.series[i].color; });
    }
    opts.plugins = [bandsPlugin(spec.bands || [])];
    const tables = spec.series.map((s) => [s.t, s.y]);
    // A speaker's turns end in a null; expanding it over the other speakers' times keeps
    // the bar from being drawn across to the speaker's next turn minutes later.
    const modes = tables.map(() => [0, spec.kind === "turns" || spec.gaps ? 2 : 1]);
    const aligned = tables.length ? uPlot.join(tables, modes) : [[0, duration]];
    return new uPlot(opts, aligned, el);
  }

  function wordsChart(spec, el, width) {
    const words = spec.words;
    const opts = baseOptions({ scales: { y: { range: [-0.7, 2.7], label: "" } } }, width, 110);
    opts.axes[1].values = () => [];
    opts.series = [
      { label: "t (s)", value: (u, v) => fmt(v, 2) },
      { label: "word", scale: "y", stroke: "transparent", points: { show: false },
        value: (u, v, si, i) => (i == null || !words[i] ? "" : words[i][2]) },
    ];
    opts.plugins = [wordsPlugin(words)];
    const xs = words.map((w) => w[0]);
    const ys = words.map((_, i) => i % 3);
    return new uPlot(opts, [xs.length ? xs : [0], ys.length ? ys : [null]], el);
  }

  function render() {
    const width = Math.max(480, document.getElementById("timelines").clientWidth - 8);
    for (const spec of data.timelines) {
      const el = document.getElementById(`tl-${spec.id}`);
      if (!el || spec.unavailable) continue;
      charts.push(spec.kind === "words" ? wordsChart(spec, el, width) : lineChart(spec, el, width));
    }
    for (const span of document.querySelectorAll("#transcript-text span[data-start]")) {
      span.addEventListener("mouseenter", () => {
        const t = (+span.dataset.start + +span.dataset.end) / 2;
        for (const c of charts) c.setCursor({ left: c.valToPos(t, "x"), top: c.bbox.height / devicePixelRatio / 2 });
      });
    }
    document.body.dataset.charts = String(charts.length);
  }

  render();
  window.addEventListener("resize", () => {
    const width = Math.max(480, document.getElementById("timelines").clientWidth - 8);
    for (const c of charts) c.setSize({ width, height: c.height });
  });
})();
