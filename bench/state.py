"""State-machine throughput and `lprd status` latency, on SQLite and on PostgreSQL.

For each backend, builds a database with the real migrations and N videos (default
100,000) with one row per registered stage, then measures:
- claim + complete cycles (two guarded transitions each) per second with 1, 4 and 8
  concurrent claimers, each a process of its own with its own connections, as workers
  of several daemons or hosts are;
- `lprd status` data gathering latency (median of several runs);
- as references in the same run: one-row UPDATE transactions per second on the same
  database, and a full `count(*)` over stage_runs.
SQLite is always measured (a temp file) and is the reference of the PostgreSQL figures:
`--db postgresql://USER@HOST/DB` names an empty database to fill, `--db postgresql-temp`
starts a throwaway server (tests/support/pg_server.py; fsync on, synchronous_commit off) and
deletes it after. Targets: >= 1,500 transitions/s with 8 claimers on PostgreSQL,
>= 1,000 on SQLite; status under 200 ms on both.

    python bench/state.py [--db postgresql-temp] [--videos 100000] [--cycles 2000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.pipeline import Pipeline  # noqa: E402
from daemon.runtime.status import gather_status  # noqa: E402
from storage import transitions as tr  # noqa: E402
from storage.db import Database, safe_url, sqlite_url, upgrade, utcnow  # noqa: E402
from storage.models import DONE, PENDING, StageRun, Video  # noqa: E402

CLAIMERS = (1, 4, 8)
TEMP_PG = "postgresql-temp"
# The throwaway server keeps fsync (unlike the test server) but commits asynchronously,
# like SQLite's WAL with synchronous=NORMAL: a crash of the machine may lose the last
# commits, never the database.
BENCH_PG_SETTINGS = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "off"}


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
    postgres = db.dialect == "postgresql"
    batch = []
    with db.write() as session:
        if postgres:  # count once at the end instead of one trigger call per row
            session.execute(text("ALTER TABLE stage_runs DISABLE TRIGGER USER"))
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
        if postgres:
            session.execute(text("ALTER TABLE stage_runs ENABLE TRIGGER USER"))
            session.execute(
                text(
                    "INSERT INTO stage_counts (stage, status, n) "
                    "SELECT stage, status, count(*) FROM stage_runs GROUP BY stage, status"
                )
            )
    if postgres:  # what autovacuum does to a table that has been there a while
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def claimer(
    url: str, index: int, cycles: int, plans: Mapping[str, tr.StagePlan], order: Sequence[str],
    start, done,
) -> None:  # fmt: skip
    """One claimer process: `cycles` claim + complete cycles after the common start."""
    db = Database(url)
    name = f"bench-{index}"
    with db.read() as session:
        session.execute(text("SELECT 1"))  # connected before the clock starts
    transitions = 0
    start.wait()
    for _ in range(cycles):
        with db.transition() as session:  # as the daemon's workers claim and complete
            run = tr.claim_next(session, "cpu", name, order)
        if run is None:
            break
        with db.transition() as session:
            tr.complete(session, run.id, name, plans)
        transitions += 2
    done.put(transitions)
    db.dispose()


def transition_rate(url: str, pipeline: Pipeline, cycles: int, claimers: int) -> float:
    """Transitions per second (claim = 1, complete = 1) with `claimers` processes."""
    mp = multiprocessing.get_context("spawn")
    start, done = mp.Barrier(claimers + 1), mp.Queue()
    args = (cycles // claimers, pipeline.plans, pipeline.order, start, done)
    procs = [mp.Process(target=claimer, args=(url, i, *args)) for i in range(claimers)]
    for proc in procs:
        proc.start()
    start.wait()
    t0 = time.perf_counter()
    total = sum(done.get() for _ in procs)
    elapsed = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    return total / elapsed


def raw_update_rate(db: Database, count: int) -> float:
    """One-row UPDATE transactions per second: the floor cost of a committed write."""
    with db.engine.connect() as conn:
        ids = [i for (i,) in conn.execute(select(StageRun.id).limit(count))]
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


def count_rows(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM stage_runs")).scalar()


def measure(url: str, pipeline: Pipeline, videos: int, cycles: int) -> dict[str, float]:
    """Every figure of one backend, on a new database at `url`."""
    upgrade(url)
    db = Database(url)
    with db.read() as session:
        if session.execute(select(StageRun.id).limit(1)).first() is not None:
            sys.exit(f"{safe_url(url)} already holds stage runs: give an empty database")
    t0 = time.perf_counter()
    populate(db, pipeline, videos)
    figures = {"populate_s": round(time.perf_counter() - t0, 1)}
    for claimers in CLAIMERS:
        rate = transition_rate(url, pipeline, cycles, claimers)
        figures[f"transitions_per_s_{claimers}"] = round(rate)
    figures["raw_update_tx_per_s"] = round(raw_update_rate(db, 1000))
    figures["status_ms"] = round(timed(lambda: gather_status(db, pipeline.order), 5) * 1000, 1)
    figures["count_star_ms"] = round(timed(lambda: count_rows(db), 5) * 1000, 1)
    figures["stage_rows"] = count_rows(db)
    db.dispose()
    return figures


def pg_vs_sqlite(results: dict[str, dict[str, float]], key: str) -> float | None:
    """PostgreSQL's figure over SQLite's, or None when SQLite's is zero."""
    sqlite = results["sqlite"][key]
    return round(results["postgresql"][key] / sqlite, 2) if sqlite else None


def print_table(videos: int, results: dict[str, dict[str, float]]) -> None:
    backends = list(results)
    table = Table(title=f"lprd state machine, {videos:,} videos (90 % done, 10 % pending)")
    table.add_column("measure")
    for backend in backends:
        table.add_column(backend, justify="right")
    if "postgresql" in results:
        table.add_column("PostgreSQL / SQLite", justify="right")
    table.add_column("target / reference")
    rows = [(f"transitions/s, {n} claimer{'s' * (n > 1)}", f"transitions_per_s_{n}", ">= 1,500 "
             "on PostgreSQL with 8" if n == 8 else "") for n in CLAIMERS]  # fmt: skip
    rows += [
        ("raw 1-row UPDATE tx/s", "raw_update_tx_per_s", "reference"),
        ("lprd status (median)", "status_ms", "< 200 ms"),
        ("count(*) over stage_runs, ms", "count_star_ms", "reference"),
        ("populate, s", "populate_s", ""),
    ]
    for label, key, target in rows:
        cells = [f"{results[b][key]:,}" for b in backends]
        if "postgresql" in results:
            ratio = pg_vs_sqlite(results, key)
            cells.append("" if ratio is None else f"{ratio:.2f}x")
        table.add_row(label, *cells, target)
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--cycles", type=int, default=2000, help="claim+complete cycles per run")
    parser.add_argument(
        "--db", help=f"an empty PostgreSQL database URL, or {TEMP_PG} for a throwaway server"
    )
    args = parser.parse_args()
    pipeline = Pipeline.default()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = sqlite_url(Path(tmp) / "bench.db")
        results["sqlite"] = measure(url, pipeline, args.videos, args.cycles)
    if args.db == TEMP_PG:
        from tests.support.pg_server import PgServer

        server = PgServer.start(BENCH_PG_SETTINGS)
        try:
            url = server.create_database("lprd_bench")
            results["postgresql"] = measure(url, pipeline, args.videos, args.cycles)
        finally:
            server.stop()
    elif args.db:
        results["postgresql"] = measure(args.db, pipeline, args.videos, args.cycles)
    print_table(args.videos, results)
    figures: dict[str, object] = {"videos": args.videos, "cycles": args.cycles}
    for backend, values in results.items():
        figures.update({f"{backend}_{key}": value for key, value in values.items()})
    if "postgresql" in results:
        for n in CLAIMERS:
            key = f"transitions_per_s_{n}"
            figures[f"pg_vs_sqlite_{key}"] = pg_vs_sqlite(results, key)
    figures.update(
        target_pg_transitions_per_s_8=1500, target_sqlite_transitions_per_s=1000,
        target_status_ms=200,
    )  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
