"""Stage `diarize`: who speaks when, how much, and which speaker is the subject.

The subject is, unless the user or a sidecar names one, the speaker whose turns the
visible face's mouth moves in (daemon/audio/speaking_face.py; the face stage's series),
when that is clear, else the speaker with the most speech. `speaking_face` in the output
records what the linking saw per speaker.
"""

from __future__ import annotations

from typing import Any

from daemon.audio import backends, pyannote_backend, signal, speaking_face, turns, vad
from daemon.config import Config
from daemon.errors import PermanentError, StageSkipped
from daemon.features import DiarizeSummary, Turn
from daemon.labels.sidecars import subject_for
from daemon.stages.audio_input import load_audio
from daemon.stages.base import BackendInfo, Stage, StageContext, StageResult, artifact_filename
from storage.models import Video

USER_REASON = "chosen by the user (lprd retry --subject)"


def _run_pyannote(ctx: StageContext, audio: signal.Audio) -> tuple[dict[str, Any], str]:
    cfg = ctx.config.audio
    source = pyannote_backend.pipeline_source(cfg.pyannote_model)
    backends.require(source, f"pyannote pipeline {cfg.pyannote_model}", "audio.pyannote_model")
    device = ctx.device()
    pipeline = ctx.models.get(
        ("pyannote", str(source), device),
        lambda: pyannote_backend.load_pipeline(source, cfg.token(), device),
    )
    out = pyannote_backend.run_pipeline(pipeline, audio.samples, audio.rate)
    out["speech_regions"] = turns.union((t["start"], t["end"]) for t in out["turns"])
    return out, f"pyannote {cfg.pyannote_model}"


def _run_offline(ctx: StageContext, audio: signal.Audio) -> tuple[dict[str, Any], str]:
    from daemon.audio import offline_diarize

    cfg = ctx.config.audio
    regions = vad.speech_regions(ctx.models, audio.samples, audio.rate, cfg.vad_threshold)
    ctx.check_stop()
    found = offline_diarize.diarize(
        ctx.models,
        audio.samples,
        audio.rate,
        regions,
        cfg.speaker_distance,
        cfg.min_speaker_share,
        ctx.should_stop,
    )
    model = f"{vad.silero_version()} + {offline_diarize.resemblyzer_version()}"
    return {"turns": found, "exclusive_turns": found, "speech_regions": regions}, model


def subject_choice(ctx: StageContext) -> turns.SubjectChoice | None:
    """The subject chosen outside the audio: `lprd retry --subject`, else a sidecar."""
    name = ctx.video.name
    with ctx.db.read() as session:
        video = session.get(Video, ctx.video.id)
        chosen = video.subject_speaker if video is not None else None
    if chosen:
        remedy = f"run `lprd retry {name} --subject auto` or pick one of those"
        return turns.SubjectChoice(chosen, "user", USER_REASON, remedy)
    try:
        found = subject_for(ctx.db, ctx.video.id, ctx.video.path)
    except ValueError as exc:
        raise PermanentError(f"{exc}; then run `lprd retry {name} --stage diarize`") from exc
    if found is None:
        return None
    speaker, sidecar = found
    remedy = (
        f'fix or remove the "subject" key in {sidecar}, or run '
        f"`lprd retry {name} --subject SPEAKER_xx` with one of those"
    )
    return turns.SubjectChoice(speaker, "sidecar", f"chosen in the sidecar {sidecar}", remedy)


def face_series(ctx: StageContext) -> tuple[dict[str, Any] | None, str]:
    """The face stage's per-frame series, or None and why there is none."""
    if not ctx.artifact_path(artifact_filename("analyze_face")).exists():
        return None, "the face stage has not run"
    face = ctx.upstream("analyze_face")
    if face.skipped:
        return None, face.reason or "the face stage was skipped"
    series = face.data.get("series") or {}
    if speaking_face.JAW not in series:
        return None, "the face stage recorded no mouth opening"
    return series, ""


def _link(ctx: StageContext, exclusive: list[Turn]) -> speaking_face.Linking | None:
    """The speaking face among two or more speakers; None with fewer (nothing to link)."""
    if len({t["speaker"] for t in exclusive}) < 2:
        return None
    series, why = face_series(ctx)
    if series is None:
        return speaking_face.unavailable(why)
    return speaking_face.link(exclusive, series)


def _summarize(
    ctx: StageContext, out: dict[str, Any], duration_s: float
) -> tuple[DiarizeSummary, speaking_face.Linking | None]:
    """The summary and the speaking-face linking (None when it was not consulted). The
    subject chosen outside the audio wins; then the rule, `speaking_face` falling back to
    most speech when the face does not say clearly who speaks."""
    rule, choice, linking = ctx.config.audio.subject_rule, subject_choice(ctx), None
    if choice is None and rule == "speaking_face":
        rule = "most_speech"
        linking = _link(ctx, out.get("exclusive_turns") or out["turns"])
        if linking is not None and linking.speaker is not None:
            choice = turns.SubjectChoice(linking.speaker, "speaking_face", linking.reason)
    try:
        summary = turns.summarize(out["turns"], duration_s, rule, choice)
    except turns.UnknownSpeakerError as exc:
        remedy = choice.remedy if choice is not None else ""
        raise PermanentError(f"{exc}; {remedy}") from exc
    if linking is not None and linking.speaker is None:
        summary["subject_reason"] = f"{linking.reason}; {summary['subject_reason']}"
    return summary, linking


def _result_line(summary: DiarizeSummary) -> str:
    """The stage's one-line summary; says who chose the subject when no plain rule did."""
    line = (
        f"{summary['num_speakers']} speaker(s), subject {summary['subject']} "
        f"({summary['subject_talk_time_s']:.1f} s of {summary['speech_s']:.1f} s speech)"
    )
    if summary["subject_rule"] in ("user", "sidecar", "speaking_face"):
        line += f", {summary['subject_reason']}"
    return line


def run(ctx: StageContext) -> StageResult:
    """Find speech, split it by speaker, and choose the subject."""
    cfg = ctx.config.audio
    audio = load_audio(ctx)
    signal.check_usable(audio, cfg.min_audio_s, cfg.clipping_fail_share)
    backend = backends.diarize_backend(ctx.config.audio)
    runner = _run_pyannote if backend == "pyannote" else _run_offline
    out, model = runner(ctx, audio)
    summary, linking = _summarize(ctx, out, audio.duration_s)
    if summary["speech_s"] < cfg.min_speech_s:
        raise StageSkipped(
            f"no speech was detected ({summary['speech_s']:.2f} s of speech found by {backend}, "
            f"minimum {cfg.min_speech_s:g} s)",
            data={"backend": backend, "model": model, "duration_s": round(audio.duration_s, 3)},
        )
    data = {
        "turns": out["turns"],
        "exclusive_turns": out["exclusive_turns"],
        "speech_regions": [[round(a, 3), round(b, 3)] for a, b in out["speech_regions"]],
        "rttm": turns.rttm_lines(out["turns"], ctx.video.name),
        "clipped_share": round(signal.clipped_share(audio.samples), 5),
        "summary": summary,
        "speaking_face": linking.record() if linking is not None else None,
    }
    return StageResult(
        data=data,
        backend=backend,
        model=model,
        summary=_result_line(summary),
    )


def backend_rows(config: Config) -> list[BackendInfo]:
    """The two diarization backends for `lprd models`."""
    active = backends.diarize_backend(config.audio)
    source = pyannote_backend.pipeline_source(config.audio.pyannote_model)
    return [
        BackendInfo(
            "diarize",
            "pyannote",
            config.audio.pyannote_model,
            available=source is not None,
            active=active == "pyannote",
            detail=str(source) if source else "not in the local HF cache or a configured folder",
        ),
        BackendInfo(
            "diarize",
            "offline",
            "silero-vad + resemblyzer",
            available=True,
            active=active == "offline",
            detail="weights ship inside the silero-vad and resemblyzer packages",
        ),
    ]


def config_key(config: Config) -> dict[str, Any]:
    """The settings that change the diarization."""
    a = config.audio
    key: dict[str, Any] = {
        "backend": backends.diarize_backend(config.audio),
        "subject_rule": a.subject_rule,
        "min_speech_s": a.min_speech_s,
        "min_audio_s": a.min_audio_s,
        "clipping_fail_share": a.clipping_fail_share,
    }
    if key["backend"] == "pyannote":
        key["model"] = a.pyannote_model
    else:
        key.update(vad=a.vad_threshold, distance=a.speaker_distance, share=a.min_speaker_share)
    return key


STAGE = Stage(
    name="diarize",
    run=run,
    # The face: the subject is the speaker whose turns the visible face speaks in.
    requires=("extract_audio", "analyze_face"),
    resource="gpu",
    version="3",
    description="speaker turns, talk time per speaker, the subject",
    config_key=config_key,
    backends=backend_rows,
)
