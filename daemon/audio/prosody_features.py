"""Prosody measures of the subject's speech: pitch (Praat via parselmouth), loudness
(ITU-R BS.1770 via pyloudnorm), syllable nuclei, voice quality and eGeMAPSv02 (opensmile)."""

from __future__ import annotations

from typing import Any

import numpy as np

from daemon.audio.turns import Interval

PITCH_FLOOR, PITCH_CEILING = 75.0, 500.0
PITCH_STEP = 0.01
LOUD_BLOCK, LOUD_HOP = 0.4, 0.2


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def mask_times(times: np.ndarray, spans: list[Interval]) -> np.ndarray:
    """True for the times that fall inside `spans`."""
    keep = np.zeros(times.shape, dtype=bool)
    for a, b in spans:
        keep |= (times >= a) & (times < b)
    return keep


def _voiced_f0(
    snd: Any, spans: list[Interval], floor: float, ceiling: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, F0, inside spans) of one Praat autocorrelation pitch track."""
    p = snd.to_pitch_ac(time_step=PITCH_STEP, pitch_floor=floor, pitch_ceiling=ceiling)
    times = p.xs()
    return times, p.selected_array["frequency"], mask_times(times, spans)


def pitch(samples: np.ndarray, rate: int, spans: list[Interval]) -> dict[str, Any]:
    """F0 over the subject's voiced frames: mean Hz, spread and 5-95 % range in semitones.

    Two passes (De Looze & Hirst, "Detecting changes in key and range for the automatic
    modelling and coding of intonation", Speech Prosody 2008): a first track over 75-500 Hz
    finds the speaker's quartiles, the second runs between 0.75 x Q1 and 1.5 x Q3, which
    removes most octave jumps (they inflated the spread to "very animated" on most clips)."""
    import parselmouth

    snd = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=rate)
    floor, ceiling = PITCH_FLOOR, PITCH_CEILING
    times, f0, inside = _voiced_f0(snd, spans, floor, ceiling)
    if ((f0 > 0) & inside).sum() >= 10:
        q1, q3 = np.percentile(f0[(f0 > 0) & inside], [25, 75])
        floor, ceiling = max(50.0, 0.75 * q1), min(800.0, 1.5 * q3)
        times, f0, inside = _voiced_f0(snd, spans, floor, ceiling)
    voiced = inside & (f0 > 0)
    out: dict[str, Any] = {
        "voiced_share": _r(voiced.sum() / inside.sum()) if inside.any() else None,
        "times": times[voiced],
        "f0": f0[voiced],
        "range_hz": [round(floor, 1), round(ceiling, 1)],
    }
    if voiced.sum() < 10:
        return {
            **out,
            "pitch_mean_hz": None,
            "pitch_sd_semitones": None,
            "pitch_range_semitones": None,
        }
    st = 12.0 * np.log2(f0[voiced] / np.median(f0[voiced]))
    lo, hi = np.percentile(st, [5, 95])
    return {
        **out,
        "pitch_mean_hz": _r(f0[voiced].mean(), 2),
        "pitch_sd_semitones": _r(st.std(), 3),
        "pitch_range_semitones": _r(hi - lo, 3),
    }


def loudness(samples: np.ndarray, rate: int, spans: list[Interval]) -> dict[str, Any]:
    """Integrated LUFS of the subject's speech and the spread of its short-term loudness."""
    import pyloudnorm

    meter = pyloudnorm.Meter(rate, block_size=LOUD_BLOCK)
    speech = np.concatenate([samples[int(a * rate) : int(b * rate)] for a, b in spans])
    if speech.size < int(LOUD_BLOCK * rate):
        return {"loudness_lufs": None, "loudness_sd_db": None, "times": [], "lufs": []}
    integrated = meter.integrated_loudness(speech.astype(np.float64))
    times, values = [], []
    block, hop = int(LOUD_BLOCK * rate), int(LOUD_HOP * rate)
    for start in range(0, len(samples) - block + 1, hop):
        mid = (start + block / 2) / rate
        if not mask_times(np.array([mid]), spans)[0]:
            continue
        value = meter.integrated_loudness(samples[start : start + block].astype(np.float64))
        if np.isfinite(value) and value > -70.0:  # BS.1770 absolute gate
            times.append(round(mid, 2))
            values.append(round(float(value), 2))
    return {
        "loudness_lufs": _r(integrated, 2) if np.isfinite(integrated) else None,
        "loudness_sd_db": _r(np.std(values), 2) if len(values) >= 3 else None,
        "times": times,
        "lufs": values,
    }


# de Jong & Wempe 2009 (syllable nuclei / pause script): a frame more than 25 dB below the
# 99 % quantile of the speech's intensity is silent.
SILENT_BELOW_PEAK_DB = 25.0


def syllable_count(samples: np.ndarray, rate: int, spans: list[Interval]) -> int:
    """Syllable nuclei (de Jong & Wempe): voiced intensity peaks standing out from their dips."""
    import parselmouth

    snd = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=rate)
    intensity = snd.to_intensity(minimum_pitch=50.0, time_step=0.01)
    db = intensity.values[0]
    times = intensity.xs()
    pitch_obj = snd.to_pitch_ac(
        time_step=0.01, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING
    )
    inside = mask_times(times, spans)
    if not inside.any():
        return 0
    threshold = np.percentile(db[inside], 99) - SILENT_BELOW_PEAK_DB
    count, last_peak = 0, -1.0
    for i in range(1, len(db) - 1):
        if not inside[i] or db[i] < threshold or not (db[i] >= db[i - 1] and db[i] > db[i + 1]):
            continue
        left = db[max(0, i - 10) : i].min() if i else db[i]
        if db[i] - left < 2.0 or times[i] - last_peak < 0.1:
            continue
        if pitch_obj.get_value_at_time(times[i]) > 0:  # NaN compares False: unvoiced
            count += 1
            last_peak = times[i]
    return count


def voice_quality(samples: np.ndarray, rate: int, spans: list[Interval]) -> dict[str, float | None]:
    """Local jitter and shimmer (fractions) and mean HNR (dB) of the subject's speech."""
    import parselmouth
    from parselmouth.praat import call

    speech = np.concatenate([samples[int(a * rate) : int(b * rate)] for a, b in spans])
    none = {"jitter_local": None, "shimmer_local": None, "hnr_db": None}
    if speech.size < rate // 2:
        return none
    snd = parselmouth.Sound(speech.astype(np.float64), sampling_frequency=rate)
    points = call(snd, "To PointProcess (periodic, cc)", PITCH_FLOOR, PITCH_CEILING)
    if call(points, "Get number of points") < 10:
        return none
    jitter = call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
    shimmer = call([snd, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
    harm = call(snd, "To Harmonicity (cc)", 0.01, PITCH_FLOOR, 0.1, 1.0)
    hnr = call(harm, "Get mean", 0, 0)
    return {"jitter_local": _r(jitter, 5), "shimmer_local": _r(shimmer, 5), "hnr_db": _r(hnr, 2)}


def egemaps(samples: np.ndarray, rate: int, spans: list[Interval]) -> dict[str, float]:
    """The 88 eGeMAPSv02 functionals of the subject's speech."""
    import opensmile

    speech = np.concatenate([samples[int(a * rate) : int(b * rate)] for a, b in spans])
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    frame = smile.process_signal(speech, rate)
    return {k: _r(v, 6) for k, v in frame.iloc[0].items()}


LEVEL_WINDOW_S, LEVEL_HOP_S = 0.03, 0.01


def frame_levels(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(centre times, level in dB) of 30 ms frames every 10 ms."""
    win, hop = int(LEVEL_WINDOW_S * rate), int(LEVEL_HOP_S * rate)
    if samples.size < win:
        return np.zeros(0), np.zeros(0)
    energy = np.concatenate([[0.0], np.cumsum(np.square(samples, dtype=np.float64))])
    starts = np.arange(0, samples.size - win + 1, hop)
    mean_square = (energy[starts + win] - energy[starts]) / win
    return (starts + win / 2) / rate, 10.0 * np.log10(mean_square + 1e-12)


def sounding_edges(samples: np.ndarray, rate: int, spans: list[Interval]) -> list[Interval]:
    """Each speech span narrowed to its first and last sounding frame (within 25 dB of the
    speech's 99 % quantile level), for timing the silences between spans.

    A VAD's regions are made for cutting speech, not for timing silences: silero-vad's
    speech probability stays high for 0.2-0.3 s after the sound stops (its recurrent
    state holds on, a hangover that keeps word endings whole), and each region is padded.
    The VAD still decides where speech is; the frame energy only moves a region's edges
    inward. A span with no sounding frame (speech in noise near its level) stays whole."""
    times, db = frame_levels(samples, rate)
    inside = mask_times(times, spans)
    if not inside.any():
        return list(spans)
    threshold = np.percentile(db[inside], 99) - SILENT_BELOW_PEAK_DB
    half = LEVEL_HOP_S / 2
    out = []
    for a, b in spans:
        loud = np.flatnonzero((times >= a) & (times < b) & (db >= threshold))
        if loud.size == 0:
            out.append((a, b))
        else:
            out.append((max(a, times[loud[0]] - half), min(b, times[loud[-1]] + half)))
    return out


def pauses(spans: list[Interval], others: list[Interval], min_pause: float) -> list[Interval]:
    """Silences between the subject's speech spans (as `sounding_edges` times them) in which
    no one else speaks."""
    out = []
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        gap = (end, start)
        if start - end >= min_pause and not any(a < gap[1] and b > gap[0] for a, b in others):
            out.append(gap)
    return out
