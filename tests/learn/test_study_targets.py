"""A lab's own target set end to end: `[targets.hiring]` declares hireability (1-7) and
warmth (0-100); ratings come from a CSV (some clips lack warmth) and from a sidecar
beside a real clip; a training of that set promotes a model, `lprd eval --set` scores it
beside the baseline with bootstrap intervals, the daemon predicts the clip on the
declared scales, and `lprd results --set hiring` exports it. A label file with a value
off the scale is refused, naming the file, the row and the target, and writes nothing.
With the set's section removed from the config, its model is still evaluated and served."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from daemon.cli import main
from storage.db import Database
from storage.models import ModelVersion, Prediction, StudyLabel
from tests.conftest import FI_DIR, real_clips, requires_clips

TRANSCRIPTS = [FI_DIR / f"transcription_{split}.pkl" for split in ("training", "validation")]
ANNOTATIONS = {split: FI_DIR / f"annotation_{split}.pkl" for split in ("training", "validation")}
CONFIG = """
[inbox]
stable_seconds = 0
[workers]
poll_interval_s = 0.2
backoff_base_s = 0
[train]
heads = ["embedding"]
profiles = ["transcript_only"]
min_train_rows = 20
min_new_labelled = 1000000
[targets.hiring]
description = "Hireability panel"
hireability = { min = 1, max = 7, low = "would not hire", high = "would hire", first_impressions = "interview" }
warmth = { min = 0, max = 100, description = "How warm the person comes across" }
"""
ROWS = {"training": 240, "validation": 80}


def _ratings(split: str, n: int) -> list[dict[str, object]]:
    """Ratings a panel might give: hireability from First Impressions' interview score on
    the 1-7 scale (half points), warmth from agreeableness on 0-100; every fifth clip
    has no warmth rating."""
    with open(ANNOTATIONS[split], "rb") as f:
        labels = pickle.load(f, encoding="latin1")
    clips = sorted(labels["interview"])[:n]
    return [
        {
            "clip_name": clip,
            "split": "validation" if split == "validation" else "train",
            "hireability": round((1 + 6 * labels["interview"][clip]) * 2) / 2,
            "warmth": "" if i % 5 == 0 else round(100 * labels["agreeableness"][clip]),
        }
        for i, clip in enumerate(clips)
    ]


def _write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _count(db: Database, stmt) -> int:  # noqa: ANN001
    with db.read() as session:
        return session.execute(stmt).scalar_one()


@requires_clips
@pytest.mark.slow
@pytest.mark.skipif(
    not all(p.exists() for p in [*TRANSCRIPTS, *ANNOTATIONS.values()]), reason="no FI files"
)
def test_a_study_set_is_labelled_trained_evaluated_predicted_and_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text(CONFIG)
    args = ["--home", str(home)]
    assert main([*args, "init"]) == 0
    pickles = [*TRANSCRIPTS, *ANNOTATIONS.values()]  # transcripts come with their labels
    assert main([*args, "labels", "import", *map(str, pickles)]) == 0
    assert main([*args, "labels", "describe"]) == 0
    rows = _ratings("training", ROWS["training"]) + _ratings("validation", ROWS["validation"])

    # Off the scale: refused with the file, the row and the target; nothing written.
    bad = [dict(r) for r in rows[:5]]
    bad[2]["hireability"] = 9
    bad_file = _write_csv(tmp_path / "panel-bad.csv", bad)
    capsys.readouterr()
    assert main([*args, "labels", "import", "--set", "hiring", str(bad_file)]) != 0
    said = capsys.readouterr()
    message = said.out + said.err
    assert "panel-bad.csv" in message and "hireability" in message and "3" in message
    db = Database.at(home / "lprd.db")
    assert _count(db, select(func.count()).select_from(StudyLabel)) == 0

    good = _write_csv(tmp_path / "panel.csv", rows)
    assert main([*args, "labels", "import", "--set", "hiring", str(good)]) == 0
    rated = sum(1 for r in rows for t in ("hireability", "warmth") if r[t] != "")
    assert _count(db, select(func.count()).select_from(StudyLabel)) == rated

    assert main([*args, "train", "--set", "hiring"]) == 0
    with db.read() as session:
        model = session.scalars(select(ModelVersion).where(ModelVersion.state == "promoted")).one()
    assert model.target_set == "hiring" and model.version.startswith("hiring-transcript_only-")
    metrics = json.loads(model.metrics_json)
    assert set(metrics["validation"]["per_target"]) == {"hireability", "warmth"}
    assert metrics["validation"]["per_target"]["warmth"]["n"] < ROWS["validation"]  # partial
    assert "verdict" in metrics["bootstrap"]["per_target"]["hireability"]

    capsys.readouterr()
    assert main([*args, "eval", "--set", "hiring", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["version"] == model.version
    assert evaluated["model"]["n"] == ROWS["validation"]
    assert set(evaluated["bootstrap"]["per_target"]) == {"hireability", "warmth"}

    # A real clip with its own sidecar rating, scored on the declared scales.
    clip = real_clips()[0]
    shutil.copy(clip, home / "inbox" / clip.name)
    sidecar = home / "inbox" / f"{clip.stem}.labels.json"
    sidecar.write_text(json.dumps({"set": "hiring", "hireability": 6, "warmth": 70}))
    assert main([*args, "run", "--until-idle"]) == 0
    with db.read() as session:
        mine = {
            r.target: r.value
            for r in session.scalars(
                select(StudyLabel).where(StudyLabel.source.contains("labels.json"))
            )
        }
        (prediction,) = session.scalars(select(Prediction)).all()
        session.expunge(prediction)
    assert mine == {"hireability": 6.0, "warmth": 70.0}
    assert prediction.target_set == "hiring" and prediction.openness is None
    scores = json.loads(prediction.scores_json)
    assert 1.0 <= scores["hireability"] <= 7.0 and 0.0 <= scores["warmth"] <= 100.0
    details = json.loads(prediction.details_json)
    lo, hi = details["intervals"]["warmth"]
    assert lo <= scores["warmth"] <= hi and hi - lo > 1.0  # on the 0-100 scale, not 0-1
    db.dispose()

    out = tmp_path / "results.csv"
    assert main([*args, "results", "--set", "hiring", str(out)]) == 0
    with open(out, newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert abs(float(row["hireability"]) - scores["hireability"]) < 1e-4
    assert abs(float(row["warmth"]) - scores["warmth"]) < 1e-3

    # The set leaves the config: its promoted model is still evaluated, and still served on
    # the scales it was trained on (recorded with the model), not refused as unknown.
    (home / "lprd.toml").write_text(CONFIG.split("[targets.hiring]")[0])
    capsys.readouterr()
    assert main([*args, "eval", "--set", "hiring", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == model.version
    assert main([*args, "retry", "--stage", "predict", "--", clip.name]) == 0
    assert main([*args, "run", "--until-idle"]) == 0
    db = Database.at(home / "lprd.db")
    with db.read() as session:
        (again,) = session.scalars(select(Prediction)).all()
    db.dispose()
    assert again.target_set == "hiring" and again.created_at > prediction.created_at
    rescored = json.loads(again.scores_json)
    assert abs(rescored["hireability"] - scores["hireability"]) < 1e-6
    assert json.loads(again.details_json)["target_set"]["targets"][0]["max"] == 7.0
