"""The stage registry: every pipeline stage lprd runs, in pipeline order.

Each module listed here defines one `STAGE`. The registry is checked at start-up
(duplicate names, missing dependencies, cycles) by `daemon.pipeline.Pipeline`.
Stage modules must not import heavy libraries at module level.
"""

from __future__ import annotations

import importlib

from daemon.stages.base import Stage

# Pipeline order; dependencies are declared by each stage.
STAGE_MODULES = (
    "daemon.stages.probe",
    "daemon.stages.extract_audio",
    "daemon.stages.analyze_face",  # before diarize, which links voices to the face
    "daemon.stages.diarize",
    "daemon.stages.transcribe",
    "daemon.stages.speech_emotion",
    "daemon.stages.prosody",
    "daemon.stages.describe",
    "daemon.stages.predict",
    "daemon.stages.report",
)


def registered_names() -> list[str]:
    """The registered stages' names in pipeline order, without importing them."""
    return [name.rsplit(".", 1)[-1] for name in STAGE_MODULES]


def registered_stages() -> list[Stage]:
    """Import every stage module and return their STAGE objects, in pipeline order."""
    return [importlib.import_module(name).STAGE for name in STAGE_MODULES]
