"""End to end through the daemon: a real clip dropped in the inbox with its labels."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.cli import main
from daemon.pipeline import Pipeline
from storage.db import Database
from storage.models import Description, InboxFile, Label
from tests.conftest import FI_DIR, real_clips, requires_clips
from tests.text.test_export import assert_tokenizer_reads_back

describe_registered = "describe" in Pipeline.default().stages
SCORES = {
    "openness": 0.5,
    "conscientiousness": 0.6,
    "extraversion": 0.7,
    "agreeableness": 0.4,
    "neuroticism": 0.3,
    "interview": 0.55,
}


def _home(tmp_path: Path) -> tuple[Path, list[str]]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text(
        "[inbox]\nstable_seconds = 0\n[workers]\npoll_interval_s = 0.2\nbackoff_base_s = 0\n"
    )
    assert main(["--home", str(home), "init"]) == 0
    return home, ["--home", str(home)]


@requires_clips
@pytest.mark.slow
def test_sidecar_in_the_inbox_labels_the_clip(tmp_path) -> None:
    home, args = _home(tmp_path)
    clip = real_clips()[0]
    shutil.copy(clip, home / "inbox" / clip.name)
    (home / "inbox" / f"{clip.name}.labels.json").write_text(json.dumps(SCORES))
    assert main([*args, "run", "--until-idle"]) == 0
    db = Database.at(home / "lprd.db")
    with db.read() as session:
        label = session.scalars(select(Label)).one()
        states = dict(session.execute(select(InboxFile.name, InboxFile.state)).all())
    db.dispose()
    assert label.clip_name == clip.name and label.openness == 0.5
    assert states[f"{clip.name}.labels.json"] == "sidecar"
    assert states[clip.name] == "registered"


@requires_clips
@pytest.mark.slow
@pytest.mark.skipif(not describe_registered, reason="describe is not registered yet")
@pytest.mark.skipif(not (FI_DIR / "annotation_training.pkl").exists(), reason="no FI labels")
def test_inbox_clip_ends_in_an_export_line(tmp_path) -> None:
    home, args = _home(tmp_path)
    clip = real_clips()[0]
    assert main([*args, "labels", "import", str(FI_DIR / "annotation_training.pkl")]) == 0
    shutil.copy(clip, home / "inbox" / clip.name)
    assert main([*args, "run", "--until-idle"]) == 0
    db = Database.at(home / "lprd.db")
    with db.read() as session:
        row = session.scalars(
            select(Description).where(
                Description.clip_name == clip.name, Description.feature_profile == "full"
            )
        ).one()
    db.dispose()
    assert row.feature_profile == "full"
    assert row.text.startswith("Video:\n- The video lasts 1")
    for part in ("\nWhat was said", "\nHow it was said", "\nFace", "\nBody and framing"):
        assert part in row.text
    assert not re.search(r"\b(nan|inf|None)\b", row.text)
    out = tmp_path / "train.jsonl"
    assert main([*args, "export", "--split", "train", str(out)]) == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["messages"][1]["content"] == row.text
    assert assert_tokenizer_reads_back(record) > 200
