"""Stage `describe`: the English text the LLM reads, built from every analysis stage.

The text comes from daemon.text.describe.build_description, the same function used for
training and export. The stage also stores it as a `descriptions` row (profile `full`).
"""

from __future__ import annotations

from typing import Any

from daemon.stages.base import Stage, StageContext, StageResult
from daemon.text.describe import (
    PROFILE_FULL,
    TEMPLATE_VERSION,
    DescribeInputs,
    StageInput,
    build_description,
)
from daemon.text.fmt import estimate_tokens
from daemon.text.label_store import label_for_video
from daemon.text.norms import load_norms
from storage.db import utcnow
from storage.models import Description

ANALYSIS_STAGES = ("diarize", "transcribe", "speech_emotion", "prosody", "analyze_face")
REQUIRES = ("probe", "extract_audio", *ANALYSIS_STAGES)


def gather_inputs(ctx: StageContext) -> tuple[DescribeInputs, dict[str, Any]]:
    """The stage outputs describe reads, plus who produced each (for the artifact)."""
    stages: dict[str, StageInput] = {}
    producers: dict[str, Any] = {}
    for name in ("extract_audio", *ANALYSIS_STAGES):
        out = ctx.upstream(name)
        summary = out.data.get("summary") if isinstance(out.data, dict) else None
        stages[name] = StageInput(out.status, summary if isinstance(summary, dict) else {})
        producers[name] = {"status": out.status, "backend": out.backend, "model": out.model}
    official = None
    if ctx.config.describe.transcript == "official":
        with ctx.db.read() as session:
            label = label_for_video(session, ctx.video.name, ctx.video.sha256)
            official = label.transcript if label is not None else None
    return DescribeInputs(ctx.upstream("probe").data, stages, official), producers


def run(ctx: StageContext) -> StageResult:
    """Build the description, store it as the video's `full` description, return it."""
    inputs, producers = gather_inputs(ctx)
    cfg = ctx.config.describe
    text = build_description(inputs, transcript_source=cfg.transcript, max_tokens=cfg.max_tokens)
    save_description(ctx, text)
    tokens = estimate_tokens(text)
    data = {
        "text": text,
        "feature_profile": PROFILE_FULL,
        "template_version": TEMPLATE_VERSION,
        "norms_version": load_norms().version,
        "transcript_source": cfg.transcript,
        "token_estimate": tokens,
        "max_tokens": cfg.max_tokens,
        "inputs": producers,
    }
    return StageResult(
        data=data,
        backend="template",
        model=f"template v{TEMPLATE_VERSION}, norms v{load_norms().version}",
        summary=f"{tokens} tokens (est.), template v{TEMPLATE_VERSION}",
    )


def save_description(ctx: StageContext, text: str) -> None:
    """Insert or replace the video's `full` description row."""
    with ctx.db.write() as session:
        row = (
            session.query(Description)
            .filter_by(clip_name=ctx.video.name, feature_profile=PROFILE_FULL)
            .one_or_none()
        )
        if row is None:
            row = Description(clip_name=ctx.video.name, feature_profile=PROFILE_FULL)
            session.add(row)
        row.video_id = ctx.video.id
        row.template_version = TEMPLATE_VERSION
        row.text = text
        row.created_at = utcnow()


def config_key(config: Any) -> dict[str, Any]:
    """What changes the text: template, norms, transcript source, budget."""
    return {
        "template": TEMPLATE_VERSION,
        "norms": load_norms().version,
        "transcript": config.describe.transcript,
        "max_tokens": config.describe.max_tokens,
    }


STAGE = Stage(
    name="describe",
    run=run,
    requires=REQUIRES,
    resource="cpu",
    version="1",
    description="the English description the LLM reads",
    config_key=config_key,
)
