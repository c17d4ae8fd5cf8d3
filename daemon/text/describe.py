"""The one function that turns a video's stage outputs into the text the LLM reads.

Training, prediction and export all call `build_description`, so the model sees the same
wording everywhere. The wording is versioned: change anything that alters the text and
bump TEMPLATE_VERSION, which changes the describe stage's fingerprint and re-queues
`describe` and every stage after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.text.face_sections import body_block, face_block
from daemon.text.fmt import clean_label, clean_text, fixed, number, plural
from daemon.text.layout import Block, Layout, Transcript
from daemon.text.norms import Norms, load_norms
from daemon.text.sections import appearance_line, how_block, speakers_line, video_line
from storage.states import StageStatus

TEMPLATE_VERSION = "6"
PROFILE_FULL = "full"
PROFILE_TRANSCRIPT_ONLY = "transcript_only"
PROFILES = (PROFILE_FULL, PROFILE_TRANSCRIPT_ONLY)
TranscriptSource = Literal["asr", "official"]

# What a skipped stage means, in words; a stage's own skip reason is never quoted.
SKIPPED_MEANS = {
    "extract_audio": "the video has no sound",
    "diarize": "no speech was detected",
    "transcribe": "no words were recognised",
    "speech_emotion": "the emotion in the voice could not be estimated",
    "prosody": "the voice could not be measured",
    "analyze_face": "no face was visible",
}
TRANSCRIPT_ONLY_NOTE = (
    "Only the transcript of this video is known; the voice, face and picture were not analysed."
)


@dataclass(frozen=True)
class StageInput:
    """A stage's outcome as describe sees it: its summary when done, else only its status."""

    status: StageStatus  # done or skipped; a stage that did not run has no StageInput
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DescribeInputs:
    """Everything a description is built from: probe data, stage summaries, official text."""

    probe: Mapping[str, Any] | None
    stages: Mapping[str, StageInput] = field(default_factory=dict)
    official_transcript: str | None = None

    def summary(self, stage: str) -> Mapping[str, Any] | None:
        """The stage's summary if it ran to completion with one, else None."""
        item = self.stages.get(stage)
        if item is None or item.status != StageStatus.DONE or not isinstance(item.summary, Mapping):
            return None
        return item.summary

    def skipped(self) -> dict[str, str]:
        """Plain-words reasons for every stage that did not produce a summary."""
        return {
            name: SKIPPED_MEANS.get(name, "it was not analysed")
            if item.status == StageStatus.SKIPPED
            else "it was not analysed"
            for name, item in self.stages.items()
            if self.summary(name) is None
        }


def build_description(
    inputs: DescribeInputs,
    *,
    transcript_source: TranscriptSource = "asr",
    max_tokens: int = 1024,
    profile: str = PROFILE_FULL,
    norms: Norms | None = None,
) -> str:
    """The description text of one video, within `max_tokens` estimated tokens."""
    norms = norms or load_norms()
    if profile == PROFILE_TRANSCRIPT_ONLY:
        about = Block("About")
        about.add(TRANSCRIPT_ONLY_NOTE)
        # No source in the text: a model trained on official transcripts reads a video's
        # automatic one in the same words; the source is recorded beside the text instead.
        transcript = _transcript(inputs, "official", norms, with_rate=False, with_source=False)
        return Layout([about], transcript, 1).fit(max_tokens)
    if profile != PROFILE_FULL:
        raise ValueError(f"unknown feature profile {profile!r}; expected one of {PROFILES}")
    return _full_layout(inputs, transcript_source, norms).fit(max_tokens)


def transcript_only_description(transcript: str | None, max_tokens: int = 1024) -> str:
    """The transcript-only profile's text for an official transcript."""
    inputs = DescribeInputs(probe=None, official_transcript=transcript)
    return build_description(inputs, max_tokens=max_tokens, profile=PROFILE_TRANSCRIPT_ONLY)


def _full_layout(inputs: DescribeInputs, source: TranscriptSource, norms: Norms) -> Layout:
    stages = {name: inputs.summary(name) for name in SKIPPED_MEANS}
    skipped = inputs.skipped()
    face_reason = skipped.get("analyze_face")
    if inputs.probe and not inputs.probe.get("video"):
        face_reason = "the file has no picture"
    context = Block("Video")
    context.add(video_line(inputs.probe))
    context.add(speakers_line(stages["diarize"]) or _skip_sentence(skipped, "diarize"))
    context.add(appearance_line(stages["analyze_face"]), 2)
    blocks = [
        context,
        how_block(stages, skipped, norms),
        face_block(stages["analyze_face"], face_reason, norms),
        body_block(stages["analyze_face"], face_reason),
    ]
    return Layout(blocks, _transcript(inputs, source, norms, with_rate=True), 1)


def _skip_sentence(skipped: Mapping[str, str], stage: str) -> str | None:
    reason = skipped.get(stage)
    return f"{reason[0].upper()}{reason[1:]}." if reason else None


def _pick_text(inputs: DescribeInputs, source: TranscriptSource) -> tuple[str, str, str | None]:
    """(text, kind, reason it is empty) for the configured transcript source."""
    transcribe = inputs.summary("transcribe") or {}
    official = clean_text(inputs.official_transcript) or clean_text(transcribe.get("official_text"))
    if source == "official" and official:
        return official, "official transcript", None
    kind = "automatic transcript" + ("; no official one exists" if source == "official" else "")
    if inputs.summary("transcribe") is None:
        item = inputs.stages.get("transcribe")
        if item is None and source == "official":
            return "", kind, "no transcript exists"
        reason = inputs.skipped().get("diarize") or inputs.skipped().get("transcribe")
        return "", kind, reason or "it was not transcribed"
    text = clean_text(transcribe.get("text"))
    return text, kind, None if text else "no words were recognised"


def transcript_kind(inputs: DescribeInputs, source: TranscriptSource = "official") -> str:
    """Where the quoted words come from: 'official transcript' or 'automatic transcript'."""
    return _pick_text(inputs, source)[1].split(";")[0]


def _transcript(
    inputs: DescribeInputs,
    source: TranscriptSource,
    norms: Norms,
    with_rate: bool,
    with_source: bool = True,
) -> Transcript:
    text, kind, empty_reason = _pick_text(inputs, source)
    words = tuple(text.split())
    if not words:
        why = empty_reason or "the transcript is empty"
        return Transcript(f"What was said: nothing, because {why}.", ())
    details = [kind] if with_source else []
    language = _language(inputs) if with_source and kind.startswith("automatic") else None
    if language:
        details.append(language)
    details.append(plural(len(words), "word"))
    duration = number((inputs.probe or {}).get("duration_s"), 1.0, 86_400.0)
    intro = f"What was said ({', '.join(details)}"
    if with_rate and duration:
        rate = len(words) / duration
        intro += f"; {fixed(rate, 1)} words per second of video, "
        intro += norms.phrase("word_rate_video_wps", rate)
    intro += "):"
    events = _events(inputs)
    after = f"Sounds tagged in the audio: {events}." if events else ""
    return Transcript(intro, words, after)


def _language(inputs: DescribeInputs) -> str | None:
    from daemon.text.sections import LANGUAGES

    code = clean_label((inputs.summary("transcribe") or {}).get("language"), max_chars=12)
    if not code or code in ("auto", "unknown", "none", "nospeech"):
        return None
    return LANGUAGES.get(code, code if code.isalpha() else None)


def _events(inputs: DescribeInputs) -> str:
    raw = (inputs.summary("transcribe") or {}).get("events")
    if not isinstance(raw, list):
        return ""
    names = sorted({clean_label(e) for e in raw if clean_label(e)})[:8]
    return ", ".join(names)
