"""A stage's recorded output: the JSON file a done or skipped stage run leaves in the
store (`stage_runs.artifact` points at it). Written by the runner, read by the later
stages, the report, `lprd show` and `lprd results`: one type, one JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storage.states import StageStatus

if TYPE_CHECKING:
    from storage.artifacts import ArtifactStore


@dataclass(frozen=True)
class StageOutput:
    """What a stage recorded: its data and backend when done, why when skipped."""

    stage: str
    status: StageStatus  # done or skipped
    data: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None
    model: str | None = None
    reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.status == StageStatus.SKIPPED

    def to_json(self) -> dict[str, Any]:
        """The file's content: `reason` only when skipped, `backend`/`model` when done."""
        found: dict[str, Any] = {"stage": self.stage, "status": str(self.status)}
        if self.skipped:
            found["reason"] = self.reason
        else:
            found |= {"backend": self.backend, "model": self.model}
        return {**found, "data": self.data}

    @classmethod
    def from_json(cls, stage: str, found: Any) -> StageOutput:
        """Read a recorded file's content leniently: a file of an older version (or a
        malformed one) still gives a StageOutput, with what it holds."""
        found = found if isinstance(found, dict) else {}
        data = found.get("data")
        status = found.get("status", StageStatus.DONE)
        return cls(
            stage=str(found.get("stage") or stage),
            status=StageStatus(status) if status in tuple(StageStatus) else StageStatus.DONE,
            data=data if isinstance(data, dict) else {},
            backend=found.get("backend"),
            model=found.get("model"),
            reason=found.get("reason"),
        )


def read_output(store: ArtifactStore, stage: str, artifact: str | None) -> StageOutput | None:
    """The output a stage run recorded at `artifact` (relative to the store), or None when
    it has none or the file is gone."""
    if not artifact:
        return None
    path = store.resolve(artifact)
    if not path.exists():
        return None
    return StageOutput.from_json(stage, store.read_json(path))
