"""Stage `speech_emotion`: the emotion distribution of the subject's speech over time."""

from __future__ import annotations

from typing import Any

from daemon.audio import backends, turns
from daemon.config import Config
from daemon.errors import StageSkipped
from daemon.features import SpeechEmotionSummary
from daemon.stages.audio_input import load_audio
from daemon.stages.base import BackendInfo, Stage, StageContext, StageResult

SEGMENT_S = 4.0  # long turns are split so the distribution can change within them
MIN_SEGMENT_S = 1.0
NO_MODEL = (
    "no speech-emotion model is available: emotion2vec's weights are not on this machine and "
    "no speech-emotion model ships in an installable package; the prosody stage's arousal "
    "measures (pitch, loudness, speech rate) stand in"
)


def segments(spans: list[turns.Interval]) -> list[turns.Interval]:
    """The subject's speech cut into pieces of about SEGMENT_S seconds."""
    out: list[turns.Interval] = []
    for start, end in spans:
        n = max(1, round((end - start) / SEGMENT_S))
        step = (end - start) / n
        out += [(start + i * step, start + (i + 1) * step) for i in range(n)]
    return [(a, b) for a, b in out if b - a >= MIN_SEGMENT_S]


def summarize(series: list[dict[str, Any]]) -> SpeechEmotionSummary:
    """Mean distribution weighted by segment length, dominant emotions, top-emotion changes."""
    weights: dict[str, float] = {}
    total = 0.0
    for item in series:
        length = item["end"] - item["start"]
        total += length
        for k, v in item["distribution"].items():
            weights[k] = weights.get(k, 0.0) + v * length
    dist = {k: round(v / total, 4) for k, v in weights.items()} if total else {}
    ranked = sorted(dist, key=lambda k: -dist[k])
    tops = [max(i["distribution"], key=i["distribution"].get) for i in series if i["distribution"]]
    changes = sum(1 for a, b in zip(tops, tops[1:], strict=False) if a != b)
    return SpeechEmotionSummary(
        distribution=dist,
        dominant=[k for k in ranked if dist[k] >= 0.5 * dist[ranked[0]]][:3] if ranked else [],
        changes_per_min=round(changes / (total / 60.0), 3) if total else None,
    )


def run(ctx: StageContext) -> StageResult:
    """Classify each piece of the subject's speech with emotion2vec."""
    diar = ctx.upstream("diarize")
    if diar.skipped:
        raise StageSkipped(f"no speech to classify: {diar.reason}")
    backend = backends.emotion_backend(ctx.config.audio)
    if backend == "none":
        raise StageSkipped(NO_MODEL)
    from daemon.audio import emotion2vec_backend as e2v
    from daemon.audio.resample import to_rate

    source = backends.emotion2vec_source(ctx.config.audio)
    backends.require(source, "emotion2vec", "audio.emotion2vec_model")
    device = ctx.device()
    model = ctx.models.get(
        ("emotion2vec", str(source), device), lambda: e2v.load_emotion2vec(source, device)
    )
    audio = load_audio(ctx)
    samples = to_rate(audio.samples, audio.rate, 16000)
    subject = diar.data["summary"]["subject"]
    spans = turns.speaker_intervals(diar.data.get("exclusive_turns") or diar.data["turns"], subject)
    series = []
    for start, end in segments(spans):
        ctx.check_stop()
        dist = e2v.classify(model, samples[int(start * 16000) : int(end * 16000)])
        series.append({"start": round(start, 3), "end": round(end, 3), "distribution": dist})
    if not series:
        raise StageSkipped("the subject's speech has no stretch long enough to classify (1 s)")
    summary = summarize(series)
    return StageResult(
        data={"series": series, "summary": summary},
        backend="emotion2vec",
        model=ctx.config.audio.emotion2vec_model,
        summary=f"mostly {', '.join(summary['dominant'])} over {len(series)} segments",
    )


def backend_rows(config: Config) -> list[BackendInfo]:
    """emotion2vec, or nothing, for `lprd models`."""
    source = backends.emotion2vec_source(config.audio)
    active = backends.emotion_backend(config.audio)
    return [
        BackendInfo(
            "speech_emotion",
            "emotion2vec",
            config.audio.emotion2vec_model,
            available=source is not None,
            active=active == "emotion2vec",
            detail=str(source) if source else "not here: the stage is skipped, prosody stands in",
        ),
        BackendInfo(
            "speech_emotion",
            "none",
            "-",
            available=True,
            active=active == "none",
            detail="stage skipped with its reason",
        ),
    ]


STAGE = Stage(
    name="speech_emotion",
    run=run,
    requires=("diarize",),
    resource="gpu",
    version="1",
    description="emotion distribution of the subject's speech over time",
    config_key=lambda cfg: {
        "backend": backends.emotion_backend(cfg.audio),
        "model": cfg.audio.emotion2vec_model,
    },
    backends=backend_rows,
)
