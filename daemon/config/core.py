"""One validated config tree: TOML file, then `LPRD_*` environment overrides.

Every field has a default, a description and bounds. Validation happens once, in the
CLI, and the resulting `Config` is passed down. Nested fields are overridden with a
double underscore: `LPRD_WORKERS__CPU=4`, `LPRD_AUDIO__DIARIZE_BACKEND=offline`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from daemon.config.audio import AudioConfig
from daemon.config.base import Section
from daemon.config.describe import DescribeConfig
from daemon.config.targets import TargetSetSpec, check_set_names
from daemon.config.train import TrainConfig
from daemon.config.visual import VisualConfig
from daemon.errors import ConfigError

CONFIG_FILENAME = "lprd.toml"
ENV_PREFIX = "LPRD_"
# Variables read directly, not as LPRD_SECTION__FIELD overrides.
DIRECT_ENV = {"LPRD_HOME", "LPRD_SERVE_TOKEN"}
DATABASE_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")
# A process is presumed dead after missing this many heartbeats (workers.stale_after_s).
STALE_HEARTBEATS = 3
VIDEO_EXTENSIONS = ["mp4", "avi", "mov", "mkv", "flv", "wmv", "webm"]
# What a host does: watch and register its inbox, run stages, train models.
ROLES = ("inbox", "stages", "train")
Role = Literal["inbox", "stages", "train"]


class PathsConfig(Section):
    inbox: Path | None = Field(
        None, description="Folder watched for new videos (default: HOME/inbox)."
    )
    store: Path | None = Field(None, description="Artifact store (default: HOME/store).")
    database: Path | None = Field(None, description="SQLite database file (default: HOME/lprd.db).")
    logs: Path | None = Field(None, description="Log folder (default: HOME/logs).")
    write_log: Path | None = Field(
        None,
        description="Append one line per artifact written (UTC time, host~pid, path) to "
        "this file; off by default.",
    )


class DatabaseConfig(Section):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database: sqlite:///PATH, or "
        "postgresql+psycopg://USER:PASSWORD@HOST/DB to share one queue between hosts "
        "(default: the SQLite file paths.database).",
    )

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(DATABASE_SCHEMES):
            scheme, sep, _ = url.partition(":")
            named = f"unknown scheme {scheme + sep!r}" if sep else "no scheme"
            raise ValueError(
                f"{named}: must start with sqlite:/// or postgresql:// (also postgres://, "
                "postgresql+psycopg://)"
            )
        return url


class InboxConfig(Section):
    stable_seconds: float = Field(
        5.0,
        ge=0.0,
        le=3600.0,
        description="A file is registered once its size and mtime have not changed for this long.",
    )
    rescan_interval_s: float = Field(
        60.0,
        ge=1.0,
        le=86400.0,
        description="Full rescan of the inbox every N seconds (catches missed events).",
    )
    originals: Literal["leave", "move"] = Field(
        "leave",
        description="'leave' keeps originals in the inbox; 'move' moves them into the store.",
    )
    extensions: list[str] = Field(
        default_factory=lambda: list(VIDEO_EXTENSIONS),
        min_length=1,
        description="Accepted container extensions; other files are recorded as rejected.",
    )
    shared: bool = Field(
        False,
        description="The inbox is one folder several hosts watch (on PostgreSQL): its "
        "rescans are done by one host at a time.",
    )
    allow_hard_links: bool = Field(
        False,
        description="Accept a file in the inbox that has hard links outside it (by "
        "default refused, like a symlink that points outside the inbox).",
    )


class WorkersConfig(Section):
    cpu: int = Field(2, ge=1, le=64, description="Concurrent CPU-class stages.")
    gpu: int = Field(
        1, ge=1, le=8, description="Concurrent GPU-class stages (run on CPU without a GPU)."
    )
    poll_interval_s: float = Field(1.0, gt=0.0, le=60.0, description="Idle worker poll interval.")
    heartbeat_s: float = Field(
        10.0, gt=0.0, le=600.0, description="Heartbeat interval of running stages."
    )
    stale_after_s: float = Field(
        300.0,
        gt=0.0,
        le=86400.0,
        description="A running stage with no heartbeat for this long belongs to a dead worker.",
    )
    stop_timeout_s: float = Field(
        60.0,
        gt=0.0,
        le=3600.0,
        description="On SIGTERM, wait this long for running stages before returning them to pending.",
    )
    backoff_base_s: float = Field(
        30.0, ge=0.0, le=86400.0, description="First retry delay; doubles each attempt."
    )
    backoff_max_s: float = Field(3600.0, ge=0.0, le=604800.0, description="Longest retry delay.")
    busy_timeout_s: float = Field(
        30.0,
        ge=0.1,
        le=600.0,
        description="Wait this long for another writer's database lock before backing off.",
    )

    @model_validator(mode="after")
    def _stale_after_heartbeats(self) -> WorkersConfig:
        """A process is presumed dead only after it missed several heartbeats: otherwise
        the daemon would reap its own live runs until they fail as crashing."""
        least = STALE_HEARTBEATS * self.heartbeat_s
        if self.stale_after_s < least:
            raise ValueError(
                f"workers.stale_after_s ({self.stale_after_s:g}) must be at least "
                f"{STALE_HEARTBEATS} x workers.heartbeat_s ({self.heartbeat_s:g}) = {least:g}: "
                "a live process would otherwise be taken for dead between two heartbeats"
            )
        return self


class ServeConfig(Section):
    host: str = Field(
        "127.0.0.1",
        description="Address `lprd serve` binds to; anything but loopback requires a token.",
    )
    port: int = Field(8765, ge=1, le=65535, description="Port of the dashboard.")
    token: str | None = Field(
        None,
        min_length=16,
        description="Token the dashboard requires (also $LPRD_SERVE_TOKEN); needed off loopback.",
    )
    page_size: int = Field(50, ge=10, le=500, description="Videos per page of the video list.")
    refresh_s: float = Field(
        5.0, ge=1.0, le=3600.0, description="How often the status page refreshes itself."
    )


class Config(Section):
    home: Path = Field(Path("~/lprd"), description="lprd's home folder.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where models run: 'auto' uses CUDA when available."
    )
    stages: list[str] | None = Field(
        None,
        min_length=1,
        description="Run only these stages (their dependencies must be listed too); default: all.",
    )
    roles: list[Role] = Field(
        default_factory=lambda: list(ROLES),
        min_length=1,
        description="What this host does: 'inbox' (watch and register), 'stages' (run "
        "them), 'train' (fine-tune; one training runs in the whole cluster); default: all.",
    )
    allow_downloads: bool = Field(
        False,
        description="Let model hubs (Hugging Face, ModelScope) download missing weights; "
        "off: lprd reads local caches only and opens no network connection.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    paths: PathsConfig = Field(default_factory=PathsConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    inbox: InboxConfig = Field(default_factory=InboxConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    visual: VisualConfig = Field(default_factory=VisualConfig)
    describe: DescribeConfig = Field(default_factory=DescribeConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    targets: dict[str, TargetSetSpec] = Field(
        default_factory=dict,
        description="A study's own target sets ([targets.NAME]); First Impressions' six "
        "targets are the built-in set 'first_impressions'.",
    )

    @field_validator("targets")
    @classmethod
    def _target_set_names(cls, value: dict[str, TargetSetSpec]) -> dict[str, TargetSetSpec]:
        return check_set_names(value)

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def inbox_dir(self) -> Path:
        return self._under_home(self.paths.inbox, "inbox")

    @property
    def store_dir(self) -> Path:
        return self._under_home(self.paths.store, "store")

    @property
    def database_path(self) -> Path:
        """The SQLite database file (paths.database; not used when database.url is set)."""
        return self._under_home(self.paths.database, "lprd.db")

    @property
    def database_url(self) -> str:
        """Where the database is: database.url, else the SQLite file database_path."""
        return self.database.url or f"sqlite:///{self.database_path}"

    @property
    def logs_dir(self) -> Path:
        return self._under_home(self.paths.logs, "logs")

    def _under_home(self, value: Path | None, default: str) -> Path:
        path = (value or Path(default)).expanduser()
        return path if path.is_absolute() else self.home_dir / path


def load_config(
    home: Path | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Build the validated config: defaults < TOML file < environment < explicit home."""
    env = os.environ if env is None else env
    home = home or (Path(env["LPRD_HOME"]) if env.get("LPRD_HOME") else None)
    data: dict[str, Any] = {}
    file = config_file or ((home or Config().home).expanduser() / CONFIG_FILENAME)
    if file.exists():
        data = _read_toml(file)
    _apply_env(data, env)
    if home is not None:
        data["home"] = str(home)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, file)) from None


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with open(file, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except IsADirectoryError:
        raise ConfigError(f"{file} is a folder: --config must name a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot be read ({exc.strerror or exc})") from None


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """Merge `LPRD_SECTION__FIELD=value` variables into the raw config dict."""
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in DIRECT_ENV:
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if parts[0] in {"db_url"}:
            continue
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {key} targets a non-section")
        node[parts[-1]] = _parse_env_value(value)


def _parse_env_value(value: str) -> Any:
    """Interpret an environment value as TOML if it parses, else as a plain string."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _explain(exc: ValidationError, file: Path) -> str:
    """The errors, one a line, each with the value given: a password in a database URL
    (wherever it was given, even under a mistyped name) and a secret field show as ***."""
    from daemon.privacy import SECRET_FIELDS
    from storage.db import hide_password

    lines = [f"invalid configuration (file {file}, then LPRD_* environment variables):"]
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        got = (
            "'***'"
            if err["loc"][-1:] and err["loc"][-1] in SECRET_FIELDS
            else repr(err.get("input"))
        )
        hint = _nested_hint(err["loc"]) if err["type"] == "extra_forbidden" else ""
        lines.append(hide_password(f"  {field}: {err['msg']} (got {got}){hint}"))
    return "\n".join(lines)


def _nested_hint(loc: tuple) -> str:
    """For an unknown top-level key such as `database_url` (LPRD_DATABASE_URL) that joins a
    section and one of its fields: how that field is set."""
    key = loc[0] if len(loc) == 1 and isinstance(loc[0], str) else ""
    for i in (i for i, ch in enumerate(key) if ch == "_"):
        head, tail = key[:i], key[i + 1 :]
        field = Config.model_fields.get(head)
        if field is not None and tail in getattr(field.annotation, "model_fields", {}):
            env = f"{ENV_PREFIX}{head.upper()}__{tail.upper()}"
            return f"; did you mean {env} (two underscores) or `{tail}` under [{head}]?"
    return ""
