"""Labels of a declared target set: CSV and JSON files and sidecars, validated against
the declared scales, refused whole with the file, row and target named."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.cli import main
from daemon.config import Config, load_config
from daemon.labels.store import LabelImportError
from daemon.labels.study import import_study_labels, ratings_for_video, study_ratings
from daemon.pipeline import Pipeline
from daemon.runtime.inbox import Inbox
from daemon.targets import get_set
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import TARGETS, Label, StudyLabel, Video
from storage.states import FileState
from storage.videos import forget_video
from tests.conftest import real_clips
from tests.support.media_factory import make_video, tone

pytestmark = pytest.mark.both_backends

HIRING = """
[targets.hiring]
description = "Hireability panel"
hireability = { min = 1, max = 7, low = "would not hire", high = "would hire" }
warmth = { min = 0, max = 100 }

[targets.self_report]
extraversion = { min = 1, max = 5 }
"""
FI_SCORES = dict.fromkeys(TARGETS, 0.5)


@pytest.fixture
def hiring(config: Config) -> Config:
    """The test home's config, declaring the `hiring` and `self_report` sets in lprd.toml."""
    config.home_dir.mkdir(parents=True, exist_ok=True)
    text = HIRING
    if config.database.url:
        text = f'[database]\nurl = "{config.database.url}"\n' + text
    (config.home_dir / "lprd.toml").write_text(text)
    return load_config(home=config.home_dir, env={})


def _csv(path: Path, header: list[str], *rows: list) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def _rows(database: Database) -> list[tuple]:
    with database.read() as session:
        rows = session.scalars(select(StudyLabel).order_by(StudyLabel.clip_name, StudyLabel.target))
        return [(r.target_set, r.clip_name, r.target, r.value, r.split, r.group_id) for r in rows]


def test_csv_and_json_files_import_partial_rows_and_update_on_reimport(
    hiring, database, tmp_path
) -> None:
    tset = get_set(hiring, "hiring")
    table = _csv(
        tmp_path / "panel.csv",
        ["clip_name", "split", "group", "hireability", "warmth", "transcript"],
        ["p01_a.mp4", "train", "p01", "5", "70", "hello"],
        ["p01_b.mp4", "", "p01", "6.5", "", ""],  # warmth not rated
        ["p02_a.mp4", "validation", "p02", "", "20.5", ""],
        ["p03_a.mp4", "", "", "", "", ""],  # not rated at all: nothing to store
    )
    sha = "ab" * 32
    listed = _json(tmp_path / "more.json", [{"sha256": sha, "hireability": 1, "participant": 4}])
    keyed = _json(tmp_path / "keyed.json", {"p05.mp4": {"warmth": 100, "split": "test"}})
    report = import_study_labels(database, tset, [table, listed, keyed])
    assert (report.added, report.changed, report.unchanged, report.clips) == (6, 0, 0, 5)
    assert report.by_target == {"hireability": 3, "warmth": 3}
    assert report.empty_rows == 1 and report.ignored_columns == ["transcript"]
    assert _rows(database) == [
        ("hiring", "p01_a.mp4", "hireability", 5.0, "train", "p01"),
        ("hiring", "p01_a.mp4", "warmth", 70.0, "train", "p01"),
        ("hiring", "p01_b.mp4", "hireability", 6.5, None, "p01"),
        ("hiring", "p02_a.mp4", "warmth", 20.5, "validation", "p02"),
        ("hiring", "p05.mp4", "warmth", 100.0, "test", None),
        ("hiring", f"sha256:{sha}", "hireability", 1.0, None, "4"),
    ]
    with database.read() as session:  # nothing went to First Impressions' table
        assert session.scalars(select(Label)).all() == []

    train = study_ratings(database, "hiring", "train")  # no split counts as train
    assert set(train) == {"p01_a.mp4", "p01_b.mp4", f"sha256:{sha}"}
    assert train["p01_b.mp4"].values == {"hireability": 6.5}
    assert (train["p01_b.mp4"].group, train[f"sha256:{sha}"].group) == ("p01", "4")
    assert set(study_ratings(database, "hiring", "validation")) == {"p02_a.mp4"}
    everything = study_ratings(database, "hiring")
    assert len(everything) == 5 and everything["p05.mp4"].split == "test"
    assert study_ratings(database, "self_report") == {}

    # Re-importing updates in place: one value changed, a split added to the whole clip.
    _csv(table, ["clip", "hireability", "split"], ["p01_a.mp4", "6", ""], ["p01_b.mp4", "", "test"])
    again = import_study_labels(database, tset, [table])
    assert (again.added, again.changed, again.unchanged) == (0, 1, 0)
    rows = {(c, t): (v, s) for _, c, t, v, s, _ in _rows(database)}
    assert rows[("p01_a.mp4", "hireability")] == (6.0, "train")
    assert rows[("p01_a.mp4", "warmth")] == (70.0, "train")
    assert len(rows) == 6
    # A split alone for a clip rated earlier moves all its ratings (empty rows store nothing).
    assert rows[("p01_b.mp4", "hireability")] == (6.5, None)
    import_study_labels(database, tset, [_json(tmp_path / "s.json", [
        {"clip_name": "p01_b.mp4", "warmth": 40, "split": "validation"}])])  # fmt: skip
    rows = {(c, t): (v, s) for _, c, t, v, s, _ in _rows(database)}
    assert rows[("p01_b.mp4", "hireability")] == (6.5, "validation")
    assert rows[("p01_b.mp4", "warmth")] == (40.0, "validation")


BAD_FILES = {
    "out of scale": (
        ["clip_name", "hireability", "warmth"],
        [["p01.mp4", "5", "50"], ["p02.mp4", "9", "50"]],
        "1 x value outside the scale: e.g. bad.csv row 2 (p02.mp4) hireability: "
        "9 is outside the scale 1..7",
    ),
    "not a number": (
        ["clip_name", "hireability", "warmth"],
        [["p01.mp4", "5", "lots"]],
        "1 x not a number: e.g. bad.csv row 1 (p01.mp4) warmth: 'lots' is not a number",
    ),
    "unknown column": (
        ["clip_name", "hirability", "warmth"],
        [["p01.mp4", "5", "50"]],
        "1 x unknown column: e.g. bad.csv: 'hirability' (the targets of hiring are "
        "hireability, warmth)",
    ),
    "no clip key": (
        ["clip_name", "hireability"],
        [["p01.mp4", "5"], ["", "4"]],
        "1 x no clip name or content hash: e.g. bad.csv row 2",
    ),
    "not a video name": (
        ["clip_name", "hireability"],
        [["notes.txt", "5"]],
        "1 x unknown clip name: e.g. bad.csv row 1: 'notes.txt' does not end in a video",
    ),
    "more cells than columns": (
        ["clip_name", "hireability"],
        [["p01.mp4", "5", "6"]],
        "1 x malformed file: e.g. bad.csv row 1: 1 more cells than the header has columns",
    ),
    "unknown split": (
        ["clip_name", "hireability", "split"],
        [["p01.mp4", "5", "holdout"]],
        "1 x unknown split: e.g. bad.csv row 1: 'holdout'",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_csv_is_refused_naming_file_row_and_target(case, hiring, database, tmp_path) -> None:
    header, rows, expected = BAD_FILES[case]
    good = _csv(tmp_path / "good.csv", ["clip_name", "warmth"], ["ok.mp4", "10"])
    bad = _csv(tmp_path / "bad.csv", header, *rows)
    with pytest.raises(LabelImportError) as info:
        import_study_labels(database, get_set(hiring, "hiring"), [good, bad])
    assert "nothing was written" in str(info.value)
    assert expected in str(info.value)
    assert _rows(database) == []  # not even the good file's rating


def test_bad_json_files_are_refused_naming_file_row_or_key_and_target(
    hiring, database, tmp_path
) -> None:
    tset = get_set(hiring, "hiring")
    cases = {
        "list.json": ([{"clip": "a.mp4", "warmth": 5}, {"clip": "b.mp4", "warmth": 101}],
                      "list.json row 2 (b.mp4) warmth: 101 is outside the scale 0..100"),
        "keyed.json": ({"a.mp4": {"hireability": True}},
                       'keyed.json "a.mp4" (a.mp4) hireability: True is not a number'),
        "shape.json": (42, "malformed file: e.g. shape.json: expected a list of objects"),
        "items.json": ([{"clip": "a.mp4", "warmth": 5}, "b.mp4"],
                       "malformed file: e.g. items.json row 2: str where an object"),
        "other.json": ([{"clip": "a.mp4", "warmth": 5, "set": "panel"}],
                       "another set: e.g. other.json row 1: labels 'panel', not hiring"),
        "twice.json": ([{"clip": "a.mp4", "warmth": 5}, {"clip": "a.mp4", "warmth": 6}],
                       "conflicting value: e.g. a.mp4 warmth: 5 (twice.json row 1) and 6 "
                       "(twice.json row 2)"),
    }  # fmt: skip
    for name, (data, expected) in cases.items():
        with pytest.raises(LabelImportError) as info:
            import_study_labels(database, tset, [_json(tmp_path / name, data)])
        assert expected in str(info.value), name
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(LabelImportError, match="unreadable file: e.g. broken.json: "):
        import_study_labels(database, tset, [broken])
    assert _rows(database) == []


def test_the_command_imports_a_set_and_refuses_an_undeclared_one(
    hiring, database, tmp_path, capsys
) -> None:
    home = ["--home", str(hiring.home_dir)]
    table = _csv(tmp_path / "panel.csv", ["clip", "hireability", "warmth"], ["p1.mp4", "2", ""])
    assert main([*home, "labels", "import", "--set", "hiring", str(table)]) == 0
    out = capsys.readouterr().out
    assert "hiring: 1 ratings were added, 0 changed, 0 unchanged, for 1 clips" in out
    assert main([*home, "labels", "import", "--set", "hiring", "--dry-run", str(table)]) == 0
    assert "0 ratings would be added, 0 changed, 1 unchanged" in capsys.readouterr().out
    assert main([*home, "labels", "import", "--set", "hirign", str(table)]) == 2
    err = capsys.readouterr().err
    assert "no target set 'hirign': declared sets are first_impressions, hiring, self_report" in err
    bad = _csv(tmp_path / "bad.csv", ["clip", "hireability"], ["p2.mp4", "0"])
    assert main([*home, "labels", "import", "--set", "hiring", str(bad)]) == 2
    assert "bad.csv row 1 (p2.mp4) hireability: 0 is outside the scale 1..7" in (
        capsys.readouterr().err
    )
    # Without --set (or with the built-in set's name) a file holds First Impressions scores.
    fi = _csv(tmp_path / "fi.csv", ["clip", *TARGETS], ["f.mp4", *FI_SCORES.values()])
    assert main([*home, "labels", "import", "--set", "first_impressions", str(fi)]) == 0
    assert "1 labels were added" in capsys.readouterr().out
    assert main([*home, "labels", "status"]) == 0
    out = capsys.readouterr().out
    assert "set hiring: 1 clips, 1 ratings (hireability 1)" in out
    assert "set self_report: 0 clips, 0 ratings (none)" in out
    assert _rows(database) == [("hiring", "p1.mp4", "hireability", 2.0, None, None)]


def _video(folder: Path) -> Path:
    """A real video file in `folder`: a First Impressions clip when ../shared has them."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = real_clips()
    if clips:
        return Path(shutil.copy(clips[0], folder / "p07_interview.mp4"))
    return make_video(folder / "p07_interview.mp4", seconds=1.0, audio=tone(1.0))


def test_sidecars_rate_their_own_video_on_declared_sets(hiring, database) -> None:
    inbox = Inbox(hiring, database, ArtifactStore(hiring.store_dir), Pipeline.default())
    video = _video(hiring.inbox_dir)
    assert inbox.register_now(video).state == FileState.REGISTERED
    sidecar = hiring.inbox_dir / "p07_interview.mp4.labels.json"

    def drop(data: dict):
        sidecar.write_text(json.dumps(data))
        return inbox.register_now(sidecar)

    verdict = drop({"set": "hiring", "hireability": 6, "warmth": 80, "group": "p07"})
    assert verdict.state == FileState.SIDECAR, verdict.reason
    assert verdict.reason == (
        "hiring labels for p07_interview.mp4 imported (new: hireability, warmth)"
    )
    ratings = study_ratings(database, "hiring", "train")
    assert ratings["p07_interview.mp4"].values == {"hireability": 6.0, "warmth": 80.0}
    assert ratings["p07_interview.mp4"].group_id == "p07"

    # Several sets at once, First Impressions' scores beside them; a set's target may
    # share a First Impressions name (self-reported extraversion on 1..5).
    verdict = drop({**FI_SCORES, "sets": {"hiring": {"warmth": 75},
                                          "self_report": {"extraversion": 4}}})  # fmt: skip
    assert verdict.state == FileState.SIDECAR, verdict.reason
    assert "labels for p07_interview.mp4 imported (new)" in verdict.reason
    assert "hiring labels for p07_interview.mp4 imported (updated: warmth)" in verdict.reason
    assert "self_report labels for p07_interview.mp4 imported (new: extraversion)" in (
        verdict.reason
    )
    verdict = drop({"set": "self_report", "extraversion": 5})  # not an FI score: 5 on 1..5
    assert verdict.state == FileState.SIDECAR, verdict.reason
    with database.read() as session:
        row = session.scalars(select(Video)).one()
        assert ratings_for_video(session, "hiring", row.name, row.sha256) == {
            "hireability": 6.0, "warmth": 75.0,
        }  # fmt: skip
        assert ratings_for_video(session, "self_report", row.name, row.sha256) == {
            "extraversion": 5.0
        }
        assert session.scalar(select(Label.openness)) == 0.5

    verdict = drop({"set": "hiring", "warmth": 75, "transcript": "hello"})
    assert verdict.reason == (
        "hiring labels for p07_interview.mp4 imported (unchanged: warmth); its transcript is "
        "not stored (a transcript is kept with First Impressions scores)"
    )

    before = _rows(database)
    refused = {
        "undeclared": ({"set": "panel", "rating": 3},
                       "names the target set 'panel', which is not declared (declared sets: "
                       "hiring, self_report"),
        "out of scale": ({**FI_SCORES, "openness": 0.9, "set": "hiring", "hireability": 9},
                         "p07_interview.mp4.labels.json (p07_interview.mp4) hireability: 9 is "
                         "outside the scale 1..7"),
        "unknown key": ({"set": "hiring", "hirability": 3},
                        "'hirability' (the targets of hiring are hireability, warmth)"),
        "inside sets": ({"sets": {"hiring": {"warmth": "warm"}}},
                        'p07_interview.mp4.labels.json "sets" "hiring" (p07_interview.mp4) '
                        "warmth: 'warm' is not a number"),
        "no rating": ({"set": "hiring"}, "no rating"),
        "partial FI": ({"set": "hiring", "warmth": 10, "openness": 0.9}, "5 x missing trait"),
        "another clip": ({"set": "hiring", "warmth": 1, "clip_name": "theirs.mp4"},
                         "labels only its own video"),
    }  # fmt: skip
    for case, (data, expected) in refused.items():
        verdict = drop(data)
        assert verdict.state == FileState.REJECTED, case
        assert expected in verdict.reason, (case, verdict.reason)
    assert _rows(database) == before  # nothing written, First Impressions' scores neither
    with database.read() as session:
        assert session.scalar(select(Label.openness)) == 0.5

    # Forgetting the video deletes its sidecar's ratings; a label file's are kept.
    table = _csv(hiring.home_dir / "self.csv", ["clip", "extraversion"], [video.name, "3"])
    import_study_labels(database, get_set(hiring, "self_report"), [table])
    with database.write() as session:
        assert forget_video(session, session.scalars(select(Video.id)).one()) == ["self.csv"]
    assert _rows(database) == [("self_report", video.name, "extraversion", 3.0, None, None)]
