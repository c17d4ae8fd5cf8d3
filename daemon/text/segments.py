"""Clip-sized segments of a long video, and the describe inputs of each one.

The models learn from 15-second clips. A video much longer than that is cut into segments
of about `describe.segment_s`, at pauses between the subject's speech turns where one lies
near the target length (a word is never split between segments when the subject pauses),
and each segment gets a description in exactly the wording of a training clip: its own
length, its own words and its own speaker turns. Voice, emotion and face measures are the
whole video's means and rates, with counts prorated to the segment's length, so a segment's
text never states a count that only the whole video reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.audio.turns import Interval, make_turn, pause_midpoints, summarize
from daemon.text.describe import DescribeInputs, StageInput

# Stages whose summaries a segment takes from the whole video (means and rates).
WHOLE_VIDEO_STAGES = ("speech_emotion", "prosody", "analyze_face")
# Counts in those summaries, prorated to the segment's share of the video.
PRORATED_COUNTS = {"prosody": ("pause_count",), "analyze_face": ("frames_sampled",)}


@dataclass(frozen=True)
class Segment:
    """One clip-sized window of a video, in seconds from its start."""

    index: int
    start: float
    end: float

    @property
    def length_s(self) -> float:
        """The segment's length in seconds."""
        return self.end - self.start

    def label(self) -> str:
        """'3 (30.2-45.0 s)': how the segment is named to people."""
        return f"{self.index + 1} ({self.start:.1f}-{self.end:.1f} s)"


def plan_segments(
    duration_s: float, subject_turns: Sequence[Interval], length_s: float, over_s: float
) -> list[Segment]:
    """The segments of a video, or [] when it is short enough to be scored whole.

    Each cut is the middle of the pause between two of the subject's turns nearest to
    `length_s` after the previous cut, within half a length either way; without such a
    pause the cut falls at `length_s`. No segment is shorter than half a length.
    """
    if duration_s <= over_s or duration_s <= 0:
        return []
    pauses = pause_midpoints(subject_turns)
    cuts = [0.0]
    while duration_s - cuts[-1] > 1.5 * length_s:
        here, target = cuts[-1], cuts[-1] + length_s
        near = [
            p
            for p in pauses
            if here + 0.5 * length_s <= p <= here + 1.5 * length_s
            and duration_s - p >= 0.5 * length_s
        ]
        cuts.append(min(near, key=lambda p: abs(p - target)) if near else target)
    cuts.append(duration_s)
    return [
        Segment(i, round(a, 3), round(b, 3))
        for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))
    ]


def segment_inputs(
    inputs: DescribeInputs,
    segment: Segment,
    diarize: Mapping[str, Any] | None,
    transcribe: Mapping[str, Any] | None,
) -> DescribeInputs:
    """The describe inputs of one segment: its length, its speaker turns, its words; the
    whole video's voice and face measures with counts prorated. `diarize` and `transcribe`
    are those stages' whole outputs (turns, segments, words), None when not done."""
    probe = dict(inputs.probe or {})
    duration = float(probe.get("duration_s") or segment.end)
    probe["duration_s"] = round(segment.length_s, 3)
    stages: dict[str, StageInput] = dict(inputs.stages)
    if inputs.summary("diarize") is not None and diarize:
        stages["diarize"] = StageInput(
            inputs.stages["diarize"].status, _diarize_summary(diarize, segment)
        )
    if inputs.summary("transcribe") is not None and transcribe:
        summary = dict(inputs.summary("transcribe") or {})
        text = " ".join(subject_words(transcribe, segment))
        summary.update(text=text, word_count=len(text.split()), official_text=None)
        stages["transcribe"] = StageInput(inputs.stages["transcribe"].status, summary)
    share = segment.length_s / duration if duration > 0 else 1.0
    for name, keys in PRORATED_COUNTS.items():
        whole = inputs.summary(name)
        if whole is not None:
            prorated = {k: _prorate(whole.get(k), share) for k in keys if k in whole}
            stages[name] = StageInput(inputs.stages[name].status, {**whole, **prorated})
    return DescribeInputs(probe, stages, official_transcript=None)


def _prorate(value: Any, share: float) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(round(value * share))
    return value


def _diarize_summary(diarize: Mapping[str, Any], segment: Segment) -> dict[str, Any]:
    """The speaker summary within the segment; the subject stays the whole video's."""
    whole = diarize.get("summary") or {}
    subject = whole.get("subject")
    clipped = [
        make_turn(max(t["start"], segment.start), min(t["end"], segment.end), t["speaker"])
        for t in diarize.get("turns") or []
        if min(t["end"], segment.end) > max(t["start"], segment.start)
    ]
    summary = dict(summarize(clipped, segment.length_s, str(whole.get("subject_rule"))))
    times = {s["speaker"]: s["talk_time_s"] for s in summary["speakers"]}
    summary.update(
        subject=subject,
        subject_rule=whole.get("subject_rule"),
        subject_reason=whole.get("subject_reason"),
        subject_talk_time_s=round(times.get(subject, 0.0), 3),
    )
    return summary


def subject_words(transcribe: Mapping[str, Any], segment: Segment) -> list[str]:
    """The subject's words spoken within the segment, in order.

    With word timestamps a word belongs to the segment holding its midpoint; an utterance
    without them spreads its words evenly over its time span.
    """
    subject = transcribe.get("subject")
    words = transcribe.get("words") or []
    if words:
        return [
            str(w["word"]).strip()
            for w in words
            if w.get("speaker") == subject and _inside((w["start"] + w["end"]) / 2, segment)
        ]
    out: list[str] = []
    for item in transcribe.get("segments") or []:
        if item.get("speaker") != subject:
            continue
        tokens = str(item.get("text") or "").split()
        span = float(item["end"]) - float(item["start"])
        for i, token in enumerate(tokens):
            at = float(item["start"]) + span * (i + 0.5) / len(tokens)
            if _inside(at, segment):
                out.append(token)
    return out


def _inside(t: float, segment: Segment) -> bool:
    return segment.start <= t < segment.end


def subject_turns(diarize: Mapping[str, Any] | None) -> list[Interval]:
    """The subject's speech turns from diarize's output ([] when it did not run)."""
    if not diarize:
        return []
    subject = (diarize.get("summary") or {}).get("subject")
    return [(t["start"], t["end"]) for t in diarize.get("turns") or [] if t["speaker"] == subject]
