"""Stage `probe`: what the file is (container, streams, duration, frame rate, resolution)."""

from __future__ import annotations

import logging

from daemon import media
from daemon.logtext import one_line
from daemon.stages.base import RetryPolicy, Stage, StageContext, StageResult

log = logging.getLogger("lprd.stages.probe")


def run(ctx: StageContext) -> StageResult:
    """Probe the video's container; fails permanently when nothing in it decodes. A
    truncated file is probed for the length it really holds, with a warning."""
    info = media.probe(ctx.video.path)
    parts = [info["container"], f"{info['duration_s'] or 0:.1f} s"]
    if info["video"]:
        v = info["video"]
        parts.append(f"{v['width']}x{v['height']} @ {v['fps'] or 0:.2f} fps")
    else:
        parts.append("no video")
    parts.append("audio" if info["audio"] else "no audio")
    if info.get("truncated"):
        parts.append(f"TRUNCATED (the header says {info['declared_duration_s']:.1f} s)")
        log.warning("%s: %s", one_line(ctx.video.name), one_line("; ".join(info["warnings"])))
    import av

    return StageResult(
        data=info, backend="pyav", model=f"av {av.__version__}", summary=", ".join(parts)
    )


STAGE = Stage(
    name="probe",
    run=run,
    reads_original=True,
    requires=(),
    resource="cpu",
    retry=RetryPolicy(max_attempts=2),
    version="1",
    description="container, streams, duration, frame rate, resolution",
)
