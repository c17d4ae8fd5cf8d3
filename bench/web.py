"""Dashboard video list latency with 100,000 videos.

Builds a database with the real migrations and N videos (default 100,000; one row per
registered stage, 90 % finished, 1 % failed, the rest pending, as bench/state.py does),
then times whole HTTP requests to the dashboard's `/videos` page (query, template and
response, through the real Starlette app) for the first, a middle and the last page, each
state filter and two name searches; median of several requests each. Reference measured in
the same run: the bare `SELECT ... ORDER BY id DESC LIMIT page` of one page.
Target: every page under 200 ms.

    python bench/web.py [--videos 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.state import populate, timed  # noqa: E402
from daemon.config import load_config  # noqa: E402
from daemon.pipeline import Pipeline  # noqa: E402
from daemon.web.app import create_app  # noqa: E402
from storage.db import Database, upgrade  # noqa: E402
from storage.models import FAILED, StageRun  # noqa: E402

TARGET_MS = 200.0


def add_failures(db: Database, videos: int) -> None:
    """Every 100th video failed at its probe stage, with a message."""
    with db.write() as session:
        session.execute(
            update(StageRun)
            .where(StageRun.video_id % 100 == 0, StageRun.stage == "probe")
            .values(status=FAILED, last_error="corrupt container: moov atom not found")
        )


def median_ms(fn, repeats: int) -> float:
    return timed(fn, repeats) * 1000


def page_requests(videos: int, size: int) -> list[tuple[str, str]]:
    """(label, URL) of the pages timed."""
    return [
        ("first page", "/videos"),
        ("middle page", f"/videos?before={videos // 2}"),
        ("last page", f"/videos?before={size}"),
        ("previous page from the middle", f"/videos?after={videos // 2}"),
        ("state = failed", "/videos?state=failed"),
        ("state = failed, last page", f"/videos?state=failed&before={100 * size // 2}"),
        ("state = pending", "/videos?state=pending"),
        ("state = done, first page", "/videos?state=done"),
        ("state = done, middle", f"/videos?state=done&before={videos // 2}"),
        ("state = running (none)", "/videos?state=running"),
        ("name search, rare", f"/videos?q=clip{videos - 7}.mp4"),
        ("name search, common", "/videos?q=clip1"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(home=Path(tmp), env={})
        upgrade(config.database_url)
        db = Database(config.database_url)
        populate(db, Pipeline.default(), args.videos)
        add_failures(db, args.videos)
        size = config.serve.page_size
        with TestClient(create_app(config)) as client:
            timings = []
            for label, url in page_requests(args.videos, size):
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)
                rows = response.text.count("<tr data-state=")
                timings.append(
                    (label, url, rows, median_ms(lambda u=url: client.get(u), args.repeats))
                )
        raw_sql = text("SELECT id, name, sha256 FROM videos ORDER BY id DESC LIMIT :n")
        with db.engine.connect() as conn:
            raw_ms = median_ms(lambda: conn.execute(raw_sql, {"n": size}).all(), args.repeats)
        db.dispose()
    worst = max(t[3] for t in timings)
    table = Table(title=f"dashboard /videos with {args.videos:,} videos ({size} per page)")
    for col in ("page", "rows", "median ms", "vs bare page query"):
        table.add_column(col, justify="right" if col != "page" else "left")
    for label, _url, rows, ms in timings:
        table.add_row(label, str(rows), f"{ms:.1f}", f"{ms / raw_ms:.0f}x")
    table.add_row("reference: bare SELECT of one page", str(size), f"{raw_ms:.2f}", "1x")
    Console().print(table)
    print(
        json.dumps(
            {
                "videos": args.videos,
                "page_size": size,
                "pages_ms": {label: round(ms, 1) for label, _u, _r, ms in timings},
                "worst_page_ms": round(worst, 1),
                "bare_page_query_ms": round(raw_ms, 2),
                "worst_vs_bare_query": round(worst / raw_ms, 1),
                "target_page_ms": TARGET_MS,
                "meets_target": worst < TARGET_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
