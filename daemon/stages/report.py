"""Stage `report`: the video's self-contained HTML report, remade whenever its inputs change.

It runs after `predict`; its fingerprint includes every upstream stage's, so a new model,
description or analysis re-queues it. The page goes to HOME/reports/<sha256>.html.
"""

from __future__ import annotations

from typing import Any

from daemon.errors import PermanentError
from daemon.stages.base import Stage, StageContext, StageResult
from storage.models import Video


def run(ctx: StageContext) -> StageResult:
    """Render the report from the recorded outputs and write it atomically."""
    from daemon.report import default_report_path
    from daemon.report.make import report_html, write_report
    from daemon.report.render import REPORT_TEMPLATE_VERSION
    from daemon.stages import registered_stages

    with ctx.db.read() as session:
        video = session.get(Video, ctx.video.id)
    if video is None:
        raise PermanentError(f"video #{ctx.video.id} is no longer in the database")
    order = [stage.name for stage in registered_stages()]  # the pipeline's order
    html = report_html(ctx.db, ctx.store, video, order)
    target = default_report_path(ctx.config.home_dir, video.sha256)
    size = write_report(ctx.store, target, html)
    return StageResult(
        data={"html": str(target), "bytes": size, "template_version": REPORT_TEMPLATE_VERSION},
        backend="html",
        model=f"report template v{REPORT_TEMPLATE_VERSION}",
        summary=f"{target.name} ({size / 1e6:.2f} MB)",
    )


def config_key(config: Any) -> dict[str, str]:
    """The page layout version: a new template remakes every report."""
    from daemon.report.render import REPORT_TEMPLATE_VERSION

    return {"template": REPORT_TEMPLATE_VERSION}


STAGE = Stage(
    name="report",
    run=run,
    requires=("predict",),
    resource="cpu",
    version="1",
    description="the per-video HTML report (scores, timelines, description)",
    config_key=config_key,
)
