"""Sample-rate conversion for models that want a fixed rate."""

from __future__ import annotations

from math import gcd

import numpy as np


def to_rate(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`samples` at `rate` resampled to `target` (polyphase), float32."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype(np.float32)
