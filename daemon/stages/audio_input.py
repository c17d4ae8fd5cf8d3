"""The wav that `extract_audio` wrote, as the audio stages after it read it."""

from __future__ import annotations

from daemon.audio.signal import Audio, read_audio
from daemon.errors import PermanentError, StageSkipped
from daemon.stages.base import StageContext


def load_audio(ctx: StageContext) -> Audio:
    """The video's extracted audio; skips when `extract_audio` skipped."""
    upstream = ctx.upstream("extract_audio")
    if upstream.skipped:
        raise StageSkipped(f"no audio to analyse: {upstream.reason}")
    path = ctx.artifact_path(upstream.data.get("wav", "audio.wav"))
    if not path.exists():
        raise PermanentError(
            f"the extracted audio {path} is missing; run `lprd retry "
            f"{ctx.video.sha256[:12]} --stage extract_audio`"
        )
    return read_audio(path)
