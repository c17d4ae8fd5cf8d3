"""Diarization against known speakers: recordings of different people played one after the
other (each part's speaker is known), and the diarization error rate and speaker count of a
diarization of them, scored with pyannote.metrics.

The reference speech of a part is where the voice activity detector finds speech in that part
on its own (the true speaker of every part is known, the exact speech timing is not), so the
error rate measures mostly who-is-who, not the detector.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daemon.audio.turns import Interval, pause_midpoints, union
from daemon.features import Turn

STANDARD_COLLAR_S = 0.25  # the NIST collar: +-0.25 s around reference boundaries is not scored


@dataclass(frozen=True)
class Part:
    """A stretch of one speaker's audio and its speech regions (seconds within the part)."""

    speaker: str
    samples: np.ndarray
    speech: tuple[Interval, ...]


@dataclass
class Concatenation:
    """Parts played one after the other, with the true speaker of every speech region."""

    samples: np.ndarray
    rate: int
    reference: list[tuple[float, float, str]] = field(default_factory=list)
    spans: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        """The true speakers, in order of first appearance."""
        return list(dict.fromkeys(s for _a, _b, s in self.reference))


def _quietest(samples: np.ndarray, rate: int, target: float, search_s: float = 0.5) -> float:
    """The centre of the quietest 50 ms within `search_s` of `target` (seconds)."""
    lo = max(0, int((target - search_s) * rate))
    chunk = samples[lo : int((target + search_s) * rate)].astype(np.float64)
    n = int(0.05 * rate)
    if len(chunk) <= n:
        return target
    energy = np.convolve(chunk**2, np.ones(n), mode="valid")
    return (lo + int(np.argmin(energy)) + n // 2) / rate


def split_at_pauses(
    speaker: str, samples: np.ndarray, rate: int, speech: Sequence[Interval], pieces: int
) -> list[Part]:
    """`pieces` parts of one recording, cut near equal lengths in the middle of a pause when
    one is near, else at the quietest moment nearby (to cut as few words as possible), each
    with its own speech regions."""
    duration = len(samples) / rate
    gaps = pause_midpoints(speech)
    cuts = [0.0]
    for i in range(1, pieces):
        target = duration * i / pieces
        near = min(gaps, key=lambda g: abs(g - target), default=None)
        ok = near is not None and abs(near - target) < duration / pieces / 3
        cuts.append(near if ok else _quietest(samples, rate, target))
    cuts = [*sorted(set(cuts)), duration]
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        inside = tuple((max(a, lo) - lo, min(b, hi) - lo) for a, b in speech if b > lo and a < hi)
        chunk = samples[int(round(lo * rate)) : int(round(hi * rate))]
        parts.append(Part(speaker, chunk, inside))
    return parts


def concatenate(parts: Iterable[Part], rate: int, gap_s: float = 0.0) -> Concatenation:
    """The parts one after the other with `gap_s` of silence between them, and the truth."""
    out = Concatenation(np.zeros(0, dtype=np.float32), rate)
    chunks: list[np.ndarray] = []
    offset = 0
    gap = np.zeros(int(round(gap_s * rate)), dtype=np.float32)
    for part in parts:
        if chunks and len(gap):
            chunks.append(gap)
            offset += len(gap)
        t0 = offset / rate
        chunks.append(part.samples.astype(np.float32))
        offset += len(part.samples)
        out.spans.append((t0, offset / rate, part.speaker))
        out.reference.extend((t0 + a, t0 + b, part.speaker) for a, b in part.speech if b > a)
    out.samples = np.concatenate(chunks) if chunks else out.samples
    return out


def _annotation(segments: Iterable[tuple[float, float, str]]) -> Any:
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, (a, b, who) in enumerate(segments):
        if b > a:
            ann[Segment(a, b), i] = who
    return ann


def _components(reference: Any, hypothesis: Any, collar: float) -> dict[str, float]:
    from pyannote.core import Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    # Scored over the extent of both (what pyannote would otherwise guess, with a warning).
    uem = Timeline([(reference.get_timeline() | hypothesis.get_timeline()).extent()])
    parts = metric(reference, hypothesis, uem=uem, detailed=True)
    total = max(parts["total"], 1e-9)
    return {
        "der": parts["diarization error rate"],
        "confusion": parts["confusion"] / total,
        "missed": parts["missed detection"] / total,
        "false_alarm": parts["false alarm"] / total,
        "scored_s": parts["total"],
    }


def score(
    reference: Sequence[tuple[float, float, str]],
    turns: Sequence[Turn],
    collars: Sequence[float] = (0.0, STANDARD_COLLAR_S),
) -> dict[str, Any]:
    """Speaker counts and the diarization error rate (with its parts, as shares of the scored
    reference speech) of `turns` against `reference`, once per collar (seconds)."""
    ref = _annotation(reference)
    hyp = _annotation((t["start"], t["end"], t["speaker"]) for t in turns)
    true_n = len(ref.labels())
    found = len(hyp.labels())
    out: dict[str, Any] = {
        "true_speakers": true_n,
        "found_speakers": found,
        "count_error": (found - true_n) / max(true_n, 1),
        "reference_speech_s": sum(b - a for a, b in union((a, b) for a, b, _ in reference)),
    }
    for collar in collars:
        out[f"collar_{collar:g}"] = _components(ref, hyp, collar)
    return out
