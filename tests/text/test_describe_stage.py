"""The describe stage on a real video with recorded upstream artifacts."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from daemon.pipeline import Pipeline
from daemon.runner import execute
from daemon.stages import describe, extract_audio, probe
from daemon.stages.base import Stage, StageResult
from daemon.text.describe import TEMPLATE_VERSION, transcript_only_description
from storage.models import TARGETS, Description
from storage.states import RunOutcome
from tests.support.media_factory import make_video, tone
from tests.text.test_describe_text import DIARIZE, EMOTION, FACE, PROSODY, TRANSCRIBE

UPSTREAM = {
    "diarize": DIARIZE,
    "transcribe": TRANSCRIBE,
    "speech_emotion": EMOTION,
    "prosody": PROSODY,
    "analyze_face": FACE,
}


def _record(ctx, stage: str, summary: dict | None, backend: str = "fixture") -> None:
    """Write the artifact an analysis stage would have written (done, or skipped if None)."""
    if summary is None:
        env = {"stage": stage, "status": "skipped", "reason": "no face found", "data": {}}
    else:
        env = {
            "stage": stage,
            "status": "done",
            "backend": backend,
            "model": "m",
            "data": {"summary": summary, "series": {}},
        }
    ctx.store.write_json(ctx.artifact_path(f"{stage}.json"), env)


def _ready_ctx(make_ctx, tmp_path, **overrides):
    path = make_video(tmp_path / "talk.mp4", seconds=2.0, audio=tone(2.0))
    ctx = make_ctx(path)
    assert execute(probe.STAGE, ctx).kind == RunOutcome.DONE
    assert execute(extract_audio.STAGE, ctx).kind == RunOutcome.DONE
    for stage, summary in UPSTREAM.items():
        _record(ctx, stage, overrides.get(stage, summary))
    return ctx


def test_describe_writes_text_artifact_and_description_row(make_ctx, tmp_path) -> None:
    ctx = _ready_ctx(make_ctx, tmp_path)
    outcome = execute(describe.STAGE, ctx)
    assert outcome.kind == RunOutcome.DONE, outcome.message
    env = ctx.store.read_json(ctx.artifact_path("describe.json"))
    text = env["data"]["text"]
    assert text.startswith("Video:\n- The video lasts 2.0 s, 160x120 pixels, 10 frames per second.")
    assert '"So today I want to talk about my favourite books' in text
    assert "Smiling: a clear smile in 40% of face frames" in text
    assert env["data"]["inputs"]["prosody"] == {
        "status": "done",
        "backend": "fixture",
        "model": "m",
    }
    assert env["data"]["template_version"] == TEMPLATE_VERSION
    with ctx.db.read() as session:
        rows = session.scalars(select(Description)).all()
    own = env["data"]["texts"]["transcript_only"]
    assert sorted((r.clip_name, r.video_id, r.feature_profile, r.text) for r in rows) == [
        ("talk.mp4", ctx.video.id, "full", text),
        ("talk.mp4", ctx.video.id, "transcript_only", own),
    ]
    # The video's own words, as a transcript-only model was trained to read them: the
    # automatic transcript in exactly the wording of an official one, its source beside it.
    assert own == transcript_only_description(TRANSCRIBE["text"])
    assert "automatic" not in own and "official" not in own
    assert env["data"]["transcript_sources"] == {"transcript_only": "automatic transcript"}
    assert own.startswith("About: Only the transcript of this video is known")
    assert '"So today I want to talk about my favourite books' in own
    assert "Smiling" not in own and "Sounds tagged" not in own
    assert execute(describe.STAGE, ctx).kind == RunOutcome.DONE  # replaces, never duplicates
    with ctx.db.read() as session:
        assert len(session.scalars(select(Description)).all()) == 2


def test_transcript_only_description_quotes_the_labels_transcript(
    make_ctx, tmp_path, database
) -> None:
    from daemon.labels.store import import_labels

    labels = tmp_path / "labels.json"
    scores = ", ".join(f'"{t}": 0.5' for t in TARGETS)
    labels.write_text(
        f'[{{"clip_name": "talk.mp4", {scores}, "transcript": "the official words here"}}]'
    )
    import_labels(database, [labels])
    ctx = _ready_ctx(make_ctx, tmp_path)
    assert execute(describe.STAGE, ctx).kind == RunOutcome.DONE
    data = ctx.store.read_json(ctx.artifact_path("describe.json"))["data"]
    # Exactly what `lprd labels describe` writes for that label, whatever describe.transcript.
    assert data["texts"]["transcript_only"] == transcript_only_description(
        "the official words here", max_tokens=ctx.config.describe.max_tokens
    )
    assert data["transcript_sources"] == {"transcript_only": "official transcript"}
    assert "the official words" not in data["text"]  # the full text follows describe.transcript


def test_skipped_face_is_stated(make_ctx, tmp_path) -> None:
    ctx = _ready_ctx(make_ctx, tmp_path, analyze_face=None)
    assert execute(describe.STAGE, ctx).kind == RunOutcome.DONE
    text = ctx.store.read_json(ctx.artifact_path("describe.json"))["data"]["text"]
    assert "Face: not described, because no face was visible." in text
    assert "no face found" not in text  # the stage's own reason is not quoted


def test_official_transcript_comes_from_the_label(make_ctx, tmp_path, database) -> None:
    from daemon.labels.store import import_labels

    ctx = _ready_ctx(make_ctx, tmp_path)
    sidecar = tmp_path / "labels.json"
    sidecar.write_text(
        '[{"clip_name": "talk.mp4", "openness": 0.5, "conscientiousness": 0.5, '
        '"extraversion": 0.5, "agreeableness": 0.5, "neuroticism": 0.5, "interview": 0.5, '
        '"transcript": "Words from the label file."}]'
    )
    import_labels(database, [sidecar])
    ctx.config.describe.transcript = "official"
    assert execute(describe.STAGE, ctx).kind == RunOutcome.DONE
    text = ctx.store.read_json(ctx.artifact_path("describe.json"))["data"]["text"]
    assert '"Words from the label file."' in text and "official transcript" in text


def _pipeline() -> Pipeline:
    def never(ctx):  # stand-ins: only the graph matters for fingerprints
        return StageResult({}, "none")

    stand_ins = [Stage(name=n, run=never, requires=("probe",)) for n in describe.ANALYSIS_STAGES]
    return Pipeline([probe.STAGE, extract_audio.STAGE, *stand_ins, describe.STAGE])


def test_template_and_config_changes_change_the_fingerprint(config, database) -> None:
    pipeline = _pipeline()
    before = pipeline.fingerprints(config, database)["describe"]
    config.describe.max_tokens = 2048
    assert pipeline.fingerprints(config, database)["describe"] != before
    config.describe.max_tokens = 1024
    assert pipeline.fingerprints(config, database)["describe"] == before
    config.describe.transcript = "official"
    assert pipeline.fingerprints(config, database)["describe"] != before
    config.describe.transcript = "asr"
    bumped = replace(
        describe.STAGE, config_key=lambda c: {**describe.config_key(c), "template": "next"}
    )
    other = Pipeline([*list(pipeline.stages.values())[:-1], bumped])
    assert other.fingerprints(config, database)["describe"] != before
