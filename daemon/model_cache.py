"""Heavy models load lazily, once per process, and are shared between videos.

Keys are (model name, revision, device) tuples; loading happens under a per-key lock
so two workers asking at once load a model once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("lprd.models")


def resolve_device(preference: str) -> str:
    """'cuda' when preferred or auto and available, else 'cpu'."""
    if preference == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if preference == "cuda":
        log.warning("device = 'cuda' but no CUDA device is available; using the CPU")
    return "cpu"


class ModelCache:
    """A process-wide cache of loaded models."""

    def __init__(self, device_preference: str = "auto") -> None:
        self._preference = device_preference
        self._device: str | None = None
        self._models: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self._preference)
        return self._device

    def get(self, key: Hashable, loader: Callable[[], T]) -> T:
        """Return the model cached under `key`, loading it with `loader` the first time."""
        with self._guard:
            if key in self._models:
                return self._models[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._models:
                    return self._models[key]
            log.info("loading model %s", key)
            model = loader()
            with self._guard:
                self._models[key] = model
            return model

    def loaded(self) -> list[Hashable]:
        """Keys of the models currently in memory."""
        with self._guard:
            return list(self._models)
