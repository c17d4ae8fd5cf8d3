"""A model trained on one host serves on every host: it is saved in the shared store,
and another host's `predict` loads the promoted version from there, a newer one as soon
as it is promoted."""

from __future__ import annotations

import pytest

from daemon.learn import registry
from daemon.learn.heads.numeric import NumericModel
from daemon.learn.predictor import write_manifest
from daemon.learn.trainer import models_dir
from daemon.model_cache import ModelCache
from daemon.runner import execute
from daemon.stages.base import StageContext
from daemon.stages.predict import STAGE
from tests.learn.test_numeric_head import _rows
from tests.learn.test_predict import ctx_with_description

pytestmark = pytest.mark.both_backends


def _train_on_host_a(config, database, version: str, accuracy: float, seed: int) -> None:
    """What a training on the `train` host leaves: a model folder and a promoted row."""
    fit_x, fit_y = _rows(120, seed)
    hold_x, hold_y = _rows(40, seed + 1)
    model, _ = NumericModel.fit(fit_x, fit_y, hold_x, hold_y)
    folder = models_dir(config) / version
    folder.mkdir(parents=True)
    model.save(folder)
    write_manifest(folder, {"kind": "numeric", "profile": "transcript_only"})
    registry.register_candidate(
        database,
        version=version,
        kind="numeric",
        base_model="none",
        template_version="t",
        feature_profile="transcript_only",
        train_count=120,
        metrics={"baseline": {"mean_accuracy": 0.5}},
        val_mean_accuracy=accuracy,
        path=str(folder),
    )
    assert registry.promote_if_better(database, version).promoted


def test_another_host_serves_the_promoted_model_from_the_shared_store(
    config, database, make_ctx, tmp_path
) -> None:
    assert models_dir(config).is_relative_to(config.store_dir)
    _train_on_host_a(config, database, "transcript_only-numeric-1", 0.9, seed=1)
    # Host B: its own home and model cache; the database and the store are shared.
    host_b = config.model_copy(deep=True)
    host_b.home = tmp_path / "host-b"
    host_b.paths.store = config.store_dir
    cache_b = ModelCache("cpu")

    def predict_on_b(text: str):
        ctx = ctx_with_description(make_ctx, tmp_path, text)
        ctx_b = StageContext(
            video=ctx.video, config=host_b, store=ctx.store, models=cache_b, db=database
        )
        return execute(STAGE, ctx_b)

    first = predict_on_b("How it was said:\n- Speaking rate: 4.0 words per second of speech.")
    assert first.kind == "done", first.message
    assert first.model == "transcript_only-numeric-1"

    _train_on_host_a(config, database, "transcript_only-numeric-2", 0.95, seed=5)
    second = predict_on_b("How it was said:\n- Speaking rate: 2.0 words per second of speech.")
    assert second.kind == "done" and second.model == "transcript_only-numeric-2"
    loaded = [key[1] for key in cache_b.loaded() if key[0] == "lprd-model"]
    assert loaded == ["transcript_only-numeric-1", "transcript_only-numeric-2"]
