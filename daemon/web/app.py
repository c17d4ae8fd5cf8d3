"""The read-only dashboard: a Starlette app over lprd's database and artifact store.

Every route is GET (Starlette answers 405 to anything else) and the database connection
is opened read-only (`PRAGMA query_only` on SQLite, read-only transactions on
PostgreSQL), so no page can change anything. Nothing here imports
torch or any model library.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import asdict
from html import escape
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from daemon import results
from daemon.config import Config
from daemon.errors import LprdError
from daemon.pipeline import Pipeline
from daemon.report import default_report_path
from daemon.report.render import NAV_MARKER, assets, environment, script_json
from daemon.runtime.status import gather_status
from daemon.targets import TargetSet, target_sets
from daemon.web import queries
from daemon.web.auth import HostMiddleware, TokenMiddleware, allowed_hosts, is_loopback
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import DONE, StageRun, Video

ASSET_TYPES = {"lprd.css": "text/css", "uPlot.min.css": "text/css"}
ASSET_KEYS = {
    "lprd.css": "lprd_css",
    "uPlot.min.css": "uplot_css",
    "uPlot.iife.min.js": "uplot_js",
    "dashboard.js": "dashboard_js",
}
MAX_ID = 2**31 - 1  # ids are INTEGER columns (32 bits on PostgreSQL): beyond, no such row
MAX_QUERY_CHARS = 500  # no file name is longer; far longer LIKE patterns fail in SQLite
# Reports rendered on request (their report stage has not written the page yet) are kept,
# least recently used first out, up to this many pages and this many characters in all.
REPORT_CACHE_PAGES = 32
REPORT_CACHE_CHARS = 64 * 2**20
PAGES = (("/", "Status"), ("/videos", "Videos"), ("/failures", "Failures"), ("/models", "Models"))


def open_read_only(url: str) -> Database:
    """The database, every connection of it read-only (writes raise)."""
    return Database(url, read_only=True)


class ReportCache:
    """Rendered report pages by video id, each valid for one database signature of the
    video (queries.report_signature); bounded in pages and characters, LRU order."""

    def __init__(self, pages: int = REPORT_CACHE_PAGES, chars: int = REPORT_CACHE_CHARS) -> None:
        self.pages, self.chars = pages, chars
        self._entries: OrderedDict[int, tuple[tuple[Any, ...], str]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, video_id: int, signature: tuple[Any, ...]) -> str | None:
        with self._lock:
            entry = self._entries.get(video_id)
            if entry is None or entry[0] != signature:
                return None
            self._entries.move_to_end(video_id)
            return entry[1]

    def put(self, video_id: int, signature: tuple[Any, ...], html: str) -> None:
        with self._lock:
            self._drop(video_id)
            if len(html) > self.chars:
                return
            self._entries[video_id] = (signature, html)
            self._size += len(html)
            while len(self._entries) > self.pages or self._size > self.chars:
                self._drop(next(iter(self._entries)))

    def _drop(self, video_id: int) -> None:
        entry = self._entries.pop(video_id, None)
        if entry is not None:
            self._size -= len(entry[1])

    def __len__(self) -> int:
        return len(self._entries)


class Dashboard:
    """The dashboard's state (config, database, store) and its page handlers."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = open_read_only(config.database_url)
        self.store = ArtifactStore(config.store_dir)
        self.order = Pipeline.default(config.stages).order
        self.env = environment("daemon.web")
        self.reports = ReportCache()

    def page(self, template: str, request: Request, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            nav=self.nav(request.url.path), config=self.config, **context
        )
        return HTMLResponse(html)

    def nav(self, path: str) -> str:
        return self.env.get_template("nav.html.j2").render(pages=PAGES, path=path)

    def status_json(self) -> dict[str, Any]:
        return gather_status(self.db, config=self.config)  # exactly what `lprd status --json` reads

    def status(self, request: Request) -> HTMLResponse:
        return self.page(
            "status.html.j2", request, status_json=script_json(self.status_json()),
            refresh_s=self.config.serve.refresh_s,
        )  # fmt: skip

    def api_status(self, request: Request) -> JSONResponse:
        return JSONResponse(self.status_json(), headers={"cache-control": "no-store"})

    def video_page(self, request: Request) -> queries.VideoPage:
        q = request.query_params
        state = q.get("state") or None
        if state and state not in queries.VIDEO_STATES:
            raise HTTPException(400, f"unknown state {state[:40]!r}")
        if len(q.get("q") or "") > MAX_QUERY_CHARS:
            raise HTTPException(400, f"search text over {MAX_QUERY_CHARS} characters")
        return queries.video_page(
            self.db, self.config.serve.page_size, state, q.get("q") or None,
            before=_int(q.get("before")), after=_int(q.get("after")), last_stage=self.order[-1],
            set_order=list(target_sets(self.config)),
        )  # fmt: skip

    def videos(self, request: Request) -> HTMLResponse:
        q = request.query_params
        return self.page(
            "videos.html.j2", request, page=self.video_page(request), state=q.get("state") or "",
            query=q.get("q") or "", states=queries.VIDEO_STATES,
            study_sets=[name for name in target_sets(self.config) if name != results.DEFAULT_SET],
        )  # fmt: skip

    def api_videos(self, request: Request) -> JSONResponse:
        return JSONResponse(asdict(self.video_page(request)))

    def video_report(self, request: Request) -> HTMLResponse:
        """The page the report stage wrote, if it is current; else one rendered from the
        video's records, kept until they change (rendering takes seconds for a long video)."""
        from daemon.report.make import report_html

        video_id = request.path_params["video_id"]
        if video_id > MAX_ID:
            raise HTTPException(404, "no such video")
        with self.db.read() as session:
            video = session.get(Video, video_id)
            run = session.scalars(
                select(StageRun).where(StageRun.video_id == video.id, StageRun.stage == "report")
            ).first() if video is not None else None  # fmt: skip
            signature = queries.report_signature(session, video) if video is not None else ()
        if video is None:
            raise HTTPException(404, "no such video")
        stored = default_report_path(self.config.home_dir, video.sha256)
        if run is not None and run.status == DONE and stored.exists():
            html = stored.read_text(encoding="utf-8").replace(NAV_MARKER, self.nav(""), 1)
            return HTMLResponse(html)
        html = self.reports.get(video.id, signature)
        if html is None:
            html = report_html(self.db, self.store, video, self.order, nav=self.nav(""))
            self.reports.put(video.id, signature, html)
        return HTMLResponse(html)

    def failures(self, request: Request) -> HTMLResponse:
        status = self.status_json()
        return self.page(
            "failures.html.j2", request, failures=queries.failures(self.db),
            inbox=status["inbox"], waiting=status["waiting"],
        )  # fmt: skip

    def models(self, request: Request) -> HTMLResponse:
        versions = queries.model_versions(self.db)
        return self.page(
            "models.html.j2", request, versions=versions, runs=queries.training_runs(self.db),
            plot_json=script_json(versions),
        )  # fmt: skip

    def results_csv(self, request: Request) -> StreamingResponse:
        """`lprd results` as a CSV download, streamed (`?set=NAME`, `?measures=1`,
        `?segments=1`)."""
        q = request.query_params
        target_set = self.target_set(q.get("set"))
        segments, measures = _on(q, "segments"), _on(q, "measures")
        cols = _columns(target_set, segments=segments, measures=measures)
        rows = results.rows(self.db, self.store, target_set, segments=segments, measures=measures)
        return _csv_download(
            results.csv_chunks(rows, cols), _download_name("lprd-results", target_set)
        )

    def results_dictionary(self, request: Request) -> StreamingResponse:
        """The data dictionary of the download with the same options."""
        q = request.query_params
        target_set = self.target_set(q.get("set"))
        cols = _columns(target_set, segments=_on(q, "segments"), measures=_on(q, "measures"))
        name = _download_name("lprd-results", target_set, ".dictionary")
        return _csv_download(results.dictionary_chunks(cols), name)

    def target_set(self, name: str | None) -> TargetSet:
        """The target set asked for (default First Impressions): declared in the config
        or recorded with stored predictions; 400 for an unknown one."""
        if name is not None and len(name) > MAX_QUERY_CHARS:
            raise HTTPException(400, f"set name over {MAX_QUERY_CHARS} characters")
        try:
            return results.find_set(name or None, self.config, self.db)
        except LprdError as exc:
            raise HTTPException(400, str(exc)) from None

    def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSET_KEYS:
            raise HTTPException(404, "no such asset")
        media = ASSET_TYPES.get(name, "text/javascript")
        body = web_assets()[ASSET_KEYS[name]]
        return Response(body, media_type=media, headers={"cache-control": "max-age=3600"})


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise HTTPException(400, f"not a number: {value[:40]!r}") from None
    if abs(number) > MAX_ID:
        raise HTTPException(400, f"out of range: {value[:40]}")
    return number


def _on(params: Any, name: str) -> bool:
    return params.get(name, "") in ("1", "true", "yes", "on")


def _columns(target_set: TargetSet, **options: bool) -> list[results.Column]:
    """The results' columns of a set; 400 when its targets' columns clash with others."""
    try:
        return results.columns(target_set, **options)
    except LprdError as exc:
        raise HTTPException(400, str(exc)) from None


def _download_name(stem: str, target_set: TargetSet, suffix: str = "") -> str:
    """`lprd-results.csv` for First Impressions, `lprd-results-hiring.csv` for a study's
    set (anything but letters, digits, '-' and '_' in a recorded name becomes '_')."""
    tag = "" if target_set.builtin else "-" + re.sub(r"[^A-Za-z0-9_-]", "_", target_set.name)
    return f"{stem}{tag}{suffix}.csv"


def _csv_download(chunks: Any, filename: str) -> StreamingResponse:
    headers = {
        "content-disposition": f'attachment; filename="{filename}"',
        "cache-control": "no-store",
    }
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)


def web_assets() -> dict[str, str]:
    """The report's assets plus the dashboard's own script."""
    from importlib import resources

    script = (resources.files("daemon.web") / "assets" / "dashboard.js").read_text("utf-8")
    return {**assets(), "dashboard_js": script}


async def _http_error(request: Request, exc: HTTPException) -> HTMLResponse:
    body = (
        f"<!doctype html><title>lprd: {exc.status_code}</title><h1>{exc.status_code}</h1>"
        f"<p>{escape(str(exc.detail))}</p><p><a href='/'>status</a></p>"
    )
    return HTMLResponse(body, exc.status_code)


def create_app(
    config: Config, token: str | None = None, bind: tuple[str, int] | None = None
) -> Starlette:
    """The dashboard app; with a `token`, every request must show it; `bind` (host,
    port) on loopback answers only requests that name it in their `Host` header."""
    board = Dashboard(config)
    routes = [
        Route("/", board.status),
        Route("/api/status", board.api_status),
        Route("/videos", board.videos),
        Route("/api/videos", board.api_videos),
        Route("/videos/{video_id:int}", board.video_report),
        Route("/results.csv", board.results_csv),
        Route("/results.dictionary.csv", board.results_dictionary),
        Route("/failures", board.failures),
        Route("/models", board.models),
        Route("/assets/{name}", board.asset),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.dashboard = board
    if token:
        app.add_middleware(TokenMiddleware, token=token)
    if bind is not None and is_loopback(bind[0]):
        app.add_middleware(HostMiddleware, allowed=allowed_hosts(*bind))
    return app
