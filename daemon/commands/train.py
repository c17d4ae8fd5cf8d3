"""`lprd train`: fine-tune now, in a child process with its own log.

In the foreground it shows each head's progress while it waits (a live table on a
terminal, a line per phase change otherwise), and Ctrl-C, SIGTERM or SIGHUP stop the
training: the job gets SIGTERM (and passes it on to its head process), is killed if it
has not ended within STOP_KILL_AFTER_S, the run is recorded as stopped, and `lprd train`
exits 128 + the signal's number once every process of the run is gone.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from daemon.commands._common import open_db
from daemon.config import Config
from daemon.errors import ConfigError
from daemon.netlock import network_database_problem
from daemon.targets import get_set
from storage.states import TrainingStatus

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_KILL_AFTER_S = 30.0  # a training job this long past its SIGTERM is killed
POLL_S = 1.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train models on the labelled descriptions now")
    parser.add_argument(
        "--background", action="store_true", help="start the training and return at once"
    )
    parser.add_argument(
        "--full-budget",
        action="store_true",
        help="no time budget: every training row, LLM heads for train.epochs (hours on a "
        "CPU); checkpointed, so running it again after a restart or kill resumes it",
    )
    parser.add_argument(
        "--set",
        dest="target_set",
        metavar="NAME",
        help="train only this target set ([targets.NAME] in the config, or "
        "first_impressions); default: every set with enough labelled videos",
    )
    parser.set_defaults(handler=handle)


def full_budget(config: Config) -> Config:
    """The config of a training without limits: no time budget, every row, the LLM heads
    for `train.epochs` passes rather than `train.max_steps`, a checkpoint at least every
    10 minutes."""
    train = config.train.model_copy(
        update={
            "time_budget_s": 0.0,
            "max_train_rows": 0,
            "max_report_rows": 0,
            "max_steps": 1_000_000,
            "checkpoint_every_s": min(config.train.checkpoint_every_s or 600.0, 600.0),
        }
    )
    return config.model_copy(update={"train": train})


def handle(args: argparse.Namespace, config: Config) -> int:
    from daemon.learn.jobs.supervisor import launch_training, start_training, training_status

    if not config.allow_downloads:  # the job locks itself off the network: refuse now
        problem = network_database_problem(config.database_url, "a training job")
        if problem is not None:
            raise ConfigError(problem)
    db = open_db(config)
    trigger = "manual"
    if args.target_set is not None:
        get_set(config, args.target_set)  # an unknown set is refused here, with the known ones
    if args.full_budget:
        config, trigger = full_budget(config), "full-budget"
    if args.background:
        run, message = start_training(config, db, trigger=trigger, target_set=args.target_set)
        print(message)
        return 0 if run is not None else 1
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: caught.append(s)) for sig in STOP_SIGNALS}
    try:
        run, message, proc = launch_training(
            config, db, trigger=trigger, foreground=True, target_set=args.target_set
        )
        print(message, flush=True)
        if run is None:
            return 1
        _wait(db, run.id, proc, caught)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    last = training_status(db, config)["last_run"]
    log = Path(run.log_path)
    if log.exists():
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        _say("\n".join(lines[-12:]))
    _say(f"run #{run.id} {last['status']}" + (f": {last['error']}" if last["error"] else ""))
    db.dispose()
    if caught:
        return 128 + caught[0]
    return 0 if last["status"] == TrainingStatus.DONE else 1


def _wait(db: Any, run_id: int, proc: Any, caught: list[int]) -> None:
    """Wait for the training job, showing its progress; stop it on a caught signal."""
    from daemon.learn.jobs.supervisor import watch_run

    watcher = threading.Thread(
        target=watch_run, args=(db, run_id, proc, lambda: bool(caught), 0.2), daemon=True
    )
    watcher.start()
    show = _GuardedView(_LiveView() if sys.stdout.isatty() else _PlainView())
    stop_sent: float | None = None
    heads: set[int] = set()
    try:
        while watcher.is_alive():
            if caught and stop_sent is None:
                proc.send_signal(signal.SIGTERM)  # first: the note may go nowhere (SIGHUP)
                stop_sent = time.monotonic()
                name = signal.Signals(caught[0]).name
                show.note(f"{name}: stopping the training (run #{run_id}, pid {proc.pid})")
            elif stop_sent is not None and time.monotonic() - stop_sent > STOP_KILL_AFTER_S:
                show.note(f"the training did not stop within {STOP_KILL_AFTER_S:.0f} s: killing it")
                heads = _children(proc.pid)
                proc.kill()
                stop_sent = float("inf")
            show.update(_progress(db, run_id))
            watcher.join(POLL_S)
    finally:
        show.close()
    watcher.join()
    _reap_orphans(heads)


def _children(pid: int) -> set[int]:
    """The pids of a process's children (its head process), from /proc."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(p) for p in task.read_text().split())
        except (OSError, ValueError):
            continue
    return found


def _reap_orphans(pids: set[int], wait_s: float = 5.0) -> None:
    """Wait for the head processes of a killed job to notice (they exit with their parent);
    kill any still there after `wait_s`."""
    from storage.processes import pid_alive

    end = time.monotonic() + wait_s
    while any(pid_alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.2)
    for pid in pids:
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _progress(db: Any, run_id: int) -> dict[str, Any] | None:
    """The run's progress document; None when it cannot be read just now."""
    from daemon.learn.progress import loads
    from storage.models import TrainingRun

    try:
        with db.read() as session:
            run = session.get(TrainingRun, run_id)
            return loads(run.progress) if run else None
    except Exception:  # noqa: BLE001 - the display must not end the wait
        return None


def _say(text: str) -> None:
    """Print, unless the output is gone (a closed terminal or pipe)."""
    try:
        print(text, flush=True)
    except OSError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that nothing written later (nor the flush at
    exit) fails on an output that went away: EIO from a hung-up terminal, EPIPE from a
    closed pipe."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass


class _GuardedView:
    """A view that goes quiet once its output is gone: the wait, and the stop of the
    training, must not end with the terminal that showed them."""

    def __init__(self, view: _PlainView | _LiveView) -> None:
        self.view: _PlainView | _LiveView | None = view

    def _call(self, method: str, *args: Any) -> None:
        if self.view is None:
            return
        try:
            getattr(self.view, method)(*args)
        except OSError:
            self.view = None
            _silence_stdout()

    def note(self, text: str) -> None:
        self._call("note", text)

    def update(self, doc: dict[str, Any] | None) -> None:
        self._call("update", doc)

    def close(self) -> None:
        self._call("close")


class _PlainView:
    """Not a terminal: one line whenever a head's phase changes."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], str] = {}

    def note(self, text: str) -> None:
        print(text, flush=True)

    def update(self, doc: dict[str, Any] | None) -> None:
        from daemon.learn.progress import head_line

        for head in (doc or {}).get("heads", []):
            key, phase = (head["profile"], head["kind"]), head.get("phase", "")
            if self.seen.get(key) != phase:
                self.seen[key] = phase
                print(f"head {head_line(head)}", flush=True)

    def close(self) -> None:
        pass


class _LiveView:
    """A terminal: a live table, one line per head, and the budget left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(self._render(None), console=self.console, refresh_per_second=2)
        self.live.start()

    def note(self, text: str) -> None:
        self.console.print(text)

    def update(self, doc: dict[str, Any] | None) -> None:
        self.live.update(self._render(doc))

    def close(self) -> None:
        self.live.stop()

    @staticmethod
    def _render(doc: dict[str, Any] | None) -> Any:
        from rich.table import Table

        from daemon.learn.progress import FINAL_PHASES, budget_left_s, duration

        table = Table(title="training", title_justify="left")
        for name in ("profile", "head", "phase", "rows", "step", "holdout", "ETA"):
            table.add_column(name, justify="right" if name in ("step", "holdout") else "left")
        for h in (doc or {}).get("heads", []):
            rows = " + ".join(f"{n} {k}" for k, n in (h.get("rows") or {}).items())
            step = f"{h.get('step', 0)}/{h['total']}" if h.get("total") else ""
            acc = h.get("holdout_accuracy")
            phase = h.get("phase", "")
            eta = "" if phase in FINAL_PHASES else duration(h.get("eta_s"))
            if h.get("reason"):
                phase = f"{phase}: {h['reason']}"
            style = {"done": "green", "failed": "red", "skipped": "yellow"}.get(h.get("phase"))
            table.add_row(
                h["profile"], h["kind"], phase, rows, step,
                "" if acc is None else f"{acc:.4f}", eta, style=style,
            )  # fmt: skip
        left = budget_left_s(doc) if doc else None
        if doc and left is not None:
            table.caption = f"{duration(left)} of the {duration(doc.get('budget_s'))} budget left"
        elif doc:
            table.caption = "no time budget"
        else:
            table.caption = "starting"
        return table
