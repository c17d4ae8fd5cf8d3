"""Rich rendering of `lprd status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from daemon.config.targets import BUILTIN_SET
from daemon.learn.progress import head_line
from storage.db import utcnow
from storage.models import STAGE_STATES
from storage.states import StageStatus

STATE_STYLE = {
    StageStatus.PENDING: "yellow",
    StageStatus.RUNNING: "cyan",
    StageStatus.DONE: "green",
    StageStatus.FAILED: "red",
    StageStatus.SKIPPED: "dim",
}


def _ago(iso: str | None) -> str:
    if not iso:
        return "never"
    seconds = (utcnow() - datetime.fromisoformat(iso)).total_seconds()
    if seconds < 0:
        return f"in {_duration(-seconds)}"
    return f"{_duration(seconds)} ago"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _stage_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"{report['videos']} videos", title_justify="left")
    table.add_column("stage")
    for state in STAGE_STATES:
        table.add_column(state, justify="right", style=STATE_STYLE[state])
    for row in report["stages"]:
        cells = [str(row[s]) if row[s] else "·" for s in STAGE_STATES]
        if row["waiting"]:
            cells[0] += f" ({row['waiting']} waiting)"
        if row.get("blocked"):
            cells[0] += f" ({row['blocked']} blocked)"
        table.add_row(row["stage"], *cells)
    return table


def _summary_lines(report: dict[str, Any]) -> list[Text]:
    tp = report["throughput"]
    eta = report["eta_s"]
    lines = [
        Text(f"daemon: last heartbeat {_ago(report['daemon_alive_at'])}"),
        Text(
            f"throughput: {tp['stage_runs_per_min']} stage runs/min (last 10 min); "
            f"remaining {report['remaining_stage_runs']}; ETA "
            + (
                _duration(eta)
                if eta is not None
                else (
                    "nothing queued"
                    if not report["remaining_stage_runs"]
                    else "unknown (nothing finished recently)"
                )
            )
        ),
    ]
    inbox = report["inbox"]["states"]
    if inbox:
        lines.append(
            Text("inbox files: " + ", ".join(f"{n} {s}" for s, n in sorted(inbox.items())))
        )
    models = report["models"]
    if models:
        lines.extend(Text(_model_line(m)) for m in models)
    else:
        lines.append(
            Text("model: none promoted yet (import labels, then `lprd train`)", style="yellow")
        )
    study = report.get("study_labels") or {}
    if study:
        lines.append(
            Text(
                "study labels: "
                + "; ".join(
                    f"{name} {c['clips']} clips ({c['ratings']} ratings)"
                    for name, c in study.items()
                )
            )
        )
    lines.append(Text(f"next retrain check: {_ago(report['next_retrain_check_at'])}"))
    training = report.get("training") or {}
    if training.get("summary"):
        lines.append(Text(f"training: {training['summary']}"))
    running = training.get("running") or {}
    for head in (running.get("progress") or {}).get("heads", []):
        lines.append(Text(f"  head {head_line(head)}", style=HEAD_STYLE.get(head.get("phase"), "")))
    for note in report["waiting"]:
        lines.append(
            Text(f"{note['videos']} × {note['stage']} waiting: {note['reason']}", style="yellow")
        )
    for note in report.get("blocked", [])[:5]:
        lines.append(Text(f"{note['videos']} × {note['stage']} {note['reason']}", style="red"))
    return lines


def _model_line(m: dict[str, Any]) -> str:
    """'model: v-3 (ridge, full), validation mean accuracy 0.8812 vs train-mean baseline
    0.8655'; a study's set named first: 'model: hiring: v-hiring-1 (...)'."""
    acc = f"{m['val_mean_accuracy']:.4f}" if m["val_mean_accuracy"] is not None else "n/a"
    base = m.get("val_baseline_mean_accuracy")
    vs = f" vs train-mean baseline {base:.4f}" if base is not None else ""
    target_set = m.get("target_set") or BUILTIN_SET
    where = "" if target_set == BUILTIN_SET else f"{target_set}: "
    return (
        f"model: {where}{m['version']} ({m['kind']}, {m['profile']}), "
        f"validation mean accuracy {acc}{vs}"
    )


HEAD_STYLE = {"done": "green", "failed": "red", "skipped": "yellow"}
WORKER_STYLE = {"running": "green", "stale": "red", "lost": "red", "stopped": "dim"}


def _workers_table(report: dict[str, Any]) -> Table | None:
    rows = report.get("workers") or []
    if not rows:
        return None
    table = Table(title="workers", title_justify="left")
    for column in ("host", "pid", "state", "last heartbeat", "stages running", "roles"):
        table.add_column(column, justify="right" if column in ("pid", "stages running") else "left")
    for w in rows:
        table.add_row(
            w["host"],
            str(w["pid"]),
            Text(w["state"], style=WORKER_STYLE.get(w["state"], "")),
            f"{_duration(max(0.0, w['heartbeat_age_s']))} ago",  # clocks may differ a little
            str(w["running_stages"]) if w["running_stages"] else "·",
            ",".join(w["roles"]),
        )
    return table


def _failure_table(report: dict[str, Any]) -> Table | None:
    rows = report["failures"]
    rejected = report["inbox"]["rejected"]
    if not rows and not rejected:
        return None
    table = Table(title="last failures", title_justify="left", show_lines=False)
    table.add_column("what")
    table.add_column("stage")
    table.add_column("message", overflow="fold")
    for row in rows:
        table.add_row(f"{row['video']} (#{row['video_id']})", row["stage"], row["error"] or "")
    for row in rejected:
        table.add_row(row["file"], "inbox", row["reason"] or "")
    return table


def render_status(report: dict[str, Any]) -> Group:
    """The whole status screen."""
    parts: list[Any] = [_stage_table(report), *_summary_lines(report)]
    workers = _workers_table(report)
    if workers is not None:
        parts.append(workers)
    failures = _failure_table(report)
    if failures is not None:
        parts.append(failures)
    return Group(*parts)
