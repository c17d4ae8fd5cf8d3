"""Scores of a long video from the scores of its clip-sized segments.

Each segment is scored like a training clip, with its own split-conformal interval and
its own reasons. The video's score per target is the mean of its segments' scores,
weighted by how long the subject speaks in each (segments where the subject says nothing
count only when no segment has speech). Its interval has to cover two things:

- the error of a single clip's score, which the segment half-width bounds at the nominal
  level (the mean of per-segment errors is never larger than their mean bound), and
- how much the segments disagree: the standard error of the mean of the segment scores
  times Student's t quantile at the same level with n - 1 degrees of freedom.

So the half-width is `mean segment half-width + t * sd / sqrt(n)`, clipped to [0, 1]. A
single usable segment gets its own interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.learn.conformal import interval
from daemon.learn.metrics import Scores
from daemon.learn.occlusion import Reasons, explain


@dataclass
class SegmentScore:
    """One segment's scores, interval half-widths and reasons."""

    index: int
    start: float
    end: float
    speech_s: float
    words: int
    scores: Scores
    reasons: Reasons
    widths: dict[str, float] | None = None
    flags: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The segment as stored with the prediction (reasons: the top 3 per target)."""
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "speech_s": self.speech_s,
            "words": self.words,
            "scores": {t: round(float(v), 6) for t, v in self.scores.items()},
            "intervals": (
                {t: interval(float(v), self.widths[t]) for t, v in self.scores.items()}
                if self.widths
                else {}
            ),
            "flags": self.flags,
            "reasons": {t: self.reasons[t][:3] for t in self.scores},
        }


def score_segments(
    predict: Callable[[Sequence[str]], list[Scores]],
    segments: Sequence[Mapping[str, Any]],
    profile: str,
    widths: dict[str, float] | None,
    check_stop: Callable[[], None] = lambda: None,
) -> list[SegmentScore]:
    """Score and explain every segment's description of `profile` (as describe stored it)."""
    out = []
    for seg in segments:
        check_stop()
        raw, reasons = explain(predict, seg["texts"][profile])
        out.append(
            SegmentScore(
                index=int(seg["index"]),
                start=float(seg["start"]),
                end=float(seg["end"]),
                speech_s=float(seg.get("subject_speech_s") or 0.0),
                words=int(seg.get("words") or 0),
                scores={t: float(v) for t, v in raw.items()},
                reasons=reasons,
                widths=widths,
            )
        )
    return out


def counted(items: Sequence[SegmentScore]) -> list[SegmentScore]:
    """The segments the video's score is made of: those where the subject speaks, or all
    when the subject speaks in none."""
    speaking = [s for s in items if s.speech_s > 0]
    return speaking or list(items)


def aggregate_scores(items: Sequence[SegmentScore]) -> Scores:
    """The speech-weighted mean score per target of the counted segments."""
    used = counted(items)
    weights = [s.speech_s for s in used]
    if sum(weights) <= 0:
        weights = [1.0] * len(used)
    total = sum(weights)
    return {
        t: round(sum(w * s.scores[t] for w, s in zip(weights, used, strict=True)) / total, 6)
        for t in _names(used)
    }


def aggregate_halfwidths(
    items: Sequence[SegmentScore], widths: dict[str, float], level: float
) -> dict[str, float]:
    """Half-width per target: mean segment half-width plus the spread term (module doc)."""
    used = counted(items)
    n = len(used)
    quantile = _t_quantile(level, n - 1) if n > 1 else 0.0
    out = {}
    for t in _names(used):
        values = [s.scores[t] for s in used]
        spread = _sd(values) / math.sqrt(n) if n > 1 else 0.0
        out[t] = min(1.0, widths[t] + quantile * spread)
    return out


def spread(items: Sequence[SegmentScore]) -> dict[str, float]:
    """The standard deviation of the counted segments' scores per target."""
    used = counted(items)
    return {t: round(_sd([s.scores[t] for s in used]), 6) for t in _names(used)}


def aggregate_reasons(items: Sequence[SegmentScore]) -> Reasons:
    """Each section's contribution averaged over the counted segments, largest first."""
    used = counted(items)
    out: Reasons = {}
    for t in _names(used):
        sums: dict[str, float] = {}
        for seg in used:
            for item in seg.reasons[t]:
                key = str(item["section"])
                sums[key] = sums.get(key, 0.0) + float(item["contribution"])
        items_t = [{"section": k, "contribution": round(v / len(used), 6)} for k, v in sums.items()]
        items_t.sort(key=lambda i: (-abs(float(i["contribution"])), str(i["section"])))
        out[t] = items_t
    return out


def aggregate_flags(items: Sequence[SegmentScore]) -> list[dict[str, str]]:
    """The video's flags: one per kind found in a counted segment, naming the segments and
    quoting the first one's reason."""
    by_kind: dict[str, list[tuple[int, str]]] = {}
    for seg in counted(items):
        for flag in seg.flags:
            by_kind.setdefault(flag["kind"], []).append((seg.index, flag["reason"]))
    total = len(counted(items))
    out = []
    for kind, found in by_kind.items():
        which = ", ".join(str(i + 1) for i, _ in found)
        noun = "segment" if len(found) == 1 else "segments"
        reason = f"{noun} {which} of {total}: {found[0][1]}"
        out.append({"kind": kind, "reason": reason})
    return out


def withheld_because(flags: Sequence[Mapping[str, str]]) -> str | None:
    """Why the video's interval is withheld (a counted segment is flagged), or None."""
    if not flags:
        return None
    reasons = "; ".join(f["reason"] for f in flags)
    return f"some segments lie outside the model's training range: {reasons}"


def _names(items: Sequence[SegmentScore]) -> list[str]:
    """The targets the segments were scored on (the serving model's)."""
    return list(items[0].scores) if items else []


def _sd(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _t_quantile(level: float, dof: int) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + level / 2, dof))
