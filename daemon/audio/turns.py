"""Speaker turns: merging, talk time, subject choice and interval arithmetic."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from daemon.features import DiarizeSummary, SpeakerTime, Turn

Interval = tuple[float, float]


@dataclass(frozen=True)
class SubjectChoice:
    """A subject named from outside the audio: by the user or by a sidecar."""

    speaker: str
    rule: str  # "user" or "sidecar", recorded as the summary's subject_rule
    reason: str  # the sentence that says who chose it
    remedy: str = ""  # what to do when the speaker is not among those found


class UnknownSpeakerError(ValueError):
    """A chosen subject that is not among the diarized speakers."""

    def __init__(self, speaker: str, found: list[str]) -> None:
        super().__init__(f"{speaker} is not among the speakers found ({', '.join(found)})")
        self.speaker = speaker
        self.found = found


def make_turn(start: float, end: float, speaker: str) -> Turn:
    """A turn rounded to milliseconds."""
    return Turn(start=round(float(start), 3), end=round(float(end), 3), speaker=speaker)


def merge_turns(turns: Iterable[Turn], max_gap: float = 0.0) -> list[Turn]:
    """Sort turns and join consecutive turns of one speaker separated by at most `max_gap`."""
    merged: list[Turn] = []
    for turn in sorted(turns, key=lambda t: (t["start"], t["end"])):
        last = merged[-1] if merged else None
        if last and last["speaker"] == turn["speaker"] and turn["start"] - last["end"] <= max_gap:
            last["end"] = max(last["end"], turn["end"])
        else:
            merged.append(make_turn(turn["start"], turn["end"], turn["speaker"]))
    return merged


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of intervals, sorted and non-overlapping."""
    out: list[list[float]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def pause_midpoints(intervals: Iterable[Interval]) -> list[float]:
    """The middle of every gap between the union's spans: where a cut splits no speech."""
    spans = union(intervals)
    return [
        (a_end + b_start) / 2 for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)
    ]


def total(intervals: Iterable[Interval]) -> float:
    """Summed length of intervals (assumed disjoint)."""
    return float(sum(b - a for a, b in intervals))


def talk_times(turns: Iterable[Turn]) -> dict[str, float]:
    """Seconds of speech per speaker (overlapping turns of one speaker counted once)."""
    per: dict[str, list[Interval]] = defaultdict(list)
    for t in turns:
        per[t["speaker"]].append((t["start"], t["end"]))
    return {spk: total(union(iv)) for spk, iv in per.items()}


def choose_subject(turns: list[Turn], rule: str) -> str | None:
    """The subject's speaker label under `rule`; None when there are no turns."""
    if not turns:
        return None
    if rule == "first_speaker":
        return min(turns, key=lambda t: t["start"])["speaker"]
    if rule == "longest_turn":
        return max(turns, key=lambda t: t["end"] - t["start"])["speaker"]
    times = talk_times(turns)
    return max(times, key=lambda spk: (times[spk], -_first_start(turns, spk)))


def _first_start(turns: list[Turn], speaker: str) -> float:
    return min(t["start"] for t in turns if t["speaker"] == speaker)


def rule_reason(turns: list[Turn], rule: str, subject: str) -> str:
    """Why `rule` chose `subject`, with the numbers it went by."""
    own = [t for t in turns if t["speaker"] == subject]
    if rule == "first_speaker":
        return f"first to speak, at {min(t['start'] for t in own):.1f} s"
    if rule == "longest_turn":
        return f"longest turn: {max(t['end'] - t['start'] for t in own):.1f} s"
    speech = total(union((t["start"], t["end"]) for t in turns))
    return f"most speech: {talk_times(own)[subject]:.1f} s of {speech:.1f} s"


def _pick(
    turns: list[Turn], rule: str, choice: SubjectChoice | None
) -> tuple[str | None, str, str]:
    """(subject, rule, reason): the outside choice if any, else `rule`'s."""
    if not turns:
        return None, rule, "no speech"
    if choice is None:
        subject = choose_subject(turns, rule)
        return subject, rule, rule_reason(turns, rule, subject or "")
    found = sorted({t["speaker"] for t in turns})
    if choice.speaker not in found:
        raise UnknownSpeakerError(choice.speaker, found)
    return choice.speaker, choice.rule, choice.reason


def summarize(
    turns: list[Turn], duration_s: float, rule: str, choice: SubjectChoice | None = None
) -> DiarizeSummary:
    """The DiarizeSummary of a list of turns; `choice` overrides `rule`.

    Raises UnknownSpeakerError when `choice` names a speaker without turns.
    """
    times = talk_times(turns)
    speech = total(union((t["start"], t["end"]) for t in turns))
    subject, rule, reason = _pick(turns, rule, choice)
    all_talk = sum(times.values()) or 1.0
    speakers = [
        SpeakerTime(speaker=spk, talk_time_s=round(sec, 3), share=round(sec / all_talk, 4))
        for spk, sec in sorted(times.items(), key=lambda kv: -kv[1])
    ]
    return DiarizeSummary(
        num_speakers=len(times),
        subject=subject,
        subject_rule=rule,
        subject_reason=reason,
        subject_talk_time_s=round(times.get(subject, 0.0), 3) if subject else 0.0,
        speech_s=round(speech, 3),
        duration_s=round(duration_s, 3),
        speakers=speakers,
    )


def subject_sentence(summary: dict) -> str:
    """The subject line of `lprd show` and the report: "Subject: X — why; other speakers..."."""
    subject = summary.get("subject")
    if subject is None:
        return "Subject: none (no speech)"
    reason = summary.get("subject_reason") or f"rule {summary.get('subject_rule')}"
    others = [
        f"{s['speaker']} ({s['talk_time_s']:.1f} s)"
        for s in summary.get("speakers") or []
        if s["speaker"] != subject
    ]
    listed = f"other speakers: {', '.join(others)}" if others else "no other speakers"
    return f"Subject: {subject} — {reason}; {listed}"


def speaker_intervals(turns: Iterable[Turn], speaker: str | None) -> list[Interval]:
    """The union of one speaker's turns."""
    return union((t["start"], t["end"]) for t in turns if t["speaker"] == speaker)


def overlap(a: Interval, intervals: Iterable[Interval]) -> float:
    """Seconds of interval `a` covered by `intervals`."""
    return float(sum(max(0.0, min(a[1], b) - max(a[0], s)) for s, b in intervals))


def rttm_lines(turns: Iterable[Turn], uri: str) -> list[str]:
    """The turns in RTTM format (one SPEAKER line per turn)."""
    uri = uri.replace(" ", "_")
    return [
        f"SPEAKER {uri} 1 {t['start']:.3f} {t['end'] - t['start']:.3f} <NA> <NA> {t['speaker']} "
        "<NA> <NA>"
        for t in turns
    ]
