"""Upper-body movement from frame differences, and lighting, on small grey frames."""

from __future__ import annotations

import numpy as np

GREY_WIDTH = 160  # movement is measured on frames this wide: enough for the body, cheap


def small_grey(rgb: np.ndarray) -> np.ndarray:
    """A small grey version of an RGB frame (float32, 0..1)."""
    import cv2

    h, w = rgb.shape[:2]
    size = (GREY_WIDTH, max(2, int(round(h * GREY_WIDTH / w))))
    grey = cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32) / 255.0


def body_region(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Head and shoulders below a normalised face box: three face widths wide, down to
    one and a half face heights under the chin."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    return max(0.0, cx - 1.5 * w), max(0.0, y0), min(1.0, cx + 1.5 * w), min(1.0, y1 + 1.5 * h)


def movement(
    prev: np.ndarray | None, cur: np.ndarray, region: tuple[float, float, float, float]
) -> float | None:
    """Mean absolute grey-level change (0..1) inside `region` between two sampled frames."""
    if prev is None or prev.shape != cur.shape:
        return None
    h, w = cur.shape
    x0, y0, x1, y1 = region
    rows = slice(int(y0 * h), max(int(y0 * h) + 1, int(np.ceil(y1 * h))))
    cols = slice(int(x0 * w), max(int(x0 * w) + 1, int(np.ceil(x1 * w))))
    return float(np.mean(np.abs(cur[rows, cols] - prev[rows, cols])))


def brightness(grey: np.ndarray) -> float:
    """Mean luma of the frame, 0..1."""
    return float(grey.mean())
