"""A training process keeps large blocks in their own mappings, so freed activations
go back to the system instead of staying in a fragmented heap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Frees one 8 MB block (glibc then raises its mmap threshold to 8 MB), then allocates
# 100 blocks of 4 MB, each followed by one of 100 kB that pins the heap above it, frees the
# large ones and prints the resident memory in MB.
CHURN = """
import ctypes, sys
from daemon.learn.heap import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def block(size):
    b = libc.malloc(size)
    libc.memset(b, 1, size)
    return b
libc.free(block(8 << 20))
large, small = [], []
for _ in range(100):
    large.append(block(4 << 20))
    small.append(block(100 << 10))
for b in large:
    libc.free(b)
rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS:")][0]
print(int(rss.split()[1]) // 1024)
"""


def _rss_after_churn(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO)},
    )
    return int(out.stdout.strip())


def test_freed_large_blocks_go_back_to_the_system() -> None:
    dynamic, fixed = _rss_after_churn("dynamic"), _rss_after_churn("fixed")
    assert dynamic > fixed + 300, (dynamic, fixed)  # glibc's default keeps ~400 MB
    assert fixed < 150, fixed
