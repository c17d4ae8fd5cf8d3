/* lprd dashboard: the status page refreshes itself from /api/status; the models page plots
   validation accuracy over versions. Reads only; sends nothing but GET requests. */
(function () {
  "use strict";
  const esc = (v) => String(v == null ? "" : v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const table = (head, rows) =>
    `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</table>`;
  const none = (text) => `<p class="muted">${esc(text)}</p>`;
  const STATES = ["pending", "running", "done", "failed", "skipped", "waiting"];

  function eta(seconds) {
    if (seconds == null) return "–";
    if (seconds < 90) return `${seconds} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function tile(label, value, id) {
    return `<div class="tile"><div class="muted">${esc(label)}</div><div class="big" id="${id}">${esc(value)}</div></div>`;
  }

  // The running training's heads, from its progress record: phase, rows, step, holdout, ETA.
  function trainingHeads(training) {
    const progress = training && training.running && training.running.progress;
    if (!progress || !(progress.heads || []).length) return "";
    const rows = (r) => Object.entries(r || {}).map(([k, v]) => `${v} ${k}`).join(" + ");
    const done = ["done", "failed", "skipped"];
    return `<div id="training-progress">` + table(["profile", "head", "phase", "rows", "step", "holdout accuracy", "ETA"],
      progress.heads.map((h) => [esc(h.profile), esc(h.kind), `<span class="state-${esc(h.phase)}">${esc(h.phase)}</span>${h.reason ? ` <span class="muted">${esc(h.reason)}</span>` : ""}`,
        esc(rows(h.rows)), h.total ? esc(`${h.step || 0}/${h.total}`) : "", h.holdout_accuracy == null ? "" : esc(h.holdout_accuracy.toFixed(4)),
        done.includes(h.phase) || h.eta_s == null ? "" : esc(eta(Math.round(h.eta_s)))])) + "</div>";
  }

  function renderStatus(s) {
    const t = s.throughput || {};
    document.getElementById("tiles").innerHTML = [
      tile("videos", s.videos, "tile-videos"),
      tile("stage runs left", s.remaining_stage_runs, "tile-remaining"),
      tile("stage runs / min (10 min)", t.stage_runs_per_min, "tile-rate"),
      tile("ETA", eta(s.eta_s), "tile-eta"),
      tile("daemon last seen", s.daemon_alive_at ? s.daemon_alive_at.replace("T", " ") : "never", "tile-alive"),
      tile("next retrain check", s.next_retrain_check_at ? String(s.next_retrain_check_at).replace("T", " ") : "–", "tile-retrain"),
    ].join("");
    const stages = document.getElementById("stages-table");
    stages.innerHTML = `<tr><th>stage</th>${STATES.map((h) => `<th class="num">${h}</th>`).join("")}</tr>` +
      s.stages.map((st) => `<tr data-stage="${esc(st.stage)}"><td>${esc(st.stage)}</td>${STATES.map((h) =>
        `<td class="num${st[h] ? ` state-${h}` : ""}" data-status="${h}">${esc(st[h])}</td>`).join("")}</tr>`).join("");
    document.getElementById("waiting").innerHTML = (s.waiting || []).length
      ? table(["waiting stage", "videos", "why"], s.waiting.map((w) => [esc(w.stage), esc(w.videos), esc(w.reason)])) : "";
    const workers = s.workers || [];
    document.getElementById("workers").innerHTML = workers.length
      ? table(["host", "pid", "state", "last heartbeat", "stages running", "roles"], workers.map((w) => [
        esc(w.host), esc(w.pid), `<span class="worker-${esc(w.state)}">${esc(w.state)}</span>`,
        `${esc(Math.round(w.heartbeat_age_s))} s ago`, esc(w.running_stages), esc(w.roles.join(", "))]))
      : none("No daemon has run yet.");
    document.getElementById("recent-failures").innerHTML = s.failures.length
      ? table(["video", "stage", "when", "message"], s.failures.map((f) => [
        `<a href="/videos/${esc(f.video_id)}">${esc(f.video)}</a>`, esc(f.stage), esc(f.at), `<code>${esc(f.error)}</code>`]))
      : none("No stage has failed.");
    const inbox = s.inbox || { states: {}, rejected: [] };
    document.getElementById("inbox").innerHTML =
      `<p>${Object.entries(inbox.states).map(([k, v]) => `<span class="pill">${esc(k)}: ${esc(v)}</span>`).join(" ") || "no file seen yet"}</p>` +
      (inbox.rejected.length ? table(["rejected file", "reason"], inbox.rejected.map((r) => [esc(r.file), esc(r.reason)])) : "");
    const models = s.models || [];
    const training = s.training ? `<p class="muted">Training: ${esc(s.training.summary || JSON.stringify(s.training))}</p>` : "";
    const acc4 = (v) => (v == null ? "" : esc(v.toFixed(4)));
    const study = Object.entries(s.study_labels || {});
    const labels = study.length
      ? `<p id="study-labels">Study labels: ${study.map(([name, c]) => `<span class="pill" data-set="${esc(name)}">${esc(name)}: ${esc(c.clips)} clips, ${esc(c.ratings)} ratings</span>`).join(" ")}</p>`
      : "";
    document.getElementById("serving").innerHTML = (models.length
      ? table(["target set", "serving version", "head", "profile", "val accuracy", "baseline", "promoted"], models.map((m) => [
        `<span data-set="${esc(m.target_set)}">${esc(m.target_set)}</span>`, esc(m.version), esc(m.kind), esc(m.profile),
        acc4(m.val_mean_accuracy), acc4(m.val_baseline_mean_accuracy), esc(m.promoted_at)]))
      : none("No model promoted yet.")) + labels + training + trainingHeads(s.training);
    document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
  }

  function startStatus(root) {
    renderStatus(JSON.parse(document.getElementById("status-data").textContent));
    const every = Math.max(1, +root.dataset.refresh || 5) * 1000;
    const tick = () => fetch("/api/status", { cache: "no-store", credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`status ${r.status}`))))
      .then(renderStatus)
      .catch((e) => { document.getElementById("updated").textContent = `Could not refresh (${e.message}); retrying.`; })
      .finally(() => setTimeout(tick, every));
    setTimeout(tick, every);
  }

  // The line a version belongs to: its profile, after its set's name for a study's set.
  const lineOf = (v) => (v.target_set && v.target_set !== "first_impressions" ? `${v.target_set}: ${v.profile}` : v.profile);

  // One line per target set and feature profile: versions of different profiles are scored
  // on different texts, and different sets' figures are not comparable.
  function plotModels(el) {
    const versions = JSON.parse(document.getElementById("models-data").textContent);
    const xs = versions.map((_, i) => i + 1);
    const profiles = [...new Set(versions.map(lineOf))];
    const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    const acc = (u, v) => (v == null ? "–" : v.toFixed(4));
    const series = [{ label: "version", value: (u, v) => (v == null || !versions[v - 1] ? "–" : versions[v - 1].version) }];
    const data = [xs];
    profiles.forEach((profile, i) => {
      const color = colors[i % colors.length];
      const pick = (key) => versions.map((v) => (lineOf(v) === profile ? v[key] : undefined));
      series.push({ label: `${profile} model`, stroke: color, width: 2, spanGaps: true, points: { show: true, size: 8 }, value: acc });
      series.push({ label: `${profile} train-mean baseline`, stroke: color, dash: [6, 4], width: 1, spanGaps: true, points: { show: true, size: 5 }, value: acc });
      data.push(pick("val_mean_accuracy"), pick("baseline"));
    });
    const opts = {
      width: Math.max(480, el.clientWidth), height: 260, series,
      scales: { x: { time: false, range: [0.5, versions.length + 0.5] } },
      axes: [
        { label: "model version (oldest first)", splits: () => xs, values: (u, splits) => splits.map((v) => (versions[v - 1] ? `v${v}` : "")) },
        { label: "validation mean accuracy", size: 70 },
      ],
    };
    new uPlot(opts, data, el);
    document.body.dataset.charts = "1";
  }

  const root = document.getElementById("status-root");
  if (root) startStatus(root);
  const plot = document.getElementById("models-plot");
  if (plot) plotModels(plot);
})();
