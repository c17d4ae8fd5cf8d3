"""State-machine throughput and `lprd status` latency on SQLite.

Builds a database with the real migrations and N videos (default 100,000) with one row per
registered stage, then measures:
- claim + complete cycles per second (each is two guarded transitions), one worker and two;
- `lprd status` data gathering latency (median of several runs);
- as references in the same run: one-row UPDATE transactions per second on the same
  database, and a full `count(*)` over stage_runs.
Targets: at least 1,000 stage transitions per second; status under 200 ms.

    python bench/state.py [--videos 100000] [--cycles 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.pipeline import Pipeline  # noqa: E402
from daemon.status import gather_status  # noqa: E402
from storage import transitions as tr  # noqa: E402
from storage.db import Database, upgrade, utcnow  # noqa: E402
from storage.models import DONE, PENDING, StageRun, Video  # noqa: E402


def populate(db: Database, pipeline: Pipeline, videos: int) -> None:
    """Insert `videos` videos: 90 % finished over the last 30 days, the rest pending."""
    now = utcnow()
    with db.write() as session:
        session.execute(
            insert(Video),
            [
                {
                    "sha256": f"{i:064x}",
                    "name": f"clip{i}.mp4",
                    "path": f"/inbox/clip{i}.mp4",
                    "size_bytes": 2_500_000,
                    "created_at": now,
                }
                for i in range(1, videos + 1)
            ],
        )
    batch = []
    with db.write() as session:
        for vid in range(1, videos + 1):
            finished = vid <= videos * 0.9
            for plan in pipeline.plans.values():
                batch.append(
                    {
                        "video_id": vid,
                        "stage": plan.name,
                        "resource": plan.resource,
                        "status": DONE if finished else PENDING,
                        "waiting_on": 0 if finished else len(plan.requires),
                        "attempts": 1 if finished else 0,
                        "max_attempts": plan.max_attempts,
                        "finished_at": now - timedelta(minutes=vid % 43_200) if finished else None,
                        "updated_at": now,
                    }
                )
            if len(batch) >= 50_000:
                session.execute(insert(StageRun), batch)
                batch = []
        if batch:
            session.execute(insert(StageRun), batch)


def transition_rate(db_path: Path, pipeline: Pipeline, cycles: int, workers: int) -> float:
    """Transitions per second (claim = 1, complete = 1) with `workers` threads."""
    done = [0] * workers

    def work(index: int) -> None:
        db = Database.at(db_path)
        resource = "cpu"
        for _ in range(cycles // workers):
            with db.write() as session:
                run = tr.claim_next(session, resource, f"bench-{index}", pipeline.order)
            if run is None:
                break
            with db.write() as session:
                tr.complete(session, run.id, f"bench-{index}", pipeline.plans)
            done[index] += 2
        db.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def raw_update_rate(db: Database, count: int) -> float:
    """One-row UPDATE transactions per second: the floor cost of a committed write."""
    ids = [i for (i,) in db.engine.connect().execute(select(StageRun.id).limit(count))]
    start = time.perf_counter()
    for run_id in ids:
        with db.write() as session:
            session.execute(
                text("UPDATE stage_runs SET updated_at = updated_at WHERE id = :i"), {"i": run_id}
            )
    return len(ids) / (time.perf_counter() - start)


def timed(fn, repeats: int) -> float:
    """Median seconds of `repeats` calls."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args()
    pipeline = Pipeline.default()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        upgrade(db_path)
        db = Database.at(db_path)
        t0 = time.perf_counter()
        populate(db, pipeline, args.videos)
        populate_s = time.perf_counter() - t0
        one = transition_rate(db_path, pipeline, args.cycles, 1)
        two = transition_rate(db_path, pipeline, args.cycles, 2)
        raw = raw_update_rate(db, 1000)
        status_s = timed(lambda: gather_status(db, pipeline.order), 5)
        count_s = timed(
            lambda: db.engine.connect().execute(text("SELECT count(*) FROM stage_runs")).scalar(), 5
        )
        rows = db.engine.connect().execute(text("SELECT count(*) FROM stage_runs")).scalar()
        db.dispose()
    figures = {
        "videos": args.videos,
        "stage_rows": rows,
        "populate_s": round(populate_s, 1),
        "transitions_per_s_1_worker": round(one),
        "transitions_per_s_2_workers": round(two),
        "raw_update_tx_per_s": round(raw),
        "transition_cost_vs_raw_update": round(raw / one, 2),
        "status_ms": round(status_s * 1000, 1),
        "count_star_ms": round(count_s * 1000, 1),
        "status_vs_count_star": round(status_s / count_s, 2),
        "target_transitions_per_s": 1000,
        "target_status_ms": 200,
    }
    table = Table(
        title=f"lprd state machine on SQLite ({args.videos:,} videos, {rows:,} stage rows)"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target / reference")
    table.add_row("transitions/s, 1 worker", f"{one:,.0f}", ">= 1,000")
    table.add_row("transitions/s, 2 workers", f"{two:,.0f}", ">= 1,000")
    table.add_row("raw 1-row UPDATE tx/s", f"{raw:,.0f}", "reference")
    table.add_row("cost of one transition vs raw tx", f"{raw / one:.2f}x", "")
    table.add_row("lprd status (median)", f"{status_s * 1000:.1f} ms", "< 200 ms")
    table.add_row("count(*) over stage_runs", f"{count_s * 1000:.1f} ms", "reference")
    Console().print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
