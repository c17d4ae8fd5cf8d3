"""Stage `predict`: waits without a promoted model, then scores deterministically and
stores the prediction with the model version."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from daemon.runner import execute
from daemon.stages.predict import STAGE
from storage.models import TARGETS, Prediction
from tests.learn.test_learn_tiny import (
    add_labelled,
    make_tiny_model,
    synthetic_rows,
    tiny_train_config,
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def ctx_with_description(
    make_ctx, tmp_path, text: str, profile: str = "transcript_only", texts: dict | None = None
):
    media = tmp_path / f"clip-{abs(hash(text))}.mp4"
    media.write_bytes(text.encode())
    ctx = make_ctx(media)
    envelope = {
        "stage": "describe",
        "status": "done",
        "data": {
            "text": text,
            "feature_profile": profile,
            "texts": texts or {},
            "transcript_sources": {"transcript_only": "automatic transcript"},
        },
    }
    ctx.store.write_json(ctx.artifact_path("describe.json"), envelope)
    return ctx


def test_predict_waits_until_a_model_is_promoted(make_ctx, tmp_path):
    ctx = ctx_with_description(make_ctx, tmp_path, "The speaker is warm and flat.")
    outcome = execute(STAGE, ctx)
    assert outcome.kind == "deferred"
    assert "lprd train" in outcome.message and "transcript_only" in outcome.message


def _record(ctx, stage: str, status: str, data: dict | None = None) -> None:
    envelope = {"stage": stage, "status": status, "reason": "none", "data": data or {}}
    ctx.store.write_json(ctx.artifact_path(f"{stage}.json"), envelope)


def test_no_face_and_no_speech_is_skipped_not_scored(make_ctx, tmp_path):
    """An image named .mp4 or a grey screen without sound: no one to score."""
    ctx = ctx_with_description(make_ctx, tmp_path, "A grey frame.")
    _record(ctx, "analyze_face", "skipped")
    _record(ctx, "transcribe", "skipped")
    outcome = execute(STAGE, ctx)
    assert outcome.kind == "skipped" and "no person was seen or heard" in outcome.message


def test_a_voice_without_a_face_is_still_scored(make_ctx, tmp_path):
    ctx = ctx_with_description(make_ctx, tmp_path, "Someone talks off screen.")
    _record(ctx, "analyze_face", "skipped")
    _record(ctx, "transcribe", "done", {"segments": [{"text": "hello"}], "summary": {}})
    assert execute(STAGE, ctx).kind == "deferred"  # on to the model, none promoted here


@pytest.mark.slow
def test_predict_with_the_promoted_model(config, database, make_ctx, tmp_path, tiny_model):
    from daemon.learn.registry import promoted_versions
    from daemon.learn.trainer import run_training

    tiny_train_config(config, tiny_model, ["regression"])
    add_labelled(database, synthetic_rows(120))
    before = STAGE.state_key(database)
    run_training(config, database, "p1", "cpu")
    version = promoted_versions(database)["transcript_only"]
    assert STAGE.state_key(database) != before  # a promotion re-queues predict

    high = ctx_with_description(make_ctx, tmp_path, "The speaker is cheerful and confident.")
    low = ctx_with_description(make_ctx, tmp_path, "The speaker is gloomy and nervous.")
    outcomes = [execute(STAGE, high), execute(STAGE, low), execute(STAGE, high)]
    assert [o.kind for o in outcomes] == ["done"] * 3, [o.message for o in outcomes]
    assert outcomes[0].model == version
    data = high.store.read_json(high.artifact_path("predict.json"))["data"]
    assert data["model_version"] == version and set(data["scores"]) == set(TARGETS)
    with database.read() as session:
        rows = {p.video_id: p for p in session.scalars(select(Prediction))}
    assert len(rows) == 2  # the re-run replaced, not duplicated
    assert rows[high.video.id].extraversion == pytest.approx(data["scores"]["extraversion"])
    assert rows[high.video.id].extraversion > rows[low.video.id].extraversion
    check_intervals_and_reasons(data, sectioned=False)  # these texts have no sections
    assert json.loads(rows[high.video.id].details_json)["intervals"] == data["intervals"]


def check_intervals_and_reasons(data: dict, sectioned: bool = True) -> None:
    """The agreed output: scores inside their intervals, reasons sorted by size."""
    assert data["interval_level"] == 0.9
    for t in TARGETS:
        lo, hi = data["intervals"][t]
        assert 0.0 <= lo <= data["scores"][t] <= hi <= 1.0 and hi > lo
        sizes = [abs(r["contribution"]) for r in data["reasons"][t]]
        assert sizes == sorted(sizes, reverse=True) and bool(sizes) == sectioned
    assert data["val_mean_accuracy"] > data["val_baseline_mean_accuracy"]


def test_full_profile_model_takes_over_from_the_transcript_only_one(
    config, database, make_ctx, tmp_path
):
    """Day one: the transcript-only model serves; a promoted full-profile model replaces it."""
    from daemon.learn.trainer import run_training

    config.train.heads, config.train.min_train_rows = ["embedding"], 8
    config.train.profiles = ["transcript_only", "full"]
    add_labelled(database, synthetic_rows(80))
    run_training(config, database, "d1", "cpu")
    texts = {
        "full": "Video: The video lasts 15.0 s.\n\nFace: The speaker is cheerful and warm.",
        "transcript_only": "About: Only the transcript.\n\nWhat was said: cheerful and warm.",
    }
    ctx = ctx_with_description(make_ctx, tmp_path, texts["full"], "full", texts)
    before = STAGE.state_key(database)
    first = execute(STAGE, ctx)
    assert first.kind == "done", first.message
    data = ctx.store.read_json(ctx.artifact_path("predict.json"))["data"]
    assert data["feature_profile"] == "transcript_only" and data["head"] == "embedding"
    assert data["transcript_source"] == "automatic transcript"  # beside the text, not in it
    assert {r["section"] for r in data["reasons"]["openness"]} == {"about", "transcript"}
    # Sectioned text unlike the one-sentence training rows: outside the encoder's range,
    # so the scores come with a flag and without an interval.
    assert [f["kind"] for f in data["flags"]] == ["encoder_distance"]
    assert data["intervals"] == {} and "training range" in data["interval_withheld_because"]

    full_rows = [(f"f{c}", split, t, s) for c, split, t, s in synthetic_rows(80, seed=1)]
    add_labelled(database, full_rows, profile="full")
    run_training(config, database, "d2", "cpu")
    assert STAGE.state_key(database) != before  # the promotion re-queues predict
    assert execute(STAGE, ctx).kind == "done"
    data = ctx.store.read_json(ctx.artifact_path("predict.json"))["data"]
    assert data["feature_profile"] == "full" and data["model_version"].startswith("full-")
    assert data["transcript_source"] is None  # the full text names its own source
    assert {r["section"] for r in data["reasons"]["openness"]} == {"video", "face"}
