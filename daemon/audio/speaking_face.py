"""Which diarized speaker is the visible face: voice and face linked by the speaking mouth.

The face stage records the subject's face in sampled frames (`t`, `face`, and the jaw
opening `au_jaw_drop`, MediaPipe's jawOpen blendshape). A frame's mouth *moves* when the
face is visible in it and in the frame before and the jaw opening changed by at least
MOVE_THRESHOLD between them. Per diarized speaker, the moving share is the share of the
sampled frames inside that speaker's exclusive turns in which the mouth moves (a frame
without a visible face counts as not moving, so a speaker heard while no face is seen
scores about 0); the speaker's score is that share minus the highest share of another
speaker. The best-scoring speaker is the speaking face when the score reaches MIN_MARGIN
over at least MIN_FRAMES frames; otherwise the evidence is unclear (no face, or several
voices the face seems to speak in, as in a montage of people each filmed speaking) and
the caller falls back to another rule.

On the 12 First Impressions clips (one speaker each, 5 frames/s), the jaw moves by
>= 0.02 in 57 % of the frames inside speech and in 26 % of the frames outside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daemon.features import Turn

MOVE_THRESHOLD = 0.02  # |change of jawOpen| between sampled frames that counts as movement
MIN_MARGIN = 0.15  # the best speaker's moving share minus the next speaker's
MIN_FRAMES = 5  # sampled frames inside the best speaker's turns (1 s at 5 frames/s)
JAW = "au_jaw_drop"


@dataclass(frozen=True)
class SpeakerEvidence:
    """What the face did during one speaker's exclusive turns."""

    speaker: str
    frames: int  # sampled frames inside the speaker's turns
    face_frames: int  # of those, frames with the face visible
    moving: int  # of those, frames in which the mouth moved
    score: float  # moving share here minus the highest moving share of another speaker

    @property
    def share(self) -> float:
        """Share of the speaker's frames in which the visible face's mouth moved."""
        return self.moving / self.frames if self.frames else 0.0

    def record(self) -> dict[str, Any]:
        """The evidence as stored in diarize's output."""
        return {
            "speaker": self.speaker,
            "frames": self.frames,
            "face_frames": self.face_frames,
            "moving_frames": self.moving,
            "moving_share": round(self.share, 4),
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Linking:
    """The speaking face's verdict: the speaker (None when unclear), why, and the evidence."""

    speaker: str | None
    reason: str
    evidence: tuple[SpeakerEvidence, ...] = ()

    def record(self) -> dict[str, Any]:
        """The verdict as stored in diarize's output under `speaking_face`."""
        return {
            "speaker": self.speaker,
            "reason": self.reason,
            "move_threshold": MOVE_THRESHOLD,
            "min_margin": MIN_MARGIN,
            "speakers": [e.record() for e in self.evidence],
        }


def unavailable(why: str) -> Linking:
    """No face evidence at all (no face stage output, no face seen, no picture)."""
    return Linking(None, f"speaking face unclear ({why})")


def mouth_moving(series: Mapping[str, Sequence[Any]]) -> tuple[list[float], list[bool]]:
    """(frame times, whether the visible face's mouth moved into each frame)."""
    times = [float(t) for t in series.get("t") or []]
    jaw = list(series.get(JAW) or [None] * len(times))
    face = list(series.get("face") or [v is not None for v in jaw])
    moving = [False] * len(times)
    for i in range(1, len(times)):
        a, b = jaw[i - 1], jaw[i]
        seen = bool(face[i]) and bool(face[i - 1]) and a is not None and b is not None
        moving[i] = seen and abs(float(b) - float(a)) >= MOVE_THRESHOLD
    return times, moving


def frame_speakers(turns: Sequence[Turn], times: Sequence[float]) -> list[str | None]:
    """The speaker whose turn holds each frame time; None in silence or where turns of
    different speakers overlap."""
    t = np.asarray(times, dtype=float)
    owner: list[str | None] = [None] * len(t)
    hits = np.zeros(len(t), dtype=int)
    for turn in turns:
        lo, hi = np.searchsorted(t, [turn["start"], turn["end"]], side="left")
        for i in range(lo, hi):
            if owner[i] != turn["speaker"]:
                hits[i] += 1
                owner[i] = turn["speaker"]
    return [spk if n == 1 else None for spk, n in zip(owner, hits, strict=True)]


def evidence(
    turns: Sequence[Turn], series: Mapping[str, Sequence[Any]]
) -> tuple[SpeakerEvidence, ...]:
    """Per speaker (best score first), the face's mouth movement during their turns."""
    times, moving = mouth_moving(series)
    face = list(series.get("face") or [False] * len(times))
    counts: dict[str, list[int]] = {t["speaker"]: [0, 0, 0] for t in turns}
    for i, speaker in enumerate(frame_speakers(turns, times)):
        if speaker is not None:
            row = counts[speaker]
            row[0], row[1], row[2] = row[0] + 1, row[1] + bool(face[i]), row[2] + moving[i]
    shares = {spk: (c[2] / c[0] if c[0] else 0.0) for spk, c in counts.items()}
    out = []
    for speaker, (frames, seen, moved) in counts.items():
        others = max((v for s, v in shares.items() if s != speaker), default=0.0)
        out.append(SpeakerEvidence(speaker, frames, seen, moved, shares[speaker] - others))
    return tuple(sorted(out, key=lambda e: (-e.score, e.speaker)))


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def _shares(found: Sequence[SpeakerEvidence]) -> str:
    """'the visible face's mouth moves in 78 % of SPEAKER_01's turns vs 12 % of ...'."""
    first, *rest = found
    line = f"the visible face's mouth moves in {_pct(first.share)} of {first.speaker}'s turns"
    others = ", ".join(f"{_pct(e.share)} of {e.speaker}'s" for e in rest)
    return f"{line} vs {others}" if others else line


def link(turns: Sequence[Turn], series: Mapping[str, Sequence[Any]]) -> Linking:
    """The speaker whose turns the visible face's mouth moves in, when that is clear."""
    found = evidence(turns, series)
    if not found:
        return unavailable("no speaker turns")
    if not any(e.face_frames for e in found):
        return Linking(None, "speaking face unclear (no face visible during the turns)", found)
    best = found[0]
    if best.frames < MIN_FRAMES or best.score < MIN_MARGIN:
        return Linking(None, f"speaking face unclear ({_shares(found)})", found)
    return Linking(best.speaker, f"speaking face: {_shares(found)}", found)
