"""A long interview of several people through the daemon: built from the shared First
Impressions clips (a different person every 15 s, over two minutes), scored as clip-sized
segments with the speech-weighted aggregate and its interval, the subject chosen and
explained, a transcript far longer than training flagged; and a 15-second clip beside it
scored exactly as before (its one description, no segments)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from bench.long_video import build_long_video
from daemon.cli import main
from daemon.config import load_config
from daemon.learn import input_range
from daemon.learn.predictor import load_predictor
from daemon.text.describe import transcript_only_description
from daemon.video_record import latest_prediction, read_output, stage_runs
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import TARGETS, ModelVersion, Video
from tests.conftest import FI_DIR, real_clips, requires_clips
from tests.runtime.test_day_one_daemon import PICKLES, trained_home

CONFIG = """
[inbox]
stable_seconds = 0
[workers]
poll_interval_s = 0.2
backoff_base_s = 0
[visual]
sample_fps = 1.0
[train]
heads = ["embedding"]
profiles = ["transcript_only"]
max_train_rows = 300
max_report_rows = 200
min_new_labelled = 1000000
"""


def _outputs(home: Path, name: str) -> tuple[dict, dict]:
    """(stage outputs' data by stage, the prediction's details) of one video."""
    config = load_config(home)
    db = Database(config.database_url)
    store = ArtifactStore(config.store_dir)
    with db.read() as session:
        video = session.query(Video).filter_by(name=name).one()
    outputs = {r.stage: read_output(store, r) for r in stage_runs(db, video.id)}
    data = {stage: output.data if output else None for stage, output in outputs.items()}
    prediction = latest_prediction(db, video.id)
    db.dispose()
    scores = {t: getattr(prediction, t) for t in TARGETS}
    return data, {**json.loads(prediction.details_json), "scores": scores}


def _model(home: Path) -> ModelVersion:
    db = Database(load_config(home).database_url)
    with db.read() as session:
        model = session.query(ModelVersion).filter_by(state="promoted").one()
    db.dispose()
    return model


@requires_clips
@pytest.mark.slow
@pytest.mark.skipif(not all(p.exists() for p in PICKLES), reason="no FI labels")
def test_a_long_interview_is_scored_as_segments(tmp_path, capsys) -> None:
    home, args = trained_home(tmp_path, CONFIG)
    clips = real_clips()
    placed = build_long_video(clips[:10], 140.0, home / "inbox" / "interview.mp4", (480, 270))
    short = clips[0]
    (home / "inbox" / short.name).write_bytes(short.read_bytes())
    assert main([*args, "run", "--until-idle"]) == 0

    data, details = _outputs(home, "interview.mp4")
    diarize = data["diarize"]["summary"]
    assert 7 <= diarize["num_speakers"] <= 13  # ten people, within +-30 %
    # Every person is filmed speaking: no one voice is clearly the face's, most speech decides.
    assert diarize["subject"] and "most speech: " in diarize["subject_reason"]
    segments = data["describe"]["segments"]
    assert len(segments) >= 7 and segments[-1]["end"] == pytest.approx(
        placed[-1].start + placed[-1].length, abs=0.5
    )
    for seg in segments:
        assert 7.5 <= seg["end"] - seg["start"] <= 22.5
        assert f"The video lasts {seg['end'] - seg['start']:.1f} s" in seg["texts"]["full"]
    _check_aggregate(details, len(segments))

    # The whole interview's words in one text: far longer than any training transcript.
    model = _model(home)
    with open(FI_DIR / "transcription_training.pkl", "rb") as fh:
        official = pickle.load(fh, encoding="latin1")
    long_text = transcript_only_description(" ".join(official.get(c.name, "") for c in clips))
    flags = input_range.check(input_range.load(Path(model.path)), long_text)
    assert "transcript_length" in {f.kind for f in flags}
    assert any(f.reason.startswith("transcript ") for f in flags)
    assert not any(f["kind"] == "transcript_length" for f in details["flags"])

    # A 15-second clip: scored whole, exactly as the model scores its one description.
    short_data, short_details = _outputs(home, short.name)
    assert short_data["describe"]["segments"] == [] and "segments" not in short_details
    predictor = load_predictor(Path(model.path), "cpu")
    direct = predictor.predict([short_data["describe"]["texts"]["transcript_only"]])[0]
    assert short_details["scores"] == {t: pytest.approx(direct[t], abs=1e-6) for t in TARGETS}

    capsys.readouterr()
    assert main([*args, "show", "interview.mp4"]) == 0
    shown = capsys.readouterr().out
    assert "scored as" in shown and "segments" in shown and "Subject:" in shown
    assert main([*args, "show", "interview.mp4", "--segment", "2"]) == 0
    assert "segment 2" in capsys.readouterr().out


def _check_aggregate(details: dict, n_segments: int) -> None:
    """Per-segment scores and intervals; the video's score their speech-weighted mean; its
    interval at least as wide as a segment's."""
    segments = details["segments"]
    assert len(segments) == n_segments
    counted = [s for s in segments if s["speech_s"] > 0]
    assert details["segments_counted"] == len(counted) >= 1
    total = sum(s["speech_s"] for s in counted)
    for t in TARGETS:
        mean = sum(s["speech_s"] * s["scores"][t] for s in counted) / total
        assert details["scores"][t] == pytest.approx(mean, abs=1e-5)
    for seg in counted:
        if seg["flags"]:
            assert seg["intervals"] == {}
            continue
        for t in TARGETS:
            lo, hi = seg["intervals"][t]
            assert lo <= seg["scores"][t] <= hi
    if details["interval_withheld_because"] is None:
        widths = [s["intervals"]["openness"] for s in counted if s["intervals"]]
        lo, hi = details["intervals"]["openness"]
        assert lo <= details["scores"]["openness"] <= hi
        assert hi - lo >= min(b - a for a, b in widths) - 1e-6
    else:
        assert details["intervals"] == {} and details["flags"]
