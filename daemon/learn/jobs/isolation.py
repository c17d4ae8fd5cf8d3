"""Each head of a training run in its own child process, so that one head running out of
memory or being killed costs only that head: the others still compete for promotion.

The parent polls the child's own memory high-water mark (VmHWM) while it waits, so the
peak is known whether the child exited or was killed; a failure is recorded in words ("out
of memory at 21.0 GB while training the generative head"), never as a bare exit code.
A SIGKILL is called out of memory only with evidence: the kernel's out-of-memory kill
count (/proc/vmstat, the memory cgroup's) rose while the child ran, or its peak came
within NEAR_LIMIT of the memory limit; otherwise it was killed from outside.
(wait4's ru_maxrss is no substitute: on Linux it includes the parent's resident memory at
the moment of the fork, so a 3 GB parent would report every head as at least 3 GB.)
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from daemon.errors import StopRequested
from daemon.learn.heads.base import HeadSkipped

log = logging.getLogger("lprd.learn")
STOPPED_EXIT = 128 + signal.SIGTERM  # what a shell reports for a process SIGTERM ended
HEAD_STOP_GRACE_S = 10.0  # a head process this long past SIGTERM exits wherever it is
KILL_AFTER_S = 60.0  # a child this long past SIGTERM is killed
NEAR_LIMIT = 0.9  # a SIGKILLed child whose peak reached this share of the memory limit: OOM


@dataclass
class HeadResult:
    """What became of one head: its candidate, or why there is none."""

    profile: str
    kind: str
    version: str | None = None
    holdout: float | None = None
    error: str | None = None
    peak_rss_mb: float | None = None
    seconds: float = 0.0
    # Not started, and not a failure (never retried): e.g. too little of the time budget left.
    skipped: str | None = None

    def line(self) -> str:
        """One line for the run's messages."""
        peak = f", peak RSS {self.peak_rss_mb:.0f} MB" if self.peak_rss_mb else ""
        if self.skipped:
            return f"{self.profile}: {self.skipped}"
        if self.error:
            return f"{self.profile} {self.kind} head failed: {self.error}"
        return f"{self.version}: holdout {self.holdout:.4f} in {self.seconds:.0f} s{peak}"


def peak_rss_mb() -> float:
    """This process's own peak resident memory so far (VmHWM), in MB. Not ru_maxrss: in a
    process started by fork and exec it still holds the parent's size at the fork."""
    own = child_peak_mb(os.getpid())
    return own if own is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _gb(mb: float | None) -> str:
    return f"{mb / 1024:.1f} GB" if mb else "an unknown size"


def is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError, torch's OutOfMemoryError, or an allocator's 'out of memory' message."""
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "outofmemory" in text or "out of memory" in text


def failure_reason(exc: BaseException, kind: str, peak_mb: float | None) -> str:
    """An exception raised while training a head, in words."""
    if isinstance(exc, HeadSkipped):
        return str(exc)
    if is_out_of_memory(exc):
        return f"out of memory at {_gb(peak_mb)} while training the {kind} head"
    return f"{type(exc).__name__} while training the {kind} head: {exc}"[:1000]


def exit_reason(
    status: int, kind: str, peak_mb: float | None, oom_before: tuple[int | None, ...] | None = None
) -> str:
    """A head process that ended without reporting, in words (`oom_before`: `oom_kills()`
    before it started)."""
    return ended_reason(
        status, peak_mb, f"while training the {kind} head", f"the {kind} head's", oom_before
    )


def ended_reason(
    status: int,
    peak_mb: float | None,
    during: str,
    whose: str,
    oom_before: tuple[int | None, ...] | None = None,
) -> str:
    """How a process ended, from its wait status and peak memory, in words.

    `oom_before`: `oom_kills()` taken before the process started. A SIGKILL is out of
    memory only when those counts rose meanwhile or the peak neared the memory limit.
    """
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL:
            return _sigkill_reason(peak_mb, during, whose, oom_before)
        return f"{whose} process was killed by {signal.Signals(sig).name} at {_gb(peak_mb)}"
    return f"{whose} process exited with code {os.WEXITSTATUS(status)} without a result"


def _sigkill_reason(
    peak_mb: float | None, during: str, whose: str, oom_before: tuple[int | None, ...] | None
) -> str:
    if oom_before is not None and _rose(oom_before, oom_kills()):
        return (
            f"out of memory at {_gb(peak_mb)} {during} (the process was killed with SIGKILL "
            "and the kernel's out-of-memory kill count rose meanwhile)"
        )
    limit = memory_limit_mb()
    if peak_mb and limit and peak_mb >= NEAR_LIMIT * limit:
        return (
            f"out of memory at {_gb(peak_mb)} {during} (the process was killed with SIGKILL "
            f"with its peak near the {_gb(limit)} memory limit)"
        )
    counted = oom_before is not None and any(n is not None for n in oom_before)
    evidence = [
        "the kernel's out-of-memory kill count did not change" if counted else "",
        f"its peak {_gb(peak_mb)} is far below the {_gb(limit)} limit" if limit else "",
    ]
    why = "; ".join(part for part in evidence if part) or "no sign of running out of it"
    return (
        f"{whose} process was killed by signal 9 (SIGKILL) from outside {during}, not for "
        f"lack of memory ({why}): check who sent it (`kill -9`, a process supervisor or "
        "systemd's stop timeout, a container runtime or a job scheduler)"
    )


def _rose(before: tuple[int | None, ...], after: tuple[int | None, ...]) -> bool:
    return any(
        b is not None and a is not None and a > b for b, a in zip(before, after, strict=False)
    )


def oom_kills() -> tuple[int | None, int | None]:
    """Out-of-memory kills so far: the kernel's (`oom_kill` in /proc/vmstat) and this
    process's memory cgroup's; None where not readable."""
    cgroup = _memory_cgroup()
    own = _counter(cgroup[0] / cgroup[1], "oom_kill") if cgroup is not None else None
    return _counter(Path("/proc/vmstat"), "oom_kill"), own


def _counter(path: Path, name: str) -> int | None:
    """The number after `name` on its line of `path` ("name N ..."); None if none."""
    try:
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == name:
                return int(fields[1])
    except (OSError, ValueError):
        return None
    return None


def _memory_cgroup() -> tuple[Path, str, str] | None:
    """This process's memory cgroup: (folder, its OOM-events file, its limit file), v1 or
    v2; the mount's root where the named folder is not visible (a cgroup namespace)."""
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    root, places = Path("/sys/fs/cgroup"), []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        rel = parts[2].strip().lstrip("/")
        if "memory" in parts[1].split(","):
            v1 = ("memory.oom_control", "memory.limit_in_bytes")
            places += [(root / "memory" / rel, *v1), (root / "memory", *v1)]
        elif parts[0] == "0" and not parts[1]:
            v2 = ("memory.events", "memory.max")
            places += [(root / rel, *v2), (root, *v2)]
    return next((place for place in places if (place[0] / place[1]).is_file()), None)


def memory_limit_mb() -> float | None:
    """The memory a process here may use, in MB: MemTotal, or its memory cgroup's limit
    when smaller; None when neither can be read."""
    total = _counter(Path("/proc/meminfo"), "MemTotal:")
    limits = [total / 1024] if total else []
    cgroup = _memory_cgroup()
    if cgroup is not None:
        try:
            text = (cgroup[0] / cgroup[2]).read_text(encoding="ascii").strip()
        except OSError:
            text = ""
        if text.isdigit():
            limits.append(int(text) / 2**20)
    return min(limits) if limits else None


def stop_flag(grace_s: float | None = None) -> tuple[Callable[[], None], Callable[[], bool]]:
    """Install a SIGTERM handler; returns (check_stop, is_stopping).

    With `grace_s`, a process that has not ended that long after SIGTERM exits anyway
    (status 143, as if killed by it): a head scoring its validation rows does not look at
    the flag until it is done, which can take minutes on a CPU, and a stopped head's
    result is thrown away in any case.
    """
    import threading

    state = {"stopping": False}

    def on_term(_sig: int, _frame: object) -> None:
        if grace_s is not None and not state["stopping"]:
            threading.Timer(grace_s, os._exit, args=(STOPPED_EXIT,)).start()
        state["stopping"] = True

    def check_stop() -> None:
        if state["stopping"]:
            raise StopRequested(_stop_reason["why"])

    signal.signal(signal.SIGTERM, on_term)
    return check_stop, lambda: state["stopping"]


_stop_reason = {"why": "training stopped by SIGTERM"}  # what StopRequested says


def exit_with_parent(interval_s: float = 1.0, stop_grace_s: float | None = None) -> None:
    """End this process when the process that started it is gone (e.g. killed), so no
    orphan keeps training and registering candidates.

    With `stop_grace_s`, it is first stopped as SIGTERM stops it (a training job closes its
    run as stopped and stops its head process) and exits only if still there that long
    after; without, it exits at once."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        if stop_grace_s is not None:
            _stop_reason["why"] = (
                f"training stopped: the process that started it (pid {parent}) is gone"
            )
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(stop_grace_s)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_head_in_child(
    config_file: Path,
    profile: str,
    kind: str,
    tag: str,
    device: str,
    check_stop: Callable[[], None],
    run_id: int | None = None,
    budget_left_s: float | None = None,
    target_set: str | None = None,
) -> HeadResult:
    """Train one head in `python -m daemon.learn.jobs.head_job`; its output joins this log.

    `run_id`: the run whose progress the head publishes; `budget_left_s`: what is left of
    the run's time budget (None: unlimited); `target_set`: a study's set (None: the
    built-in one)."""
    result_file = config_file.with_name(f"{config_file.stem}.{profile}.{kind}.result.json")
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "daemon.learn.jobs.head_job", str(config_file), profile, kind, tag]
    start = time.monotonic()
    cmd += [device, str(result_file)]
    if run_id is not None:
        cmd += ["--run-id", str(run_id)]
    if budget_left_s is not None:
        cmd += ["--budget-left-s", f"{budget_left_s:.1f}"]
    if target_set is not None:
        cmd += ["--set", target_set]
    oom_before = oom_kills()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    status, peak = wait_child(proc, check_stop)
    result = HeadResult(profile, kind, peak_rss_mb=peak, seconds=time.monotonic() - start)
    if result_file.exists():
        reported = json.loads(result_file.read_text())
        result.version, result.holdout = reported.get("version"), reported.get("holdout")
        result.error, result.skipped = reported.get("error"), reported.get("skipped")
    if result.version is None and result.error is None and result.skipped is None:
        result.error = exit_reason(status, kind, peak, oom_before)
    return result


def child_peak_mb(pid: int) -> float | None:
    """The child's own peak resident memory so far (VmHWM), in MB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def wait_child(
    proc: subprocess.Popen,
    check_stop: Callable[[], None] = lambda: None,
    interval_s: float = 0.2,
    kill_after_s: float = KILL_AFTER_S,
) -> tuple[int, float | None]:
    """Wait for the child, passing a stop request on to it; (wait status, peak MB).

    A child still there `kill_after_s` after the SIGTERM is killed. The peak is the
    highest VmHWM seen while polling; ru_maxrss only where /proc has none.
    """
    peak: float | None = None
    while True:
        seen = child_peak_mb(proc.pid)
        if seen is not None:
            peak = max(peak or 0.0, seen)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = status  # reaped here: Popen must not wait for it again
            return status, peak if peak is not None else usage.ru_maxrss / 1024
        try:
            check_stop()
        except StopRequested:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(kill_after_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        time.sleep(interval_s)


def write_result(path: Path, result: HeadResult) -> None:
    """The child's report to its parent."""
    path.write_text(json.dumps(asdict(result)))
