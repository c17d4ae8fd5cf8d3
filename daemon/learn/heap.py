"""Keep a training process's heap from growing step after step.

glibc serves a large block from mmap only above a threshold, and by default it raises that
threshold (up to 32 MB) each time such a block is freed. Training frees many large
activation tensors of varying sizes every step, so after the first steps they are carved
from the heap instead, where freed space is fragmented and rarely returned: measured on
SmolLM2-135M (batch 8, prompts of 140-235 tokens) the training process went from 6.1 GB
after the first step to 9.1 GB after the fourth, while a step itself needed about 3.7 GB.
A fixed threshold keeps every large tensor in its own mapping, given back when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("lprd.learn")
M_MMAP_THRESHOLD = -3  # mallopt parameter numbers from glibc's malloc.h
LARGE_BLOCK = 128 * 1024  # glibc's own starting threshold, now kept fixed


def fix_mmap_threshold(threshold: int = LARGE_BLOCK) -> bool:
    """Serve blocks above `threshold` bytes from their own mappings for good (glibc's
    mallopt); False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(M_MMAP_THRESHOLD, threshold) == 1
    if not done:
        log.warning("could not fix the mmap threshold; memory may grow during training")
    return done
