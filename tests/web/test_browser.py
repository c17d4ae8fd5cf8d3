"""The report and the dashboard in headless Chromium, over a home where the daemon really
processed a First Impressions clip (offline backends) and a silent, faceless clip.

Screenshots go to test-artifacts/screenshots (docs/*.png are copies of them). Render time
and size against their targets are measured by bench/report.py."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import pytest

from daemon.cli import main
from daemon.config import load_config
from daemon.pipeline import Pipeline
from daemon.report.gather import StageView, gather, scores_view
from daemon.report.render import render_report, report_thumbs
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import TARGETS, Video
from tests.conftest import real_clips, requires_clips
from tests.support.browser import PageLog, chromium, requires_browser, screenshot
from tests.support.daemon_proc import start_daemon, stop_process, wait_for
from tests.support.media_factory import make_video

pytestmark = [requires_browser, requires_clips, pytest.mark.slow]
TOKEN = "browser-test-token-0123456789"
CLIP = "1DCnIad1Y0w.002.mp4"
FACELESS = "faceless-silent.mp4"


def _clip() -> Path:
    clips = {p.name: p for p in real_clips()}
    return clips.get(CLIP) or real_clips()[0]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A home where the daemon processed one real clip and one silent, faceless clip."""
    home = tmp_path_factory.mktemp("browser") / "home"
    home.mkdir()
    (home / "lprd.toml").write_text(
        "[inbox]\nstable_seconds = 0\n[workers]\npoll_interval_s = 0.2\nbackoff_base_s = 0\n"
    )
    assert main(["--home", str(home), "init"]) == 0
    shutil.copy(_clip(), home / "inbox" / _clip().name)
    make_video(home / "inbox" / FACELESS, seconds=3.0, fps=10, size=(320, 240))
    assert main(["--home", str(home), "run", "--until-idle"]) == 0
    return home


def _video(home: Path, name: str) -> tuple[Database, Video]:
    db = Database.at(home / "lprd.db")
    with db.read() as session:
        return db, session.query(Video).filter_by(name=name).one()


def _open(context, url: str):
    page = context.new_page()
    log = PageLog()
    log.watch(page)
    page.goto(url)
    page.wait_for_function("document.body.dataset.charts !== undefined", timeout=10_000)
    return page, log


def _predict_view_with_intervals_and_reasons() -> StageView:
    """The predict output in its extended form (scores, intervals, reasons, accuracy)."""
    scores = dict(zip(TARGETS, (0.61, 0.48, 0.55, 0.58, 0.52, 0.50), strict=True))
    return StageView(
        "predict", "done", "regression", "full-regression-v3",
        data={
            "scores": scores,
            "intervals": {t: [round(s - 0.09, 3), round(s + 0.08, 3)] for t, s in scores.items()},
            "interval_level": 0.9,
            "reasons": {t: [{"section": "How it was said", "contribution": 0.031},
                            {"section": "Face", "contribution": -0.018},
                            {"section": "What was said", "contribution": 0.007}] for t in TARGETS},
            "train_mean": dict.fromkeys(TARGETS, 0.5),
            "feature_profile": "full", "model_version": "full-regression-v3", "head": "regression",
            "base_model": "SmolLM2-135M-Instruct", "val_mean_accuracy": 0.8848,
            "val_baseline_mean_accuracy": 0.8814,
        },
    )  # fmt: skip


def test_report_of_a_real_clip_renders_every_plot(home, tmp_path) -> None:
    db, video = _video(home, _clip().name)
    store = ArtifactStore(home / "store")
    report = gather(db, store, video, Pipeline.default().order)
    report.stages["predict"] = _predict_view_with_intervals_and_reasons()
    report.scores = scores_view(db, report.stages["predict"], video.id)
    html = render_report(report, report_thumbs(report, Path(video.path)))
    db.dispose()
    out = tmp_path / "report.html"
    out.write_text(html, encoding="utf-8")
    assert out.stat().st_size < 5_000_000
    with chromium(offline=True) as context:
        page, log = _open(context, out.as_uri())
        screenshot(page, "report")
        assert not log.errors, log.errors
        assert all(u.startswith(("file:", "data:")) for u in log.requests), log.requests
        unavailable = page.locator(".timeline .unavailable").count()
        timelines = page.locator(".timeline").count()
        assert int(page.evaluate("document.body.dataset.charts")) == timelines - unavailable >= 7
        assert page.locator(".timeline canvas").count() >= timelines - unavailable
        assert page.locator(".score").count() == 6 and page.locator(".score .interval").count() == 6
        assert (
            page.locator(".score .mean").count() == 6 and page.locator(".reasons li").count() == 18
        )
        assert "Apparent personality, not a measurement of anyone" in page.inner_text("#scores")
        model_line = page.inner_text("#model-line")
        assert "0.8848" in model_line and "0.8814" in model_line
        assert page.locator("#thumbs img").count() == 4
        assert "speech_emotion was skipped" in page.inner_text("#timeline-speech_emotion")
        # The failed 7-class classifier is not drawn; the action units are.
        assert page.locator("#timeline-expression").count() == 0
        assert "AU12 smile" in page.inner_text("#timeline-face")
        description = page.inner_text("pre.description")
        assert description.startswith("Video:\n- The video lasts")
        page.locator("#transcript-text span").nth(3).hover()
        assert page.locator("#transcript-text span.now").count() >= 1


def test_lprd_report_on_a_skipped_clip_says_why(home) -> None:
    out = home / "faceless.html"
    assert main(["--home", str(home), "report", FACELESS, "-o", str(out)]) == 0
    with chromium(offline=True) as context:
        page, log = _open(context, out.as_uri())
        screenshot(page, "report-skipped")
        assert not log.errors, log.errors
        text = page.inner_text("#timelines")
        assert "analyze_face was skipped:" in text and "no face" in text.lower()
        assert "diarize was skipped:" in text and "transcribe was skipped:" in text
        scores = page.inner_text("#scores")
        assert "No scores yet: predict was skipped: no person was seen or heard" in scores
        assert page.locator(".timeline .unavailable").count() == page.locator(".timeline").count()


def test_lprd_report_default_path_for_the_real_clip(home) -> None:
    config = load_config(home=home, env={})
    db, video = _video(home, _clip().name)
    db.dispose()
    assert main(["--home", str(home), "report", video.sha256[:12]]) == 0
    written = config.home_dir / "reports" / f"{video.sha256}.html"
    html = written.read_text(encoding="utf-8")
    assert "<script src=" not in html and '<link rel="stylesheet"' not in html  # all inlined
    assert "no model promoted yet" in html


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(home: Path, host: str, port: int, **env: str) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LPRD_")}
    environ.update({"LPRD_SERVE__REFRESH_S": "1", **env})
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "--home", str(home), "serve", "--host", host,
         "--port", str(port)],
        env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def up() -> bool:
        try:
            urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1)
        except HTTPError:
            return True  # answering (e.g. 401)
        except (URLError, OSError):
            return proc.poll() is not None
        return True

    assert wait_for(up, timeout=30), "the dashboard did not start"
    assert proc.poll() is None, proc.stdout.read().decode()
    return proc


def _only_local(context) -> list[str]:
    """Abort any request that would leave this machine; return what was attempted."""
    attempted: list[str] = []

    def handle(route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:")):
            route.continue_()
        else:
            attempted.append(url)
            route.abort()

    context.route("**/*", handle)
    return attempted


def _register_model_versions(home: Path) -> list[str]:
    """Three transcript-only versions in the registry, as training would record them."""
    from daemon.learn.registry import promote_if_better, register_candidate

    db = Database.at(home / "lprd.db")
    versions = []
    for i, accuracy in enumerate((0.8821, 0.8848, 0.8839)):
        version = f"transcript_only-regression-test{i}"
        register_candidate(
            db, version=version, kind="regression", base_model="SmolLM2-135M-Instruct",
            template_version="1", feature_profile="transcript_only", train_count=400 + 100 * i,
            metrics={"baseline": {"mean_accuracy": 0.8814}}, val_mean_accuracy=accuracy,
            path=str(home / "models" / version),
        )  # fmt: skip
        promote_if_better(db, version)
        versions.append(version)
    version = "hiring-transcript_only-ridge-test0"  # a study's set: its own line and row
    register_candidate(
        db, version=version, kind="ridge", base_model="none", template_version="1",
        feature_profile="transcript_only", target_set="hiring", train_count=60,
        metrics={"baseline": {"mean_accuracy": 0.80}}, val_mean_accuracy=0.84,
        path=str(home / "models" / version),
    )  # fmt: skip
    promote_if_better(db, version)
    versions.append(version)
    db.dispose()
    return versions


def _add_study_prediction(home: Path, name: str) -> None:
    """A study set's prediction of `name`, recorded as the predict stage writes it (the set
    described with it), newer than its First Impressions scores and flagged."""
    import json

    from storage.db import utcnow
    from storage.models import Prediction

    hiring = {"name": "hiring", "description": "Hireability panel", "targets": [
        {"name": "hireability", "min": 1, "max": 7, "low": "would not hire", "high": "would hire"},
        {"name": "warmth", "min": 0, "max": 100}]}  # fmt: skip
    flag = {"kind": "transcript_length", "reason": "4 words; study texts had 30-200"}
    db, video = _video(home, name)
    with db.write() as session:
        session.add(Prediction(
            video_id=video.id, model_version="hiring-transcript_only-ridge-test0",
            target_set="hiring", scores_json=json.dumps({"hireability": 5.5, "warmth": 62.0}),
            details_json=json.dumps({"target_set": hiring, "flags": [flag],
                                     "intervals": {"hireability": [4.6, 6.4]}}),
            created_at=utcnow(),
        ))  # fmt: skip
    db.dispose()


def test_dashboard_pages_and_live_status(home, tmp_path) -> None:
    port = _free_port()
    proc = _serve(home, "127.0.0.1", port)
    base = f"http://127.0.0.1:{port}"
    daemon = None
    try:
        with chromium() as context:
            external = _only_local(context)
            page = context.new_page()
            log = PageLog()
            log.watch(page)
            _add_study_prediction(home, _clip().name)
            page.goto(f"{base}/videos")
            assert page.locator("#videos-table tr[data-state]").count() == 2
            marker = page.locator("#videos-table a.study-set")
            assert marker.count() == 1 and marker.inner_text() == "hiring"
            assert "hiring: outside training range" in page.inner_text("#videos-table")
            screenshot(page, "dashboard-videos-sets")
            # No face and no speech: predict is skipped, so the faceless clip is done.
            page.select_option("#state-filter", "done")
            page.click("form.filters button")
            page.wait_for_url("**/videos?state=done*")
            page.fill("#name-search", "faceless")
            page.click("form.filters button")
            assert page.locator("#videos-table tr[data-state]").count() == 1
            screenshot(page, "dashboard-videos")
            page.click("#videos-table a")
            page.wait_for_function("document.body.dataset.charts !== undefined")
            assert "analyze_face was skipped" in page.inner_text("#timelines")
            page.goto(base + "/failures")
            screenshot(page, "dashboard-failures")
            versions = _register_model_versions(home)
            page.goto(base + "/models")
            page.wait_for_function("document.body.dataset.charts === '1'")
            assert page.locator("#models-plot canvas").count() >= 1
            assert page.locator("#models-table tr").count() == len(versions) + 1
            assert "promoted" in page.inner_text("#models-table")
            assert page.locator('#models-table td[data-set="hiring"]').count() == 1
            screenshot(page, "dashboard-models")
            page.goto(base + "/")
            cell = page.locator('#stages-table tr[data-stage="probe"] td[data-status="done"]')
            assert cell.inner_text() == "2"
            make_video(home / "inbox" / "third.mp4", seconds=1.0, fps=10, size=(160, 120))
            daemon = start_daemon(home, "--until-idle", log=tmp_path / "daemon.log")
            page.wait_for_function(
                """() => document.querySelector('#stages-table tr[data-stage="probe"] '
                   + 'td[data-status="done"]').textContent === "3" """,
                timeout=60_000,
            )
            assert page.inner_text("#tile-videos") == "3"
            serving = page.inner_text("#serving")
            assert "hiring" in serving and "0.8400" in serving and "0.8000" in serving
            screenshot(page, "dashboard-status")
            assert not log.errors, log.errors
            assert not external, external
    finally:
        stop_process(proc)
        if daemon is not None:
            stop_process(daemon)


def _outward_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent; picks the outward interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_token_is_enforced_on_a_public_bind(home) -> None:
    port = _free_port()
    proc = _serve(home, "0.0.0.0", port, LPRD_SERVE_TOKEN=TOKEN)
    host = _outward_address() or "127.0.0.1"
    base = f"http://{host}:{port}"
    try:
        with chromium() as context:
            page = context.new_page()
            for path in ("/", "/videos", "/videos/1", "/api/status", "/models"):
                assert page.goto(base + path).status == 401, path
            assert "token required" in page.inner_text("body")
            page.goto(f"{base}/videos?token={TOKEN}")
            assert page.url == f"{base}/videos"
            assert page.locator("#videos-table tr[data-state]").count() == 3
            assert page.goto(base + "/api/status").status == 200
    finally:
        stop_process(proc)
