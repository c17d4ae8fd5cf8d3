"""The dashboard app without a browser: every page answers, nothing can write, the token is
enforced, and the video list pages and filters correctly."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from daemon.config import load_config
from daemon.errors import ConfigError
from daemon.pipeline import Pipeline
from daemon.web import queries
from daemon.web.app import create_app, open_read_only
from daemon.web.auth import check_bind, is_loopback, serve_token
from storage.models import StageRun, Video
from storage.videos import register_video

TOKEN = "s3cret-token-for-tests"

pytestmark = pytest.mark.both_backends


def add_videos(database, count: int) -> None:
    """`count` videos; every 7th failed at probe, every 5th still pending, the rest done."""
    plans = Pipeline.default().plans.values()
    with database.write() as session:
        for i in range(1, count + 1):
            reg = register_video(
                session, sha256=f"{i:064x}", name=f"clip{i:04d}.mp4", path=f"/in/clip{i}.mp4",
                size_bytes=1000, plans=plans,
            )  # fmt: skip
            status = "failed" if i % 7 == 0 else "pending" if i % 5 == 0 else "done"
            values = {"status": status, "last_error": "corrupt" if status == "failed" else None}
            session.execute(
                update(StageRun).where(StageRun.video_id == reg.video_id).values(**values)
            )


@pytest.fixture
def client(config, database):
    add_videos(database, 60)
    with TestClient(create_app(config)) as c:
        yield c


def test_every_page_answers_and_nothing_accepts_a_write(client) -> None:
    for path in ("/", "/api/status", "/videos", "/videos?state=failed&q=clip00", "/failures",
                 "/models", "/videos/3", "/assets/uPlot.iife.min.js", "/assets/dashboard.js"):  # fmt: skip
        assert client.get(path).status_code == 200, path
    assert client.get("/videos/9999").status_code == 404
    assert client.get("/videos?state=bogus").status_code == 400
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/videos").status_code == 405


def test_status_api_has_the_figures_of_lprd_status(client, config, database) -> None:
    from daemon.runtime.status import gather_status

    served = client.get("/api/status").json()
    direct = gather_status(database, Pipeline.default().order, config=config)
    assert served["videos"] == direct["videos"] == 60
    assert served["stages"] == direct["stages"]
    assert served["remaining_stage_runs"] == direct["remaining_stage_runs"]


def test_the_database_is_opened_read_only(config, database) -> None:
    ro = open_read_only(config.database_url)
    with pytest.raises(DBAPIError, match="readonly|read-only"), ro.write() as session:
        session.execute(update(Video).values(name="x"))
    ro.dispose()


@pytest.mark.parametrize("list_max_rows", [0, 5000], ids=["walk videos", "list ids"])
def test_video_list_pages_filters_and_searches(
    config, database, monkeypatch, list_max_rows
) -> None:
    monkeypatch.setattr(queries, "LIST_MAX_ROWS", list_max_rows)
    add_videos(database, 60)
    first = queries.video_page(database, 25)
    assert [r["id"] for r in first.rows] == list(range(60, 35, -1))
    assert first.total == 60 and first.after is None and first.before == 36
    second = queries.video_page(database, 25, before=first.before)
    assert [r["id"] for r in second.rows] == list(range(35, 10, -1))
    back = queries.video_page(database, 25, after=second.after)
    assert [r["id"] for r in back.rows] == [r["id"] for r in first.rows]
    last = queries.video_page(database, 25, before=second.before)
    assert [r["id"] for r in last.rows] == list(range(10, 0, -1)) and last.before is None
    failed = queries.video_page(database, 100, state="failed")
    assert [r["id"] for r in failed.rows] == [56, 49, 42, 35, 28, 21, 14, 7]
    assert {r["state"] for r in failed.rows} == {"failed"} and failed.total is None
    pending = queries.video_page(database, 100, state="pending")
    assert {r["id"] for r in pending.rows} == {i for i in range(1, 61) if i % 5 == 0 and i % 7}
    done = queries.video_page(database, 100, state="done")
    assert len(done.rows) == 60 - 8 - len(pending.rows)
    final_stage = Pipeline.default().order[-1]
    assert queries.video_page(database, 100, state="done", last_stage=final_stage).rows == done.rows
    assert done.rows[0]["finished"] == done.rows[0]["stages"] == len(Pipeline.default().order)
    found = queries.video_page(database, 100, query="clip004")
    assert [r["name"] for r in found.rows] == [f"clip{i:04d}.mp4" for i in range(49, 39, -1)]
    assert queries.video_page(database, 100, query="CLIP004").rows == found.rows
    assert queries.video_page(database, 100, query="%").rows == []  # LIKE wildcards are literal


def test_token_is_enforced(config, database) -> None:
    app = create_app(config, token=TOKEN)
    with TestClient(app, follow_redirects=False) as c:
        for path in ("/", "/api/status", "/videos", "/videos/1", "/assets/dashboard.js"):
            assert c.get(path).status_code == 401, path
        assert (
            c.get("/", headers={"Authorization": "Bearer wrong-token-of-length"}).status_code == 401
        )
        assert c.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        entry = c.get(f"/videos?token={TOKEN}&state=done")
        assert entry.status_code == 303 and entry.headers["location"] == "/videos?state=done"
        assert "HttpOnly" in entry.headers["set-cookie"]
        assert c.get("/api/status").status_code == 200  # the cookie now carries the token


def test_binding_beyond_loopback_needs_a_token(tmp_path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    check_bind("127.0.0.1", None)
    with pytest.raises(ConfigError, match="LPRD_SERVE_TOKEN"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError, match="16 characters"):
        check_bind("0.0.0.0", "short")
    check_bind("0.0.0.0", TOKEN)
    config = load_config(home=tmp_path, env={"LPRD_SERVE_TOKEN": TOKEN})
    assert serve_token(config, {"LPRD_SERVE_TOKEN": TOKEN}) == TOKEN
    assert serve_token(config, {}) is None
    from_file = load_config(home=tmp_path, env={"LPRD_SERVE__TOKEN": TOKEN})
    assert serve_token(from_file, {}) == TOKEN


def test_serve_refuses_a_public_bind_without_token(tmp_path, capsys, monkeypatch) -> None:
    from daemon.cli import main

    monkeypatch.delenv("LPRD_SERVE_TOKEN", raising=False)
    assert main(["--home", str(tmp_path), "init"]) == 0
    assert main(["--home", str(tmp_path), "serve", "--host", "0.0.0.0"]) == 2
    assert "LPRD_SERVE_TOKEN" in capsys.readouterr().err


def test_a_current_stored_report_is_served_with_the_dashboard_bar(client, config) -> None:
    from daemon.report import default_report_path
    from daemon.report.render import NAV_MARKER

    stored = default_report_path(config.home_dir, f"{1:064x}")
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(f"<html><body>{NAV_MARKER}<main>the stored page</main></body></html>")
    served = client.get("/videos/1").text  # video 1's report stage is done
    assert (
        "the stored page" in served and '<nav class="top">' in served and NAV_MARKER not in served
    )
    stored_failed = default_report_path(config.home_dir, f"{7:064x}")
    stored_failed.write_text("<html><body>an old page</body></html>")
    live = client.get("/videos/7").text  # video 7 failed: rendered from its records now
    assert "an old page" not in live and "clip0007.mp4" in live


def test_a_report_rendered_on_request_is_kept_until_its_records_change(
    client, database, monkeypatch
) -> None:
    from datetime import timedelta

    from daemon.report import make
    from storage.db import utcnow
    from storage.models import Prediction

    renders = []
    real = make.report_html

    def counting(db, store, video, order, nav=None):
        renders.append(video.id)
        return real(db, store, video, order, nav=nav)

    monkeypatch.setattr(make, "report_html", counting)
    first = client.get("/videos/7").text  # failed: no stored page, rendered from records
    assert client.get("/videos/7").text == first and renders == [7]
    client.get("/videos/14")
    assert renders == [7, 14]
    with database.write() as session:  # a stage's output changes: rendered again
        session.execute(
            update(StageRun)
            .where(StageRun.video_id == 7, StageRun.stage == "probe")
            .values(status="done", last_error=None, updated_at=utcnow() + timedelta(seconds=1))
        )
    client.get("/videos/7")
    assert renders == [7, 14, 7]
    client.get("/videos/7")
    assert renders == [7, 14, 7]
    with database.write() as session:  # a new prediction: rendered again
        session.add(Prediction(video_id=7, model_version="v1", openness=0.5, created_at=utcnow()))
    client.get("/videos/7")
    client.get("/videos/14")  # another video's change does not touch this one
    assert renders == [7, 14, 7, 7]


def test_the_report_cache_is_bounded() -> None:
    from daemon.web.app import ReportCache

    cache = ReportCache(pages=2, chars=10)
    cache.put(1, ("a",), "xxxx")
    cache.put(2, ("a",), "yyyy")
    assert cache.get(1, ("a",)) == "xxxx" and cache.get(1, ("b",)) is None
    cache.put(3, ("a",), "zzzz")  # over 2 pages: the least recently used (2) goes
    assert cache.get(2, ("a",)) is None and len(cache) == 2
    cache.put(4, ("a",), "wwwwwwww")  # over 10 characters: the oldest go until it fits
    assert len(cache) == 1 and cache.get(4, ("a",)) == "wwwwwwww"
    cache.put(5, ("a",), "v" * 11)  # larger than the whole cache: not kept
    assert cache.get(5, ("a",)) is None


def test_on_loopback_only_the_dashboards_own_host_names_are_served(config, database) -> None:
    app = create_app(config, bind=("127.0.0.1", 8765))
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.get("/").status_code == 200
        for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765", "LOCALHOST:8765"):
            assert c.get("/api/status", headers={"host": host}).status_code == 200, host
        for host in ("evil.example:8765", "evil.example", "localhost:80", "127.0.0.1", ""):
            answer = c.get("/api/status", headers={"host": host})
            assert answer.status_code == 421, host
            assert "videos" not in answer.text
    public = create_app(config, token=TOKEN, bind=("0.0.0.0", 8765))  # the token guards it
    with TestClient(public, base_url="http://lprd.example:8765") as c:
        assert c.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_huge_numbers_and_searches_are_refused_not_errors(client) -> None:
    for path in ("/videos/9223372036854775808", "/videos/" + "9" * 400):
        assert client.get(path).status_code == 404, path
    assert client.get("/videos/2147483648").status_code == 404  # past an INTEGER column
    for query in ("before=9223372036854775808", "after=-99999999999999999999", "q=" + "x" * 50_000):
        assert client.get(f"/videos?{query}").status_code == 400, query[:40]
        assert client.get(f"/api/videos?{query}").status_code == 400, query[:40]


def test_a_token_link_never_redirects_off_site(config, database) -> None:
    with TestClient(create_app(config, token=TOKEN), follow_redirects=False) as c:
        entry = c.get(f"http://testserver//evil.example/?token={TOKEN}")
        assert entry.status_code == 303 and entry.headers["location"] == "/evil.example/"


def test_the_video_list_marks_videos_scored_outside_the_training_range(client, database) -> None:
    import json

    from storage.db import utcnow
    from storage.models import TARGETS, Prediction

    reason = "transcript 586 words; training transcripts 0-85 words"
    with database.write() as session:
        for vid, version, flags in ((58, "m1", []), (59, "m1", []), (59, "m2", [reason])):
            details = {"flags": [{"kind": "transcript_length", "reason": r} for r in flags]}
            session.add(
                Prediction(
                    video_id=vid, model_version=version, details_json=json.dumps(details),
                    created_at=utcnow(), **{t: 0.5 for t in TARGETS},
                )
            )  # fmt: skip
    rows = {r["id"]: r for r in queries.video_page(database, 100).rows}
    assert rows[59]["flags"] == [reason] and rows[58]["flags"] == rows[60]["flags"] == []
    page = client.get("/videos").text  # the newest 50: 59 is on it
    assert page.count("outside training range") == 1 and reason in page


def test_each_target_set_is_shown_on_its_own(config, database, store) -> None:
    """A video scored on First Impressions and on a study's set: the list shows the
    built-in set's flag and the study set's marker with its own flag, never one set's flag
    as the other's; the video's page shows both sets, built-in first, each on its scale with
    its serving model and its validation figure beside the baseline; the models page names
    each version's set."""
    import re

    from tests.web.test_results import (
        DETAILS,
        FLAG,
        HIRING_DETAILS,
        HIRING_SCORES,
        HIRING_TOML,
        LONG_DETAILS,
        add_set_prediction,
        add_video,
    )

    (config.home_dir / "lprd.toml").write_text(HIRING_TOML)
    config.targets = load_config(home=config.home_dir, env={}).targets
    hiring = {"name": "hiring", "description": "Hireability panel", "targets": [
        {"name": "hireability", "min": 1, "max": 7, "low": "would not hire",
         "high": "would hire", "first_impressions": "interview"},
        {"name": "warmth", "min": 0, "max": 100}]}  # fmt: skip
    study_flag = {"kind": "transcript_length", "reason": "4 words; study texts had 30-200"}
    # clip-a: clean First Impressions scores, then flagged hiring scores (newer);
    # long: flagged First Impressions scores, then clean hiring scores (newer); old: FI only.
    add_video(database, store, 1, "clip-a.mp4", DETAILS)
    add_set_prediction(database, 1, "v-hiring-1", hiring, HIRING_SCORES,
                       {**HIRING_DETAILS, "flags": [study_flag]})  # fmt: skip
    add_video(database, store, 2, "long.mp4", LONG_DETAILS)
    add_set_prediction(database, 2, "v-hiring-1", hiring, {"hireability": 3.0, "warmth": 40.0},
                       HIRING_DETAILS)  # fmt: skip
    add_video(database, store, 3, "old.mp4", None)
    rows = {r["name"]: r for r in queries.video_page(database, 10).rows}
    assert rows["clip-a.mp4"]["flags"] == [] and rows["long.mp4"]["flags"] == [FLAG["reason"]]
    assert rows["clip-a.mp4"]["sets"] == [
        {"name": "hiring", "model_version": "v-hiring-1", "flags": [study_flag["reason"]]}
    ]
    assert rows["long.mp4"]["sets"] == [
        {"name": "hiring", "model_version": "v-hiring-1", "flags": []}
    ]
    assert rows["old.mp4"]["flags"] == rows["old.mp4"]["sets"] == []
    with TestClient(create_app(config)) as client:
        page = client.get("/videos").text
        cells = {
            name: cell
            for cell, name in re.findall(r'(<td><a href="/videos/\d+">([^<]+)</a>.*?</td>)', page, re.S)
        }  # fmt: skip
        a, long, old = cells["clip-a.mp4"], cells["long.mp4"], cells["old.mp4"]
        assert 'class="pill study-set" data-set="hiring" href="/videos/1#set-hiring"' in a
        assert "hiring: outside training range" in a and study_flag["reason"] in a
        assert FLAG["reason"] not in a and a.count("outside training range") == 1
        assert '<span class="flag" title="12 words; training texts had 25-90">' in long
        assert 'data-set="hiring"' in long and "hiring: outside training range" not in long
        assert study_flag["reason"] not in long
        assert "outside training range" not in old and "study-set" not in old
        assert 'id="sets-note"' in page
        api = {r["name"]: r for r in client.get("/api/videos").json()["rows"]}
        assert api["clip-a.mp4"]["sets"][0]["flags"] == [study_flag["reason"]]

        report = client.get("/videos/1").text
        fi, study = report.index('<section id="scores">'), report.index('id="set-hiring"')
        assert fi < study
        assert "v-full-3" in report[fi:study] and "0.8812" in report[fi:study]
        part = report[study:]
        assert "Serving model <strong>v-hiring-1</strong>" in part
        assert "<strong>0.8123</strong>" in part and "<strong>0.7955</strong>" in part
        assert "5.5" in part and "[4.6, 6.4]" in part and "62.0" in part and "[51.0, 73.0]" in part
        assert "scale 1 = would not hire … 7 = would hire" in part and study_flag["reason"] in part
        assert "v-full-3" not in part

        models = client.get("/models").text
        assert '<td data-set="hiring">hiring</td>' in models
        assert '"target_set": "hiring"' in models or '"target_set":"hiring"' in models
