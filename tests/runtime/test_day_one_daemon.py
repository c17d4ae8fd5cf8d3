"""Day one through the daemon: with First Impressions labels and transcripts imported and
`lprd train` run, a real clip dropped in the inbox gets a score from the transcript-only
model, with intervals and reasons, before any video is labelled; once a full-profile
model is promoted, the next run refreshes the prediction from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.cli import main
from storage.db import Database
from storage.models import TARGETS, Prediction
from tests.conftest import FI_DIR, real_clips, requires_clips
from tests.learn.test_learn_tiny import add_labelled, synthetic_rows

PICKLES = [
    FI_DIR / f"{kind}_{split}.pkl"
    for kind in ("annotation", "transcription")
    for split in ("training", "validation")
]
# Cheap training: the embedding head on a few hundred rows keeps the test under a minute.
CONFIG = """
[inbox]
stable_seconds = 0
[workers]
poll_interval_s = 0.2
backoff_base_s = 0
[train]
heads = ["embedding"]
max_train_rows = 300
max_report_rows = 200
min_new_labelled = 1000000
"""


def _predictions(home: Path) -> list[Prediction]:
    db = Database.at(home / "lprd.db")
    with db.read() as session:
        rows = list(session.scalars(select(Prediction).order_by(Prediction.created_at)))
    db.dispose()
    return rows


@requires_clips
@pytest.mark.slow
@pytest.mark.skipif(not all(p.exists() for p in PICKLES), reason="no FI labels")
def trained_home(tmp_path: Path, config: str) -> tuple[Path, list[str]]:
    """A home with `config`, the FI labels and transcripts imported and described, and
    `lprd train` run; (home, the CLI's --home arguments)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text(config)
    args = ["--home", str(home)]
    assert main([*args, "init"]) == 0
    assert main([*args, "labels", "import", *map(str, PICKLES)]) == 0
    assert main([*args, "labels", "describe"]) == 0
    assert main([*args, "train"]) == 0
    return home, args


def test_a_clip_is_scored_on_day_one_then_by_the_full_model(tmp_path, capsys) -> None:
    home, args = trained_home(tmp_path, CONFIG)
    clip = real_clips()[0]
    shutil.copy(clip, home / "inbox" / clip.name)
    assert main([*args, "run", "--until-idle"]) == 0

    (first,) = _predictions(home)
    details = json.loads(first.details_json)
    assert first.model_version.startswith("transcript_only-embedding-")
    assert details["feature_profile"] == "transcript_only" and details["interval_level"] == 0.9
    assert details["transcript_source"] == "official transcript"  # its label was imported
    for t in TARGETS:
        lo, hi = details["intervals"][t]
        assert lo <= getattr(first, t) <= hi and hi - lo > 0.05
    assert {r["section"] for r in details["reasons"]["extraversion"]} == {"about", "transcript"}
    assert details["val_mean_accuracy"] > details["val_baseline_mean_accuracy"]
    capsys.readouterr()
    assert main([*args, "show", "--", clip.name]) == 0
    shown = capsys.readouterr().out
    assert "transcript_only profile" in shown and "train-mean baseline" in shown
    assert "scoring the official transcript" in shown
    assert "90% interval" in shown and "reasons" in shown

    # A lab's own labelled videos: enough full-profile descriptions to promote a model.
    db = Database.at(home / "lprd.db")
    add_labelled(db, [(f"lab{c}", s, t, y) for c, s, t, y in synthetic_rows(60)], "full")
    db.dispose()
    (home / "lprd.toml").write_text(CONFIG + 'profiles = ["full"]\n')
    assert main([*args, "train"]) == 0
    assert main([*args, "run", "--until-idle"]) == 0
    latest = _predictions(home)[-1]
    assert latest.model_version.startswith("full-embedding-")
    assert json.loads(latest.details_json)["feature_profile"] == "full"
    assert {r["section"] for r in json.loads(latest.details_json)["reasons"]["openness"]} >= {
        "video",
        "transcript",
        "face",
    }
