"""Turn stage outputs into timeline specs: plain data the report's script draws with uPlot.

Every timeline shares one time axis (seconds from the start of the video). A timeline
whose stage was skipped, failed or has not run carries the reason instead of series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from daemon.audio.turns import subject_sentence
from daemon.report.gather import StageView

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
AU_PREFIXES = ("au", "AU")
UNIT = {"range": [0, 1], "label": "0–1"}
DEGREES = {"range": None, "label": "degrees"}
NOD_HALF_S = 0.2  # a nod's trough, widened so the band is visible

Spec = dict[str, Any]


def _spec(tid: str, title: str, **fields: Any) -> Spec:
    return {"id": tid, "title": title, "kind": "lines", "series": [], "bands": [], **fields}


def _series(label: str, t: Sequence[float], y: Sequence[Any], i: int, scale: str = "y") -> dict:
    ys = [v if isinstance(v, int | float) and not isinstance(v, bool) else None for v in y]
    return {"label": label, "t": list(t), "y": ys, "scale": scale, "color": PALETTE[i % 8]}


def spans_where(t: Sequence[float], flags: Sequence[Any], step: float) -> list[list[float]]:
    """[start, end] spans of consecutive samples whose flag is true."""
    spans: list[list[float]] = []
    for ti, flag in zip(t, flags, strict=False):
        if not flag:
            continue
        if spans and ti - spans[-1][1] <= step * 0.5:  # the next sample: extend the span
            spans[-1][1] = round(ti + step, 3)
        else:
            spans.append([ti, round(ti + step, 3)])
    return spans


def _unavailable(tid: str, title: str, view: StageView) -> Spec:
    return _spec(tid, title, unavailable=view.unavailable())


def speaker_turns(diarize: StageView) -> Spec:
    """One row per speaker, the subject marked; a bar wherever they speak."""
    title = "Speaker turns"
    if not diarize.usable:
        return _unavailable("turns", title, diarize)
    summary = diarize.data.get("summary") or {}
    subject = summary.get("subject")
    speakers = [s["speaker"] for s in summary.get("speakers") or []]
    turns = diarize.data.get("turns") or []
    speakers += sorted({t["speaker"] for t in turns} - set(speakers))
    rows, series = [], []
    for i, speaker in enumerate(speakers):
        rows.append(f"{speaker} (subject)" if speaker == subject else speaker)
        t: list[float] = []
        y: list[float | None] = []
        for turn in (x for x in turns if x["speaker"] == speaker):
            t += [turn["start"], turn["end"], turn["end"] + 1e-3]
            y += [i, i, None]
        series.append({**_series(rows[-1], t, y, i), "width": 10})
    return _spec(
        "turns", title, kind="turns", rows=rows, series=series,
        subtitle=f"{len(speakers)} speaker(s). {subject_sentence(summary)}",
    )  # fmt: skip


def transcript_words(transcribe: StageView) -> Spec:
    """The subject's words at the times they were said."""
    title = "Transcript"
    if not transcribe.usable:
        return _unavailable("words", title, transcribe)
    words = [
        [w["start"], w["end"], w["word"].strip(), w.get("speaker")]
        for w in transcribe.data.get("words") or []
        if w.get("start") is not None
    ]
    summary = transcribe.data.get("summary") or {}
    return _spec(
        "words", title, kind="words", words=words,
        subtitle=f"{len(words)} words, language {summary.get('language') or 'unknown'}",
    )  # fmt: skip


def voice(prosody: StageView) -> Spec:
    """Pitch (Hz) and loudness (LUFS) of the subject, with pauses shaded."""
    title = "Pitch, loudness and pauses"
    if not prosody.usable:
        return _unavailable("voice", title, prosody)
    series = prosody.data.get("series") or {}
    pitch, loud = series.get("pitch") or {}, series.get("loudness") or {}
    pauses = prosody.data.get("pauses") or []
    summary = prosody.data.get("summary") or {}
    return _spec(
        "voice", title,
        series=[
            _series("pitch (Hz)", pitch.get("t", []), pitch.get("hz", []), 0, "hz"),
            _series("loudness (LUFS)", loud.get("t", []), loud.get("lufs", []), 1, "lufs"),
        ],
        scales={"hz": {"range": None, "label": "Hz"}, "lufs": {"range": None, "label": "LUFS", "side": 1}},
        bands=[{"label": "pause", "color": "rgba(120,120,120,0.25)", "spans": pauses}],
        subtitle=f"{len(pauses)} pause(s); speech rate {summary.get('speech_rate_wps')} words/s",
    )  # fmt: skip


def speech_emotion(view: StageView) -> Spec:
    """Speech emotion over time, when a model produced it."""
    title = "Speech emotion"
    if not view.usable:
        return _unavailable("speech_emotion", title, view)
    series = view.data.get("series")
    if not isinstance(series, dict) or not series.get("t"):
        return _spec(
            "speech_emotion", title, unavailable="speech_emotion recorded no series over time"
        )
    keys = [k for k, v in series.items() if k != "t" and isinstance(v, list)]
    return _spec(
        "speech_emotion", title, scales={"y": UNIT},
        series=[_series(k, series["t"], series[k], i) for i, k in enumerate(keys)],
    )  # fmt: skip


class FaceSeries:
    """The analyze_face per-frame series, and helpers to cut them into timelines."""

    def __init__(self, view: StageView) -> None:
        self.view = view
        self.s: dict[str, list[Any]] = view.data.get("series") or {}
        self.t: list[float] = self.s.get("t") or []
        fps = view.data.get("sample_fps") or 5.0
        self.step = 1.0 / fps
        self.summary: dict[str, Any] = view.data.get("summary") or {}

    def lines(self, keys: Sequence[str], scale: str = "y") -> list[dict]:
        return [
            _series(k.replace("_", " "), self.t, self.s[k], i, scale)
            for i, k in enumerate(keys)
            if k in self.s
        ]

    def no_face(self) -> dict:
        spans = spans_where(self.t, [not f for f in self.s.get("face", [])], self.step)
        return {"label": "no face", "color": "rgba(214,39,40,0.12)", "spans": spans}

    def action_units(self) -> dict[str, list[Any]]:
        """Extra facial action-unit series, wherever the stage put them."""
        found = {
            k: v for k, v in self.s.items() if k.startswith(AU_PREFIXES) and isinstance(v, list)
        }
        nested = self.view.data.get("action_units") or self.s.get("action_units")
        if isinstance(nested, dict):
            found.update({k: v for k, v in nested.items() if isinstance(v, list)})
        return found


def _face_spec(view: StageView, tid: str, title: str, build: Callable[[FaceSeries], Spec]) -> Spec:
    if not view.usable or not (view.data.get("series") or {}).get("t"):
        return _unavailable(tid, title, view)
    face = FaceSeries(view)
    spec = build(face)
    spec["bands"] = [*spec.get("bands", []), face.no_face()]
    return {"id": tid, "title": title, "kind": "lines", **spec}


def action_unit_label(key: str) -> str:
    """'au_smile' -> 'AU12 smile' for the actions lprd measures; other keys as they are."""
    from daemon.visual.actions import ACTIONS, SERIES_KEY

    names = {SERIES_KEY[a.name]: f"{a.facs} {a.name}" for a in ACTIONS}
    return names.get(key, key)


def _smile(f: FaceSeries) -> Spec:
    aus = f.action_units()
    extra = [
        _series(action_unit_label(k), f.t, v, i + 3) for i, (k, v) in enumerate(sorted(aus.items()))
    ]
    return {
        "series": f.lines(["smile", "brow_raise", "eye_openness"]) + extra,
        "scales": {"y": UNIT},
        "subtitle": f"smiling {_pct(f.summary.get('smile_share'))} of the time"
        + (f"; {len(aus)} action unit(s)" if aus else ""),
    }


def _gaze(f: FaceSeries) -> Spec:
    contact = spans_where(f.t, f.s.get("eye_contact", []), f.step)
    blinks = [v if v is not None and v > 0.5 else None for v in f.s.get("blink", [])]
    return {
        "series": f.lines(["gaze_yaw", "gaze_pitch"]) + [_series("blink", f.t, blinks, 3, "b")],
        "scales": {"y": DEGREES, "b": {"range": [0, 1], "label": "blink", "side": 1}},
        "bands": [{"label": "eye contact", "color": "rgba(44,160,44,0.15)", "spans": contact}],
        "subtitle": f"eye contact {_pct(f.summary.get('eye_contact_share'))}; "
        f"{f.summary.get('blinks_per_min')} blinks/min",
    }


def nod_spans(f: FaceSeries) -> list[list[float]]:
    """A short span around each nod, found as analyze_face counts them (default threshold);
    none when the stage left the nod rate out as unmeasurable."""
    if f.summary.get("nods_per_min") is None or "pitch" not in f.s:
        return []
    from daemon.config.visual import VisualConfig
    from daemon.visual.events import nod_moments

    moments = nod_moments(f.s, VisualConfig().nod_min_deg)
    return [[round(t - NOD_HALF_S, 2), round(t + NOD_HALF_S, 2)] for t in moments]


def _head(f: FaceSeries) -> Spec:
    nods = nod_spans(f)
    return {
        "series": f.lines(["yaw", "pitch", "roll"]),
        "scales": {"y": DEGREES},
        "bands": [{"label": "nod", "color": "rgba(148,103,189,0.3)", "spans": nods}],
        "subtitle": f"{f.summary.get('nods_per_min')} nods/min ({len(nods)} marked); "
        f"movement {f.summary.get('head_movement_deg_per_s')} deg/s",
    }


def _body(f: FaceSeries) -> Spec:
    return {
        "series": f.lines(["motion", "face_width_share", "face_center_offset"]),
        "scales": {"y": {"range": None, "label": "share of frame"}},
        "subtitle": f"mean body motion {f.summary.get('body_motion')}",
    }


def _pct(value: float | None) -> str:
    return "unknown" if value is None else f"{value * 100:.0f}%"


# The 7-class expression classifier's probabilities are not drawn: they agreed with the smile
# blendshapes at kappa 0.14 (bench/validity.py) and no description uses them; the facial
# action units on the "face" timeline replace them.
FACE_TIMELINES = (
    ("face", "Smile and facial action units", _smile),
    ("gaze", "Gaze, eye contact and blinks", _gaze),
    ("head", "Head pose and nods", _head),
    ("body", "Body movement and framing", _body),
)


def segment_scores(predict: StageView) -> Spec | None:
    """The scores of each segment of a long video over time; None for a video scored whole."""
    segments = predict.data.get("segments") if predict.usable else None
    if not segments:
        return None
    targets = list(segments[0]["scores"])
    counted = predict.data.get("segments_counted", len(segments))
    series = []
    for i, target in enumerate(targets):
        t: list[float] = []
        y: list[float | None] = []
        for seg in segments:
            if not seg.get("speech_s") and counted < len(segments):
                continue  # the subject says nothing here: not part of the video's score
            score = seg["scores"][target]
            t += [seg["start"], max(seg["start"], seg["end"] - 2e-3), seg["end"] - 1e-3]
            y += [score, score, None]
        series.append(_series(target, t, y, i))
    return _spec(
        "segments", "Scores per segment", series=series, scales={"y": UNIT}, gaps=True,
        subtitle=(
            f"{len(segments)} segments of about {_segment_length(segments)} s, each scored like "
            f"a training clip; the video's score is the speech-weighted mean of the {counted} "
            "where the subject speaks (drawn; the others are left out)"
        ),
    )  # fmt: skip


def _segment_length(segments: Sequence[dict[str, Any]]) -> str:
    lengths = sorted(seg["end"] - seg["start"] for seg in segments)
    return f"{lengths[len(lengths) // 2]:.0f}"


def timelines(stages: dict[str, StageView]) -> list[Spec]:
    """Every timeline of the report, in reading order (the segments lane only for a long
    video scored as segments)."""

    def view(name: str) -> StageView:
        return stages.get(name) or StageView(name, "missing")

    face = view("analyze_face")
    segments = segment_scores(view("predict"))
    return [
        *([segments] if segments else []),
        speaker_turns(view("diarize")),
        transcript_words(view("transcribe")),
        voice(view("prosody")),
        speech_emotion(view("speech_emotion")),
        *(_face_spec(face, tid, title, build) for tid, title, build in FACE_TIMELINES),
    ]
