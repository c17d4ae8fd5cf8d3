"""The SenseVoice ASR backend (iic/SenseVoiceSmall through funasr).

SenseVoice prefixes each utterance with rich-transcription tags such as
`<|en|><|NEUTRAL|><|Speech|><|withitn|>`. They are parsed into fields here and never left
in the text (funasr's own post-processing would turn them into emoji).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from daemon.audio.language_id import IDENTIFIED, LanguageChoice
from daemon.audio.weights import local_dir
from daemon.errors import PermanentError

MARKER = "model.pt"
TAG = re.compile(r"<\|([^|<>]*)\|>")
LANGUAGES = {"zh", "en", "yue", "ja", "ko", "nospeech", "auto"}
EMOTIONS = {
    "HAPPY": "happy",
    "SAD": "sad",
    "ANGRY": "angry",
    "NEUTRAL": "neutral",
    "FEARFUL": "fearful",
    "DISGUSTED": "disgusted",
    "SURPRISED": "surprised",
    "EMO_UNKNOWN": None,
}
EVENTS = {
    "Speech": None,
    "BGM": "music",
    "Applause": "applause",
    "Laughter": "laughter",
    "Cry": "crying",
    "Sneeze": "sneeze",
    "Breath": "breath",
    "Cough": "cough",
    "Event_UNK": None,
}
TEXTNORM = {"withitn", "woitn"}
# Pictographs and symbols funasr's post-processing maps tags to; stripped if present.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]")


def model_source(spec: str) -> Path | None:
    """The local folder of a funasr model spec, None when its weights are not here."""
    return local_dir(spec, MARKER)


def parse_tagged(raw: str) -> list[dict[str, Any]]:
    """Split SenseVoice output into utterances: {"text", "language", "emotion", "events"}."""
    pieces: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    pos = 0
    for match in TAG.finditer(raw):
        _append_text(current, raw[pos : match.start()])
        pos = match.end()
        tag = match.group(1)
        if current is None or current["text"].strip():
            current = {"text": "", "language": None, "emotion": None, "events": []}
            pieces.append(current)
        _apply_tag(current, tag)
    if current is None and raw.strip():
        current = {"text": "", "language": None, "emotion": None, "events": []}
        pieces.append(current)
    _append_text(current, raw[pos:])
    for piece in pieces:
        piece["text"] = " ".join(EMOJI.sub("", piece["text"]).split())
    return [p for p in pieces if p["text"] or p["events"]]


def _append_text(piece: dict[str, Any] | None, text: str) -> None:
    if piece is not None and text:
        piece["text"] += text


def _apply_tag(piece: dict[str, Any], tag: str) -> None:
    if tag in LANGUAGES:
        piece["language"] = None if tag in ("nospeech", "auto") else tag
    elif tag in EMOTIONS:
        piece["emotion"] = EMOTIONS[tag]
    elif tag in EVENTS:
        if EVENTS[tag]:
            piece["events"].append(EVENTS[tag])
    elif tag not in TEXTNORM:
        piece["events"].append(tag.lower())


def load_sensevoice(source: str | Path, vad: str | Path | None, device: str) -> Any:
    """A funasr AutoModel for SenseVoice (with fsmn-vad when its weights are here)."""
    from funasr import AutoModel

    kwargs: dict[str, Any] = {"model": str(source), "device": device, "disable_update": True}
    if vad is not None:
        kwargs.update(vad_model=str(vad), vad_kwargs={"max_single_segment_time": 30000})
    try:
        return AutoModel(**kwargs)
    except Exception as exc:  # noqa: BLE001 - any load failure means the weights are unusable
        raise PermanentError(
            f"cannot load SenseVoice from {source} ({type(exc).__name__}: {exc}); set "
            "audio.transcribe_backend = 'whisper' to use the offline model"
        ) from exc


def transcribe_chunks(
    model: Any,
    samples: np.ndarray,
    rate: int,
    chunks: list[tuple[float, float]],
    language: str | None,
    check_stop: Any = None,
) -> list[dict[str, Any]]:
    """Transcribe each (start, end) chunk; segments with the tags parsed into fields."""
    segments: list[dict[str, Any]] = []
    for start, end in chunks:
        if check_stop is not None:
            check_stop()
        audio = samples[int(start * rate) : int(end * rate)]
        if audio.size < rate // 10:
            continue
        result = model.generate(
            input=audio,
            cache={},
            language=language or "auto",
            use_itn=True,
            batch_size_s=60,
            merge_vad=True,
        )
        raw = " ".join(str(r.get("text", "")) for r in result or [])
        for piece in parse_tagged(raw):
            segments.append({"start": round(start, 3), "end": round(end, 3), **piece})
    return segments


def language_of(segments: list[dict[str, Any]], model: str) -> LanguageChoice:
    """The language SenseVoice tagged most segments with; the runners-up as shares of the
    tagged segments (SenseVoice gives a tag, not a probability)."""
    counts = Counter(s["language"] for s in segments if s.get("language"))
    total = sum(counts.values())
    if not total:
        return LanguageChoice(language=None, source="not identified (no language tag)", model=model)
    ranked = [(code, round(n / total, 3)) for code, n in counts.most_common(3)]
    return LanguageChoice(language=ranked[0][0], source=IDENTIFIED, model=model, candidates=ranked)
