"""Stage `predict`: waits without a promoted model, then scores deterministically and
stores the prediction with the model version."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from daemon.runner import execute
from daemon.stages.predict import STAGE
from storage.models import TARGETS, Prediction
from tests.test_learn_tiny import add_labelled, make_tiny_model, synthetic_rows, tiny_train_config


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def ctx_with_description(make_ctx, tmp_path, text: str, profile: str = "transcript_only"):
    media = tmp_path / f"clip-{abs(hash(text))}.mp4"
    media.write_bytes(text.encode())
    ctx = make_ctx(media)
    envelope = {
        "stage": "describe",
        "status": "done",
        "data": {"text": text, "feature_profile": profile},
    }
    ctx.store.write_json(ctx.artifact_path("describe.json"), envelope)
    return ctx


def test_predict_waits_until_a_model_is_promoted(make_ctx, tmp_path):
    ctx = ctx_with_description(make_ctx, tmp_path, "The speaker is warm and flat.")
    outcome = execute(STAGE, ctx)
    assert outcome.kind == "deferred"
    assert "lprd train" in outcome.message and "transcript_only" in outcome.message


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
