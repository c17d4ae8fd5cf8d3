"""Label import: the real First Impressions files, bad files refused whole, sidecars."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import pytest
from sqlalchemy import func, select

from daemon.cli import main
from daemon.labels.files import load_pickle
from daemon.labels.sidecars import import_sidecar
from daemon.labels.store import LabelImportError, import_labels, label_for_video
from storage.models import TARGETS, Label
from storage.videos import register_video
from tests.conftest import FI_DIR

pytestmark = pytest.mark.both_backends

requires_fi = pytest.mark.skipif(
    not (FI_DIR / "annotation_training.pkl").exists(),
    reason="../shared First Impressions data absent",
)
SCORES = dict(zip(TARGETS, (0.5, 0.6, 0.7, 0.4, 0.3, 0.55), strict=True))


def _labels(database) -> dict[str, Label]:
    with database.read() as session:
        return {lb.clip_name: lb for lb in session.scalars(select(Label))}


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@requires_fi
@pytest.mark.slow
def test_real_first_impressions_files_import_once(config, capsys) -> None:
    home = ["--home", str(config.home_dir)]
    if config.database.url:  # the command reads the home's config file
        config.home_dir.mkdir(parents=True)
        (config.home_dir / "lprd.toml").write_text(f'[database]\nurl = "{config.database.url}"\n')
    assert main([*home, "labels", "import", str(FI_DIR)]) == 0
    first = capsys.readouterr().out
    assert "8000 labels were added, 0 changed, 0 unchanged (train 6000, validation 2000)" in first
    assert "8000 records with scores, 8000 with transcripts" in first
    assert "emotional stability" in first
    assert main([*home, "labels", "import", str(FI_DIR)]) == 0
    assert "0 labels were added, 0 changed, 8000 unchanged" in capsys.readouterr().out

    from storage.db import Database

    database = Database(config.database_url)
    labels = _labels(database)
    database.dispose()
    ann = load_pickle(FI_DIR / "annotation_training.pkl")
    text = load_pickle(FI_DIR / "transcription_validation.pkl")
    train = [lb for lb in labels.values() if lb.split == "train"]
    assert len(train) == 6000 and sum(lb.split == "validation" for lb in labels.values()) == 2000
    clip = "J4GQm9j0JZ0.003.mp4"
    assert labels[clip].openness == ann["openness"][clip] and labels[clip].group_id == "J4GQm9j0JZ0"
    assert labels[clip].interview == float(ann["interview"][clip])
    val_clip = next(iter(text))
    assert labels[val_clip].transcript == text[val_clip]
    assert labels[val_clip].split == "validation"
    assert sum(lb.transcript == "" for lb in train) == 8  # as the dataset README counts
    assert len({lb.group_id for lb in train}) == 2624


def test_bad_files_are_refused_whole_with_counts_and_examples(database, tmp_path) -> None:
    rows = [
        {"clip_name": "good.000.mp4", **SCORES},
        {"clip_name": "high.000.mp4", **SCORES, "openness": 1.5},
        {"clip_name": "text.000.mp4", **SCORES, "agreeableness": "lots"},
        {"clip_name": "gap.000.mp4", **SCORES, "interview": ""},
        {"clip_name": "notavideo.txt", **SCORES},
    ]
    bad = _write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(LabelImportError) as info:
        import_labels(database, [bad])
    message = str(info.value)
    assert "nothing was written" in message
    assert (
        "1 x value outside [0, 1]: e.g. labels.csv row 2 (high.000.mp4): openness='1.5'" in message
    )
    assert "1 x wrong type" in message and "1 x missing trait" in message
    assert "1 x unknown clip name" in message and "notavideo.txt" in message
    assert _labels(database) == {}


def test_transcript_for_an_unlabelled_clip_is_refused(database, tmp_path) -> None:
    path = tmp_path / "transcription_training.pkl"
    path.write_bytes(pickle.dumps({"orphan.001.mp4": "hello"}, protocol=2))
    with pytest.raises(LabelImportError, match="unknown clip name: e.g. orphan.001.mp4"):
        import_labels(database, [path])


def test_pickles_may_not_name_arbitrary_classes(database, tmp_path) -> None:
    path = tmp_path / "annotation_training.pkl"
    path.write_bytes(pickle.dumps({"openness": {"a.000.mp4": Path("x")}}))
    with pytest.raises(LabelImportError, match="refusing to load"):
        import_labels(database, [path])


def test_json_by_content_hash_attaches_when_the_video_arrives(database, tmp_path) -> None:
    sha = "ab" * 32
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"sha256": sha, "split": "train", **SCORES}]))
    report = import_labels(database, [path])
    assert report.added == 1
    with database.write() as session:
        register_video(
            session, sha256=sha, name="talk.mp4", path=tmp_path / "talk.mp4", size_bytes=1, plans=[]
        )
    with database.read() as session:
        label = label_for_video(session, "talk.mp4", sha)
        assert label is not None and label.openness == 0.5 and label.split == "train"
        assert label_for_video(session, "other.mp4", "cd" * 32) is None


def test_csv_changes_are_counted_and_idempotent(database, tmp_path) -> None:
    path = _write_csv(tmp_path / "train_labels.csv", [{"file_name": "a.001.mp4", **SCORES}])
    assert import_labels(database, [path]).added == 1
    assert import_labels(database, [path]).unchanged == 1
    _write_csv(path, [{"file_name": "a.001.mp4", **SCORES, "openness": 0.9}])
    assert import_labels(database, [path]).changed == 1
    label = _labels(database)["a.001.mp4"]
    assert label.openness == 0.9 and label.split == "train" and label.group_id == "a"


def test_dry_run_writes_nothing(database, tmp_path) -> None:
    path = _write_csv(tmp_path / "x.csv", [{"clip": "a.001.mp4", **SCORES}])
    assert import_labels(database, [path], split="test", dry_run=True).added == 1
    assert _labels(database) == {}


def test_sidecar_named_after_the_video(database, tmp_path) -> None:
    (tmp_path / "talk.mp4").write_bytes(b"x")
    sidecar = tmp_path / "talk.labels.json"
    sidecar.write_text(json.dumps({**SCORES, "transcript": "hi there"}))
    result = import_sidecar(database, sidecar)
    assert (result.state, result.message) == ("sidecar", "labels for talk.mp4 imported (new)")
    assert result.touched == ("talk.mp4",)
    again = import_sidecar(database, sidecar)
    assert (again.message, again.touched) == ("labels for talk.mp4 imported (unchanged)", ())
    assert _labels(database)["talk.mp4"].transcript == "hi there"
    full = tmp_path / "other.mov.labels.json"
    full.write_text(json.dumps(SCORES))
    assert import_sidecar(database, full).state == "sidecar"
    assert list(tmp_path.iterdir()).__len__() == 4  # nothing was written beside the sidecars


def test_bad_sidecars_are_rejected_with_a_reason(database, tmp_path) -> None:
    lonely = tmp_path / "nobody.labels.json"
    lonely.write_text(json.dumps(SCORES))
    result = import_sidecar(database, lonely)
    assert result.state == "rejected" and "cannot tell which video" in result.message
    broken = tmp_path / "x.mp4.labels.json"
    broken.write_text("{not json")
    assert import_sidecar(database, broken).state == "rejected"
    partial = tmp_path / "y.mp4.labels.json"
    partial.write_text(json.dumps({"openness": 0.5}))
    result = import_sidecar(database, partial)
    assert result.state == "rejected" and "5 x missing trait" in result.message
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Label)) == 0


def test_official_transcript_labels_requeue_describe(config, database, tmp_path) -> None:
    """A changed label re-runs describe for its video: the video's transcript-only
    description quotes the label's official transcript whatever describe.transcript says."""
    import json as _json

    from daemon.label_service import requeue_described
    from daemon.pipeline import Pipeline
    from storage.models import StageRun
    from storage.videos import register_video

    plans = Pipeline.default().plans
    with database.write() as session:
        reg = register_video(
            session,
            sha256="e" * 64,
            name="abcdefghijk.001.mp4",
            path=tmp_path / "v.mp4",
            size_bytes=1,
            plans=plans.values(),
        )
        for run in session.query(StageRun).filter_by(video_id=reg.video_id):
            run.status, run.waiting_on = "done", 0
    labels = tmp_path / "labels.json"
    scores = dict.fromkeys(
        (
            "openness",
            "conscientiousness",
            "extraversion",
            "agreeableness",
            "neuroticism",
            "interview",
        ),
        0.5,
    )
    labels.write_text(
        _json.dumps(
            [{"clip_name": "abcdefghijk.001.mp4", **scores, "transcript": "the official words"}]
        )
    )
    report = import_labels(database, [labels])
    assert report.touched == ["abcdefghijk.001.mp4"]
    assert config.describe.transcript == "asr"
    assert requeue_described(database, plans, report.touched) == 3  # + predict, report
    with database.read() as session:
        states = {
            r.stage: r.status for r in session.query(StageRun).filter_by(video_id=reg.video_id)
        }
    assert states["describe"] == states["predict"] == states["report"] == "pending"
    assert states["transcribe"] == "done"
