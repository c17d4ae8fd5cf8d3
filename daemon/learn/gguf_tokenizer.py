"""Gemma's tokenizer rebuilt from a GGUF file's own vocabulary.

transformers (5.17) reads a Gemma GGUF's SentencePiece vocabulary as a Unigram model
scored by the file's piece scores. Gemma's tokenizer is a BPE model, and in a llama.cpp
GGUF its scores are merge ranks (0 for the first merge, -1, -2, ...), so the Unigram
reading prefers many short pieces: "The capital" becomes `The ▁c ap it al`, no <bos> is
added, and the model sees text it was never trained on (Gemma 3 270M then answers "is is
is"). transformers' own fix (huggingface/transformers#41609) was not merged.

`gemma_tokenizer` builds what Hugging Face's Gemma tokenizer.json holds, from the GGUF:
a byte-fallback BPE whose merges are every split of a piece into two pieces of the
vocabulary, ranked by the piece's score; the control and user-defined pieces (the
`<start_of_turn>` markers, runs of newlines, spaces and tabs) as added tokens at their
ids; spaces as "▁" without a prefix space; <bos> before every text. On the 8,000 First
Impressions transcripts and their descriptions it gives the same ids as Google's Gemma 3
tokenizer.json. GGUF files without a chat template (the packaged Gemma 3 270M, a base
model) get Gemma's turn format, so that a prompt starts with <bos> and the roles are the
ones Gemma was trained with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# llama.cpp's token types (gguf.TokenType)
NORMAL, CONTROL, USER_DEFINED = 1, 3, 4
SPECIAL = ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>")
# Gemma's turns, text only; a system message opens the first user turn (Gemma has no
# system role).
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


def gguf_metadata(path: Path, *keys: str) -> dict[str, Any]:
    """The values of these metadata keys in a GGUF file (absent keys left out)."""
    from gguf import GGUFReader

    fields = GGUFReader(str(path)).fields
    return {k: fields[k].contents() for k in keys if k in fields}


def needs_rebuild(path: Path) -> bool:
    """Whether transformers would read this GGUF's tokenizer wrongly: a Gemma model
    with a SentencePiece vocabulary."""
    meta = gguf_metadata(path, "general.architecture", "tokenizer.ggml.model")
    return str(meta.get("general.architecture", "")).startswith("gemma") and (
        meta.get("tokenizer.ggml.model") == "llama"
    )


def tokenizer_json(path: Path) -> dict[str, Any]:
    """The tokenizers-library JSON of a Gemma GGUF's tokenizer (see the module's text)."""
    meta = gguf_metadata(
        path,
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.scores",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.add_bos_token",
    )
    tokens, scores = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.scores"]
    types = meta["tokenizer.ggml.token_type"]
    # llama.cpp stores the whitespace runs with spaces; the BPE vocabulary spells them "▁".
    pieces = [
        "▁" * len(t) if types[i] == USER_DEFINED and t and not t.strip(" ") else t
        for i, t in enumerate(tokens)
    ]
    vocab = {p: i for i, p in enumerate(pieces)}
    ranked = []
    for piece, i in vocab.items():
        if types[i] not in (NORMAL, USER_DEFINED) or len(piece) < 2:
            continue
        rank = 0.0 if types[i] == USER_DEFINED else -scores[i]  # user-defined: first
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((rank, i, vocab[left], vocab[right]))
    ranked.sort()
    added = [
        {
            "id": i,
            "content": pieces[i],
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": pieces[i] in SPECIAL,
        }
        for i in range(len(pieces))
        if types[i] in (CONTROL, USER_DEFINED)
    ]
    bos = pieces[int(meta.get("tokenizer.ggml.bos_token_id", 2))]
    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", True))
    lead = [{"SpecialToken": {"id": bos, "type_id": 0}}] if add_bos else []
    lead_b = [{"SpecialToken": {"id": bos, "type_id": 1}}] if add_bos else []
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": {
            "type": "Split",
            "pattern": {"String": " "},
            "behavior": "MergedWithPrevious",
            "invert": False,
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [*lead, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                *lead,
                {"Sequence": {"id": "A", "type_id": 0}},
                *lead_b,
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [vocab[bos]], "tokens": [bos]}},
        },
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
            ],
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [[pieces[left], pieces[right]] for _, _, left, right in ranked],
        },
    }


def gemma_tokenizer(path: Path, loaded: Any) -> Any:
    """A transformers tokenizer for the Gemma GGUF at `path`, built from its vocabulary,
    with the special tokens (and chat template, else Gemma's) of `loaded`, the tokenizer
    transformers read from the same file."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = tokenizer_json(path)
    add_bos = any("SpecialToken" in part for part in spec["post_processor"]["single"])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        bos_token=loaded.bos_token or "<bos>",
        eos_token=loaded.eos_token or "<eos>",
        unk_token=loaded.unk_token or "<unk>",
        pad_token=loaded.pad_token or "<pad>",
        add_bos_token=add_bos,
        add_eos_token=False,
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = getattr(loaded, "chat_template", None) or GEMMA_CHAT_TEMPLATE
    return tok
