"""Resumable LLM training: the optimisation loop's whole state on disk every few minutes.

A long training (`lprd train --full-budget`: every training row, hours on a CPU) must not
lose its finished steps to a restart or a kill -9. Every `train.checkpoint_every_s` the loop
writes its trainable weights (LoRA and head), the optimiser and scheduler state, the best
weights so far, the batch order still to come, the random state and its counters into one
file, atomically (written beside, then renamed). A run with the same inputs (the key: head,
base, rows, every training setting that changes the result) resumes from there; a finished
head deletes its checkpoint once its candidate is saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("lprd.learn")
FILE = "state.pt"


@dataclass
class LoopState:
    """Where the loop is: the counters it needs to go on exactly as if never stopped."""

    step: int = 0
    order: list[int] = field(default_factory=list)
    rng: Any = None  # random.Random.getstate()
    best_score: float = float("-inf")
    best_step: int = 0
    bad: int = 0
    tokens: int = 0
    seconds: float = 0.0
    history: list[tuple[int, float]] = field(default_factory=list)


def checkpoint_key(**inputs: Any) -> str:
    """A stable digest of everything that makes two trainings the same training."""
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def rows_digest(ids: list[str]) -> str:
    """Digest of the training rows (their ids, in order)."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]


class Checkpoint:
    """One training's checkpoint file, written at most every `every_s` seconds."""

    def __init__(self, folder: Path, key: str, every_s: float) -> None:
        self.folder = folder  # every checkpoint of this head, whatever its key
        self.path = folder / key / FILE
        self.every_s = every_s
        self._last = time.monotonic()

    def due(self) -> bool:
        """True when `every_s` has passed since the last save (or the start)."""
        return time.monotonic() - self._last >= self.every_s

    def save(self, module: Any, opt: Any, sched: Any, state: LoopState, best: dict) -> None:
        """Write the loop's state atomically; a failure to write is logged, not raised."""
        import torch

        trainable = {n: p.detach().cpu() for n, p in module.named_parameters() if p.requires_grad}
        payload = {
            "loop": asdict(state),
            "trainable": trainable,
            "best": {n: t.detach().cpu() for n, t in best.items()},
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            torch.save(payload, tmp)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not write the checkpoint %s: %s", self.path, exc)
            tmp.unlink(missing_ok=True)
            return
        self._last = time.monotonic()
        log.info("checkpoint at step %d: %s", state.step, self.path)

    def load(self, module: Any, opt: Any, sched: Any) -> tuple[LoopState, dict] | None:
        """Restore weights, optimiser and scheduler from the file; (state, best weights), or
        None when there is no usable checkpoint (a damaged one is set aside, not trusted)."""
        import torch

        if not self.path.exists():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=False)
            params = dict(module.named_parameters())
            with torch.no_grad():
                for name, value in payload["trainable"].items():
                    params[name].copy_(value)
            opt.load_state_dict(payload["optimizer"])
            sched.load_state_dict(payload["scheduler"])
        except Exception as exc:  # noqa: BLE001 - a bad checkpoint means: start afresh
            log.warning("ignoring the damaged checkpoint %s: %s", self.path, exc)
            os.replace(self.path, self.path.with_suffix(".damaged"))
            return None
        loop = payload["loop"]
        loop["history"] = [tuple(h) for h in loop["history"]]
        loop["rng"] = _as_rng_state(loop["rng"])
        state = LoopState(**loop)
        log.info("resuming from the checkpoint at step %d (%s)", state.step, self.path)
        self._last = time.monotonic()
        return state, payload["best"]

    def clear(self) -> None:
        """Delete every checkpoint of this head: its training is finished and saved, and
        the others (of earlier rows or settings) will never be resumed by a later run."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_rng_state(value: Any) -> Any:
    """random.Random.setstate wants tuples where torch.save kept them, lists otherwise."""
    if value is None:
        return None
    version, internal, gauss = value
    return version, tuple(internal), gauss
