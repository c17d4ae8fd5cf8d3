"""The fi_transfer head: a study's targets from the promoted First Impressions model's
scores. A synthetic First Impressions set whose interview and extraversion scores follow
the speaking rate trains a numeric model; a study of 60 clips rates hireability (1-7) as
a noisy linear function of that interview score and warmth (0-100, some clips unrated)
of extraversion. The transfer head is tried for the study beside the configured heads,
beats the train mean on the grouped cross-validated figure, records the First
Impressions version it read and predicts the same after a reload, also once that First
Impressions model is retired. Without a First Impressions model, and for the built-in
set, it is skipped with the reason."""

from __future__ import annotations

import json
import random
from pathlib import Path

from sqlalchemy import select

from daemon.learn import registry
from daemon.learn.heads import transfer
from daemon.learn.heads.transfer import train_transfer
from daemon.learn.predictor import load_predictor, read_manifest
from daemon.learn.trainer import prepare, run_training, train_head
from daemon.targets import Target, TargetSet
from storage.db import Database, utcnow
from storage.models import TARGETS, Description, ModelVersion, StudyLabel
from tests.learn.test_learn_tiny import add_labelled

HIRING = TargetSet(
    "hiring",
    "Hireability panel",
    (
        Target("hireability", "", 1.0, 7.0, "would not hire", "would hire", "interview"),
        Target("warmth", "", 0.0, 100.0, "cold", "warm"),
    ),
)


def _text(rng: random.Random) -> tuple[str, float]:
    rate, pitch = rng.uniform(1.5, 4.5), rng.uniform(90, 250)
    text = (
        f"How it was said:\n- Speaking rate: {rate:.1f} words per second of speech.\n"
        f"- Pitch: mean {pitch:.0f} Hz."
    )
    return text, rate


def _interview(rate: float) -> float:
    return 0.2 + 0.15 * rate


def _extraversion(rate: float) -> float:
    return 0.1 + 0.2 * rate


def _fi_rows(n: int, seed: int = 0) -> list[tuple[str, str, str, dict[str, float]]]:
    """First Impressions rows: interview and extraversion follow the speaking rate."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text, rate = _text(rng)
        scores = {t: 0.5 + rng.gauss(0, 0.03) for t in TARGETS}
        scores["interview"] = _interview(rate) + rng.gauss(0, 0.02)
        scores["extraversion"] = _extraversion(rate) + rng.gauss(0, 0.02)
        split = "validation" if i % 5 == 0 else "train"
        rows.append((f"fi{i // 2:04d}.{i % 2:03d}.mp4", split, text, scores))
    return rows


def _add_study(db: Database, n: int, seed: int = 1) -> list[str]:
    """A study's clips (two per participant, no split: grouped K-fold figures):
    hireability = 1 + 6 * interview + noise, warmth = 100 * extraversion + noise, every
    fourth clip without warmth."""
    rng = random.Random(seed)
    texts = []
    with db.write() as session:
        for i in range(n):
            text, rate = _text(rng)
            clip, group = f"p{i // 2:03d}_{i % 2}.mp4", f"p{i // 2:03d}"
            ratings = {"hireability": 1 + 6 * _interview(rate) + rng.gauss(0, 0.2)}
            if i % 4:
                ratings["warmth"] = 100 * _extraversion(rate) + rng.gauss(0, 3)
            for target, value in ratings.items():
                t = HIRING.get(target)
                session.add(
                    StudyLabel(
                        target_set=HIRING.name, clip_name=clip, target=target,
                        value=min(t.high, max(t.low, value)), group_id=group, split=None,
                        source="test", imported_at=utcnow(),
                    )
                )  # fmt: skip
            session.add(
                Description(
                    clip_name=clip, feature_profile="full", template_version="t1", text=text,
                    created_at=utcnow(),
                )
            )  # fmt: skip
            texts.append(text)
    return texts


def _train_fi(config, database) -> str:  # noqa: ANN001
    """A promoted First Impressions numeric model of the full profile."""
    add_labelled(database, _fi_rows(300), profile="full")
    t = config.train
    t.heads, t.profiles, t.min_train_rows, t.cv_folds = ["numeric"], ["full"], 8, 4
    report = run_training(config, database, "fi", "cpu")
    (head,) = report.heads
    assert registry.get_version(database, head.version).state == "promoted", report.messages
    return head.version


def test_transfer_beats_the_mean_and_reloads_with_the_fi_version_it_read(
    config, database, tmp_path: Path
) -> None:
    fi_version = _train_fi(config, database)
    _add_study(database, 60)
    report = run_training(config, database, "st", "cpu", target_set=HIRING)
    # Tried beside the configured heads, before any LLM head or blend.
    assert [h.kind for h in report.heads] == ["numeric", transfer.KIND], report.messages
    head = report.heads[1]
    assert head.version and head.version.startswith("hiring-full-fi_transfer-"), head.line()
    row = registry.get_version(database, head.version)
    metrics = json.loads(row.metrics_json)
    assert metrics["report_split"] == "grouped 4-fold CV"
    assert metrics["validation"]["n"] == 60  # every row once, out of fold
    assert row.val_mean_accuracy > metrics["baseline"]["mean_accuracy"] + 0.05
    assert head.holdout == row.val_mean_accuracy  # competes on the cross-validated figure
    per_target = metrics["validation"]["per_target"]
    assert per_target["warmth"]["n"] == 45 and per_target["hireability"]["n"] == 60
    assert metrics["fit"]["fi_model"] == fi_version
    assert metrics["intervals"]["calibration"] == "grouped 4-fold out-of-fold rows"
    manifest = read_manifest(Path(row.path))
    assert manifest["kind"] == transfer.KIND and manifest["target_set"]["name"] == "hiring"
    assert manifest["fi_model"]["version"] == fi_version
    assert manifest["fi_model"]["path"] == registry.get_version(database, fi_version).path
    assert fi_version in row.base_model

    # The saved model predicts what the fitted one does (same rows, same seed).
    prep = prepare(database, "full", config.train, HIRING)
    source = transfer.source_for(database, "full", HIRING, load_predictor)
    fitted = train_transfer(prep, config.train, source).model
    rng = random.Random(7)
    fresh = [_text(rng)[0] for _ in range(20)]
    loaded = load_predictor(Path(row.path))
    assert loaded.predict(fresh) == fitted.predict(fresh)
    rng = random.Random(3)
    texts, rates = zip(*(_text(rng) for _ in range(40)), strict=True)
    got = loaded.predict(list(texts))
    hire = [HIRING.get("hireability").from_unit(s["hireability"]) for s in got]
    error = sum(abs(h - 1 - 6 * _interview(r)) for h, r in zip(hire, rates, strict=True)) / 40
    assert error < 0.4  # on the 1-7 scale, noise sd 0.2

    # A later First Impressions model retires the one it read: it still loads that one.
    with database.write() as session:
        fi = session.scalars(select(ModelVersion).where(ModelVersion.version == fi_version)).one()
        fi.state = registry.RETIRED
    assert registry.promoted(database, "full") is None
    assert load_predictor(Path(row.path)).predict(fresh) == fitted.predict(fresh)


def test_transfer_is_skipped_with_the_reason(config, database) -> None:
    _add_study(database, 40)
    t = config.train
    t.heads, t.profiles, t.min_train_rows, t.cv_folds = ["numeric"], ["full"], 8, 4
    # Not tried when First Impressions has no promoted model; listed, skipped with why.
    report = run_training(config, database, "a", "cpu", target_set=HIRING)
    assert [h.kind for h in report.heads] == ["numeric"]
    t.heads = ["fi_transfer"]
    report = run_training(config, database, "b", "cpu", target_set=HIRING)
    (head,) = report.heads
    assert head.version is None and head.error is None
    assert "no promoted First Impressions model of the full profile" in head.skipped
    # Not for the built-in set itself, even with a promoted model of the profile.
    _train_fi(config, database)
    t.heads = ["fi_transfer"]
    report = run_training(config, database, "c", "cpu")
    (head,) = report.heads
    assert head.version is None and "not to its own" in head.skipped, head.line()
    prep = prepare(database, "full", t)
    try:
        train_head(config, database, prep, transfer.KIND, "d", "cpu")
    except transfer.NotApplicable as exc:
        assert "not to its own" in str(exc)
    else:
        raise AssertionError("the built-in set trained a transfer head")


def test_the_predict_stage_serves_the_transfer_model_on_the_declared_scale(
    config, database, make_ctx, tmp_path: Path
) -> None:
    from daemon.config.targets import TargetSetSpec
    from daemon.runner import execute
    from daemon.stages.predict import STAGE
    from tests.learn.test_predict import ctx_with_description

    config.targets = {
        "hiring": TargetSetSpec.model_validate(
            {"hireability": {"min": 1, "max": 7}, "warmth": {"min": 0, "max": 100}}
        )
    }
    fi_version = _train_fi(config, database)
    _add_study(database, 60)
    config.train.heads = ["fi_transfer"]
    report = run_training(config, database, "st", "cpu", target_set=HIRING)
    (head,) = report.heads
    assert registry.get_version(database, head.version).state == "promoted", report.messages
    rng = random.Random(5)
    text, rate = _text(rng)
    ctx = ctx_with_description(make_ctx, tmp_path, text, "full")
    outcome = execute(STAGE, ctx)
    assert outcome.kind == "done", outcome.message
    data = ctx.store.read_json(ctx.artifact_path("predict.json"))["data"]
    hiring = data["sets"]["hiring"]
    assert hiring["model_version"] == head.version and hiring["head"] == transfer.KIND
    assert data["model_version"] == fi_version  # the built-in set's, at the top level
    assert abs(hiring["scores"]["hireability"] - 1 - 6 * _interview(rate)) < 0.6
    lo, hi = hiring["intervals"]["hireability"]
    assert 1.0 <= lo <= hiring["scores"]["hireability"] <= hi <= 7.0
    (voice,) = hiring["reasons"]["hireability"]  # the speaking rate's section
    assert voice["section"] == "voice" and voice["contribution"] != 0.0
