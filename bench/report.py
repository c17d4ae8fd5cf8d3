"""Report size and render time for real First Impressions clips (15 s each).

Processes the clips with the daemon (offline backends) in a temporary home, then for each:
builds the report (Python: records, thumbnails, template) and opens it offline in headless
Chromium (Debian's package, via Playwright) until every timeline is drawn. Reference
measured in the same run: Chromium opening an empty local page. Targets: under 5 MB and
under 2 s to render.

    python bench/report.py [--clips 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from daemon.cli import main as lprd  # noqa: E402
from daemon.pipeline import Pipeline  # noqa: E402
from daemon.report.make import report_html  # noqa: E402
from storage.artifacts import ArtifactStore  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Video  # noqa: E402
from tests.support.browser import chromium  # noqa: E402

CLIPS = REPO.parent / "shared" / "data" / "first_impressions_v2" / "clips"


def process(home: Path, clips: list[Path]) -> None:
    """Run the daemon over the clips until idle."""
    home.mkdir()
    (home / "lprd.toml").write_text(
        "[inbox]\nstable_seconds = 0\n[workers]\npoll_interval_s = 0.2\n"
    )
    lprd(["--home", str(home), "init"])
    for clip in clips:
        shutil.copy(clip, home / "inbox" / clip.name)
    lprd(["--home", str(home), "run", "--until-idle"])


def browser_seconds(context, url: str) -> float:
    """Seconds from navigation until the report's script has drawn every chart."""
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function("document.body.dataset.charts !== undefined")
    seconds = time.perf_counter() - start
    page.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2)
    args = parser.parse_args()
    clips = sorted(CLIPS.glob("*.mp4"))[: args.clips]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        process(home, clips)
        db = Database.at(home / "lprd.db")
        store = ArtifactStore(home / "store")
        with db.read() as session:
            videos = session.query(Video).order_by(Video.id).all()
        blank = Path(tmp) / "blank.html"
        blank.write_text("<!doctype html><body data-charts='0'></body>")
        with chromium(offline=True) as context:
            reference = statistics.median(
                browser_seconds(context, blank.as_uri()) for _ in range(3)
            )
            for video in videos:
                start = time.perf_counter()
                html = report_html(db, store, video, Pipeline.default().order)
                build = time.perf_counter() - start
                out = Path(tmp) / f"{video.sha256}.html"
                out.write_text(html, encoding="utf-8")
                render = statistics.median(browser_seconds(context, out.as_uri()) for _ in range(3))
                rows.append((video.name, out.stat().st_size, build, render))
        db.dispose()
    table = Table(title="lprd report of real 15 s clips")
    for col in ("clip", "size MB", "build s", "render s", "render vs empty page"):
        table.add_column(col, justify="left" if col == "clip" else "right")
    for name, size, build, render in rows:
        table.add_row(
            name, f"{size / 1e6:.2f}", f"{build:.2f}", f"{render:.2f}", f"{render / reference:.1f}x"
        )
    table.add_row("reference: empty page", "", "", f"{reference:.3f}", "1x")
    Console().print(table)
    print(
        json.dumps(
            {
                "clips": len(rows),
                "max_size_mb": round(max(r[1] for r in rows) / 1e6, 3),
                "max_build_s": round(max(r[2] for r in rows), 2),
                "max_render_s": round(max(r[3] for r in rows), 3),
                "empty_page_s": round(reference, 3),
                "render_vs_empty_page": round(max(r[3] for r in rows) / reference, 1),
                "target_size_mb": 5,
                "target_render_s": 2,
                "meets_targets": max(r[1] for r in rows) < 5e6 and max(r[3] for r in rows) < 2,
            }
        )
    )


if __name__ == "__main__":
    main()
