"""Which speaker is the subject: the rule's choice and its reason, the user's choice
(`lprd retry VIDEO --subject`), a sidecar's, and a clear failure for a label not found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.audio import turns
from daemon.cli import main
from daemon.runner import RunOutcome, execute
from daemon.stages import diarize
from daemon.stages.extract_audio import STAGE as EXTRACT
from daemon.stages.probe import STAGE as PROBE
from storage.db import Database
from storage.models import PENDING, StageRun, Video
from tests.support.audio_helpers import ENGINEER, QUESTION, clip, espeak, requires_espeak, silence
from tests.support.media_factory import make_video, tone

# The host asks for 1 s, the guest answers for 2.3 s.
TURNS = [
    turns.make_turn(0.0, 1.0, "SPEAKER_00"),
    turns.make_turn(1.2, 3.5, "SPEAKER_01"),
]


def lprd(home: Path, *args: str, capsys) -> tuple[int, str]:
    code = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_rule_says_why_it_chose_the_subject() -> None:
    summary = turns.summarize(TURNS, 4.0, "most_speech")
    assert summary["subject"] == "SPEAKER_01" and summary["subject_rule"] == "most_speech"
    assert summary["subject_reason"] == "most speech: 2.3 s of 3.3 s"
    first = turns.summarize(TURNS, 4.0, "first_speaker")
    assert (first["subject"], first["subject_reason"]) == ("SPEAKER_00", "first to speak, at 0.0 s")
    assert turns.summarize(TURNS, 4.0, "longest_turn")["subject_reason"] == "longest turn: 2.3 s"
    assert turns.subject_sentence(summary) == (
        "Subject: SPEAKER_01 — most speech: 2.3 s of 3.3 s; other speakers: SPEAKER_00 (1.0 s)"
    )


def test_a_choice_overrides_the_rule_and_an_unknown_label_is_refused() -> None:
    choice = turns.SubjectChoice("SPEAKER_00", "user", "chosen by the user")
    summary = turns.summarize(TURNS, 4.0, "most_speech", choice)
    assert summary["subject"] == "SPEAKER_00" and summary["subject_rule"] == "user"
    assert summary["subject_talk_time_s"] == 1.0
    assert turns.subject_sentence(summary).startswith("Subject: SPEAKER_00 — chosen by the user;")
    with pytest.raises(turns.UnknownSpeakerError, match=r"\(SPEAKER_00, SPEAKER_01\)"):
        turns.summarize(TURNS, 4.0, "most_speech", turns.SubjectChoice("SPEAKER_05", "user", ""))
    # No speech: nothing to choose among, the stage skips instead of failing.
    assert turns.summarize([], 4.0, "most_speech", choice)["subject"] is None


@pytest.fixture
def fixed_turns(monkeypatch):
    """The offline diarization replaced by TURNS, so that only the subject choice runs."""
    found = {"turns": TURNS, "exclusive_turns": TURNS, "speech_regions": [(0.0, 1.0), (1.2, 3.5)]}
    monkeypatch.setattr(diarize, "_run_offline", lambda ctx, audio: (found, "fixed"))


def diarized(ctx) -> tuple[RunOutcome, dict]:
    """Run diarize again; (its outcome, the summary it recorded)."""
    outcome = execute(diarize.STAGE, ctx)
    path = ctx.artifact_path("diarize.json")
    data = ctx.store.read_json(path)["data"] if path.exists() else {}
    return outcome, data.get("summary") or {}


def choose(ctx, speaker: str | None) -> None:
    with ctx.db.write() as session:
        session.get(Video, ctx.video.id).subject_speaker = speaker


def test_diarize_applies_the_users_choice_and_fails_clearly_on_a_missing_label(
    tmp_path, make_ctx, fixed_turns
) -> None:
    ctx = make_ctx(make_video(tmp_path / "two.mp4", seconds=4.0, audio=tone(4.0)))
    for stage in (PROBE, EXTRACT):
        assert execute(stage, ctx).kind == RunOutcome.DONE
    outcome, summary = diarized(ctx)
    assert summary["subject"] == "SPEAKER_01" and summary["subject_rule"] == "most_speech"
    assert outcome.summary == "2 speaker(s), subject SPEAKER_01 (2.3 s of 3.3 s speech)"

    choose(ctx, "SPEAKER_00")
    outcome, summary = diarized(ctx)
    assert (summary["subject"], summary["subject_rule"]) == ("SPEAKER_00", "user")
    assert summary["subject_reason"] == "chosen by the user (lprd retry --subject)"
    assert outcome.summary.endswith("chosen by the user (lprd retry --subject)")

    choose(ctx, "SPEAKER_05")
    outcome = execute(diarize.STAGE, ctx)
    assert outcome.kind == RunOutcome.PERMANENT
    assert outcome.message == (
        "SPEAKER_05 is not among the speakers found (SPEAKER_00, SPEAKER_01); "
        "run `lprd retry two.mp4 --subject auto` or pick one of those"
    )


def test_a_sidecar_names_the_subject_of_its_own_video_only(tmp_path, make_ctx, fixed_turns) -> None:
    ctx = make_ctx(make_video(tmp_path / "two.mp4", seconds=4.0, audio=tone(4.0)))
    for stage in (PROBE, EXTRACT):
        assert execute(stage, ctx).kind == RunOutcome.DONE
    # A sidecar beside it that names another clip does not apply to this one.
    sidecar = tmp_path / "two.labels.json"
    sidecar.write_text(json.dumps({"clip_name": "other.mp4", "subject": "SPEAKER_00"}))
    assert diarized(ctx)[1]["subject_rule"] == "most_speech"

    sidecar.write_text(json.dumps({"subject": "SPEAKER_00"}))
    summary = diarized(ctx)[1]
    assert (summary["subject"], summary["subject_rule"]) == ("SPEAKER_00", "sidecar")
    assert summary["subject_reason"] == "chosen in the sidecar two.labels.json"

    choose(ctx, "SPEAKER_01")  # the user's choice wins over the sidecar's
    assert diarized(ctx)[1]["subject_rule"] == "user"

    choose(ctx, None)
    sidecar.write_text(json.dumps({"subject": "SPEAKER_07"}))
    outcome = execute(diarize.STAGE, ctx)
    assert outcome.kind == RunOutcome.PERMANENT
    assert 'fix or remove the "subject" key in two.labels.json' in outcome.message


def test_a_subject_only_sidecar_is_accepted_by_the_inbox(tmp_path: Path) -> None:
    from daemon.labels.sidecars import import_sidecar
    from storage.states import FileState

    db = Database.at(tmp_path / "lprd.db")
    (tmp_path / "talk.mp4").write_bytes(b"")
    path = tmp_path / "talk.mp4.labels.json"
    path.write_text(json.dumps({"subject": "SPEAKER_01"}))
    result = import_sidecar(db, path)
    assert result.state == FileState.SIDECAR and result.subject_clip == "talk.mp4"
    assert "subject SPEAKER_01 for talk.mp4" in result.message
    path.write_text(json.dumps({"subject": 1}))
    result = import_sidecar(db, path)
    assert result.state == FileState.REJECTED and "speaker label" in result.message
    db.dispose()


def test_a_subject_sidecar_in_the_inbox_reruns_diarize_of_its_video(tmp_path, make_ctx) -> None:
    from daemon.labels.service import import_sidecar_labels
    from daemon.pipeline import Pipeline
    from storage.models import DONE

    pipeline = Pipeline.default()
    video = make_video(tmp_path / "talk.mp4", seconds=1.0, audio=tone(1.0))
    ctx = make_ctx(video, pipeline)
    with ctx.db.write() as session:
        for run in session.query(StageRun).filter_by(video_id=ctx.video.id):
            run.status = DONE
    path = tmp_path / "talk.mp4.labels.json"
    path.write_text(json.dumps({"subject": "SPEAKER_01"}))
    result = import_sidecar_labels(ctx.db, pipeline.plans, path)
    assert "stage runs re-queued for the subject" in result.message
    with ctx.db.read() as session:
        runs = {r.stage: r.status for r in session.query(StageRun)}
    assert runs["diarize"] == runs["report"] == PENDING and runs["analyze_face"] == DONE


def test_retry_subject_records_and_clears_the_choice(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    home.mkdir()
    video = make_video(tmp_path / "talk.mp4", seconds=1.0, audio=tone(1.0))
    assert lprd(home, "add", str(video), capsys=capsys)[0] == 0

    code, out = lprd(home, "retry", "talk.mp4", "--subject", "SPEAKER_01", capsys=capsys)
    assert code == 0 and "talk.mp4: SPEAKER_01 chosen as the subject" in out
    db = Database.at(home / "lprd.db")
    with db.read() as session:
        assert session.query(Video).one().subject_speaker == "SPEAKER_01"
        runs = {r.stage: r.status for r in session.query(StageRun)}
    assert runs["diarize"] == PENDING and runs["predict"] == PENDING
    code, out = lprd(home, "show", "talk.mp4", capsys=capsys)
    assert "Subject: SPEAKER_01 (chosen by the user; diarize pending)" in out

    code, out = lprd(home, "retry", "talk.mp4", "--subject", "auto", capsys=capsys)
    assert code == 0 and "the subject is chosen automatically" in out
    with db.read() as session:
        assert session.query(Video).one().subject_speaker is None
    db.dispose()

    code, out = lprd(home, "retry", "--failed", "--subject", "SPEAKER_01", capsys=capsys)
    assert code == 2 and "--subject needs the VIDEO" in out


@pytest.mark.slow
@requires_espeak
def test_the_user_picks_the_other_voice_of_a_real_two_speaker_clip(tmp_path, make_ctx) -> None:
    host = espeak(QUESTION, tmp_path, voice="en+f4", pitch=85, speed=170)
    guest = espeak(ENGINEER, tmp_path, voice="en", pitch=20, speed=150)
    ctx = make_ctx(clip(tmp_path / "two.mp4", host, silence(0.6), guest, silence(0.6), guest))
    for stage in (PROBE, EXTRACT):
        assert execute(stage, ctx).kind == RunOutcome.DONE
    choose(ctx, "SPEAKER_00")
    outcome, summary = diarized(ctx)
    assert outcome.kind == RunOutcome.DONE, outcome.message
    assert summary["num_speakers"] == 2
    assert (summary["subject"], summary["subject_rule"]) == ("SPEAKER_00", "user")
    assert summary["subject_talk_time_s"] < summary["speakers"][0]["talk_time_s"]
