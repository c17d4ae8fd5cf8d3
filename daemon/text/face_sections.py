"""The 'Face' and 'Body and framing' sections of a full description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.text.fmt import count, fixed, number, pct, plural
from daemon.text.layout import Block
from daemon.text.norms import Norms
from daemon.text.sections import _per_minute, _share, _top_shares


def _scale(value: float) -> str:
    return f"{fixed(value, 2)} on a 0-1 scale"


def visibility_line(f: Mapping[str, Any]) -> str:
    """In how many sampled frames the face was seen, and whether others were in view."""
    frames = count(f.get("frames_sampled"), 10_000_000)
    share = _share(f, "face_share")
    faces = count(f.get("max_faces"), 1000)
    if frames == 0:
        return "No video frames could be sampled."
    text = "The face is visible"
    if share is not None:
        text += f" in {pct(share)} of"
        text += f" {frames} sampled frames" if frames is not None else " the sampled frames"
    if faces is not None and faces > 1:
        text += f"; up to {plural(faces, 'face')} appear in one frame"
    return text + "."


def expression_line(f: Mapping[str, Any]) -> str | None:
    """Facial actions other than the smile (which has its own line) as shares of face frames,
    and how often the expression changes."""
    acts = f.get("facial_actions")
    acts = {k: v for k, v in acts.items() if k != "smile"} if isinstance(acts, Mapping) else {}
    shares = _top_shares(acts, limit=5)
    changes = _per_minute(f.get("expression_changes_per_min"), "the expression changes")
    if not acts and not changes:
        return None
    text = "Facial actions: " + (
        ", ".join(shares) + " of face frames" if shares else "no brow, lip or jaw action stands out"
    )
    return text + (f"; {changes}" if changes else "") + "."


def smile_line(f: Mapping[str, Any]) -> str | None:
    """How often and how strongly the person smiles."""
    share, mean = _share(f, "smile_share"), _share(f, "smile_mean")
    parts = []
    if share is not None:
        parts.append(f"a clear smile in {pct(share)} of face frames")
    if mean is not None:
        parts.append(f"mean smile intensity {_scale(mean)}")
    return ("Smiling: " + ", ".join(parts) + ".") if parts else None


def eyes_line(f: Mapping[str, Any], norms: Norms) -> str | None:
    """Eye contact, blinking, eye openness and brow raising."""
    parts = []
    contact = _share(f, "eye_contact_share")
    blinks = number(f.get("blinks_per_min"), 0.0, 600.0)
    openness, brows = _share(f, "eye_openness_mean"), _share(f, "brow_raise_mean")
    if contact is not None:
        parts.append(f"looks into the camera in {pct(contact)} of face frames")
    if blinks is not None:
        text = f"{fixed(blinks, 0)} blinks per minute"
        parts.append(f"{text} ({norms.phrase('blinks_per_min', blinks)})")
    if openness is not None:
        parts.append(f"eye openness {_scale(openness)}")
    if brows is not None:
        parts.append(f"brow raising {_scale(brows)}")
    return ("Eyes: " + ", ".join(parts) + ".") if parts else None


def head_line(f: Mapping[str, Any]) -> str | None:
    """Mean head orientation (as angles away from facing the camera), movement and nods."""
    yaw = number(f.get("head_yaw_mean_deg"), -180.0, 180.0)
    pitch = number(f.get("head_pitch_mean_deg"), -180.0, 180.0)
    roll = number(f.get("head_roll_mean_deg"), -180.0, 180.0)
    moves = number(f.get("head_movement_deg_per_s"), 0.0, 10_000.0)
    nods = number(f.get("nods_per_min"), 0.0, 600.0)
    turns = [
        f"{fixed(abs(v), 0)}° {w}"
        for v, w in ((yaw, "sideways"), (pitch, "up or down"), (roll, "tilted"))
        if v is not None
    ]
    parts = [f"turned {', '.join(turns)} on average"] if turns else []
    if moves is not None:
        parts.append(f"moves {fixed(moves, 1)}° per second")
    if nods is not None:
        parts.append(f"{fixed(nods, 1)} nods per minute")
    return ("Head: " + ", ".join(parts) + ".") if parts else None


def face_block(face: Mapping[str, Any] | None, reason: str | None, norms: Norms) -> Block:
    """The 'Face' section, or why there is none."""
    block = Block("Face")
    if face is None:
        block.add(f"not described, because {reason or 'the face was not analysed'}.")
        return block
    block.add(visibility_line(face))
    block.add(expression_line(face), 1)
    block.add(smile_line(face), 1)
    block.add(eyes_line(face, norms), 2)
    block.add(head_line(face), 3)
    return block


def _framing(width: float) -> str:
    if width >= 0.35:
        return "a close-up"
    return "a medium shot" if width >= 0.15 else "a wide shot"


def body_block(face: Mapping[str, Any] | None, reason: str | None) -> Block:
    """The 'Body and framing' section: movement, how close and centred, light, glasses."""
    block = Block("Body and framing")
    if face is None:
        block.add(f"not described, because {reason or 'the face was not analysed'}.")
        return block
    motion = _share(face, "body_motion")
    width = number(face.get("face_width_share"), 0.0, 1.0)
    offset = number(face.get("face_center_offset"), 0.0, 1.5)
    light = _share(face, "brightness")
    if motion is not None:
        block.add(f"Upper-body movement {_scale(motion)}.", 2)
    if width is not None:
        where = (
            f", {pct(min(offset, 1.0))} of the way from the centre to the edge"
            if (offset is not None)
            else ""
        )
        block.add(f"The face spans {pct(width)} of the frame width ({_framing(width)}){where}.", 3)
    if light is not None:
        block.add(f"Picture brightness {_scale(light)}.", 5)
    glasses = face.get("glasses")
    if isinstance(glasses, bool):
        block.add("Wears glasses." if glasses else "No glasses.", 4)
    if not block.lines:
        block.add("Not measurable.")
    return block
