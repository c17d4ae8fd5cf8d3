"""The pyannote.audio diarization backend: load a pipeline once, convert its output to turns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from daemon.audio.turns import Turn, make_turn
from daemon.audio.weights import local_dir
from daemon.errors import PermanentError

MARKER = "config.yaml"


def pipeline_source(spec: str) -> Path | None:
    """The local folder of the configured pyannote pipeline, None when it is not here."""
    return local_dir(spec, MARKER)


def load_pipeline(source: str | Path, token: str | None, device: str) -> Any:
    """`pyannote.audio.Pipeline.from_pretrained` on a local folder or cached hub id, on `device`."""
    import torch
    from pyannote.audio import Pipeline

    try:
        pipeline = Pipeline.from_pretrained(str(source), token=token)
    except Exception as exc:  # noqa: BLE001 - hub/auth/format errors all mean "cannot load"
        raise PermanentError(
            f"cannot load the pyannote pipeline {source} ({type(exc).__name__}: {exc}); set "
            "audio.hf_token or $HF_TOKEN for gated models, or audio.diarize_backend = 'offline'"
        ) from exc
    if pipeline is None:
        raise PermanentError(
            f"pyannote returned no pipeline for {source}: accept its licence on the hub and set "
            "audio.hf_token or $HF_TOKEN, or use audio.diarize_backend = 'offline'"
        )
    pipeline.to(torch.device(device))
    return pipeline


def run_pipeline(pipeline: Any, samples: np.ndarray, rate: int) -> dict[str, list[Turn]]:
    """Diarize in-memory samples; returns {"turns": ..., "exclusive_turns": ...}."""
    import torch

    output = pipeline({"waveform": torch.from_numpy(samples).float()[None], "sample_rate": rate})
    converted = convert_output(output)
    # pyannote pads the last window: keep turns inside the audio.
    end = samples.size / rate
    return {
        name: [
            make_turn(t["start"], min(t["end"], end), t["speaker"])
            for t in found
            if t["start"] < end
        ]
        for name, found in converted.items()
    }


def annotation_turns(annotation: Any) -> list[Turn]:
    """A pyannote.core Annotation as a sorted list of turns."""
    turns = [
        make_turn(segment.start, segment.end, str(label))
        for segment, _track, label in annotation.itertracks(yield_label=True)
    ]
    return sorted(turns, key=lambda t: (t["start"], t["end"], t["speaker"]))


def convert_output(output: Any) -> dict[str, list[Turn]]:
    """pyannote 4's DiarizeOutput (or 3.x's bare Annotation) as turn lists."""
    main = getattr(output, "speaker_diarization", output)
    exclusive = getattr(output, "exclusive_speaker_diarization", None)
    turns = annotation_turns(main)
    return {
        "turns": turns,
        "exclusive_turns": annotation_turns(exclusive) if exclusive is not None else turns,
    }
