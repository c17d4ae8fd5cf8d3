"""Render a video's report as one self-contained HTML page (styles, scripts, images inlined)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from daemon import __version__
from daemon.report.gather import ReportData, StageView
from daemon.report.thumbs import Thumb, thumbnails
from daemon.report.timelines import timelines
from daemon.targets import Target
from storage.models import TARGETS

REPORT_TEMPLATE_VERSION = "3"  # 3: a section per study target set
# Where a page written without navigation can take the dashboard's bar when it serves it.
NAV_MARKER = "<!-- lprd navigation -->"
ASSETS = {
    "uplot_js": "uPlot.iife.min.js",
    "uplot_css": "uPlot.min.css",
    "lprd_css": "lprd.css",
    "timelines_js": "timelines.js",
}


@cache
def assets() -> dict[str, str]:
    """The inlined assets (uPlot and lprd's own script and styles), read once."""
    folder = resources.files("daemon.report") / "assets"
    return {key: (folder / name).read_text(encoding="utf-8") for key, name in ASSETS.items()}


@cache
def environment(package: str = "daemon.report") -> Environment:
    """The Jinja environment of a package's `templates` folder (autoescaped)."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["pct"] = pct
    env.globals["acc"] = accuracy
    return env


def pct(value: float | None, digits: int = 1) -> str:
    """0.8834 -> '88.3%'; None -> 'unknown'."""
    return "unknown" if value is None else f"{value * 100:.{digits}f}%"


def accuracy(value: float | None) -> str:
    """Mean accuracy as the project reports it: 0.8848; None -> 'unknown'."""
    return "unknown" if value is None else f"{value:.4f}"


def script_json(value: Any) -> str:
    """JSON safe to place inside a <script> element."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _facts(probe: dict[str, Any]) -> dict[str, str]:
    video = probe.get("video") or {}
    duration = probe.get("duration_s")
    size = probe.get("size_bytes")
    return {
        "duration": f"{duration:.1f} s" if duration else "unknown",
        "resolution": f"{video['width']}×{video['height']}" if video.get("width") else "no picture",
        "fps": f"{video['fps']:.2f} fps" if video.get("fps") else "",
        "size": f"{size / 1e6:.1f} MB" if size else "",
    }


def _clamp_pct(value: float | None) -> float | None:
    return None if value is None else round(min(max(float(value), 0.0), 1.0) * 100, 2)


def score_rows(scores: dict[str, Any]) -> list[dict[str, Any]]:
    """One bar per target: score, interval and train mean as percentages of the [0, 1] track."""
    rows = []
    for target in TARGETS:
        score = scores["scores"].get(target)
        if score is None:
            continue
        lo, hi = (scores["intervals"].get(target) or [None, None])[:2]
        reasons = sorted(
            scores["reasons"].get(target) or [], key=lambda r: -abs(r.get("contribution", 0))
        )[:3]
        mean = scores["train_mean"].get(target)
        rows.append(
            {
                "target": target,
                "score": score,
                "pct": _clamp_pct(score),
                "lo": _clamp_pct(lo),
                "hi": _clamp_pct(hi),
                "mean": _clamp_pct(mean),
                "reasons": reasons,
                "title": f"{target} {score:.3f}" + (f", train mean {mean:.3f}" if mean else ""),
            }
        )
    return rows


def _digits(target: Target) -> int:
    """Digits a score on the target's scale is shown with (as `lprd show` does)."""
    return 2 if target.span <= 1 else 1


def _contribution_digits(target: Target) -> int:
    """Digits a contribution on the target's scale is shown with (0.001 of a unit scale)."""
    return max(0, 3 - math.ceil(math.log10(target.span))) if target.span > 0 else 3


def _on_track(target: Target, value: float | None) -> float | None:
    """A value on the target's scale as a percentage of its track (clamped)."""
    return None if value is None else _clamp_pct((value - target.low) / target.span)


def study_sections(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per study's target set: the set, what `scores_view` gives about its serving model,
    and one row per scored target with score, interval and train mean placed on the
    target's declared scale, the words for its ends and its top reasons."""
    sections = []
    for view in views:
        target_set = view["target_set"]
        rows = []
        for t in target_set.targets:
            score = view["scores"].get(t.name)
            if score is None:
                continue
            digits, cdigits = _digits(t), _contribution_digits(t)
            lo, hi = (view["intervals"].get(t.name) or [None, None])[:2]
            mean = view["train_mean"].get(t.name)
            reasons = sorted(
                (r for r in view["reasons"].get(t.name) or [] if isinstance(r, dict)),
                key=lambda r: -abs(r.get("contribution") or 0),
            )[:3]
            low_end = f"{t.low:g}" + (f" = {t.low_words}" if t.low_words else "")
            high_end = f"{t.high:g}" + (f" = {t.high_words}" if t.high_words else "")
            rows.append(
                {
                    "target": t.name,
                    "title": t.title,
                    "description": t.description,
                    "score": f"{score:.{digits}f}",
                    "pct": _on_track(t, score),
                    "lo": _on_track(t, lo),
                    "hi": _on_track(t, hi),
                    "interval": None if lo is None or hi is None
                    else f"[{lo:.{digits}f}, {hi:.{digits}f}]",
                    "mean": _on_track(t, mean),
                    "scale": f"{t.low:g} to {t.high:g}",
                    "ends": f"scale {low_end} … {high_end}",
                    "reasons": [
                        {"section": r.get("section"),
                         "contribution": f"{r.get('contribution') or 0:+.{cdigits}f}"}
                        for r in reasons
                    ],
                    "hover": f"{t.name} {score:.{digits}f} on {t.low:g} to {t.high:g}"
                    + (f", train mean {mean:.{digits}f}" if mean is not None else ""),
                }
            )  # fmt: skip
        sections.append(
            {
                "name": target_set.name,
                "description": target_set.description,
                "view": view,
                "rows": rows,
                "any_reasons": any(r["reasons"] for r in rows),
            }
        )
    return sections


def _no_scores(predict: StageView | None, study_sets: list[dict[str, Any]]) -> str:
    if predict is None:
        return "the predict stage is not part of this pipeline"
    if study_sets and predict.status == "done":
        names = ", ".join(view["target_set"].name for view in study_sets)
        return (
            "no First Impressions model scored this video; it was scored on the study's "
            f"target sets below ({names})"
        )
    return predict.unavailable()


def _description(describe: StageView | None) -> tuple[str | None, str, str]:
    if describe is None or not describe.usable:
        why = describe.unavailable() if describe else "describe is not part of this pipeline"
        return None, "", why
    d = describe.data
    meta = (
        f"template v{d.get('template_version')}, norms v{d.get('norms_version')}, "
        f"transcript from {d.get('transcript_source')}, about {d.get('token_estimate')} tokens"
    )
    return d.get("text") or d.get("description"), meta, "describe recorded no text"


def segment_texts(describe: StageView | None, scores: dict[str, Any] | None) -> list[dict]:
    """[{label, text}] of each segment's description of the serving profile ([] when the
    video was described whole)."""
    if describe is None or not describe.usable:
        return []
    profile = (scores or {}).get("feature_profile") or describe.data.get("feature_profile")
    return [
        {
            "label": f"segment {seg['index'] + 1}: {seg['start']:.1f}-{seg['end']:.1f} s, "
            f"{seg.get('words', 0)} words",
            "text": (seg.get("texts") or {}).get(profile, ""),
        }
        for seg in describe.data.get("segments") or []
    ]


def render_report(
    report: ReportData, thumbs: list[Thumb], nav: str | None = None, now: datetime | None = None
) -> str:
    """The report page as an HTML string."""
    stages = report.stages
    probe = stages["probe"].data if "probe" in stages else {}
    specs = timelines(stages)
    duration = probe.get("duration_s") or max(
        (max(s["t"], default=0) for spec in specs for s in spec.get("series", [])), default=1.0
    )
    description, meta, no_description = _description(stages.get("describe"))
    if report.model_text is not None:
        profile = report.model_text["profile"]
        description = report.model_text["text"]
        meta = f"the '{profile}' description: the serving model reads that profile"
    scores = report.scores
    rows = score_rows(scores) if scores else []
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            version=__version__,
            template_version=REPORT_TEMPLATE_VERSION,
            assets=assets(),
            nav=nav,
            video=report.video,
            facts=_facts(probe),
            generated_at=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
            thumbs=thumbs,
            stages=list(stages.values()),
            scores=scores,
            score_rows=rows,
            any_reasons=any(r["reasons"] for r in rows),
            no_scores=_no_scores(stages.get("predict"), report.study_sets),
            study_sets=study_sections(report.study_sets),
            timelines=specs,
            timelines_json=script_json({"duration": duration, "timelines": specs}),
            description=description,
            description_meta=meta,
            segment_texts=segment_texts(stages.get("describe"), scores),
            no_description=no_description,
        )
    )


def report_thumbs(report: ReportData, video_path: Path | None) -> list[Thumb]:
    """Face thumbnails for the report, when the original file can still be read."""
    if video_path is None or not video_path.exists():
        return []
    stages = report.stages
    probe = stages["probe"].data if "probe" in stages else {}
    face = stages["analyze_face"].data if "analyze_face" in stages else None
    return thumbnails(video_path, face, probe.get("duration_s") or 0.0)
