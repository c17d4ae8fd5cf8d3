"""What a stage is, what it receives, and what it returns.

A stage is a plain `Stage` value naming its dependencies, resource class and retry
policy, plus one `run(ctx) -> StageResult` function. Stage modules import heavy
libraries (torch, funasr, mediapipe...) inside their functions, never at module level,
so that `import daemon.stages` stays cheap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from daemon.errors import PermanentError, StopRequested
from storage.outputs import StageOutput
from storage.transitions import RetryPolicy

__all__ = [
    "BackendInfo",
    "RetryPolicy",
    "Stage",
    "StageContext",
    "StageResult",
    "StageOutput",
    "VideoRef",
    "artifact_filename",
]

if TYPE_CHECKING:
    from daemon.config import Config
    from daemon.model_cache import ModelCache
    from storage.artifacts import ArtifactStore
    from storage.db import Database

Resource = Literal["cpu", "gpu"]


@dataclass(frozen=True)
class VideoRef:
    """The video a stage works on."""

    id: int
    sha256: str
    name: str
    path: Path


@dataclass
class StageResult:
    """A stage's output: JSON-serialisable data plus who produced it."""

    data: dict[str, Any]
    backend: str
    model: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class BackendInfo:
    """One backend a stage can use, for `lprd models`."""

    stage: str
    name: str
    model: str
    available: bool
    active: bool
    detail: str = ""


@dataclass(frozen=True)
class Stage:
    """A pipeline stage, declared once and checked by the registry at start-up."""

    name: str
    run: Callable[[StageContext], StageResult]
    requires: tuple[str, ...] = ()
    resource: Resource = "cpu"
    retry: RetryPolicy = RetryPolicy()
    # Opens the original video file (not only other stages' artifacts): its content is
    # checked against the registered hash around each run.
    reads_original: bool = False
    version: str = "1"
    description: str = ""
    # The parts of the config that change this stage's output; part of its fingerprint.
    config_key: Callable[[Config], Any] | None = None
    # Extra fingerprint input that is not config (e.g. the promoted model version).
    state_key: Callable[[Database], Any] | None = None
    # The backends this stage can use, for `lprd models`.
    backends: Callable[[Config], list[BackendInfo]] | None = None


def artifact_filename(stage: str) -> str:
    """File name of a stage's JSON artifact inside the video folder."""
    return f"{stage}.json"


@dataclass
class StageContext:
    """Everything a stage may use; models come from `models`, never from module globals."""

    video: VideoRef
    config: Config
    store: ArtifactStore
    models: ModelCache
    db: Database
    stop_event: threading.Event = field(default_factory=threading.Event)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lprd.stage"))

    @property
    def video_dir(self) -> Path:
        return self.store.video_dir(self.video.sha256)

    def artifact_path(self, filename: str) -> Path:
        """Path of an extra artifact file (e.g. `audio.wav`) of this video."""
        return self.store.path(self.video.sha256, filename)

    def upstream(self, stage: str) -> StageOutput:
        """The recorded output of an earlier stage of this video."""
        path = self.artifact_path(artifact_filename(stage))
        if not path.exists():
            raise PermanentError(
                f"the output of stage '{stage}' is missing ({path}); run `lprd retry "
                f"{self.video.sha256[:12]} --stage {stage}`"
            )
        return StageOutput.from_json(stage, self.store.read_json(path))

    def should_stop(self) -> bool:
        """True once the daemon is stopping; long stages check it between chunks."""
        return self.stop_event.is_set()

    def check_stop(self) -> None:
        """Raise StopRequested if the daemon is stopping (the run returns to pending)."""
        if self.stop_event.is_set():
            raise StopRequested("the daemon is stopping")

    def device(self) -> str:
        """'cuda' or 'cpu', per config; imports torch only when called."""
        return self.models.device
