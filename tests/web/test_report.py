"""The report without a browser: the report stage, its fingerprint, and how stage outputs
(present, partial or missing) become scores and timelines."""

from __future__ import annotations

from daemon.pipeline import Pipeline
from daemon.report import default_report_path
from daemon.report.gather import StageView
from daemon.report.render import score_rows
from daemon.report.timelines import spans_where, timelines
from daemon.runner import execute
from daemon.stages import probe
from daemon.stages.report import STAGE
from storage.models import TARGETS
from tests.support.media_factory import make_video


def test_report_stage_writes_the_page_and_records_it(make_ctx, tmp_path, config) -> None:
    ctx = make_ctx(make_video(tmp_path / "tiny clip.mp4", seconds=1.0))
    assert execute(probe.STAGE, ctx).kind == "done"
    outcome = execute(STAGE, ctx)
    assert outcome.kind == "done", outcome.message
    page = default_report_path(config.home_dir, ctx.video.sha256)
    html = page.read_text(encoding="utf-8")
    assert "tiny clip.mp4" in html and "analyze_face has not run yet" in html
    data = ctx.store.read_json(ctx.artifact_path("report.json"))["data"]
    assert data["html"] == str(page) and data["bytes"] == page.stat().st_size


def test_report_runs_after_predict_and_follows_its_inputs(config, database, monkeypatch) -> None:
    pipeline = Pipeline.default()
    assert pipeline.order[-1] == "report" and pipeline["report"].requires == ("predict",)
    before = pipeline.fingerprints(config, database)["report"]
    config.describe.max_tokens = config.describe.max_tokens - 1
    after_describe = pipeline.fingerprints(config, database)["report"]
    assert after_describe != before
    monkeypatch.setattr("daemon.report.render.REPORT_TEMPLATE_VERSION", "test")
    assert pipeline.fingerprints(config, database)["report"] != after_describe


def test_scores_degrade_without_intervals_reasons_or_train_mean() -> None:
    bare = {"scores": dict.fromkeys(TARGETS, 0.4), "intervals": {}, "reasons": {}, "train_mean": {}}
    rows = score_rows(bare)
    assert [r["target"] for r in rows] == list(TARGETS)
    assert all(r["lo"] is None and r["mean"] is None and r["reasons"] == [] for r in rows)
    full = {
        **bare,
        "intervals": {"openness": [-0.1, 0.7]},
        "reasons": {"openness": [{"section": s, "contribution": c} for s, c in
                                 (("Face", 0.01), ("Voice", -0.05), ("Words", 0.03), ("x", 0.0))]},
        "train_mean": {"openness": 0.52},
    }  # fmt: skip
    openness = score_rows(full)[0]
    assert (openness["lo"], openness["hi"], openness["mean"]) == (0.0, 70.0, 52.0)
    assert [r["section"] for r in openness["reasons"]] == ["Voice", "Words", "Face"]


def _face(**extra_series) -> StageView:
    t = [0.0, 0.2, 0.4, 0.6]
    series = {
        "t": t, "face": [True, True, False, True], "smile": [0.1, 0.5, None, 0.2],
        "eye_contact": [True, True, False, False], "blink": [0.1, 0.9, None, 0.2],
        **extra_series,
    }  # fmt: skip
    return StageView("analyze_face", "done", data={"series": series, "sample_fps": 5.0})


def test_face_timelines_show_action_units_wherever_they_are() -> None:
    flat = {
        s["id"]: s
        for s in timelines({"analyze_face": _face(au12_lip_corner=[0.1, 0.2, None, 0.3])})
    }
    labels = [s["label"] for s in flat["face"]["series"]]
    assert "smile" in labels and "au12_lip_corner" in labels
    measured = {s["id"]: s for s in timelines({"analyze_face": _face(au_smile=[0, 1, None, 0])})}
    assert "AU12 smile" in [s["label"] for s in measured["face"]["series"]]
    nested = _face(action_units={"AU06": [0.0, 0.4, None, 0.1]})
    face = {s["id"]: s for s in timelines({"analyze_face": nested})}["face"]
    assert "AU06" in [s["label"] for s in face["series"]]
    no_face = next(b for b in face["bands"] if b["label"] == "no face")
    assert no_face["spans"] == [[0.4, 0.6]]


def test_the_unvalidated_expression_classifier_is_not_plotted() -> None:
    # Its "happy" agreed with the smile blendshapes at kappa 0.14: no timeline shows its
    # classes, even when the stage output still carries them.
    view = _face(expression=["happy", "sad", None, "neutral"], expression_p=[0.9, 0.5, None, 0.7])
    view.data["expression_probs"] = {"classes": ["happy", "sad"], "frames": [[0.9, 0.1]] * 4}
    view.data["summary"] = {"dominant_expressions": ["happy"]}
    specs = timelines({"analyze_face": view})
    assert "expression" not in [s["id"] for s in specs]
    labels = {x["label"] for s in specs for x in s.get("series", [])}
    assert not labels & {"happy", "sad", "expression p"}
    assert all("dominant" not in str(s.get("subtitle", "")) for s in specs)


def test_missing_and_skipped_stages_give_reasons_not_plots() -> None:
    specs = timelines({"diarize": StageView("diarize", "skipped", note="no audio track")})
    by_id = {s["id"]: s for s in specs}
    assert by_id["turns"]["unavailable"] == "diarize was skipped: no audio track"
    assert by_id["face"]["unavailable"] == "analyze_face is not part of this video's pipeline"
    assert all(s["unavailable"] for s in specs)


def test_spans_join_consecutive_samples() -> None:
    t = [0.0, 0.2, 0.4, 0.6, 0.8]
    assert spans_where(t, [True, True, False, True, None], 0.2) == [[0.0, 0.4], [0.6, 0.8]]


def test_the_description_shown_is_the_one_the_serving_model_read(
    make_ctx, tmp_path, database
) -> None:
    from daemon.report.gather import ReportData, model_text
    from daemon.report.render import render_report
    from storage.db import utcnow
    from storage.models import Description, Video

    ctx = make_ctx(make_video(tmp_path / "talk.mp4", seconds=1.0))
    with database.write() as session:
        session.add(
            Description(
                clip_name="talk.mp4", feature_profile="transcript_only", template_version="1",
                text="What was said: only the words.", created_at=utcnow(),
            )
        )  # fmt: skip
    with database.read() as session:
        video = session.get(Video, ctx.video.id)
    describe = StageView("describe", "done", data={"feature_profile": "full", "text": "Video: all"})
    assert model_text(database, video, describe, {"feature_profile": "full"}) is None
    chosen = model_text(database, video, describe, {"feature_profile": "transcript_only"})
    assert chosen == {"profile": "transcript_only", "text": "What was said: only the words."}
    report = ReportData({"id": 1, "name": "talk.mp4", "sha256": "a" * 64}, {"describe": describe},
                        None, chosen)  # fmt: skip
    html = render_report(report, [])
    assert "What was said: only the words." in html and "Video: all" not in html


def test_head_timeline_marks_the_nods_the_stage_counted() -> None:
    t = [round(i * 0.2, 1) for i in range(25)]
    pitch = [0.0] * 25
    for i, v in ((4, -4), (5, -10), (6, -4), (14, -5), (15, -11), (16, -5)):
        pitch[i] = v
    view = StageView(
        "analyze_face", "done",
        data={"series": {"t": t, "face": [True] * 25, "pitch": pitch, "yaw": [0.0] * 25},
              "sample_fps": 5.0, "summary": {"nods_per_min": 4.8}},
    )  # fmt: skip
    head = {s["id"]: s for s in timelines({"analyze_face": view})}["head"]
    nods = next(b for b in head["bands"] if b["label"] == "nod")
    assert nods["spans"] == [[0.8, 1.2], [2.8, 3.2]]
    view.data["summary"]["nods_per_min"] = None  # left out as unmeasurable: nothing marked
    head = {s["id"]: s for s in timelines({"analyze_face": view})}["head"]
    assert next(b for b in head["bands"] if b["label"] == "nod")["spans"] == []


def test_reports_outside_the_store_are_written_with_a_write_log(make_ctx, tmp_path, config) -> None:
    from storage.artifacts import ArtifactStore

    ctx = make_ctx(make_video(tmp_path / "logged.mp4", seconds=1.0))
    log = tmp_path / "writes.log"
    ctx.store = ArtifactStore(config.store_dir, write_log=log)
    assert execute(probe.STAGE, ctx).kind == "done"
    outcome = execute(STAGE, ctx)
    assert outcome.kind == "done", outcome.message
    page = default_report_path(config.home_dir, ctx.video.sha256)
    assert page.is_file()
    logged = [line.split("\t")[2] for line in log.read_text().splitlines()]
    assert str(page.resolve()) in logged  # absolute: the page is outside the store
    assert f"artifacts/{ctx.video.sha256[:2]}/{ctx.video.sha256}/probe.json" in logged


def test_the_report_has_a_section_per_study_set(config, database, store, tmp_path) -> None:
    from daemon.cli import main
    from tests.web.test_results import (
        DETAILS,
        HIRING_DETAILS,
        HIRING_SCORES,
        HIRING_TOML,
        PANEL,
        add_set_prediction,
        add_video,
    )

    (config.home_dir / "lprd.toml").write_text(HIRING_TOML)
    hiring = {
        "name": "hiring", "description": "Hireability panel",
        "targets": [{"name": "hireability", "description": "Would you hire this person?",
                     "min": 1, "max": 7, "low": "would not hire", "high": "would hire"},
                    {"name": "warmth", "description": "How warm", "min": 0, "max": 100}],
    }  # fmt: skip
    add_video(database, store, 1, "both.mp4", DETAILS)
    add_set_prediction(database, 1, "v-hiring-1", hiring, HIRING_SCORES, HIRING_DETAILS)
    add_video(database, store, 2, "study-only.mp4", scored=False)
    add_set_prediction(database, 2, "v-panel-1", PANEL, {"calm": 1.5}, HIRING_DETAILS)
    with database.write() as session:
        from sqlalchemy import update

        from storage.models import StageRun

        session.execute(
            update(StageRun)
            .where(StageRun.video_id == 2, StageRun.stage == "predict")
            .values(status="done")
        )
    pages = {}
    for name in ("both.mp4", "study-only.mp4"):
        out = tmp_path / f"{name}.html"
        assert main(["--home", str(config.home_dir), "report", name, "-o", str(out)]) == 0
        pages[name] = out.read_text(encoding="utf-8")
    html = pages["both.mp4"]
    assert 'data-target="openness"' in html  # the built-in scores, as before
    assert html.index('id="scores"') < html.index('id="set-hiring"') < html.index('id="timelines"')
    section = html[html.index('id="set-hiring"') : html.index('id="timelines"')]
    assert "Scores: hiring" in section and "Hireability panel" in section
    assert "<strong>v-hiring-1</strong>" in section and "<strong>0.8123</strong>" in section
    assert "5.5" in section and "[4.6, 6.4]" in section and "62.0" in section
    assert "[51.0, 73.0]" in section and "scale 1 = would not hire … 7 = would hire" in section
    assert "transcript: +0.19" in section and "face: +3.1" in section
    assert 'class="fill" style="width:75.0%"' in section  # 5.5 on 1..7
    assert 'class="mean" style="left:50.0%"' in section  # the model's train mean, unit space
    only = pages["study-only.mp4"]
    assert 'id="set-panel"' in only and 'id="no-scores"' in only
    assert "no First Impressions model scored this video" in only and "below (panel)" in only
    assert "[-2.0, -0.5]" not in only and "1.5" in only
