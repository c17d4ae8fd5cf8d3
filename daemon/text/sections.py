"""The sentences of each section of a full description, built from stage summaries.

Every builder takes plain dicts (the `data["summary"]` of a stage, see daemon/features.py)
that may be missing keys or hold wrong values; `fmt.number` turns anything implausible
into None, and a None measurement is left out or stated as not measurable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.text.fmt import (
    clean_age_range,
    clean_label,
    count,
    fixed,
    join_words,
    number,
    pct,
    plural,
)
from daemon.text.layout import Block
from daemon.text.norms import Norms

DAY_S = 86_400.0
LANGUAGES = {
    "en": "English",
    "zh": "Chinese",
    "yue": "Cantonese",
    "ja": "Japanese",
    "ko": "Korean",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "ru": "Russian",
    "nl": "Dutch",
    "ar": "Arabic",
    "hi": "Hindi",
}


def _share(summary: Mapping[str, Any], key: str) -> float | None:
    return number(summary.get(key), 0.0, 1.0)


def _compared(norms: Norms, name: str, value: float, text: str) -> str:
    return f"{text} ({norms.phrase(name, value)})"


def _top_shares(dist: Any, limit: int = 4, floor: float = 0.05) -> list[str]:
    """'neutral 62%' items for the largest shares of a {class: share} mapping."""
    if not isinstance(dist, Mapping):
        return []
    items = [(clean_label(k), number(v, 0.0, 1.0)) for k, v in dist.items()]
    items = [(k, v) for k, v in items if k and v is not None and v >= floor]
    items.sort(key=lambda kv: (-kv[1], kv[0]))
    return [f"{k} {pct(v)}" for k, v in items[:limit]]


def _per_minute(value: Any, what: str) -> str | None:
    rate = number(value, 0.0, 600.0)
    return None if rate is None else f"{what} {fixed(rate, 1)} times per minute"


# --- context ---------------------------------------------------------------------------


def video_line(probe: Mapping[str, Any] | None) -> str:
    """Duration, picture size and frame rate, or what the file lacks."""
    if not probe:
        return "The file's properties are unknown."
    duration = number(probe.get("duration_s"), 0.0, DAY_S)
    video = probe.get("video") if isinstance(probe.get("video"), Mapping) else None
    parts = [
        f"The video lasts {fixed(duration, 1)} s"
        if duration is not None
        else "The video's length is unknown"
    ]
    if video:
        width, height = count(video.get("width"), 100_000), count(video.get("height"), 100_000)
        fps = number(video.get("fps"), 0.1, 1000.0)
        if width and height:
            parts.append(f"{width}x{height} pixels")
        if fps is not None:
            parts.append(f"{fixed(fps, 0)} frames per second")
    text = ", ".join(parts) + "."
    if not video:
        text += " The file has no picture, so face and body were not analysed."
    if not probe.get("audio"):
        text += " The file has no sound track."
    return text


# How the subject was chosen among several speakers, by diarize's `subject_rule`.
CHOSEN_AS = {
    "speaking_face": "the speaker whose face is seen talking",
    "most_speech": "the speaker who talks most",
    "first_speaker": "the first speaker",
    "longest_turn": "the speaker with the longest turn",
    "user": "a speaker chosen by hand",
    "sidecar": "a speaker chosen by hand",
}


def speakers_line(diarize: Mapping[str, Any] | None) -> str | None:
    """How many people speak, how much the subject talks and, among several speakers, who
    the subject is (a single speaker's sentence never says: training clips read as before)."""
    if diarize is None:
        return None
    n = count(diarize.get("num_speakers"), 100)
    talk = number(diarize.get("subject_talk_time_s"), 0.0, DAY_S)
    duration = number(diarize.get("duration_s"), 0.0, DAY_S)
    speech = number(diarize.get("speech_s"), 0.0, DAY_S)
    if n is None:
        text = "The number of speakers could not be estimated"
    else:
        text = f"{plural(n, 'speaker')} {'was' if n == 1 else 'were'} detected"
    if talk is not None:
        text += f"; the subject talks for {fixed(talk, 1)} s"
        if n is not None and n > 1 and speech:
            text += f", {pct(min(1.0, talk / speech))} of all speech"
        elif duration:
            text += f", {pct(min(1.0, talk / duration))} of the video"
    chosen = CHOSEN_AS.get(str(diarize.get("subject_rule")))
    if n is not None and n > 1 and chosen:
        text += f"; the subject is {chosen}"
    return text + "."


def appearance_line(face: Mapping[str, Any] | None) -> str | None:
    """Apparent age range and gender from the face model."""
    if face is None:
        return None
    parts = []
    age_range = clean_age_range(face.get("apparent_age_range"))
    age = number(face.get("apparent_age"), 0.0, 120.0)
    if age_range:
        parts.append(f"apparent age {age_range} years")
    elif age is not None:
        parts.append(f"apparent age about {fixed(age, 0)} years")
    gender = apparent_gender(face)
    if gender:
        parts.append(f"apparent gender {gender}")
    text = join_words(parts)
    return (text[0].upper() + text[1:] + ".") if text else None


def apparent_gender(face: Mapping[str, Any] | None) -> str | None:
    """'female' or 'male' when the face model says so, else None."""
    gender = clean_label((face or {}).get("apparent_gender"))
    return gender if gender in ("female", "male") else None


# --- how it was said -------------------------------------------------------------------


def rate_line(p: Mapping[str, Any], norms: Norms) -> str | None:
    """The speaking rate: syllables per second of speech, compared once with the norm,
    with words per second beside it (one rate, one comparison: two rates compared with two
    norms could read "faster" and "slower" in one sentence). Without a syllable rate the
    word rate stands alone, uncompared (there is no word-rate norm of speaking time)."""
    sps = number(p.get("speech_rate_sps"), 0.0, 30.0)
    wps = number(p.get("speech_rate_wps"), 0.0, 15.0)
    if sps is None:
        return (
            None if wps is None else f"Speaking rate: {fixed(wps, 1)} words per second of speech."
        )
    acoustic = p.get("speech_rate_source") == "acoustic"
    text = ("about " if acoustic else "") + f"{fixed(sps, 1)} syllables per second of speech"
    text = _compared(norms, "speech_rate_sps", sps, text)
    if acoustic:
        text += ", counted from the sound because there is no transcript"
    elif wps is not None:
        text += f", {fixed(wps, 1)} words per second"
    return f"Speaking rate: {text}."


def pause_line(p: Mapping[str, Any], norms: Norms) -> str | None:
    """Pause count, frequency, mean length and the share of talk time filled by speech."""
    parts = []
    n = count(p.get("pause_count"), 1_000_000)
    per_min = number(p.get("pauses_per_min"), 0.0, 600.0)
    mean = number(p.get("pause_mean_s"), 0.0, 600.0)
    ratio = _share(p, "speech_ratio")
    if n is not None:
        parts.append(
            plural(n, "pause")
            + (f" ({fixed(per_min, 1)} per minute)" if per_min is not None else "")
        )
    elif per_min is not None:
        parts.append(f"{fixed(per_min, 1)} pauses per minute")
    if mean is not None and n != 0:
        parts.append(_compared(norms, "pause_mean_s", mean, f"{fixed(mean, 2)} s on average"))
    if ratio is not None:
        parts.append(f"speech fills {pct(ratio)} of the talking time")
    return ("Pauses: " + ", ".join(parts) + ".") if parts else None


def pitch_line(p: Mapping[str, Any], norms: Norms, gender: str | None) -> str | None:
    """Mean pitch (compared with the apparent gender's norm), its variation and range."""
    parts = []
    mean = number(p.get("pitch_mean_hz"), 30.0, 2000.0)
    sd = number(p.get("pitch_sd_semitones"), 0.0, 48.0)
    span = number(p.get("pitch_range_semitones"), 0.0, 96.0)
    if mean is not None:
        text = f"mean {fixed(mean, 0)} Hz"
        parts.append(_compared(norms, f"pitch_mean_hz_{gender}", mean, text) if gender else text)
    if sd is not None:
        parts.append(
            _compared(norms, "pitch_sd_semitones", sd, f"varying by {fixed(sd, 1)} semitones")
        )
    if span is not None:
        parts.append(f"range {fixed(span, 1)} semitones")
    return ("Pitch: " + ", ".join(parts) + ".") if parts else None


def loudness_line(p: Mapping[str, Any], norms: Norms) -> str | None:
    """Integrated loudness of the recording and how much it varies."""
    lufs = number(p.get("loudness_lufs"), -120.0, 20.0)
    sd = number(p.get("loudness_sd_db"), 0.0, 100.0)
    parts = []
    if lufs is not None:
        parts.append(_compared(norms, "loudness_lufs", lufs, f"{fixed(lufs, 1)} LUFS"))
    if sd is not None:
        parts.append(f"varying by {fixed(sd, 1)} dB over the speech")
    return ("Loudness: " + ", ".join(parts) + ".") if parts else None


def voice_quality_line(p: Mapping[str, Any]) -> str | None:
    """Jitter, shimmer, harmonics-to-noise ratio and the voiced share, without a comparison:
    the published limits are for sustained vowels in a clinic, and on running speech from
    online video nearly everyone would read as irregular or breathy against them."""
    parts = []
    jitter, shimmer = _share(p, "jitter_local"), _share(p, "shimmer_local")
    hnr = number(p.get("hnr_db"), -50.0, 100.0)
    voiced = _share(p, "voiced_share")
    if jitter is not None:
        parts.append(f"jitter {fixed(jitter * 100, 2)}%")
    if shimmer is not None:
        parts.append(f"shimmer {fixed(shimmer * 100, 1)}%")
    if hnr is not None:
        parts.append(f"harmonics-to-noise ratio {fixed(hnr, 1)} dB")
    if voiced is not None:
        parts.append(f"{pct(voiced)} of the audio frames voiced")
    return ("Voice quality: " + ", ".join(parts) + ".") if parts else None


def emotion_line(e: Mapping[str, Any]) -> str:
    """The mean emotion distribution of the voice and how often its top emotion changes."""
    shares = _top_shares(e.get("distribution"))
    text = "Emotion heard in the voice: " + (", ".join(shares) if shares else "no clear emotion")
    changes = _per_minute(e.get("changes_per_min"), "the leading emotion changes")
    return text + (f"; {changes}" if changes else "") + "."


def how_block(stages: Mapping[str, Any], skipped: Mapping[str, str], norms: Norms) -> Block:
    """The 'How it was said' section."""
    block = Block("How it was said")
    prosody, emotion = stages.get("prosody"), stages.get("speech_emotion")
    if "diarize" in skipped:
        block.add(f"not measured, because {skipped['diarize']}.")
        return block
    if prosody is None:
        why = skipped.get("prosody", "it was not analysed")
        block.add(f"Voice measurements are not available, because {why}.")
    else:
        gender = apparent_gender(stages.get("analyze_face"))
        block.add(rate_line(prosody, norms), 1)
        block.add(pause_line(prosody, norms), 2)
        block.add(pitch_line(prosody, norms, gender), 1)
        block.add(loudness_line(prosody, norms), 4)
        block.add(voice_quality_line(prosody), 5)
        if not block.lines:
            block.add("Voice measurements: none could be made.")
    if emotion is None:
        block.add(
            f"Emotion in the voice: not available, {skipped.get('speech_emotion', 'not run')}."
        )
    else:
        block.add(emotion_line(emotion), 1)
    return block
