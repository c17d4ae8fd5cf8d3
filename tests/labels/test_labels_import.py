"""Label import: the real First Impressions files, bad files refused whole, sidecars."""

from __future__ import annotations

import csv
import json
import pickle
import struct
from pathlib import Path

import numpy
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

    from daemon.labels.service import requeue_described
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


def _scalar_pickle(type_code: bytes, data: bytes, flags: int = 0) -> bytes:
    """{'openness': {'a.000.mp4': numpy scalar}} written as Python 2 wrote the First
    Impressions pickles: a dtype built from `type_code` and the scalar from raw `data`."""
    minus_one = b"J" + struct.pack("<i", -1)
    state = b"(K\x03U\x01|NNN" + minus_one + minus_one + b"K" + bytes([flags]) + b"tb"
    dtype = b"cnumpy\ndtype\nU" + bytes([len(type_code)]) + type_code + b"K\x00K\x01\x87R"
    scalar = b"cnumpy.core.multiarray\nscalar\n" + dtype + state
    scalar += b"U" + bytes([len(data)]) + data + b"\x86R"
    return b"\x80\x02}U\x08openness}U\x09a.000.mp4" + scalar + b"ss."


def test_crafted_pickles_are_refused_naming_the_file(database, tmp_path) -> None:
    half = struct.pack("<d", 0.5)
    honest = tmp_path / "annotation_training.pkl"
    honest.write_bytes(_scalar_pickle(b"f8", half))
    assert load_pickle(honest) == {"openness": {"a.000.mp4": 0.5}}
    crafted = {
        "object.pkl": _scalar_pickle(b"O8", b"AAAAAAAA", flags=63),
        "void.pkl": _scalar_pickle(b"V8", b"AAAAAAAA"),
        "short.pkl": _scalar_pickle(b"f8", b"AAAA"),
        "text.pkl": _scalar_pickle(b"U1", b"AAAA"),
        "dtype.pkl": pickle.dumps({"openness": {"a.000.mp4": numpy.dtype("f8")}}, protocol=2),
        "bytes.pkl": pickle.dumps({"openness": {"a.000.mp4": b"raw"}}, protocol=2),
        "deep.pkl": pickle.dumps({"a.000.mp4": [[[[["x"]]]]]}, protocol=2),
    }
    for name, data in crafted.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(LabelImportError, match=rf"unreadable file: e\.g\. {name}: "):
            import_labels(database, [path])
    assert _labels(database) == {}


def test_a_pickle_reusing_one_string_cannot_grow_the_database(database, tmp_path) -> None:
    words = "word " * 3000  # 15,000 characters, under the cap, stored once in the file
    path = tmp_path / "transcription_training.pkl"
    path.write_bytes(pickle.dumps({f"c{i}.000.mp4": words for i in range(300)}, protocol=2))
    assert path.stat().st_size < 30_000
    with pytest.raises(LabelImportError, match="text repeated by reference.*4,500,000 char"):
        import_labels(database, [path])
    assert _labels(database) == {}


def test_transcripts_and_label_files_have_a_size_limit(database, tmp_path, monkeypatch) -> None:
    from daemon.labels import files

    long = tmp_path / "long.json"
    rows = [
        {"clip_name": "a.000.mp4", **SCORES, "transcript": "fine"},
        {"clip_name": "b.000.mp4", **SCORES, "transcript": "x" * 30_000_000},
    ]
    long.write_text(json.dumps(rows))
    with pytest.raises(LabelImportError) as info:
        import_labels(database, [long])
    assert "transcript too long: e.g. long.json row 2 (b.000.mp4): 30,000,000 characters" in str(
        info.value
    )
    big = tmp_path / "pickled.pkl"
    big.write_bytes(pickle.dumps({"a.000.mp4": "y" * 25_000}, protocol=2))
    with pytest.raises(LabelImportError, match=r"pickled\.pkl a\.000\.mp4: 25,000 characters"):
        import_labels(database, [big])
    sidecar = tmp_path / "talk.mp4.labels.json"
    sidecar.write_text(json.dumps({**SCORES, "transcript": "z" * 2_000_000}))
    result = import_sidecar(database, sidecar)
    assert result.state == "rejected" and "a sidecar may have" in result.message
    monkeypatch.setattr(files, "MAX_LABEL_FILE_BYTES", 1000)
    with pytest.raises(LabelImportError, match="long.json: 30 MB, more than"):
        import_labels(database, [long])
    assert _labels(database) == {}


def test_a_sidecar_labels_only_its_own_video(database, tmp_path) -> None:
    official = _write_csv(tmp_path / "official.csv", [{"clip_name": "theirs.mp4", **SCORES}])
    import_labels(database, [official])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for video in ("theirs.mp4", "talk.mp4", "talk.mkv"):
        (inbox / video).write_bytes(b"x")
    forged = {**SCORES, "openness": 0.01, "clip_name": "theirs.mp4"}
    for name in ("hijack.labels.json", "talk.mp4.labels.json", "nothing.mp4.labels.json"):
        (inbox / name).write_text(json.dumps(forged))
        result = import_sidecar(database, inbox / name)
        assert result.state == "rejected", (name, result.message)
        assert f'{name} names the clip "theirs.mp4"' in result.message
        assert "labels only its own video" in result.message
    assert _labels(database)["theirs.mp4"].openness == SCORES["openness"]
    chosen = inbox / "talk.labels.json"  # two talk.* videos: "clip_name" picks one of them
    chosen.write_text(json.dumps({**SCORES, "clip_name": "talk.mkv"}))
    assert import_sidecar(database, chosen).message == "labels for talk.mkv imported (new)"
    assert set(_labels(database)) == {"theirs.mp4", "talk.mkv"}


def test_a_deeply_nested_json_label_file_is_refused_by_name(database, tmp_path) -> None:
    nested = tmp_path / "deep.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LabelImportError) as info:
        import_labels(database, [nested])
    assert "deep.json: nested too deeply to read as labels" in str(info.value)
    assert _labels(database) == {}
