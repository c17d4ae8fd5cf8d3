"""`lprd results`, the dashboard's download and `lprd.open(home)`: one row per video (or
segment) with the documented columns, the same values in CSV, JSONL and Parquet, read
back by pandas; a data dictionary beside the file; nothing ever written to the database."""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from daemon import features, results
from daemon.cli import main
from daemon.errors import LprdError
from daemon.pipeline import Pipeline
from daemon.web.app import create_app
from storage.db import utcnow
from storage.models import TARGETS, Prediction, StageRun, Video
from storage.videos import register_video

SCORES = {"openness": 0.61, "conscientiousness": 0.52, "extraversion": 0.48,
          "agreeableness": 0.57, "neuroticism": 0.5, "interview": 0.55}  # fmt: skip
REASONS = {t: [{"section": "transcript", "contribution": 0.031},
               {"section": "voice", "contribution": -0.012},
               {"section": "face", "contribution": 0.004},
               {"section": "body", "contribution": 0.001}] for t in TARGETS}  # fmt: skip
FLAG = {"kind": "transcript_length", "reason": "12 words; training texts had 25-90"}
DETAILS = {
    "intervals": {t: [round(s - 0.1, 6), round(s + 0.1, 6)] for t, s in SCORES.items()},
    "interval_level": 0.9, "reasons": REASONS, "feature_profile": "full", "head": "ensemble",
    "transcript_source": "automatic transcript", "val_mean_accuracy": 0.8812,
    "val_baseline_mean_accuracy": 0.8655, "flags": [], "interval_withheld_because": None,
}  # fmt: skip
SEGMENTS = [
    {"index": i, "start": 60.0 * i, "end": 60.0 * (i + 1), "speech_s": 40.0 + i, "words": 90 + i,
     "scores": {t: 0.4 + 0.1 * i for t in TARGETS},
     "intervals": {} if i else {t: [0.3, 0.5] for t in TARGETS},
     "flags": [FLAG] if i else [], "reasons": {t: REASONS[t][:3] for t in TARGETS}}
    for i in range(2)
]  # fmt: skip
LONG_DETAILS = {
    **DETAILS, "intervals": {}, "flags": [FLAG], "segments": SEGMENTS, "segments_counted": 2,
    "interval_withheld_because": "a counted segment lies outside the training range",
    "segment_spread": {t: 0.05 for t in TARGETS},
}  # fmt: skip
PROBE = {"duration_s": 15.2, "video": {"width": 1280, "height": 720, "fps": 30.0}}
PROSODY = {"pitch_mean_hz": 182.5, "pause_count": 3, "speech_rate_sps": 4.31,
           "jitter_local": None, "speech_rate_source": "transcript"}  # fmt: skip
FACE = {"smile_mean": 0.41, "blinks_per_min": None, "apparent_gender": "female",
        "facial_actions": {"brow raise": 0.12, "smile": 0.3},
        "expressions": {"happy": 0.7}}  # fmt: skip
OUTPUTS = {
    "probe": PROBE,
    "diarize": {"summary": {"num_speakers": 1, "speech_s": 12.0, "subject_talk_time_s": 12.0}},
    "prosody": {"summary": PROSODY},
    "analyze_face": {"summary": FACE},
}


def add_video(database, store, n: int, name: str, details=None, scored=True, outputs=None):
    """A registered video with done stage outputs and (when `scored`) a prediction."""
    plans = Pipeline.default().plans.values()
    sha = f"{n:064x}"
    with database.write() as session:
        reg = register_video(session, sha256=sha, name=name, path=Path(f"/in/{name}"),
                             size_bytes=1000 * n, plans=plans)  # fmt: skip
        for stage, data in (outputs or {}).items():
            path = store.path(sha, f"{stage}.json")
            store.write_json(path, {"stage": stage, "status": "done", "data": data})
            session.execute(
                update(StageRun)
                .where(StageRun.video_id == reg.video_id, StageRun.stage == stage)
                .values(
                    status="done",
                    artifact=store.relative(path),
                    backend=f"{stage}-backend",
                    model=f"{stage}-model 1.0",
                )  # fmt: skip
            )
        if scored:
            session.add(Prediction(
                video_id=reg.video_id, model_version="v-full-3", created_at=utcnow(),
                details_json=json.dumps(details) if details is not None else None,
                **{t: SCORES[t] + 0.01 * n for t in TARGETS},
            ))  # fmt: skip
            session.execute(
                update(StageRun)
                .where(StageRun.video_id == reg.video_id, StageRun.stage == "predict")
                .values(status="done")
            )
    return reg.video_id


@pytest.fixture
def home(config, database, store) -> Path:
    """A home with four videos: scored whole with measures, long (segments), scored by an
    old lprd (no details), and not scored yet."""
    add_video(database, store, 1, "clip-a.mp4", DETAILS, outputs=OUTPUTS)
    add_video(database, store, 2, "long.mp4", LONG_DETAILS, outputs={"probe": PROBE})
    add_video(database, store, 3, "old.mp4", None)
    add_video(database, store, 4, "pending.mp4", scored=False)
    return config.home_dir


def lprd(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def read_csv(path: Path) -> pd.DataFrame:
    """The CSV typed by its data dictionary, as README's example reads it."""
    d = pd.read_csv(results.dictionary_path(path))
    types = {"integer": "Int64", "number": "float64", "text": "string", "timestamp": "string"}
    dates = list(d.column[d.type == "timestamp"])
    dtypes = dict(zip(d.column, d.type.map(types), strict=True))
    return pd.read_csv(path, dtype=dtypes, parse_dates=dates)


def expected_columns(**options) -> list[str]:
    return [c.name for c in results.columns(TARGETS, **options)]


def test_csv_has_one_row_per_video_and_the_documented_columns(home, tmp_path, capsys) -> None:
    out = tmp_path / "results.csv"
    assert lprd(home, "results", str(out)) == 0
    assert "wrote 4 videos" in capsys.readouterr().out
    df = read_csv(out)
    assert list(df.columns) == expected_columns()
    assert list(df["file_name"]) == ["clip-a.mp4", "long.mp4", "old.mp4", "pending.mp4"]
    a = df.iloc[0]
    assert a["openness"] == pytest.approx(SCORES["openness"] + 0.01)
    assert (a["openness_lo"], a["openness_hi"]) == (0.51, 0.71)
    assert a["openness_reasons"] == "transcript +0.0310; voice -0.0120; face +0.0040"
    assert (a["model_version"], a["head"], a["feature_profile"]) == ("v-full-3", "ensemble", "full")
    assert (a["val_mean_accuracy"], a["val_baseline_mean_accuracy"]) == (0.8812, 0.8655)
    assert a["duration_s"] == 15.2 and a["sha256"] == f"{1:064x}" and a["interval_level"] == 0.9
    assert a["target_set"] == "first_impressions" and a["predict_status"] == "done"
    assert pd.isna(a["flags"]) and pd.isna(a["segments"])
    long = df.iloc[1]
    assert long["flags"] == FLAG["reason"] and long["flag_kinds"] == "transcript_length"
    assert long["interval_withheld_because"].startswith("a counted segment")
    assert (long["segments"], long["segments_counted"], long["interview_segment_sd"]) == (
        2,
        2,
        0.05,
    )
    assert pd.isna(long["interview_lo"])
    old, pending = df.iloc[2], df.iloc[3]
    assert old["extraversion"] == pytest.approx(SCORES["extraversion"] + 0.03)
    assert pd.isna(old["extraversion_lo"]) and pd.isna(old["head"])
    assert pd.isna(pending["openness"]) and pd.isna(pending["model_version"])
    assert pending["predict_status"] == "pending"


def test_the_data_dictionary_documents_every_column(home, tmp_path) -> None:
    out = tmp_path / "all.parquet"
    assert lprd(home, "results", "--with-measures", "--segments", str(out)) == 0
    dictionary = pd.read_csv(tmp_path / "all.dictionary.csv")
    assert list(dictionary.columns) == ["column", "type", "unit", "description"]
    assert list(dictionary["column"]) == expected_columns(segments=True, measures=True)
    assert set(dictionary["type"]) == {"integer", "number", "text", "timestamp"}
    assert dictionary["description"].notna().all()
    pitch = dictionary.set_index("column").loc["prosody.pitch_mean_hz"]
    assert (pitch["type"], pitch["unit"], pitch["description"]) == ("number", "Hz", "pitch mean")


def test_csv_jsonl_and_parquet_hold_the_same_values(home, tmp_path) -> None:
    frames = {}
    for fmt in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"r.{fmt}"
        assert lprd(home, "results", "--with-measures", str(out)) == 0
        frames[fmt] = {
            "csv": read_csv,
            "jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
            "parquet": lambda p: pd.read_parquet(p),
        }[fmt](out)
    names = expected_columns(measures=True)
    for fmt, df in frames.items():
        assert list(df.columns) == names, fmt
        assert len(df) == 4
    parquet = frames["parquet"]
    assert str(parquet["prosody.pause_count"].dtype) in ("Int64", "int64", "float64")
    for name in ("openness", "interview_hi", "prosody.pitch_mean_hz", "analyze_face.smile_mean"):
        for fmt in ("jsonl", "parquet"):
            pd.testing.assert_series_equal(
                frames["csv"][name].astype(float),
                frames[fmt][name].astype(float),
                check_names=False,
            )
    for name in ("file_name", "openness_reasons", "analyze_face.backend"):
        assert (
            frames["csv"][name].fillna("").tolist() == frames["parquet"][name].fillna("").tolist()
        )
    first = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert list(first) == names and first["prosody.jitter_local"] is None


def test_format_follows_the_suffix_unless_given(home, tmp_path) -> None:
    assert lprd(home, "results", str(tmp_path / "a.jsonl")) == 0
    assert json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])["video_id"] == 1
    assert lprd(home, "results", "--format", "jsonl", str(tmp_path / "b.txt")) == 0
    assert (tmp_path / "b.txt").read_text().startswith('{"video_id": 1')
    assert (tmp_path / "b.dictionary.csv").exists()


def test_segments_give_one_row_per_segment(home, tmp_path) -> None:
    out = tmp_path / "segments.csv"
    assert lprd(home, "results", "--segments", str(out)) == 0
    df = read_csv(out)
    assert list(df.columns) == expected_columns(segments=True)
    assert list(df["file_name"]) == ["clip-a.mp4", "long.mp4", "long.mp4", "old.mp4", "pending.mp4"]
    first, second = df.iloc[1], df.iloc[2]
    assert (first["segment"], second["segment"]) == (1, 2)
    assert (second["segment_start_s"], second["segment_end_s"]) == (60.0, 120.0)
    assert (second["segment_speech_s"], second["segment_words"]) == (41.0, 91)
    assert second["openness"] == pytest.approx(0.5) and pd.isna(second["openness_lo"])
    assert (first["openness_lo"], first["openness_hi"]) == (0.3, 0.5)
    assert pd.isna(first["flags"]) and second["flags"] == FLAG["reason"]
    assert second["openness_reasons"].startswith("transcript +0.0310")
    assert pd.isna(df.iloc[0]["segment"])  # scored whole: one row, no segment
    assert df.iloc[0]["openness"] == pytest.approx(SCORES["openness"] + 0.01)


def test_with_measures_adds_the_described_measures_and_backends(home, tmp_path) -> None:
    out = tmp_path / "m.csv"
    assert lprd(home, "results", "--with-measures", str(out)) == 0
    df = read_csv(out)
    a, long = df.iloc[0], df.iloc[1]
    assert a["prosody.pitch_mean_hz"] == 182.5 and a["prosody.pause_count"] == 3
    assert a["analyze_face.facial_actions.brow_raise"] == 0.12
    assert a["analyze_face.apparent_gender"] == "female"
    assert (a["probe.width"], a["probe.fps"], a["diarize.num_speakers"]) == (1280, 30.0, 1)
    assert pd.isna(a["prosody.jitter_local"]) and pd.isna(a["analyze_face.blinks_per_min"])
    assert a["prosody.backend"] == "prosody-backend" and a["prosody.model"] == "prosody-model 1.0"
    assert a["prosody.status"] == "done" and long["prosody.status"] == "pending"
    assert pd.isna(long["prosody.pitch_mean_hz"]) and long["probe.height"] == 720
    assert not any(c.startswith("analyze_face.expressions") for c in df.columns)  # not described


def test_an_unknown_target_set_is_refused_and_nothing_written(home, tmp_path, capsys) -> None:
    out = tmp_path / "r.csv"
    assert lprd(home, "results", "--set", "hexaco", str(out)) == 2
    err = capsys.readouterr().err
    assert "unknown target set 'hexaco'" in err and "first_impressions" in err
    assert not out.exists() and not (tmp_path / "r.dictionary.csv").exists()
    assert lprd(home, "results", "--set", "first_impressions", str(out)) == 0
    assert lprd(home, "results", str(tmp_path / "no" / "r.csv")) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert lprd(home, "results", str(tmp_path)) == 2


def test_parquet_without_pyarrow_names_the_package(home, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert lprd(home, "results", str(tmp_path / "r.parquet")) == 2
    assert "needs the pyarrow package" in capsys.readouterr().err
    assert not (tmp_path / "r.parquet").exists()


def test_a_home_without_a_database_is_refused_not_created(tmp_path, capsys) -> None:
    import lprd as api

    empty = tmp_path / "nothing"
    assert lprd(empty, "results", str(tmp_path / "r.csv")) == 2
    assert "run `lprd init` first" in capsys.readouterr().err
    with pytest.raises(LprdError, match="lprd init"):
        api.open(empty)
    assert not (empty / "lprd.db").exists()


def test_the_dashboard_offers_the_same_csv(home, config, tmp_path) -> None:
    out = tmp_path / "r.csv"
    assert lprd(home, "results", "--with-measures", str(out)) == 0
    with TestClient(create_app(config)) as client:
        page = client.get("/videos").text
        assert 'href="/results.csv"' in page and 'href="/results.csv?measures=1"' in page
        got = client.get("/results.csv?measures=1")
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        assert 'filename="lprd-results.csv"' in got.headers["content-disposition"]
        assert got.text == out.read_text()
        segments = client.get("/results.csv?segments=1").text.splitlines()
        assert len(segments) == 1 + 5
        dictionary = client.get("/results.dictionary.csv?measures=1")
        assert dictionary.text == (tmp_path / "r.dictionary.csv").read_text()
        assert client.get("/results.csv?set=hexaco").status_code == 400
        assert client.post("/results.csv").status_code == 405


def test_the_download_needs_the_token_like_every_page(home, config) -> None:
    token = "s3cret-token-for-tests"
    with TestClient(create_app(config, token=token), follow_redirects=False) as client:
        assert client.get("/results.csv").status_code == 401
        assert client.get("/results.dictionary.csv").status_code == 401
        ok = client.get("/results.csv", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.text.startswith("video_id,file_name,sha256")


def test_lprd_open_gives_objects_and_frames(home, tmp_path, database) -> None:
    import lprd as api

    out = tmp_path / "r.csv"
    assert lprd(home, "results", "--with-measures", str(out)) == 0
    with api.open(home) as h:
        videos = h.videos()
        assert [v.file_name for v in videos] == ["clip-a.mp4", "long.mp4", "old.mp4", "pending.mp4"]
        assert videos[0].stages["prosody"] == "done" and videos[3].stages["predict"] == "pending"
        assert list(videos[0].stages)[:3] == ["probe", "extract_audio", "diarize"]
        assert h.video("long.mp4").id == videos[1].id == 2
        predictions = h.predictions()
        assert [p.file_name for p in predictions] == ["clip-a.mp4", "long.mp4", "old.mp4"]
        first = predictions[0]
        assert first.scores["openness"] == pytest.approx(SCORES["openness"] + 0.01)
        assert first.intervals["openness"] == [0.51, 0.71] and first.details["head"] == "ensemble"
        assert predictions[1].flags == [FLAG] and predictions[2].details == {}
        measures = h.measures()
        assert measures[0]["prosody.pitch_mean_hz"] == 182.5 and measures[0]["video_id"] == 1
        table = h.table(measures=True)
        assert list(table.columns) == expected_columns(measures=True)
        assert str(table["prosody.pause_count"].dtype) == "Int64"
        assert str(table["added_at"].dtype).startswith("datetime64")
        from_csv = read_csv(out)
        for name in (
            "openness",
            "interview_lo",
            "prosody.pitch_mean_hz",
            "analyze_face.smile_mean",
        ):
            assert table[name].tolist() == pytest.approx(from_csv[name].tolist(), nan_ok=True)
        assert len(h.table(segments=True)) == 5
        assert list(h.dictionary()["column"]) == expected_columns(measures=True)
        rows = list(h.rows())
        assert rows[0]["openness_reasons"] == from_csv["openness_reasons"][0]
        with pytest.raises(Exception, match="readonly|read-only"), h.db.write() as session:
            session.execute(update(Video).values(name="x"))
    with database.read() as session:
        assert session.scalar(select(Video.name).where(Video.id == 1)) == "clip-a.mp4"


def test_an_older_schema_is_refused_not_migrated(home, monkeypatch) -> None:
    import daemon.api
    import lprd as api

    monkeypatch.setattr(daemon.api, "head_revision", lambda: "9999_future")
    with pytest.raises(LprdError, match="run `lprd init` to migrate"):
        api.open(home)


def test_measure_names_follow_the_stage_summaries() -> None:
    from daemon.visual.actions import ACTIONS

    assert results.FACIAL_ACTIONS == tuple(a.name for a in ACTIONS)
    assert set(results.STAGES) <= set(Pipeline.default().order)
    summaries = {
        "diarize": features.DiarizeSummary, "transcribe": features.TranscribeSummary,
        "speech_emotion": features.SpeechEmotionSummary, "prosody": features.ProsodySummary,
        "analyze_face": features.FaceSummary,
    }  # fmt: skip
    for m in results.MEASURES:
        if m.stage in summaries:
            keys = typing.get_type_hints(summaries[m.stage])
            assert (m.path or (m.key,))[0] in keys, m.column.name
    names = [m.column.name for m in results.MEASURES]
    assert len(names) == len(set(names))
    assert len({c.name for c in results.columns(TARGETS, segments=True, measures=True)}) == len(
        results.columns(TARGETS, segments=True, measures=True)
    )


@pytest.mark.both_backends
def test_rows_stream_in_batches_on_both_backends(config, database, store, monkeypatch) -> None:
    monkeypatch.setattr(results, "BATCH", 3)
    for n in range(1, 9):
        add_video(database, store, n, f"c{n}.mp4", DETAILS if n % 2 else None, scored=n != 5)
    got = list(results.rows(database, store))
    assert [r["video_id"] for r in got] == list(range(1, 9))
    assert [r["model_version"] is None for r in got] == [n == 5 for n in range(1, 9)]
    assert [r["head"] for r in got][:2] == ["ensemble", None]
    picked = results.rows(database, store, video_ids=[7, 2, 5])
    assert [r["video_id"] for r in picked] == [2, 5, 7]
    with pytest.raises(LprdError, match="unknown target set"):
        next(results.rows(database, store, "hexaco"))


def test_the_values_are_those_lprd_show_prints(home, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "r.csv"
    assert lprd(home, "results", str(out)) == 0
    row = read_csv(out).iloc[0]
    capsys.readouterr()
    assert lprd(home, "show", "clip-a.mp4") == 0
    shown = capsys.readouterr().out
    assert f"served by {row['model_version']} ({row['feature_profile']} profile" in shown
    assert f"validation mean accuracy {row['val_mean_accuracy']:.4f}" in shown
    assert f"train-mean baseline {row['val_baseline_mean_accuracy']:.4f}" in shown
    for t in TARGETS:
        assert f"{row[t]:.2f}" in shown and f"{row[f'{t}_lo']:.2f}-{row[f'{t}_hi']:.2f}" in shown


# --- a study's own target set -----------------------------------------------------------

HIRING_TOML = """
[targets.hiring]
description = "Hireability panel"
hireability = { min = 1, max = 7, low = "would not hire", high = "would hire", description = "Would you hire this person?", first_impressions = "interview" }
warmth = { min = 0, max = 100, description = "How warm the person comes across" }
"""
HIRING_SCORES = {"hireability": 5.5, "warmth": 62.0}
HIRING_DETAILS = {
    "intervals": {"hireability": [4.6, 6.4], "warmth": [51.0, 73.0]}, "interval_level": 0.9,
    "reasons": {"hireability": [{"section": "transcript", "contribution": 0.186},
                                {"section": "voice", "contribution": -0.072}],
                "warmth": [{"section": "face", "contribution": 3.1}]},
    "flags": [], "feature_profile": "full", "head": "ridge", "val_mean_accuracy": 0.8123,
    "val_baseline_mean_accuracy": 0.7955, "interval_withheld_because": None,
}  # fmt: skip
# A set no config declares any more: only its stored predictions know it.
PANEL = {"name": "panel", "description": "Old panel", "targets": [
    {"name": "calm", "description": "calm", "min": -3, "max": 3, "low": "tense", "high": "calm",
     "first_impressions": None}]}  # fmt: skip


def add_set_prediction(database, video_id, version, target_set, scores, details) -> None:
    """A study set's model and its prediction of a video, as the predict stage writes them."""
    from storage.models import ModelVersion

    metrics = {"train_mean": {t: 0.5 for t in scores}, "baseline": {"mean_accuracy": 0.79}}
    with database.write() as session:
        if session.scalar(select(ModelVersion).where(ModelVersion.version == version)) is None:
            session.add(ModelVersion(
                version=version, kind="ridge", base_model="none", template_version="6",
                feature_profile="full", target_set=target_set["name"], train_count=40,
                metrics_json=json.dumps(metrics), val_mean_accuracy=details["val_mean_accuracy"],
                path=f"/models/{version}", state="promoted", created_at=utcnow(),
            ))  # fmt: skip
        session.add(Prediction(
            video_id=video_id, model_version=version, target_set=target_set["name"],
            scores_json=json.dumps(scores), created_at=utcnow(),
            details_json=json.dumps({**details, "target_set": target_set}),
        ))  # fmt: skip


@pytest.fixture
def study_home(home, config, database) -> Path:
    """`home` with [targets.hiring] declared, clip-a.mp4 scored on it (after its First
    Impressions scores) and long.mp4 scored on a set only its predictions describe."""
    from daemon.config import load_config
    from daemon.targets import get_set

    (home / "lprd.toml").write_text(HIRING_TOML)
    hiring = get_set(load_config(home=home, env={}), "hiring").describe()
    add_set_prediction(database, 1, "v-hiring-1", hiring, HIRING_SCORES, HIRING_DETAILS)
    add_set_prediction(database, 2, "v-panel-1", PANEL, {"calm": -1.25},
                       {**HIRING_DETAILS, "intervals": {"calm": [-2.0, -0.5]}, "reasons": {}})  # fmt: skip
    return home


def study_set(home: Path):
    from daemon.config import load_config
    from daemon.targets import get_set

    return get_set(load_config(home=home, env={}), "hiring")


def test_show_prints_every_set_on_its_declared_scale(study_home, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert lprd(study_home, "show", "clip-a.mp4") == 0
    shown = capsys.readouterr().out
    fi, hiring = shown.index("target set first_impressions"), shown.index("target set hiring")
    assert fi < hiring and "target set hiring: Hireability panel" in shown
    assert "served by v-full-3" in shown[fi:hiring] and "0.62" in shown[fi:hiring]
    part = shown[hiring:]
    assert "served by v-hiring-1 (full profile, ridge head)" in part
    assert "validation mean accuracy 0.8123, train-mean baseline 0.7955" in part
    assert "Hireability" in part and "5.5" in part and "4.6-6.4" in part
    assert "Warmth" in part and "62.0" in part and "51.0-73.0" in part
    assert "high = would hire; low = would not hire" in part and "scale 0..100" in part
    assert "transcript +0.186" in part and "hireability 1 to 7, warmth 0 to 100" in part
    assert lprd(study_home, "show", "clip-a.mp4", "--set", "hiring") == 0
    only = capsys.readouterr().out
    assert "target set hiring" in only and "Openness" not in only and "v-full-3" not in only
    assert lprd(study_home, "show", "long.mp4") == 0  # a set only its predictions describe
    long = capsys.readouterr().out
    assert "target set panel: Old panel" in long and "-1.2" in long and "-2.0 to -0.5" in long
    assert lprd(study_home, "show", "old.mp4", "--set", "hiring") == 0
    assert "scores of the target set 'hiring': none yet" in capsys.readouterr().out
    assert lprd(study_home, "show", "clip-a.mp4", "--set", "hexaco") == 2
    assert "unknown target set 'hexaco'" in capsys.readouterr().err


def test_results_of_a_study_set_on_its_declared_scales(
    study_home, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    target_set = study_set(study_home)
    names = [c.name for c in results.columns(target_set)]
    assert names[names.index("hireability") :][:5] == [
        "hireability", "hireability_lo", "hireability_hi", "hireability_reasons",
        "hireability_segment_sd",
    ]  # fmt: skip
    assert "openness" not in names and "warmth_hi" in names
    frames = {}
    for fmt in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"hiring.{fmt}"
        assert lprd(study_home, "results", "--set", "hiring", str(out)) == 0
        assert "target set hiring" in capsys.readouterr().out
        frames[fmt] = {
            "csv": read_csv,
            "jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
            "parquet": lambda p: pd.read_parquet(p),
        }[fmt](out)
    for fmt, df in frames.items():
        assert list(df.columns) == names, fmt
        assert list(df["file_name"]) == ["clip-a.mp4", "long.mp4", "old.mp4", "pending.mp4"]
        a = df.iloc[0]
        assert (a["hireability"], a["hireability_lo"], a["hireability_hi"]) == (5.5, 4.6, 6.4)
        assert (a["warmth"], a["warmth_lo"], a["warmth_hi"]) == (62.0, 51.0, 73.0)
        assert a["hireability_reasons"] == "transcript +0.1860; voice -0.0720"
        assert (a["target_set"], a["model_version"], a["head"]) == ("hiring", "v-hiring-1", "ridge")
        assert (a["val_mean_accuracy"], a["val_baseline_mean_accuracy"]) == (0.8123, 0.7955)
        assert df["hireability"].iloc[1:].isna().all() and df["model_version"].iloc[1:].isna().all()
    dictionary = pd.read_csv(tmp_path / "hiring.dictionary.csv").set_index("column")
    assert list(dictionary.index) == names
    hire, warmth = dictionary.loc["hireability"], dictionary.loc["warmth"]
    assert hire["unit"] == "1-7" and dictionary.loc["hireability_hi", "unit"] == "1-7"
    assert "declared scale 1 to 7" in hire["description"]
    assert "Would you hire this person?" in hire["description"]
    assert "high = would hire; low = would not hire" in hire["description"]
    assert warmth["unit"] == "0-100" and "How warm the person comes across" in warmth["description"]
    assert "Hireability panel" in dictionary.loc["target_set", "description"]
    # the values are those `lprd show` prints
    row = frames["csv"].iloc[0]
    assert lprd(study_home, "show", "clip-a.mp4", "--set", "hiring") == 0
    shown = capsys.readouterr().out
    for t in ("hireability", "warmth"):
        assert f"{row[t]:.1f}" in shown and f"{row[f'{t}_lo']:.1f}-{row[f'{t}_hi']:.1f}" in shown
    assert f"validation mean accuracy {row['val_mean_accuracy']:.4f}" in shown


def test_first_impressions_results_ignore_a_newer_study_prediction(study_home, tmp_path) -> None:
    out = tmp_path / "fi.csv"
    assert lprd(study_home, "results", str(out)) == 0
    a = read_csv(out).iloc[0]
    assert a["openness"] == pytest.approx(SCORES["openness"] + 0.01)
    assert (a["model_version"], a["target_set"]) == ("v-full-3", "first_impressions")


def test_a_set_known_only_from_its_predictions_and_an_unknown_one(study_home, tmp_path, capsys):
    out = tmp_path / "panel.csv"
    assert lprd(study_home, "results", "--set", "panel", str(out)) == 0
    df = read_csv(out)
    assert list(df["calm"].isna()) == [True, False, True, True]
    assert (df["calm"][1], df["calm_lo"][1], df["calm_hi"][1]) == (-1.25, -2.0, -0.5)
    unit = pd.read_csv(tmp_path / "panel.dictionary.csv").set_index("column").loc["calm", "unit"]
    assert unit == "-3 to 3"
    assert lprd(study_home, "results", "--set", "hexaco", str(tmp_path / "x.csv")) == 2
    err = capsys.readouterr().err
    assert "unknown target set 'hexaco'" in err
    assert "first_impressions, hiring, panel" in err and "[targets.hexaco]" in err
    assert not (tmp_path / "x.csv").exists()


def test_lprd_open_gives_a_study_sets_predictions(study_home, tmp_path) -> None:
    import lprd as api

    out = tmp_path / "hiring.csv"
    assert lprd(study_home, "results", "--set", "hiring", str(out)) == 0
    with api.open(study_home) as h:
        assert list(h.sets()) == ["first_impressions", "hiring", "panel"]
        assert h.sets()["hiring"].get("hireability").high == 7.0
        (hiring,) = h.predictions(set="hiring")
        assert (hiring.file_name, hiring.target_set) == ("clip-a.mp4", "hiring")
        assert hiring.scores == HIRING_SCORES
        assert hiring.intervals["warmth"] == [51.0, 73.0]
        assert hiring.details["target_set"]["name"] == "hiring"
        fi = h.predictions()
        assert [p.file_name for p in fi] == ["clip-a.mp4", "long.mp4", "old.mp4"]
        assert fi[0].scores["openness"] == pytest.approx(SCORES["openness"] + 0.01)
        assert fi[0].target_set == "first_impressions"
        table = h.table(set="hiring")
        from_csv = read_csv(out)
        assert list(table.columns) == list(from_csv.columns)
        for name in ("hireability", "hireability_lo", "warmth_hi", "val_mean_accuracy"):
            assert table[name].tolist() == pytest.approx(from_csv[name].tolist(), nan_ok=True)
        assert h.table(target_set="hiring")["warmth"][0] == 62.0
        assert "warmth" in list(h.dictionary(set="hiring")["column"])
        with pytest.raises(LprdError, match="unknown target set 'nope'"):
            h.predictions(set="nope")


def test_the_dashboard_downloads_a_study_set(study_home, config, tmp_path) -> None:
    from daemon.config import load_config

    out = tmp_path / "hiring.csv"
    assert lprd(study_home, "results", "--set", "hiring", str(out)) == 0
    with TestClient(create_app(load_config(home=study_home, env={}))) as client:
        assert 'href="/results.csv?set=hiring"' in client.get("/videos").text
        got = client.get("/results.csv?set=hiring")
        assert got.status_code == 200 and got.text == out.read_text()
        assert 'filename="lprd-results-hiring.csv"' in got.headers["content-disposition"]
        dictionary = client.get("/results.dictionary.csv?set=hiring")
        assert dictionary.text == (tmp_path / "hiring.dictionary.csv").read_text()
        assert (
            client.get("/results.csv?set=panel")
            .text.splitlines()[0]
            .endswith(
                "calm_segment_sd,flags,flag_kinds,interval_withheld_because,segments,segments_counted"
            )
        )
        assert client.get("/results.csv?set=hexaco").status_code == 400


def test_a_study_sets_segments_on_its_scales(study_home, database, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    segments = [
        {"index": i, "start": 60.0 * i, "end": 60.0 * (i + 1), "speech_s": 40.0, "words": 90,
         "scores": {"hireability": 5.0 + i, "warmth": 40.0 + 10 * i},
         "intervals": {"hireability": [4.0 + i, 6.0 + i]}, "flags": [],
         "reasons": {"warmth": [{"section": "face", "contribution": 2.5}]}}
        for i in range(2)
    ]  # fmt: skip
    details = {**HIRING_DETAILS, "segments": segments, "segments_counted": 2,
               "segment_spread": {"hireability": 0.5, "warmth": 5.0}}  # fmt: skip
    hiring = study_set(study_home).describe()
    add_set_prediction(database, 2, "v-hiring-1", hiring, {"hireability": 5.5, "warmth": 45.0},
                       details)  # fmt: skip
    out = tmp_path / "seg.csv"
    assert lprd(study_home, "results", "--set", "hiring", "--segments", str(out)) == 0
    df = read_csv(out)
    long = df[df["file_name"] == "long.mp4"]
    assert list(long["segment"]) == [1, 2] and list(long["hireability"]) == [5.0, 6.0]
    assert list(long["hireability_hi"]) == [6.0, 7.0] and list(long["warmth"]) == [40.0, 50.0]
    assert list(long["warmth_segment_sd"]) == [5.0, 5.0]
    assert long["warmth_reasons"].iloc[0] == "face +2.5000"
    capsys.readouterr()
    assert lprd(study_home, "show", "long.mp4", "--set", "hiring") == 0
    shown = capsys.readouterr().out
    assert "scored as 2 segments" in shown and "hirea" in shown and "50.0" in shown
