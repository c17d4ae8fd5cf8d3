"""Stage `describe`: the English text the LLM reads, built from every analysis stage.

The text comes from daemon.text.describe.build_description, the same function used for
training and export. The stage stores it as the video's `full` description, and also
writes the video's `transcript_only` description (the official transcript when a label
provides one, as `lprd labels describe` writes it, else the automatic one), so a model
trained on transcripts alone can score the video from day one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from daemon.labels.store import label_for_video
from daemon.stages.base import Stage, StageContext, StageResult
from daemon.text.describe import (
    PROFILE_FULL,
    PROFILE_TRANSCRIPT_ONLY,
    TEMPLATE_VERSION,
    DescribeInputs,
    StageInput,
    build_description,
    transcript_kind,
)
from daemon.text.fmt import estimate_tokens
from daemon.text.layout import shortened_words
from daemon.text.norms import Norms, load_norms
from daemon.text.segments import (
    WHOLE_VIDEO_STAGES,
    plan_segments,
    segment_inputs,
    subject_turns,
)
from storage.db import utcnow
from storage.models import Description

ANALYSIS_STAGES = ("diarize", "transcribe", "speech_emotion", "prosody", "analyze_face")
REQUIRES = ("probe", "extract_audio", *ANALYSIS_STAGES)


class Gathered(NamedTuple):
    """What describe reads: the inputs of the text, who produced each stage's output (for
    the artifact), the official transcript from the video's label, and the whole data of
    every stage that finished (a long video's segments need their turns and words)."""

    inputs: DescribeInputs
    producers: dict[str, Any]
    official: str | None
    done: dict[str, dict[str, Any]]


def gather_inputs(ctx: StageContext) -> Gathered:
    """Read every upstream output once."""
    stages: dict[str, StageInput] = {}
    producers: dict[str, Any] = {}
    done: dict[str, dict[str, Any]] = {}
    for name in ("extract_audio", *ANALYSIS_STAGES):
        out = ctx.upstream(name)
        summary = out.data.get("summary") if isinstance(out.data, dict) else None
        stages[name] = StageInput(out.status, summary if isinstance(summary, dict) else {})
        producers[name] = {"status": out.status, "backend": out.backend, "model": out.model}
        if not out.skipped and isinstance(out.data, dict):
            done[name] = out.data
    with ctx.db.read() as session:
        label = label_for_video(session, ctx.video.name, ctx.video.sha256)
        official = label.transcript if label is not None else None
    quoted = official if ctx.config.describe.transcript == "official" else None
    inputs = DescribeInputs(ctx.upstream("probe").data, stages, quoted)
    return Gathered(inputs, producers, official, done)


def transcript_only_text(
    inputs: DescribeInputs, official: str | None, max_tokens: int
) -> tuple[str, str]:
    """The video's transcript-only description and where its words come from: the same
    text `lprd labels describe` writes when a label provides the official transcript, else
    the automatic transcript in the very same wording (the text never names the source,
    so a model trained on official transcripts reads both alike)."""
    stages = {}
    transcribe = inputs.stages.get("transcribe")
    if transcribe is not None:
        # Only the words: language and sound tags are not in the text such models learn from.
        words = {k: v for k, v in transcribe.summary.items() if k in ("text", "official_text")}
        stages["transcribe"] = StageInput(transcribe.status, words)
    own = DescribeInputs(probe=None, stages=stages, official_transcript=official)
    text = build_description(own, max_tokens=max_tokens, profile=PROFILE_TRANSCRIPT_ONLY)
    return text, transcript_kind(own)


def run(ctx: StageContext) -> StageResult:
    """Build both descriptions, store them as the video's descriptions, return them."""
    inputs, producers, official, done = gather_inputs(ctx)
    cfg = ctx.config.describe
    norms = load_norms(ctx.config.home_dir)
    text = build_description(
        inputs, transcript_source=cfg.transcript, max_tokens=cfg.max_tokens, norms=norms
    )
    transcript_only, own_source = transcript_only_text(inputs, official, cfg.max_tokens)
    save_description(ctx, text, PROFILE_FULL)
    save_description(ctx, transcript_only, PROFILE_TRANSCRIPT_ONLY)
    tokens = estimate_tokens(text)
    segments = segment_texts(ctx, inputs, norms, done)
    data = {
        "text": text,
        "feature_profile": PROFILE_FULL,
        "texts": {PROFILE_FULL: text, PROFILE_TRANSCRIPT_ONLY: transcript_only},
        "template_version": TEMPLATE_VERSION,
        "norms_version": norms.version,
        "transcript_source": cfg.transcript,
        "transcript_sources": {PROFILE_TRANSCRIPT_ONLY: own_source},
        "token_estimate": tokens,
        "max_tokens": cfg.max_tokens,
        "inputs": producers,
        "language": (inputs.summary("transcribe") or {}).get("language"),
        "shortened": _shortened({PROFILE_FULL: text, PROFILE_TRANSCRIPT_ONLY: transcript_only}),
        "segments": segments,
        "segment_s": cfg.segment_s if segments else None,
        "segment_whole_video_stages": list(WHOLE_VIDEO_STAGES) if segments else [],
    }
    parts = f", {len(segments)} segments" if segments else ""
    return StageResult(
        data=data,
        backend="template",
        model=f"template v{TEMPLATE_VERSION}, norms v{norms.version}",
        summary=f"{tokens} tokens (est.), template v{TEMPLATE_VERSION}{parts}",
    )


def _shortened(texts: dict[str, str]) -> dict[str, list[int]]:
    """{profile: [words kept, words said]} for every text whose transcript was cut to fit
    `describe.max_tokens`, so the cut is recorded beside the text, not only inside it."""
    out = {}
    for profile, text in texts.items():
        cut = shortened_words(text)
        if cut is not None:
            out[profile] = list(cut)
    return out


def segment_texts(
    ctx: StageContext, inputs: DescribeInputs, norms: Norms, done: dict[str, dict[str, Any]]
) -> list[dict]:
    """Both descriptions of every clip-sized segment of a long video ([] for a short one);
    `done`: the data of the upstream stages that finished (diarize's turns, transcribe's
    words)."""
    cfg = ctx.config.describe
    diarize, transcribe = done.get("diarize"), done.get("transcribe")
    duration = float((inputs.probe or {}).get("duration_s") or 0.0)
    plan = plan_segments(duration, subject_turns(diarize), cfg.segment_s, cfg.segment_over_s)
    out = []
    for segment in plan:
        ctx.check_stop()
        own = segment_inputs(inputs, segment, diarize, transcribe)
        full = build_description(
            own, transcript_source=cfg.transcript, max_tokens=cfg.max_tokens, norms=norms
        )
        words_only, _ = transcript_only_text(own, None, cfg.max_tokens)
        texts = {PROFILE_FULL: full, PROFILE_TRANSCRIPT_ONLY: words_only}
        summary = own.summary("transcribe") or {}
        out.append(
            {
                "index": segment.index,
                "start": segment.start,
                "end": segment.end,
                "words": int(summary.get("word_count") or 0),
                "subject_speech_s": (own.summary("diarize") or {}).get("subject_talk_time_s", 0.0),
                "texts": texts,
                "shortened": _shortened(texts),
            }
        )
    return out


def save_description(ctx: StageContext, text: str, profile: str) -> None:
    """Insert or replace the video's description row of one feature profile."""
    with ctx.db.write() as session:
        row = (
            session.query(Description)
            .filter_by(clip_name=ctx.video.name, feature_profile=profile)
            .one_or_none()
        )
        if row is None:
            row = Description(clip_name=ctx.video.name, feature_profile=profile)
            session.add(row)
        row.video_id = ctx.video.id
        row.template_version = TEMPLATE_VERSION
        row.text = text
        row.created_at = utcnow()


def config_key(config: Any) -> dict[str, Any]:
    """What changes the text: template, norms (shipped and the home's own), transcript
    source, budget."""
    return {
        "template": TEMPLATE_VERSION,
        "norms": load_norms(config.home_dir).version,
        "transcript": config.describe.transcript,
        "max_tokens": config.describe.max_tokens,
        "segment_s": config.describe.segment_s,
        "segment_over_s": config.describe.segment_over_s,
    }


STAGE = Stage(
    name="describe",
    run=run,
    requires=REQUIRES,
    resource="cpu",
    version="3",
    description=(
        "the English descriptions the models read (full and transcript-only), per segment "
        "for a long video"
    ),
    config_key=config_key,
)
