"""The subject is the speaking face: the diarized speaker in whose turns the visible face's
mouth moves, not simply the one who speaks most; the user's choice still wins, and without a
face (or with one speaker) the choice falls back to the most speech and says so."""

from __future__ import annotations

import pytest

from daemon.audio import speaking_face, turns
from daemon.runner import RunOutcome, execute
from daemon.stages import diarize
from daemon.stages.analyze_face import STAGE as FACE_STAGE
from daemon.stages.extract_audio import STAGE as EXTRACT
from daemon.stages.probe import STAGE as PROBE
from storage.models import Video
from tests.conftest import real_clips, requires_clips
from tests.support.dialogue_video import FACE, OTHER, build_dialogue, heard_most
from tests.support.media_factory import make_video, tone

# Two speakers taking turns: SPEAKER_00 for 1 s, SPEAKER_01 for 2 s, twice.
TURNS = [
    turns.make_turn(0.0, 1.0, "SPEAKER_00"),
    turns.make_turn(1.0, 3.0, "SPEAKER_01"),
    turns.make_turn(3.0, 4.0, "SPEAKER_00"),
    turns.make_turn(4.0, 6.0, "SPEAKER_01"),
]


def series(jaw_at) -> dict[str, list]:
    """A face series at 5 frames/s over 6 s; jaw_at(t) is the jaw opening, None: no face."""
    t = [round(i * 0.2, 3) for i in range(30)]
    jaw = [jaw_at(x) for x in t]
    return {"t": t, "face": [j is not None for j in jaw], "au_jaw_drop": jaw}


def inside(t: float, spans) -> bool:
    return any(a <= t < b for a, b in spans)


def talking_in(spans):
    """A jaw that opens and closes inside `spans` and rests outside them."""
    return lambda t: (0.4 if round(t / 0.2) % 2 else 0.1) if inside(t, spans) else 0.1


def test_the_speaker_the_mouth_moves_with_is_linked() -> None:
    found = speaking_face.link(TURNS, series(talking_in([(0.0, 1.0), (3.0, 4.0)])))
    assert found.speaker == "SPEAKER_00"
    assert found.reason == (
        "speaking face: the visible face's mouth moves in 90 % of SPEAKER_00's turns "
        "vs 5 % of SPEAKER_01's"
    )
    record = found.record()
    assert [s["speaker"] for s in record["speakers"]] == ["SPEAKER_00", "SPEAKER_01"]
    assert record["speakers"][1]["score"] == -0.85


def test_unclear_evidence_is_not_a_choice() -> None:
    # No face at all, a still face, and a face that moves with every voice alike.
    assert speaking_face.link(TURNS, series(lambda t: None)).reason == (
        "speaking face unclear (no face visible during the turns)"
    )
    still = speaking_face.link(TURNS, series(lambda t: 0.2))
    assert still.speaker is None and still.reason.startswith("speaking face unclear (the visible")
    assert speaking_face.link(TURNS, series(talking_in([(0.0, 6.0)]))).speaker is None
    # A speaker heard only while no face is seen scores about 0: the other one is linked.
    mine = [(0.0, 1.0), (3.0, 4.0)]
    talking = talking_in(mine)
    gone = speaking_face.link(TURNS, series(lambda t: talking(t) if inside(t, mine) else None))
    assert gone.speaker == "SPEAKER_00"
    assert {e.speaker: e.share for e in gone.evidence}["SPEAKER_01"] == 0.0


def test_frames_where_voices_overlap_belong_to_nobody() -> None:
    overlapping = [*TURNS, turns.make_turn(0.5, 1.0, "SPEAKER_01")]
    owners = speaking_face.frame_speakers(overlapping, [0.2, 0.6, 1.2, 7.0])
    assert owners == ["SPEAKER_00", None, "SPEAKER_01", None]


@pytest.fixture
def fixed_turns(monkeypatch):
    """The offline diarization replaced by TURNS, so that only the subject choice runs."""
    found = {"turns": TURNS, "exclusive_turns": TURNS, "speech_regions": [(0.0, 6.0)]}
    monkeypatch.setattr(diarize, "_run_offline", lambda ctx, audio: (found, "fixed"))


def test_without_a_face_the_most_speech_decides_and_says_why(tmp_path, make_ctx, fixed_turns):
    ctx = make_ctx(make_video(tmp_path / "noface.mp4", seconds=6.0, audio=tone(6.0)))
    for stage in (PROBE, EXTRACT, diarize.STAGE):  # diarize before the face stage ran
        execute(stage, ctx)
    summary = ctx.store.read_json(ctx.artifact_path("diarize.json"))["data"]["summary"]
    assert summary["subject_reason"] == (
        "speaking face unclear (the face stage has not run); most speech: 4.0 s of 6.0 s"
    )
    execute(FACE_STAGE, ctx)
    assert ctx.upstream("analyze_face").skipped
    outcome = execute(diarize.STAGE, ctx)
    data = ctx.store.read_json(ctx.artifact_path("diarize.json"))["data"]
    assert (data["summary"]["subject"], data["summary"]["subject_rule"]) == (
        "SPEAKER_01",
        "most_speech",
    )
    assert data["summary"]["subject_reason"] == (
        "speaking face unclear (no face was visible in any sampled frame); "
        "most speech: 4.0 s of 6.0 s"
    )
    assert data["speaking_face"]["speaker"] is None
    assert outcome.summary == "2 speaker(s), subject SPEAKER_01 (4.0 s of 6.0 s speech)"


@requires_clips
def test_the_face_on_camera_is_the_subject_not_the_louder_interviewer(tmp_path, make_ctx):
    """Person A on camera speaks 9 s; B, off camera, speaks 15 s over A's frozen frame."""
    clips = {c.name: c for c in real_clips()}
    face, other = clips["Uu-NbXUPr-A.001.mp4"], clips["1DCnIad1Y0w.002.mp4"]
    lengths = [(FACE, 3.0), (OTHER, 5.0)] * 3
    placed = build_dialogue(face, other, lengths, tmp_path / "interview.mp4")
    ctx = make_ctx(tmp_path / "interview.mp4")
    for stage in (PROBE, EXTRACT, FACE_STAGE, diarize.STAGE):
        assert execute(stage, ctx).kind == RunOutcome.DONE
    data = ctx.store.read_json(ctx.artifact_path("diarize.json"))["data"]
    summary = data["summary"]
    a, b = heard_most(data["turns"], placed, FACE), heard_most(data["turns"], placed, OTHER)
    assert summary["num_speakers"] == 2 and a != b
    assert turns.choose_subject(data["turns"], "most_speech") == b  # most speech is wrong
    assert (summary["subject"], summary["subject_rule"]) == (a, "speaking_face")
    shares = {s["speaker"]: s["moving_share"] for s in data["speaking_face"]["speakers"]}
    assert shares[a] > 0.5 and shares[b] < 0.1
    assert summary["subject_reason"].startswith(
        f"speaking face: the visible face's mouth moves in {shares[a]:.0%}".replace("%", " %")
    )
    assert turns.subject_sentence(summary).startswith(f"Subject: {a} — speaking face: ")

    # The user's choice still wins over the face.
    with ctx.db.write() as session:
        session.get(Video, ctx.video.id).subject_speaker = b
    assert execute(diarize.STAGE, ctx).kind == RunOutcome.DONE
    data = ctx.store.read_json(ctx.artifact_path("diarize.json"))["data"]
    assert (data["summary"]["subject"], data["summary"]["subject_rule"]) == (b, "user")
    assert data["speaking_face"] is None


@requires_clips
def test_a_single_real_clip_keeps_its_subject(make_ctx) -> None:
    ctx = make_ctx(real_clips()[0])
    for stage in (PROBE, EXTRACT, FACE_STAGE, diarize.STAGE):
        assert execute(stage, ctx).kind == RunOutcome.DONE
    data = ctx.store.read_json(ctx.artifact_path("diarize.json"))["data"]
    summary = data["summary"]
    assert (summary["num_speakers"], summary["subject"]) == (1, "SPEAKER_00")
    assert summary["subject_rule"] == "most_speech"
    assert summary["subject_reason"].startswith("most speech: ")
    assert data["speaking_face"] is None
