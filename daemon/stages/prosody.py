"""Stage `prosody`: how the subject speaks (pitch, loudness, rate, pauses, voice quality).

Output: `summary` (daemon/features.py ProsodySummary), `speech_s`, `pitch_search_hz` (the
speaker's F0 search range from the first pitch pass), `syllables_acoustic`
(the syllable-nuclei count, the speaking rate's fallback without a transcript), `pauses`
([start, end] s, between the subject's speech spans narrowed to their sounding frames), `withheld` ({measure: reason} for measures that failed their check on
this clip and are None in the summary), eGeMAPSv02 functionals and `series` (F0 every
10 ms of voiced speech: `pitch.t`, `pitch.hz`; loudness every 200 ms: `loudness.t`,
`loudness.lufs`).
"""

from __future__ import annotations

from typing import Any

from daemon.audio import signal, turns
from daemon.config import Config
from daemon.errors import StageSkipped
from daemon.features import ProsodySummary
from daemon.stages.audio_input import load_audio
from daemon.stages.base import Stage, StageContext, StageResult

# A rate from fewer words or less speech than this is noise, not a property of the speaker.
MIN_RATE_WORDS = 10
MIN_RATE_SPEECH_S = 3.0


def _transcript(ctx: StageContext) -> str | None:
    """The subject's words from `transcribe`, None when it was skipped."""
    up = ctx.upstream("transcribe")
    return None if up.skipped else str(up.data["summary"]["text"])


def speech_rates(
    text: str | None, acoustic_syllables: int, speech_s: float
) -> tuple[dict[str, Any], dict[str, str]]:
    """Words and syllables per second of speech, the syllables' source, and why a rate
    was withheld. Syllables come from the transcript (CMUdict) when there is one with
    enough words; the acoustic syllable-nuclei count is the fallback without a transcript.
    A transcript whose syllables per word no genuine English text has keeps its word rate
    but not its syllable rate (the acoustic count undercounts, so it is no substitute)."""
    from daemon.text.syllables import PLAUSIBLE_PER_WORD, count_syllables

    rates: dict[str, Any] = {"speech_rate_wps": None, "speech_rate_sps": None}
    rates["speech_rate_source"] = None
    if speech_s < MIN_RATE_SPEECH_S:
        why = f"only {speech_s:.1f} s of speech; a rate needs {MIN_RATE_SPEECH_S:.0f} s"
        return rates, {"speech_rate": why}
    if text is None:
        rates["speech_rate_sps"] = round(acoustic_syllables / speech_s, 3)
        rates["speech_rate_source"] = "acoustic"
        return rates, {}
    counted = count_syllables(text)
    if counted.words < MIN_RATE_WORDS:
        why = f"only {counted.words} words were recognised; a rate needs {MIN_RATE_WORDS}"
        return rates, {"speech_rate": why}
    rates["speech_rate_wps"] = round(counted.words / speech_s, 3)
    lo, hi = PLAUSIBLE_PER_WORD
    if not lo <= counted.per_word <= hi:
        why = (f"the transcript has {counted.per_word:.2f} syllables per word, outside the "
               f"{lo}-{hi} of genuine English transcripts, so its syllable count is not used")  # fmt: skip
        return rates, {"speech_rate_sps": why}
    rates["speech_rate_sps"] = round(counted.syllables / speech_s, 3)
    rates["speech_rate_source"] = "transcript"
    return rates, {}


def _versions() -> str:
    from importlib.metadata import version

    names = ("praat-parselmouth", "pyloudnorm", "opensmile")
    return " + ".join(f"{n} {version(n)}" for n in names) + " (eGeMAPSv02)"


def run(ctx: StageContext) -> StageResult:
    """Measure the subject's prosody over their diarized speech."""
    from daemon.audio import prosody_features as pf

    diar = ctx.upstream("diarize")
    if diar.skipped:
        raise StageSkipped(f"no speech to measure: {diar.reason}")
    audio = load_audio(ctx)
    cfg = ctx.config.audio
    subject = diar.data["summary"]["subject"]
    all_turns = diar.data["turns"]
    spans = turns.speaker_intervals(all_turns, subject)
    others = turns.union((t["start"], t["end"]) for t in all_turns if t["speaker"] != subject)
    speech_s = turns.total(spans)
    x, rate = audio.samples, audio.rate
    pitch = pf.pitch(x, rate, spans)
    ctx.check_stop()
    loud = pf.loudness(x, rate, spans)
    syllables = pf.syllable_count(x, rate, spans)
    rates, withheld = speech_rates(_transcript(ctx), syllables, speech_s)
    sounding = pf.sounding_edges(x, rate, spans)
    gaps = pf.pauses(sounding, others, cfg.min_pause_s)
    pause_s = turns.total(gaps)
    sounding_s = turns.total(sounding)
    clipped = signal.clipped_share(x)
    # Clipping flattens the waveform peaks that jitter, shimmer and HNR are computed from.
    quality = (
        pf.voice_quality(x, rate, spans)
        if clipped <= cfg.clipping_warn_share
        else {"jitter_local": None, "shimmer_local": None, "hnr_db": None}
    )
    if clipped > cfg.clipping_warn_share:
        withheld["voice_quality"] = f"{clipped:.2%} of samples are clipped"
    ctx.check_stop()
    talk_span = (spans[-1][1] - spans[0][0]) if spans else 0.0
    summary = ProsodySummary(
        pitch_mean_hz=pitch["pitch_mean_hz"],
        pitch_sd_semitones=pitch["pitch_sd_semitones"],
        pitch_range_semitones=pitch["pitch_range_semitones"],
        loudness_lufs=loud["loudness_lufs"],
        loudness_sd_db=loud["loudness_sd_db"],
        **rates,
        pause_count=len(gaps),
        pause_mean_s=round(pause_s / len(gaps), 3) if gaps else None,
        pauses_per_min=round(len(gaps) / (talk_span / 60.0), 3) if talk_span > 0 else None,
        speech_ratio=round(sounding_s / (sounding_s + pause_s), 4) if sounding_s > 0 else None,
        **quality,
        voiced_share=pitch["voiced_share"],
    )
    data = {
        "subject": subject,
        "speech_s": round(speech_s, 3),
        "pitch_search_hz": pitch["range_hz"],
        "syllables_acoustic": syllables,
        "pauses": [[round(a, 3), round(b, 3)] for a, b in gaps],
        "rms_dbfs": round(signal.rms_dbfs(x), 2),
        "clipped_share": round(clipped, 5),
        "withheld": withheld,
        "egemaps": pf.egemaps(x, rate, spans),
        "series": _series(pitch, loud),
        "summary": summary,
    }
    return StageResult(
        data=data,
        backend="praat+opensmile",
        model=_versions(),
        summary=_one_line(summary),
    )


def _series(pitch: dict[str, Any], loud: dict[str, Any]) -> dict[str, Any]:
    """Values over time for plots: F0 every 10 ms of voiced speech, loudness every 200 ms."""
    return {
        "pitch": {
            "t": [round(float(t), 2) for t in pitch["times"]],
            "hz": [round(float(f), 1) for f in pitch["f0"]],
        },
        "loudness": {"t": loud["times"], "lufs": loud["lufs"]},
    }


def _one_line(s: ProsodySummary) -> str:
    def fmt(v: Any, unit: str) -> str:
        return "n/a" if v is None else f"{v:.1f}{unit}"

    return (
        f"F0 {fmt(s['pitch_mean_hz'], ' Hz')}, {fmt(s['loudness_lufs'], ' LUFS')}, "
        f"{fmt(s['speech_rate_sps'], ' syll/s')}, {s['pause_count']} pauses"
    )


def config_key(config: Config) -> dict[str, Any]:
    """The settings that change the measures."""
    a = config.audio
    return {"min_pause_s": a.min_pause_s, "clipping_warn_share": a.clipping_warn_share}


STAGE = Stage(
    name="prosody",
    run=run,
    requires=("diarize", "transcribe"),
    resource="cpu",
    version="5",
    description="pitch, loudness, speech rate, pauses, voice quality, eGeMAPSv02",
    config_key=config_key,
)
