"""Which dequantised bases are in use: by a registered model, or as the configured base."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.config import Config
from daemon.learn.registry import all_versions
from storage.db import Database

DIGEST_KEYS = ("base_sha256", "llm_base_sha256")


def digests_in_use(config: Config, db: Database | None) -> dict[str, list[str]]:
    """{sha256 of a GGUF base: what uses it} over every model version's manifest (any state:
    a retired model can be promoted back) and the configured `train.base_model`."""
    users: dict[str, list[str]] = {}
    digest = configured_digest(config)
    if digest is not None:
        users.setdefault(digest, []).append("train.base_model")
    for row in all_versions(db) if db is not None else []:
        try:
            manifest = json.loads((Path(row.path) / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        for key in DIGEST_KEYS:
            if manifest.get(key):
                users.setdefault(manifest[key], []).append(row.version)
    return users


def configured_digest(config: Config) -> str | None:
    """sha256 of the configured GGUF base (None for a folder or hub base). The packaged
    Gemma's is the one its package publishes: listing models must not join 253 MB."""
    from daemon.learn.backbone import (
        base_digest,
        names_packaged_gemma,
        packaged_gemma_digest,
        resolve_base,
    )
    from daemon.learn.base_cache import base_cache_dir

    if names_packaged_gemma(config.train.base_model):
        return packaged_gemma_digest()
    cache = base_cache_dir(config)
    base = resolve_base(config.train.base_model, cache)
    if base.gguf_file is not None and (Path(base.source) / base.gguf_file).is_file():
        return base_digest(base, cache)
    return None
