"""From per-frame series to the FaceSummary contract that `describe` reads."""

from __future__ import annotations

from typing import Any

from daemon.config import VisualConfig
from daemon.features import FaceSummary
from daemon.visual import actions, attributes, events
from daemon.visual.analyze import FrameLog
from daemon.visual.checks import withheld
from daemon.visual.expression import CLASSES
from daemon.visual.subject import RULE


def _mean(series: dict[str, list[Any]], key: str, digits: int = 4) -> float | None:
    v = events.values(series, key)
    return round(float(v.mean()), digits) if v.size else None


def _face_minutes(series: dict[str, list[Any]], step: float) -> float:
    return sum(len(r) for r in events.face_runs(series)) * step / 60.0


def expressions(log: FrameLog, step: float) -> tuple[dict[str, float], list[str]]:
    """The 7-class model's share of face frames per class after the minimum dwell, and its
    dominant classes (kept in the stage output for comparison; not described)."""
    labels = [e for e in log.series["expression"] if e is not None]
    if not labels:
        return {}, []
    labels = actions.held_states(labels, events.dwell_frames(step))
    shares = {c: round(labels.count(c) / len(labels), 4) for c in CLASSES}
    ranked = sorted((c for c in CLASSES if shares[c] > 0), key=lambda c: -shares[c])
    return shares, [c for c in ranked if shares[c] >= 0.2][:3] or ranked[:1]


def summarise(log: FrameLog, cfg: VisualConfig, step: float) -> FaceSummary:
    """The FaceSummary of one clip; every key is present, None where nothing was measured."""
    s = log.series
    n_face = sum(1 for f in s["face"] if f)
    minutes = _face_minutes(s, step)
    smiles = events.values(s, "smile")
    contact = [c for c in s["eye_contact"] if c is not None]
    shares, dominant = expressions(log, step)
    changes = events.expression_changes(s, step)
    left_out = withheld(log, cfg)
    per_min = (lambda count: round(count / minutes, 2)) if minutes > 0 else (lambda count: None)
    return FaceSummary(
        frames_sampled=log.frames,
        face_share=round(n_face / log.frames, 4) if log.frames else 0.0,
        max_faces=log.max_faces,
        subject_rule=RULE,
        smile_mean=_mean(s, "smile"),
        smile_share=round(float((smiles > cfg.smile_threshold).mean()), 4) if smiles.size else None,
        brow_raise_mean=_mean(s, "brow_raise"),
        eye_openness_mean=_mean(s, "eye_openness"),
        blinks_per_min=None
        if "blinks_per_min" in left_out
        else per_min(events.blink_count(s, cfg.blink_threshold)),
        eye_contact_share=round(sum(contact) / len(contact), 4) if contact else None,
        head_yaw_mean_deg=_mean(s, "yaw", 2),
        head_pitch_mean_deg=_mean(s, "pitch", 2),
        head_roll_mean_deg=_mean(s, "roll", 2),
        head_movement_deg_per_s=events.head_movement(s),
        nods_per_min=None
        if "nods_per_min" in left_out
        else per_min(events.nod_count(s, cfg.nod_min_deg)),
        expressions=shares,
        dominant_expressions=dominant,
        expression_changes_per_min=None if changes is None else per_min(changes),
        facial_actions=actions.shares(s) if changes is not None else {},
        body_motion=_mean(s, "motion", 5),
        face_width_share=_mean(s, "face_width_share"),
        face_center_offset=_mean(s, "face_center_offset"),
        brightness=_mean(s, "brightness"),
        **attributes.summarise(log.attributes),
        glasses=None,
    )
