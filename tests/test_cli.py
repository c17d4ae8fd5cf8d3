"""The `lprd` commands users type: init, add, status, show, retry, forget, models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.cli import main
from daemon.config import Config, load_config
from daemon.errors import ConfigError
from daemon.learn.jobs.supervisor import write_config_copy
from storage.db import Database
from storage.models import StageRun, Video
from tests.conftest import real_clips, requires_clips
from tests.support.daemon_proc import inbox_states, stage_states, without_file_read_override
from tests.support.media_factory import make_video, tone


def lprd(home: Path, *args: str, capsys=None) -> tuple[int, str]:
    code = main(["--home", str(home), *args])
    out = capsys.readouterr().out if capsys else ""
    return code, out


def test_init_twice_is_harmless(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    assert lprd(home, "init", capsys=capsys)[0] == 0
    config_file = home / "lprd.toml"
    text = config_file.read_text()
    assert "[workers]" in text and "stable_seconds" in text
    config_file.write_text(text.replace("# cpu = 2", "cpu = 3"))
    code, out = lprd(home, "init", capsys=capsys)
    assert code == 0 and "(kept)" in out
    assert "cpu = 3" in config_file.read_text()
    assert load_config(home=home, env={}).workers.cpu == 3
    for folder in ("inbox", "store"):
        assert (home / folder).is_dir()


def test_invalid_config_is_refused_naming_the_field(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text("[workers]\ncpu = 500\n")
    with pytest.raises(ConfigError, match=r"workers\.cpu"):
        load_config(home=home, env={})
    (home / "lprd.toml").write_text("[workers]\ncpus = 2\n")
    with pytest.raises(ConfigError, match=r"workers\.cpus"):
        load_config(home=home, env={})
    (home / "lprd.toml").write_text("")
    with pytest.raises(ConfigError, match=r"inbox\.stable_seconds"):
        load_config(home=home, env={"LPRD_INBOX__STABLE_SECONDS": "-3"})
    with pytest.raises(ConfigError, match=r"did you mean LPRD_DATABASE__URL \(two underscores\)"):
        load_config(home=home, env={"LPRD_DATABASE_URL": "sqlite:////tmp/x.db"})
    proc = subprocess.run(
        [sys.executable, "-m", "daemon", "--home", str(home), "run"],
        env={"LPRD_WORKERS__GPU": "0", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "workers.gpu" in proc.stderr


def test_stale_after_must_cover_several_heartbeats(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text("[workers]\nheartbeat_s = 120\nstale_after_s = 5\n")
    with pytest.raises(ConfigError, match=r"workers\.stale_after_s.*workers\.heartbeat_s"):
        load_config(home=home, env={})
    with pytest.raises(ConfigError, match=r"workers\.stale_after_s \(20\).*= 30"):
        load_config(
            home=home, env={"LPRD_WORKERS__HEARTBEAT_S": "10", "LPRD_WORKERS__STALE_AFTER_S": "20"}
        )
    config = load_config(home=home, env={"LPRD_WORKERS__STALE_AFTER_S": "360"})
    assert config.workers.stale_after_s == 360 and config.workers.heartbeat_s == 120
    proc = _lprd_process("--home", str(home), "run", "--until-idle")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "workers.stale_after_s" in proc.stderr and "workers.heartbeat_s" in proc.stderr


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text("[workers]\ncpu = 3\n")
    config = load_config(home=home, env={"LPRD_WORKERS__CPU": "5", "LPRD_DEVICE": "cpu"})
    assert config.workers.cpu == 5 and config.device == "cpu"
    assert config.inbox_dir == home.resolve() / "inbox"


def test_database_url_defaults_to_the_sqlite_file_and_can_be_overridden(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = load_config(home=home, env={})
    assert config.database_url == f"sqlite:///{home.resolve() / 'lprd.db'}"
    url = "postgresql+psycopg://lprd:pw@db.example/lprd"
    assert load_config(home=home, env={"LPRD_DATABASE__URL": url}).database_url == url
    with pytest.raises(ConfigError, match=r"database\.url"):
        load_config(home=home, env={"LPRD_DATABASE__URL": "mysql://x/y"})


@pytest.mark.both_backends
def test_init_and_status_use_the_configured_database(
    tmp_path: Path, config: Config, backend: str, capsys
) -> None:
    home = tmp_path / "cli-home"
    home.mkdir()
    url = config.database_url if backend == "postgresql" else f"sqlite:///{home}/elsewhere.db"
    (home / "lprd.toml").write_text(f'[database]\nurl = "{url}"\n')
    code, out = lprd(home, "status", capsys=capsys)
    if backend == "sqlite":  # a fresh file; the PostgreSQL database is already migrated
        assert code == 1 and "run `lprd init` first" in out
        assert not (home / "elsewhere.db").exists(), "a status check must not create it"
    assert lprd(home, "init", capsys=capsys)[0] == 0
    code, out = lprd(home, "status", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["videos"] == 0
    assert (home / "elsewhere.db").exists() == (backend == "sqlite")
    assert not (home / "lprd.db").exists()


def test_add_show_retry_forget(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    (home).mkdir()
    (home / "lprd.toml").write_text('stages = ["probe", "extract_audio"]\n')
    video = make_video(tmp_path / "talk.mp4", seconds=1.0, audio=tone(1.0))
    code, out = lprd(home, "add", str(video), capsys=capsys)
    assert code == 0 and "registered" in out
    code, out = lprd(home, "add", str(video), capsys=capsys)
    assert "duplicate" in out
    assert lprd(home, "run", "--until-idle")[0] == 0
    capsys.readouterr()
    code, out = lprd(home, "show", "talk.mp4", capsys=capsys)
    assert code == 0 and "extract_audio" in out and "done" in out
    code, out = lprd(home, "status", "--json", capsys=capsys)
    report = json.loads(out)
    assert report["videos"] == 1
    assert {s["stage"]: s["done"] for s in report["stages"]} == {"probe": 1, "extract_audio": 1}
    code, out = lprd(home, "retry", "talk.mp4", "--stage", "extract_audio", capsys=capsys)
    assert "1 stage runs re-queued" in out
    code, out = lprd(home, "forget", "talk.mp4", capsys=capsys)
    assert code == 0 and "forgot video" in out
    assert video.exists(), "originals outside lprd's store are never deleted"
    assert not list((home / "store").rglob("*.json"))
    code, out = lprd(home, "status", "--json", capsys=capsys)
    assert json.loads(out)["videos"] == 0


@requires_clips
def test_originals_can_be_moved_into_the_store(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text(
        'stages = ["probe"]\n[inbox]\noriginals = "move"\nstable_seconds = 0.0\n'
    )
    (home / "inbox").mkdir()
    clip = real_clips()[0]
    shutil.copy(clip, home / "inbox" / clip.name)
    assert lprd(home, "run", "--until-idle")[0] == 0
    moved = list((home / "store" / "originals").iterdir())
    assert len(moved) == 1 and moved[0].read_bytes() == clip.read_bytes()
    assert not (home / "inbox" / clip.name).exists()
    code, out = lprd(home, "show", "--", clip.name, capsys=capsys)  # names may start with "-"
    assert "probe" in out and "done" in out


def test_models_lists_backends(tmp_path: Path, capsys) -> None:
    code, out = lprd(tmp_path / "home", "models", capsys=capsys)
    assert code == 0 and "stage backends" in out


def test_status_before_init_says_what_to_do(tmp_path: Path, capsys) -> None:
    code, out = lprd(tmp_path / "nothing", "status", capsys=capsys)
    assert code == 1 and "lprd init" in out


def test_forget_deletes_sidecar_labels_and_keeps_dataset_labels(tmp_path: Path, capsys) -> None:
    from storage.db import Database, utcnow
    from storage.models import Label

    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text('stages = ["probe"]\n')
    mine = make_video(tmp_path / "mine.mp4", seconds=0.5)
    theirs = make_video(tmp_path / "theirs.mp4", seconds=0.6)
    assert lprd(home, "add", str(mine), str(theirs))[0] == 0
    db = Database.at(home / "lprd.db")
    with db.write() as session:
        for clip, source in (
            ("mine.mp4", "mine.mp4.labels.json"),
            ("theirs.mp4", "annotation.pkl"),
        ):
            session.add(Label(clip_name=clip, source=source, openness=0.5, imported_at=utcnow()))
    capsys.readouterr()
    assert lprd(home, "forget", "mine.mp4")[0] == 0
    code, out = lprd(home, "forget", "theirs.mp4", capsys=capsys)
    assert "dataset label for this clip name was kept (imported from annotation.pkl)" in out
    with db.read() as session:
        assert [lb.clip_name for lb in session.query(Label)] == ["theirs.mp4"]
    db.dispose()


def _lprd_process(
    *args: str, prefix: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess:
    """`lprd ARGS` as its own process, with only the given LPRD_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LPRD_")}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "daemon", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_bad_setups_get_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    refusals = []
    (home / "lprd.toml").write_bytes(b'log_level = "INFO"\n# caf\xe9\n')
    refusals.append((_lprd_process("--home", str(home), "status"), "not UTF-8"))
    (home / "lprd.toml").write_text("")
    refusals.append(
        (_lprd_process("--home", str(home), "--config", str(home), "status"), "is a folder")
    )
    refusals.append((_lprd_process("--home", str(home), "status", LPRD_STAGES="[]"), "stages"))
    refusals.append(
        (
            _lprd_process("--home", str(home), "status", LPRD_INBOX__EXTENSIONS="[]"),
            "inbox.extensions",
        )
    )
    nowhere = f"postgresql://lprd:pw@/lprd?host={tmp_path / 'no-server'}"
    for command in ("status", "init"):
        refusals.append(
            (
                _lprd_process("--home", str(home), command, LPRD_DATABASE__URL=nowhere),
                "no-server/.s.PGSQL",
            )
        )
    (home / "lprd.db").write_bytes(b"")
    refusals.append((_lprd_process("--home", str(home), "run", "--until-idle"), "empty (0 bytes)"))
    (home / "lprd.db").write_bytes(b"this is not a database " * 300)
    refusals.append(
        (_lprd_process("--home", str(home), "add", str(home / "lprd.toml")), "move it aside")
    )
    for proc, words in refusals:
        assert proc.returncode == 2, (proc.args, proc.stdout, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr, (proc.args, proc.stderr)
        assert ":pw@" not in proc.stderr, "a password in the URL is never printed"
    assert (home / "lprd.db").stat().st_size > 0  # never silently replaced


def test_a_mistyped_database_url_scheme_never_echoes_its_password(tmp_path: Path) -> None:
    from storage.db import hide_password, safe_url

    home = tmp_path / "home"
    home.mkdir()
    bad = "postgresq://user:secret@db.example/lprd"
    runs = [
        _lprd_process("--home", str(home), "status", LPRD_DATABASE__URL=bad),
        _lprd_process("--home", str(home), "status", LPRD_DATABASE_URL=bad),  # mistyped name
    ]
    (home / "lprd.toml").write_text(f'[database]\nurl = "{bad}"\n')
    runs.append(_lprd_process("--home", str(home), "status"))
    runs.append(_lprd_process("--home", str(home), "status", "--json"))
    for proc in runs:
        shown = proc.stdout + proc.stderr
        assert proc.returncode == 2 and "Traceback" not in shown, (proc.args, shown)
        assert "secret" not in shown, shown
        assert "user:***@db.example" in shown, shown
    for proc in (runs[0], runs[2]):  # the bad scheme named, and the supported ones
        assert "unknown scheme 'postgresq:'" in proc.stderr, proc.stderr
        assert "sqlite:///" in proc.stderr and "postgresql://" in proc.stderr, proc.stderr
    # Anything that shows a URL: parseable or not, password in the query or a keyword string.
    for text in (
        "postgresql://u:secret@h/db?password=secret",
        "could not parse 'postgresql://u:secret@h:port/db'",
        "host=h user=u password=secret dbname=d",
        "postgresql://u:se@cr/et@h/db",  # unescaped "@" and "/" in the password
    ):
        for shown in (hide_password(text), safe_url(text)):
            assert "secret" not in shown and "cr/et" not in shown, (text, shown)
    assert safe_url("postgresql://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"


READ_COMMANDS = (
    ("status",),
    ("status", "--json"),
    ("serve", "--port", "1"),
    ("models",),
    ("show", "1"),
    ("report", "1"),
    ("results", "out.csv"),
    ("export", "--split", "train", "out.jsonl"),
    ("eval",),
    ("retry", "--failed"),
    ("forget", "1"),
    ("norms", "rebuild"),
    ("labels", "status"),
    ("labels", "describe"),
)


def test_read_commands_never_initialise_an_empty_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    database = home / "lprd.db"
    database.write_bytes(b"")
    for command in READ_COMMANDS:
        proc = _lprd_process("--home", str(home), *command)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert "empty (0 bytes)" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert database.stat().st_size == 0, f"`lprd {' '.join(command)}` wrote the database"
        assert not Path(f"{database}-wal").exists()


def test_read_commands_never_create_a_database(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    for command in READ_COMMANDS:
        code = main(["--home", str(home), *command])
        out, err = capsys.readouterr()
        if command != ("models",):  # which lists the stage backends without a database
            assert code in (1, 2) and "lprd init" in out + err, (command, out, err)
        assert not (home / "lprd.db").exists(), f"`lprd {' '.join(command)}` created it"


def test_add_of_an_unreadable_file_is_a_rejection_not_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _lprd_process("init", "--home", str(home)).returncode == 0  # --home after the command
    video = make_video(tmp_path / "locked.mp4", seconds=1.0)
    video.chmod(0)
    proc = _lprd_process(
        "add", "--home", str(home), str(video), prefix=tuple(without_file_read_override())
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "rejected" in proc.stdout and "cannot be read (permission denied)" in proc.stdout


def test_the_training_config_copy_holds_no_secret(tmp_path: Path) -> None:
    config = load_config(home=tmp_path, env={"LPRD_AUDIO__HF_TOKEN": "hf_secretvalue123"})
    copy = tmp_path / "train-1.config.json"
    env = write_config_copy(config, copy)
    assert "hf_secretvalue123" not in copy.read_text()
    assert Config.model_validate_json(copy.read_text()).audio.hf_token is None
    assert env["HF_TOKEN"] == "hf_secretvalue123"  # the child still gets it
    url = "postgresql+psycopg://lprd:dbsecret99@db.example:5432/lprd"
    config = load_config(home=tmp_path, env={"LPRD_DATABASE__URL": url})
    env = write_config_copy(config, copy)
    assert "dbsecret99" not in copy.read_text() and env["PGPASSWORD"] == "dbsecret99"
    child = Config.model_validate_json(copy.read_text())
    assert child.database_url == "postgresql+psycopg://lprd@db.example:5432/lprd"


def test_a_file_overwritten_after_registration_is_never_analysed_as_the_first(
    tmp_path: Path, capsys
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text(
        'stages = ["probe", "extract_audio"]\n[inbox]\nstable_seconds = 0\n'
    )
    lprd(home, "init", capsys=capsys)
    small = make_video(tmp_path / "small.mp4", seconds=1.0, size=(160, 120), audio=tone(1.0))
    large = make_video(tmp_path / "large.mp4", seconds=3.0, size=(320, 240), audio=tone(3.0))
    clip = home / "inbox" / "clip.mp4"
    shutil.copy(small, clip)
    assert lprd(home, "add", str(clip), capsys=capsys)[0] == 0
    clip.write_bytes(large.read_bytes())  # overwritten in place, as `cp` does
    assert lprd(home, "run", "--until-idle", capsys=capsys)[0] == 0
    db = Database.at(home / "lprd.db")
    states = inbox_states(db)
    with db.read() as session:
        videos = {v.id: v for v in session.scalars(select(Video))}
        probes = {r.video_id: r for r in session.scalars(select(StageRun)) if r.stage == "probe"}
    db.dispose()
    assert len(videos) == 2 and states["clip.mp4"][0] == "registered", states
    first, second = sorted(videos)
    assert probes[first].status == "failed" and "overwritten" in probes[first].last_error
    assert probes[second].status == "done"
    first_dir = home / "store" / "artifacts" / videos[first].sha256[:2] / videos[first].sha256
    assert not (first_dir / "probe.json").exists()  # nothing of the new content under the old hash
    shown = json.loads(
        (
            home
            / "store"
            / "artifacts"
            / videos[second].sha256[:2]
            / videos[second].sha256
            / "probe.json"
        ).read_text()
    )
    assert "320" in json.dumps(shown["data"])


def test_a_file_deleted_after_registration_is_said_to_be_gone(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text('stages = ["probe"]\n')
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0)
    assert lprd(home, "add", str(clip), capsys=capsys)[0] == 0
    clip.unlink()
    assert lprd(home, "run", "--until-idle", capsys=capsys)[0] == 0
    db = Database.at(home / "lprd.db")
    probe = stage_states(db)[("clip.mp4", "probe")]
    db.dispose()
    assert probe.status == "failed" and "is gone" in probe.last_error, probe.last_error


def test_status_lists_the_promoted_model_of_each_target_set(tmp_path: Path, capsys, monkeypatch):
    """Every set's serving model with its validation figure beside its baseline (built-in
    first, then the declared sets, then one only the registry knows), and the study's
    labelled clips per set; `lprd models` names the set with the profile."""
    from daemon.config.targets import BUILTIN_SET
    from storage.db import utcnow
    from storage.models import ModelVersion, StudyLabel
    from tests.web.test_results import HIRING_TOML

    monkeypatch.setenv("COLUMNS", "200")
    home = tmp_path / "home"
    assert lprd(home, "init")[0] == 0
    with (home / "lprd.toml").open("a") as f:
        f.write(HIRING_TOML)
    db = Database(load_config(home=home, env={}).database_url)
    models = (  # version, set, profile, state, val accuracy, baseline
        ("v-panel-1", "panel", "full", "promoted", 0.71, None),
        ("v-hiring-1", "hiring", "transcript_only", "promoted", 0.84, 0.80),
        ("v-hiring-0", "hiring", "transcript_only", "retired", 0.82, 0.80),
        ("v-fi-3", BUILTIN_SET, "full", "promoted", 0.8812, 0.8655),
    )
    with db.write() as session:
        for version, target_set, profile, state, acc, base in models:
            metrics = {"baseline": {"mean_accuracy": base}} if base is not None else {}
            session.add(ModelVersion(
                version=version, kind="ridge", base_model="none", template_version="6",
                feature_profile=profile, target_set=target_set, train_count=40,
                metrics_json=json.dumps(metrics), val_mean_accuracy=acc, path=f"/m/{version}",
                state=state, created_at=utcnow(), promoted_at=utcnow(),
            ))  # fmt: skip
        for clip, target, value in (("a.mp4", "hireability", 5.0), ("a.mp4", "warmth", 60.0),
                                    ("b.mp4", "hireability", 2.0)):  # fmt: skip
            session.add(StudyLabel(
                target_set="hiring", clip_name=clip, target=target, value=value,
                source="ratings.csv", imported_at=utcnow(),
            ))  # fmt: skip
    db.dispose()
    code, out = lprd(home, "status", capsys=capsys)
    assert code == 0
    fi = out.index("model: v-fi-3 (ridge, full), validation mean accuracy 0.8812 vs train-mean ")
    hiring = out.index(
        "model: hiring: v-hiring-1 (ridge, transcript_only), validation mean accuracy 0.8400 "
        "vs train-mean baseline 0.8000"
    )
    panel = out.index("model: panel: v-panel-1 (ridge, full), validation mean accuracy 0.7100\n")
    assert fi < hiring < panel and "v-hiring-0" not in out
    assert "study labels: hiring 2 clips (3 ratings)" in out
    code, out = lprd(home, "status", "--json", capsys=capsys)
    report = json.loads(out)
    assert [(m["target_set"], m["version"]) for m in report["models"]] == [
        (BUILTIN_SET, "v-fi-3"), ("hiring", "v-hiring-1"), ("panel", "v-panel-1"),
    ]  # fmt: skip
    assert report["models"][1]["val_baseline_mean_accuracy"] == 0.80
    assert report["study_labels"] == {"hiring": {"clips": 2, "ratings": 3}}
    code, out = lprd(home, "models", capsys=capsys)
    assert code == 0 and "hiring: transcript_only (template 6)" in out
    assert "panel: full (template 6)" in out
    code, out = lprd(home, "models", "--retire", "v-panel-1", capsys=capsys)
    assert code == 0 and "retired v-panel-1: the full profile of the panel set" in out
    code, out = lprd(home, "status", "--json", capsys=capsys)
    assert "panel" not in [m["target_set"] for m in json.loads(out)["models"]]
    assert lprd(home, "models", "--retire", "v-hiring-0") == (2, "")
    assert "v-hiring-0 is retired, not promoted" in capsys.readouterr().err
