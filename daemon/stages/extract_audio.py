"""Stage `extract_audio`: the audio track as 16 kHz mono 16-bit WAV (`audio.wav`)."""

from __future__ import annotations

import numpy as np

from daemon import media
from daemon.errors import StageSkipped
from daemon.stages.base import Stage, StageContext, StageResult

WAV_NAME = "audio.wav"


def _level_dbfs(samples: np.ndarray) -> tuple[float, float]:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    peak = float(np.max(np.abs(samples)))
    to_db = lambda x: 20 * np.log10(x) if x > 0 else -120.0  # noqa: E731
    return round(to_db(rms), 2), round(to_db(peak), 2)


def run(ctx: StageContext) -> StageResult:
    """Decode and resample the first audio stream; skip when the file has none."""
    probe = ctx.upstream("probe").data
    if not probe.get("audio"):
        raise StageSkipped("the file has no audio track, so nothing can be said about the voice")
    rate = ctx.config.audio.sample_rate
    chunks = []
    for chunk in media.iter_audio(ctx.video.path, rate, ctx.should_stop):
        chunks.append(chunk)
    ctx.check_stop()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise StageSkipped("the audio track decodes to no samples")
    target = ctx.artifact_path(WAV_NAME)
    with ctx.store.atomic_path(target) as partial:
        media.write_wav(partial, samples, rate)
    rms, peak = _level_dbfs(samples)
    data = {
        "wav": WAV_NAME,
        "sample_rate": rate,
        "samples": int(samples.size),
        "duration_s": round(samples.size / rate, 3),
        "rms_dbfs": rms,
        "peak_dbfs": peak,
    }
    import av

    return StageResult(
        data=data,
        backend="pyav",
        model=f"av {av.__version__}",
        summary=f"{data['duration_s']:.1f} s at {rate} Hz, RMS {rms:.1f} dBFS",
    )


STAGE = Stage(
    name="extract_audio",
    run=run,
    reads_original=True,
    requires=("probe",),
    resource="cpu",
    version="1",
    description="16 kHz mono WAV of the audio track",
    config_key=lambda cfg: {"sample_rate": cfg.audio.sample_rate},
)
