"""Starting and supervising trainings: each in a child process with its own log, one at a time.

The child (`python -m daemon.learn.jobs.train_job`) does all the heavy work, so an
out-of-memory kill ends the child only; the daemon notices the dead process and marks the
run failed, and the promoted model keeps serving. The partial unique index on
`training_runs(status) WHERE status = 'running'` makes a second concurrent run impossible,
in the whole cluster when hosts share one database. Trainings start only on hosts with the
`train` role; a run's pid is checked only on its own host, and a run of a host whose
daemons all stopped beating is failed from any other.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from daemon.config import Config
from daemon.learn import progress
from daemon.learn.data import labelled_count
from daemon.privacy import redacted
from storage.db import Database, split_password, utcnow
from storage.models import ModelVersion, TrainingRun
from storage.processes import pid_alive
from storage.states import ModelState, TrainingStatus
from storage.transitions import guarded_update
from storage.workers import hosts_gone, this_host

log = logging.getLogger("lprd.learn")
ALL_SETS = "all"  # training_runs.target_set of a run that trains every set


def finish_run(
    session: Session,
    run_id: int,
    status: TrainingStatus,
    error: str | None = None,
    version: str | None = None,
) -> bool:
    """running -> done | failed | stopped, guarded like a stage run; False if it was no
    longer running."""
    return guarded_update(
        session,
        TrainingRun.__table__,
        run_id,
        TrainingStatus.RUNNING,
        status=status,
        error=error,
        model_version=version,
        finished_at=utcnow(),
    )


def _fail_dead_run(
    db: Database, run_id: int, error: str, status: TrainingStatus = TrainingStatus.FAILED
) -> bool:
    """Close a run whose process ended without reporting, and drop its unfinished candidates.

    One training runs at a time, so the candidates registered since its start are its own.
    """
    with db.write() as session:
        started_at = session.get(TrainingRun, run_id).started_at
        if not finish_run(session, run_id, status, error):
            return False
        session.execute(
            delete(ModelVersion)
            .where(ModelVersion.state == ModelState.CANDIDATE)
            .where(ModelVersion.created_at >= started_at)
        )
    return True


def stop_run(db: Database, run_id: int, reason: str) -> bool:
    """Close a run stopped on request (SIGTERM): status stopped; like a dead run, its
    candidates that were not promoted are dropped, its promotions stay."""
    return _fail_dead_run(db, run_id, reason, TrainingStatus.STOPPED)


def _dead_reason(run: TrainingRun, here: str, gone_hosts: set[str]) -> str | None:
    """Why a running run cannot be alive, or None while it may be."""
    if run.host in (None, here):
        if run.pid is not None and not pid_alive(run.pid):
            return (
                f"the training process (pid {run.pid}) ended without reporting; see {run.log_path}"
            )
        return None
    if run.host in gone_hosts:
        return f"its host {run.host} stopped beating: no lprd daemon runs there any more"
    return None


def reap_dead_training(db: Database, stale_after_s: float | None = None) -> int:
    """Fail running runs whose process is gone (and their candidates); returns how many.

    This host checks its own runs' pids; with `stale_after_s`, another host's run is
    failed once that host's daemons have all stopped beating for that long (a host that
    never ran a daemon is left alone: nothing is known about it).
    """
    with db.read() as session:
        runs = list(
            session.scalars(select(TrainingRun).where(TrainingRun.status == TrainingStatus.RUNNING))
        )
        gone: set[str] = set()
        if stale_after_s is not None and runs:
            gone = hosts_gone(session, utcnow() - timedelta(seconds=stale_after_s))
    here = this_host()
    reaped = 0
    for run in runs:
        why = _dead_reason(run, here, gone)
        if why is not None:
            reaped += _fail_dead_run(db, run.id, why)
    return reaped


def _running(db: Database) -> TrainingRun | None:
    with db.read() as session:
        return session.execute(
            select(TrainingRun).where(TrainingRun.status == TrainingStatus.RUNNING)
        ).scalar_one_or_none()


def _claim_run(
    db: Database, trigger: str, log_dir: Path, target_set: str | None = None
) -> TrainingRun | None:
    """Insert the running row; None if another training holds the slot."""
    run = TrainingRun(
        status=TrainingStatus.RUNNING,
        trigger=trigger,
        target_set=target_set or ALL_SETS,
        labelled_count=labelled_count(db),
        host=this_host(),
        started_at=utcnow(),
    )
    try:
        with db.write() as session:
            session.add(run)
            session.flush()
            run.log_path = str(log_dir / f"train-{run.id}.log")
    except IntegrityError:
        return None
    return run


def watch_run(
    db: Database,
    run_id: int,
    proc: subprocess.Popen,
    stopping: Callable[[], bool] = lambda: False,
    interval_s: float = 1.0,
) -> None:
    """Reap the child and fail the run, saying how it ended, if it did not close it itself
    (stopped, not failed, when `stopping()` says its end was asked for)."""
    from daemon.learn.jobs.isolation import ended_reason, oom_kills, wait_child

    oom_before = oom_kills()  # moments after the start: an OOM kill since then is evidence
    status, peak = wait_child(proc, interval_s=interval_s)
    why = ended_reason(status, peak, "in training", "the training", oom_before)
    if stopping():
        if _fail_dead_run(db, run_id, f"stopped: {why}", TrainingStatus.STOPPED):
            log.warning("training run %d stopped: %s", run_id, why)
    elif _fail_dead_run(db, run_id, why):
        log.warning("training run %d failed: %s", run_id, why)


def write_config_copy(config: Config, path: Path) -> dict[str, str]:
    """Write the config a training child reads; returns the child's environment.

    The copy holds no secret (it sits in the logs folder): the token and the database
    password travel in the child's environment instead.
    """
    data = redacted(config.model_dump(mode="json"))
    env = dict(os.environ)
    # The run's log holds lines, not progress bars (the progress is in the run's row).
    env.update(TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    if config.database.url:
        data["database"]["url"], password = split_password(config.database.url)
        if password is not None:
            env["PGPASSWORD"] = password
    path.write_text(json.dumps(data))
    if config.audio.token():
        env["HF_TOKEN"] = config.audio.token()
    return env


def start_training(
    config: Config,
    db: Database,
    trigger: str = "manual",
    wait: bool = False,
    target_set: str | None = None,
) -> tuple[TrainingRun | None, str]:
    """Start a training child process; (run, message). Waits for it when `wait`.

    Refused on a host without the `train` role. The child runs in its own session and
    outlives this process (a scheduled or `lprd train --background` training).
    """
    run, message, proc = launch_training(config, db, trigger, target_set=target_set)
    if proc is not None and wait:
        watch_run(db, run.id, proc)
    elif proc is not None:
        threading.Thread(target=watch_run, args=(db, run.id, proc), daemon=True).start()
    return run, message


def launch_training(
    config: Config,
    db: Database,
    trigger: str = "manual",
    foreground: bool = False,
    target_set: str | None = None,
) -> tuple[TrainingRun | None, str, subprocess.Popen | None]:
    """Start a training child process; (run, message, process), the caller reaps it
    (`watch_run`). `foreground`: the child ends when this process is gone (a foreground
    `lprd train`, which passes its stop signals on to it); `target_set`: train only that
    set (None: every set)."""
    if "train" not in config.roles:
        message = (
            f"this host ({this_host()}) does not have the 'train' role "
            f"(roles: {', '.join(config.roles)}); train on a host that has it"
        )
        return None, message, None
    reap_dead_training(db, config.workers.stale_after_s)
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    run = _claim_run(db, trigger, config.logs_dir, target_set)
    if run is None:
        busy = _running(db)
        where = f" (run #{busy.id}, pid {busy.pid}, log {busy.log_path})" if busy else ""
        return None, f"a training is already running{where}", None
    config_file = config.logs_dir / f"train-{run.id}.config.json"
    env = write_config_copy(config, config_file)
    cmd = [sys.executable, "-m", "daemon.learn.jobs.train_job", str(config_file), str(run.id)]
    if foreground:
        cmd.append("--exit-with-parent")
    if target_set is not None:
        cmd += ["--set", target_set]
    with open(run.log_path, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == run.id).values(pid=proc.pid))
    run.pid = proc.pid
    message = f"training run #{run.id} started (pid {proc.pid}, log {run.log_path})"
    return run, message, proc


def _last_run(db: Database) -> TrainingRun | None:
    with db.read() as session:
        return session.execute(
            select(TrainingRun).order_by(TrainingRun.id.desc()).limit(1)
        ).scalar_one_or_none()


def new_labelled(db: Database) -> tuple[int, int]:
    """(labelled descriptions now, how many of them arrived since the last training)."""
    total = labelled_count(db)
    last = _last_run(db)
    return total, total - (last.labelled_count if last else 0)


def maybe_start_training(config: Config, db: Database) -> str | None:
    """The scheduler's check: retry the heads the last run lost, else start a training
    when enough new labelled rows exist."""
    reap_dead_training(db, config.workers.stale_after_s)
    if _running(db) is not None:
        return None
    from daemon.learn.jobs.retry import RETRY_TRIGGER, retry_settings, take_retry

    retry = take_retry(db, config)
    if retry is not None:
        _, message = start_training(retry, db, trigger=RETRY_TRIGGER)
        t = retry.train
        settings = retry_settings(t.heads, t.batch_size, t.max_length)
        return f"retrying the {', '.join(t.heads)} head(s) ({settings}): {message}"
    _, new = new_labelled(db)
    if new < config.train.min_new_labelled:
        return None
    run, message = start_training(config, db, trigger="scheduled")
    return f"{new} new labelled descriptions: {message}" if run else message


def next_check_hint(config: Config, db: Database) -> str:
    """What the next scheduled training waits for, in words."""
    total, new = new_labelled(db)
    need = config.train.min_new_labelled
    if new >= need:
        return f"{new} new labelled descriptions (>= {need}): trains at the next check"
    return f"trains once {need - new} more labelled descriptions exist ({new} of {need} new)"


def training_status(db: Database, config: Config | None = None) -> dict[str, Any]:
    """Running training, last run, promoted models and the retrain condition, for status."""
    running, last = _running(db), _last_run(db)
    total, new = new_labelled(db)
    with db.read() as session:
        latest = session.execute(
            select(ModelVersion).order_by(ModelVersion.id.desc()).limit(1)
        ).scalar_one_or_none()
    info: dict[str, Any] = {
        "running": _run_dict(running),
        "last_run": _run_dict(last),
        "last_model": latest.version if latest else None,
        "labelled": total,
        "new_since_last_run": new,
    }
    if running is not None:
        summary = f"run #{running.id} running since {running.started_at:%Y-%m-%d %H:%M} UTC"
        if running.host not in (None, this_host()):
            summary += f" on {running.host} (pid {running.pid}, log {running.log_path})"
        elif pid_alive(running.pid):
            summary += f" (pid {running.pid}, log {running.log_path})"
        else:
            summary += " (process gone)"
        now = progress.summary(info["running"]["progress"])
        if now:
            summary += f"; {now}"
    elif last is not None:
        summary = f"last run #{last.id} {last.status}"
        summary += f": {last.error}" if last.error else ""
    else:
        summary = "never trained"
    summary += f"; {total} labelled descriptions, {new} new since the last run"
    if config is not None:
        info["next"] = next_check_hint(config, db)
        summary += f"; {info['next']}"
    info["summary"] = summary
    return info


def _run_dict(run: TrainingRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "pid": run.pid,
        "host": run.host,
        "log": run.log_path,
        "error": run.error,
        "model_version": run.model_version,
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "finished_at": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        "progress": progress.loads(run.progress),
    }
