"""The measures bench/validity.py checks, their plausible ranges with sources, and the
agreement statistics it computes against independent references."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Measure:
    key: str  # summary key
    stage: str  # the stage whose summary holds it
    unit: str
    lo: float  # plausible range for adults in a talking-head video
    hi: float
    source: str


MEASURES = (
    Measure("speech_rate_sps", "prosody", "syll/s", 2.5, 7.5,
            "Jacewicz et al. 2009, articulation rate 3-7 syll/s"),
    Measure("speech_rate_wps", "prosody", "words/s", 1.5, 5.0,
            "Yuan, Liberman & Cieri 2006, 2.5-3.3 words/s of speaking time"),
    Measure("pause_mean_s", "prosody", "s", 0.2, 2.0,
            "Campione & Veronis 2002, silent pauses mostly 0.2-2 s"),
    Measure("pauses_per_min", "prosody", "/min", 0.0, 60.0,
            "Campione & Veronis 2002, one pause every 1-5 s of speech"),
    Measure("speech_ratio", "prosody", "share", 0.5, 1.0,
            "Goldman-Eisler 1968, speech fills 50-90 % of talk"),
    Measure("pitch_mean_hz", "prosody", "Hz", 75.0, 300.0,
            "Titze 1994, adult speaking F0 about 85-255 Hz"),
    Measure("pitch_range_semitones", "prosody", "st", 3.0, 24.0,
            "5-95 % F0 range of speech, about an octave (12 st) typical"),
    Measure("loudness_sd_db", "prosody", "dB", 1.0, 15.0,
            "short-term loudness of speech varies by a few dB (EBU Tech 3342)"),
    Measure("voiced_share", "prosody", "share", 0.3, 0.9,
            "speech is about 50-70 % voiced (Praat pitch, 10 ms frames)"),
    Measure("words_per_video_s", "transcribe", "words/s", 1.0, 4.5,
            "First Impressions training transcripts: 27-57 words per 15 s (10-90 %)"),
    Measure("pitch_sd_semitones", "prosody", "st", 1.0, 6.0,
            "conversational F0 SD 2-4 st (Praat, Boersma & Weenink)"),
    Measure("loudness_lufs", "prosody", "LUFS", -40.0, -5.0,
            "EBU R 128 -23 LUFS, streaming about -14 LUFS"),
    Measure("jitter_local", "prosody", "fraction", 0.002, 0.04,
            "Praat/MDVP: 1.04 % for sustained vowels, higher in running speech"),
    Measure("shimmer_local", "prosody", "fraction", 0.02, 0.15,
            "Praat/MDVP: 3.81 % for sustained vowels, higher in running speech"),
    Measure("hnr_db", "prosody", "dB", 5.0, 25.0, "Praat manual: running speech 7-20 dB"),
    Measure("smile_share", "analyze_face", "share", 0.0, 1.0, "a share of frames"),
    Measure("smile_mean", "analyze_face", "0-1", 0.0, 0.8, "ARKit mouthSmile blendshapes"),
    Measure("facial_actions.brow raise", "analyze_face", "share", 0.0, 1.0, "a share of frames"),
    Measure("facial_actions.brow lowering", "analyze_face", "share", 0.0, 1.0,
            "a share of frames"),
    Measure("facial_actions.lip press", "analyze_face", "share", 0.0, 1.0, "a share of frames"),
    Measure("facial_actions.jaw drop", "analyze_face", "share", 0.0, 1.0, "a share of frames"),
    Measure("brow_raise_mean", "analyze_face", "0-1", 0.0, 0.8, "ARKit browUp blendshapes"),
    Measure("eye_openness_mean", "analyze_face", "0-1", 0.4, 1.0,
            "eyes open about 90 % of the time (Bentivoglio et al. 1997)"),
    Measure("blinks_per_min", "analyze_face", "/min", 2.0, 50.0,
            "Bentivoglio et al. 1997, 26/min in conversation (4.5-45)"),
    Measure("eye_contact_share", "analyze_face", "share", 0.0, 1.0, "a share of frames"),
    Measure("head_yaw_mean_deg", "analyze_face", "deg", -30.0, 30.0,
            "facing a camera: within the +-30 deg MediaPipe is accurate in"),
    Measure("head_pitch_mean_deg", "analyze_face", "deg", -30.0, 30.0,
            "facing a camera: within the +-30 deg MediaPipe is accurate in"),
    Measure("head_roll_mean_deg", "analyze_face", "deg", -20.0, 20.0, "upright head"),
    Measure("head_movement_deg_per_s", "analyze_face", "deg/s", 1.0, 40.0,
            "Hadar et al. 1983, head movement in speech mostly under 30 deg/s"),
    Measure("nods_per_min", "analyze_face", "/min", 0.0, 30.0,
            "Hadar et al. 1983, nods 0.3-1 s each and sparse"),
    Measure("expression_changes_per_min", "analyze_face", "/min", 0.0, 12.0,
            "Ekman 1993, facial displays last 0.5-4 s"),
    Measure("body_motion", "analyze_face", "0-1", 0.0, 0.1, "mean grey-level change, seated"),
    Measure("face_width_share", "analyze_face", "share", 0.05, 0.6, "a talking-head framing"),
    Measure("face_center_offset", "analyze_face", "0-1", 0.0, 0.6, "a talking-head framing"),
    Measure("brightness", "analyze_face", "0-1", 0.1, 0.9, "exposed video"),
    Measure("apparent_age", "analyze_face", "years", 10.0, 80.0,
            "First Impressions speakers are teenagers to older adults"),
)  # fmt: skip
SYLLABLES_PER_WORD = (1.25, 1.7)  # conversational English, CMUdict counts


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson r, None with fewer than 3 pairs or no variance."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary ratings of the same items."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if not x.size:
        return None
    observed = float((x == y).mean())
    expected = float(x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean()))
    return round((observed - expected) / (1 - expected), 3) if expected < 1 else None


SYLLABLE_S = 0.25  # a slow syllable; a word longer than its syllables take holds a silence


def word_gaps(words: Sequence[dict[str, Any]], subject: str | None, min_s: float) -> list:
    """Silences of at least `min_s` in the subject's ASR word timing: gaps between
    consecutive words, and words that last `min_s` longer than their syllables would at
    SYLLABLE_S each (Whisper's word timestamps often absorb a pause into the word before
    or after it; the whole word is then the interval that holds the pause)."""
    from daemon.text.syllables import count_syllables

    mine = [w for w in words if w.get("speaker") == subject]
    out = [(a["end"], b["start"]) for a, b in zip(mine, mine[1:], strict=False)
           if b["start"] - a["end"] >= min_s]  # fmt: skip
    for w in mine:
        spoken = max(1, count_syllables(w["word"]).syllables) * SYLLABLE_S
        if w["end"] - w["start"] - spoken >= min_s:
            out.append((w["start"], w["end"]))
    return sorted(out)


def overlap_matches(found: Sequence, reference: Sequence) -> int:
    """How many intervals of `found` overlap some interval of `reference`."""
    return sum(1 for a, b in found if any(x < b and y > a for x, y in reference))


def summary_stats(values: Sequence[float]) -> dict[str, float | None]:
    """min, median, max and SD of the values that exist."""
    v = np.array([x for x in values if x is not None], dtype=float)
    if not v.size:
        return {"n": 0, "min": None, "median": None, "max": None, "sd": None}
    return {
        "n": int(v.size),
        "min": round(float(v.min()), 4),
        "median": round(float(np.median(v)), 4),
        "max": round(float(v.max()), 4),
        "sd": round(float(v.std(ddof=1)), 4) if v.size > 1 else None,
    }


def reencode_shift(original: Sequence, reencoded: Sequence) -> dict[str, float | None]:
    """Median absolute change under re-encoding over the clips where both exist, relative
    to the measure's SD across the original clips (under 0.5: it measures the person more
    than the encoder); the mean absolute change beside it (`mean_ratio`), which a few clips
    that move a lot raise where the median does not."""
    pairs = [
        (a, b) for a, b in zip(original, reencoded, strict=True) if a is not None and b is not None
    ]
    spread = summary_stats(original)["sd"]
    if not pairs or not spread:
        return {"median_change": None, "ratio": None, "mean_ratio": None}
    changes = [abs(b - a) for a, b in pairs]
    change = float(np.median(changes))
    return {"median_change": round(change, 4), "ratio": round(change / spread, 3),
            "mean_ratio": round(float(np.mean(changes)) / spread, 3)}  # fmt: skip


PRAAT_SILENCE_DB = -25.0  # below the loudest 0.1 s: Praat's default, de Jong & Wempe 2009
PRAAT_MIN_SOUNDING_S = 0.05


def praat_silences(samples: np.ndarray, rate: int, min_silent_s: float) -> list[tuple]:
    """Pauses by Praat's intensity-based silence detection ("To TextGrid (silences)", the
    de Jong & Wempe approach), independent of any voice-activity model: silent intervals
    of at least `min_silent_s` between the first and the last sounding interval."""
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=rate)
    intensity = sound.to_intensity(minimum_pitch=100.0)
    grid = call(intensity, "To TextGrid (silences)", PRAAT_SILENCE_DB, min_silent_s,
                PRAAT_MIN_SOUNDING_S, "silent", "sounding")  # fmt: skip
    spans = [
        (call(grid, "Get start time of interval", 1, i),
         call(grid, "Get end time of interval", 1, i),
         call(grid, "Get label of interval", 1, i))
        for i in range(1, int(call(grid, "Get number of intervals", 1)) + 1)
    ]  # fmt: skip
    sounding = [i for i, (_, _, label) in enumerate(spans) if label == "sounding"]
    if not sounding:
        return []
    inner = spans[sounding[0] + 1 : sounding[-1]]
    return [(round(a, 3), round(b, 3)) for a, b, label in inner
            if label == "silent" and b - a >= min_silent_s]  # fmt: skip


FRAME_S = 0.01


def frame_mask(intervals: Sequence, duration_s: float) -> np.ndarray:
    """Which 10 ms frames of a clip fall inside one of the intervals."""
    t = (np.arange(int(duration_s / FRAME_S)) + 0.5) * FRAME_S
    mask = np.zeros(t.size, dtype=bool)
    for start, end in intervals:
        mask |= (t >= start) & (t < end)
    return mask
