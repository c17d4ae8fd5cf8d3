"""Stage `predict`: the best promoted model of each target set scores the video, with
intervals and reasons.

A video has a description per feature profile (`full`, and `transcript_only` from its own
transcript). For each target set (First Impressions' built-in one, then every set the
config declares) the stage uses the set's promoted model of the first profile in
PROFILE_ORDER that has one, so a transcript-only model scores videos from day one and a
full-profile model takes over once promoted. Until some model is promoted the stage
waits (StageDeferred, no attempt used). The promoted versions are part of the
fingerprint, so any promotion re-queues predict for every video.

Models work in unit space; what is stored (the prediction row and the stage's output) is
on each set's declared scale: scores, intervals and the reasons' contributions.

Each score comes with a split-conformal interval (from the residuals stored with the
model, at `train.interval_level`) and the contribution of each description section
(occlusion).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from daemon.config import Config
from daemon.errors import PermanentError, StageDeferred, StageSkipped
from daemon.stages.base import BackendInfo, Stage, StageContext, StageResult
from daemon.targets import TargetSet
from daemon.text.describe import PROFILE_FULL, PROFILE_TRANSCRIPT_ONLY
from storage.db import dialect_insert, utcnow
from storage.models import BUILTIN_SET, Description, ModelVersion, Prediction
from storage.outputs import StageOutput
from storage.states import ModelState

PROFILE_ORDER = (PROFILE_FULL, PROFILE_TRANSCRIPT_ONLY)


def _descriptions(ctx: StageContext, up: StageOutput) -> dict[str, str]:
    """{feature profile: text} of this video's descriptions (`up`: describe's output)."""
    if up.skipped:
        raise StageSkipped(f"no description to score: {up.reason}")
    texts = dict(up.data.get("texts") or {})
    text = up.data.get("text") or up.data.get("description")
    if text:
        texts.setdefault(up.data.get("feature_profile") or PROFILE_FULL, text)
    if texts:
        return texts
    with ctx.db.read() as session:
        rows = session.scalars(select(Description).where(Description.video_id == ctx.video.id))
        texts = {row.feature_profile: row.text for row in rows}
    if not texts:
        raise PermanentError(
            f"describe recorded no text for this video; run `lprd retry {ctx.video.sha256[:12]} "
            "--stage describe`"
        )
    return texts


def choose_model(
    ctx: StageContext, texts: dict[str, str], target_set: str | None = None
) -> tuple[str, ModelVersion] | None:
    """(profile, promoted model of `target_set`, default the built-in one) of the first
    profile in PROFILE_ORDER the video has, or None."""
    from daemon.learn.registry import promoted

    for profile in sorted(
        texts, key=lambda p: PROFILE_ORDER.index(p) if p in PROFILE_ORDER else 99
    ):
        model = promoted(ctx.db, profile, *(() if target_set is None else (target_set,)))
        if model is not None:
            return profile, model
    return None


def serving(ctx: StageContext, texts: dict[str, str]) -> list[tuple[TargetSet, str, ModelVersion]]:
    """(set, profile, model) for every set with a promoted model (the set as the model
    recorded it: the scales it learned); StageDeferred when no set has one."""
    from daemon.learn.model_sets import served_set_names, trained_set

    found = []
    for name in served_set_names(ctx.config, ctx.db):
        chosen = choose_model(ctx, texts, name)
        if chosen is not None:
            profile, model = chosen
            target_set = ctx.models.get(  # the model's manifest, read once per version
                ("lprd-target-set", model.version), lambda m=model: trained_set(m, ctx.config)
            )
            found.append((target_set, profile, model))
    if not found:
        names = " or ".join(f"'{p}'" for p in texts)
        raise StageDeferred(
            f"no model promoted yet for the {names} profile: import labels "
            "(`lprd labels import`, `lprd labels describe`) and run `lprd train`",
            retry_after_s=600.0,
        )
    return found


def _transcript_source(describe: dict[str, Any], profile: str) -> str | None:
    """Where the words of the scored description come from (the text itself does not say
    for the transcript-only profile), as describe recorded it."""
    return (describe.get("transcript_sources") or {}).get(profile)


def _save(
    ctx: StageContext, version: str, target_set: TargetSet, scores: dict[str, float], details: dict
) -> None:
    """The prediction row: every set's scores in scores_json, the built-in set's in its
    columns too."""
    columns = scores if target_set.builtin else {}
    values = {
        **columns,
        "target_set": target_set.name,
        "scores_json": json.dumps(scores),
        "details_json": json.dumps(details),
        "created_at": utcnow(),
    }
    with ctx.db.write() as session:
        stmt = dialect_insert(session)(Prediction).values(
            video_id=ctx.video.id, model_version=version, **values
        )
        stmt = stmt.on_conflict_do_update(index_elements=["video_id", "model_version"], set_=values)
        session.execute(stmt)


def _widths(ctx: StageContext, model: ModelVersion) -> dict[str, float] | None:
    from daemon.learn.conformal import halfwidths, load_calibration

    calibration = ctx.models.get(
        ("lprd-calibration", model.version), lambda: load_calibration(model.path)
    )
    if calibration is None:
        return None
    return halfwidths(calibration, ctx.config.train.interval_level)


def run(ctx: StageContext) -> StageResult:
    """Score the description with each set's serving model; store scores, intervals and
    reasons on the set's declared scale."""
    if not _person_present(ctx):
        raise StageSkipped(
            "no person was seen or heard (no face in any sampled frame, no speech): "
            "there is no one to score"
        )
    describe = ctx.upstream("describe")  # read once: a long video's holds every segment
    texts = _descriptions(ctx, describe)
    results: dict[str, dict[str, Any]] = {}
    for target_set, profile, model in serving(ctx, texts):
        scores, details = _score_with(ctx, describe, texts, profile, model)
        scores, details = declared(target_set, scores, details)
        details["target_set"] = target_set.describe()
        _save(ctx, model.version, target_set, scores, details)
        results[target_set.name] = {"scores": scores, "model_version": model.version, **details}
    # The built-in set's result at the top level (as before sets existed), each study
    # set's under "sets" (a long video's segments are not stored twice).
    studies = {name: r for name, r in results.items() if name != BUILTIN_SET}
    data: dict[str, Any] = {**results.get(BUILTIN_SET, {}), "sets": studies}
    summary = "; ".join(
        ("" if name == BUILTIN_SET else f"{name}: ")
        + f"{r['feature_profile']} {r['head']}: "
        + " ".join(f"{t[:3]} {v:.2f}" for t, v in r["scores"].items())
        for name, r in results.items()
    )
    first = next(iter(results.values()))
    if first.get("segments"):
        summary += f" (mean of {len(first['segments'])} segments)"
    versions = ", ".join(r["model_version"] for r in results.values())[:256]
    return StageResult(data=data, backend=first["head"], model=versions, summary=summary)


def declared(
    target_set: TargetSet, scores: dict[str, float], details: dict[str, Any]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Scores and details from unit space onto the set's declared scales: scores and
    interval bounds mapped, the reasons' contributions and the segment spread scaled."""
    if target_set.unit_scale:
        return scores, details

    def part(found: dict[str, Any]) -> dict[str, Any]:
        out = dict(found)
        out["scores"] = {t: round(target_set.get(t).from_unit(v), 6)
                         for t, v in found.get("scores", {}).items()}  # fmt: skip
        out["intervals"] = {t: [round(target_set.get(t).from_unit(b), 6) for b in span]
                            for t, span in (found.get("intervals") or {}).items()}  # fmt: skip
        out["reasons"] = {
            t: [{**r, "contribution": round(r["contribution"] * target_set.get(t).span, 6)}
                for r in items]
            for t, items in (found.get("reasons") or {}).items()
        }  # fmt: skip
        return out

    whole = part({**details, "scores": scores})
    if details.get("segments"):
        whole["segments"] = [part(seg) for seg in details["segments"]]
    if details.get("segment_spread"):
        whole["segment_spread"] = {t: round(v * target_set.get(t).span, 6)
                                   for t, v in details["segment_spread"].items()}  # fmt: skip
    return whole.pop("scores"), whole


def _score_with(
    ctx: StageContext,
    describe: StageOutput,
    texts: dict[str, str],
    profile: str,
    model: ModelVersion,
) -> tuple[dict[str, float], dict[str, Any]]:
    """One model's scores (unit space) and details: intervals, reasons, flags."""
    from daemon.learn.base_cache import base_cache_dir
    from daemon.learn.predictor import load_predictor
    from daemon.learn.registry import baseline_accuracy

    device = ctx.device()
    predictor = ctx.models.get(
        ("lprd-model", model.version, device),
        lambda: load_predictor(
            model.path, device, base_cache_dir(ctx.config), ctx.config.train.use_unsloth
        ),
    )
    widths = _widths(ctx, model)
    check = _range_check(ctx, model, predictor, describe.data.get("language"))
    segments = [s for s in describe.data.get("segments") or [] if s.get("texts")]
    if segments:
        scores, details = _score_segments(ctx, predictor, segments, profile, widths, check)
    else:
        scores, details = _score_whole(predictor, texts[profile], widths, check)
    details.update(
        interval_level=ctx.config.train.interval_level if widths else None,
        feature_profile=profile,
        transcript_source=_transcript_source(describe.data, profile),
        head=model.kind,
        base_model=model.base_model,
        val_mean_accuracy=model.val_mean_accuracy,
        val_baseline_mean_accuracy=baseline_accuracy(model),
    )
    return scores, details


def _person_present(ctx: StageContext) -> bool:
    """False only when the face analysis saw no face and the transcript holds no
    speech (an image, a blank screen without sound); an analysis not run counts as
    a person present."""
    face = _output(ctx, "analyze_face")
    speech = _output(ctx, "transcribe")
    if face is None or speech is None:
        return True
    return not (face.skipped and _silent(speech))


def _output(ctx: StageContext, stage: str) -> Any:
    """A stage's recorded output, None when that stage is not in this pipeline."""
    try:
        return ctx.upstream(stage)
    except PermanentError:
        return None


def _silent(speech: Any) -> bool:
    """No word of anyone's speech was transcribed (or transcription was skipped)."""
    if speech.skipped:
        return True
    summary = speech.data.get("summary") or {}
    return not (speech.data.get("segments") or summary.get("official_text"))


RangeCheck = Callable[[list[str]], list[list[Any]]]


def _range_check(
    ctx: StageContext, model: ModelVersion, predictor: Any, language: str | None
) -> RangeCheck:
    """texts -> the out-of-range flags of each description under the serving model (none
    for a model saved before training ranges were recorded); `language` is the
    transcript's, as describe recorded it. The encoder reads all the texts in one pass."""
    from daemon.learn import input_range

    recorded = ctx.models.get(
        ("lprd-input-range", model.version), lambda: input_range.load(model.path)
    )

    def check(texts: list[str]) -> list[list[Any]]:
        if recorded is None:
            return [[] for _ in texts]
        vectors = input_range.input_vectors(predictor, texts) if recorded.encoder else None
        return [
            input_range.check(recorded, text, None if vectors is None else vectors[i], language)
            for i, text in enumerate(texts)
        ]

    return check


def _score_whole(
    predictor: Any, text: str, widths: dict[str, float] | None, check: RangeCheck
) -> tuple[dict[str, float], dict[str, Any]]:
    """Scores, interval and reasons of one description: a clip scored whole. A flagged
    input keeps its scores and loses its interval (input_range's policy)."""
    from daemon.learn.conformal import intervals
    from daemon.learn.context import context_cuts
    from daemon.learn.input_range import flags_to_json, withhold_intervals
    from daemon.learn.occlusion import explain

    raw, reasons = explain(predictor.predict, text)
    scores = {t: round(float(v), 6) for t, v in raw.items()}
    (flags,) = check([text])
    shown, withheld = withhold_intervals(intervals(scores, widths) if widths else {}, flags)
    details: dict[str, Any] = {
        "intervals": shown or {},
        "interval_withheld_because": withheld,
        "flags": flags_to_json(flags),
        "reasons": reasons,
        "context_cuts": context_cuts(predictor, text),
    }
    return scores, details


def _score_segments(
    ctx: StageContext,
    predictor: Any,
    segments: list[dict[str, Any]],
    profile: str,
    widths: dict[str, float] | None,
    check: RangeCheck,
) -> tuple[dict[str, float], dict[str, Any]]:
    """A long video: every segment scored like a clip, the video their aggregate. A flagged
    segment loses its interval, and so does the video when a counted segment is flagged."""
    from daemon.learn import segment_scores as seg
    from daemon.learn.conformal import intervals
    from daemon.learn.context import context_cuts
    from daemon.learn.input_range import flags_to_json

    texts = [segment["texts"][profile] for segment in segments]
    items = seg.score_segments(predictor.predict, segments, profile, widths, ctx.check_stop)
    cuts = {}
    for item, text, flags in zip(items, texts, check(texts), strict=True):
        item.flags = flags_to_json(flags)
        if item.flags:
            item.widths = None
        found = context_cuts(predictor, text)
        if found:
            cuts[str(item.index)] = found
    scores = seg.aggregate_scores(items)
    level = ctx.config.train.interval_level
    video_flags = seg.aggregate_flags(items)
    withheld = seg.withheld_because(video_flags)
    video_widths = seg.aggregate_halfwidths(items, widths, level) if widths else None
    if withheld:
        video_widths = None
    details: dict[str, Any] = {
        "intervals": intervals(scores, video_widths) if video_widths else {},
        "interval_withheld_because": withheld,
        "flags": video_flags,
        "reasons": seg.aggregate_reasons(items),
        "segments": [item.to_json() for item in items],
        "segments_counted": len(seg.counted(items)),
        "segment_spread": seg.spread(items),
        "context_cuts": [],
        "segment_context_cuts": cuts,
    }
    return scores, details


def _state_key(db: Any) -> dict[str, str]:
    from daemon.learn.registry import promoted_versions

    return promoted_versions(db)


def config_key(config: Config) -> dict[str, Any]:
    """The interval level changes every stored interval."""
    return {"interval_level": config.train.interval_level}


def _backends(config: Config) -> list[BackendInfo]:
    from storage.db import Database, is_initialised

    if not is_initialised(config.database_url):
        return []
    from daemon.learn.registry import promoted_versions

    db = Database(config.database_url)
    try:
        versions = promoted_versions(db)
    finally:
        db.dispose()
    if not versions:
        return [BackendInfo("predict", "none", "-", False, False, "no model promoted yet")]
    # A study set's profile reads "hiring/transcript_only".
    return [
        BackendInfo("predict", profile, version, True, True, ModelState.PROMOTED)
        for profile, version in versions.items()
    ]


STAGE = Stage(
    name="predict",
    run=run,
    requires=("describe",),
    resource="gpu",
    version="3",
    description="Big Five + interview scores with intervals and reasons from the best promoted model",
    config_key=config_key,
    state_key=_state_key,
    backends=_backends,
)
