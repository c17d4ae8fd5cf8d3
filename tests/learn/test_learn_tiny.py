"""A tiny random-weight Llama with a locally trained tokenizer, labelled synthetic
descriptions, and the end-to-end training test on CPU."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from daemon.text.prompt import SYSTEM_PROMPT, format_answer
from storage.db import Database, utcnow
from storage.models import TARGETS, Description, Label

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = {  # word -> how much it raises every score
    "cheerful": 0.25,
    "confident": 0.2,
    "warm": 0.15,
    "flat": -0.15,
    "nervous": -0.2,
    "gloomy": -0.25,
}


def make_tiny_model(folder: Path) -> Path:
    """Save a 2-layer random Llama and a BPE tokenizer trained here (digits split)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [SYSTEM_PROMPT, *(f"The speaker is {w} and calm." for w in WORDS)]
    corpus += [format_answer(dict.fromkeys(TARGETS, i / 10)) for i in range(11)]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<pad>"
    )
    tok.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def synthetic_rows(n: int, seed: int = 0) -> list[tuple[str, str, str, dict[str, float]]]:
    """(clip name, split, text, scores): the words in the text drive the scores."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = rng.sample(sorted(WORDS), 2)
        level = 0.5 + sum(WORDS[w] for w in words)
        scores = {t: min(1.0, max(0.0, level + rng.gauss(0, 0.03))) for t in TARGETS}
        split = "validation" if i % 5 == 0 else "train"
        rows.append(
            (
                f"yt{i // 2:04d}.{i % 2:03d}.mp4",
                split,
                f"The speaker is {words[0]} and {words[1]}.",
                scores,
            )
        )
    return rows


def add_labelled(db: Database, rows, profile: str = "transcript_only") -> None:
    """Insert Label + Description rows as a label import would."""
    with db.write() as session:
        for clip, split, text, scores in rows:
            session.add(
                Label(
                    clip_name=clip,
                    group_id=clip.split(".")[0],
                    split=split,
                    source="test",
                    imported_at=utcnow(),
                    **scores,
                )
            )
            session.add(
                Description(
                    clip_name=clip,
                    feature_profile=profile,
                    template_version="t1",
                    text=text,
                    created_at=utcnow(),
                )
            )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def tiny_train_config(config, tiny_model: Path, heads: list[str]) -> None:
    """Small, fast training settings on the tiny model."""
    t = config.train
    t.base_model, t.heads, t.profiles = str(tiny_model), heads, ["transcript_only"]
    t.max_steps, t.epochs, t.eval_every, t.batch_size, t.patience = 60, 20.0, 20, 8, 10
    t.learning_rate, t.head_learning_rate, t.lora_r, t.max_length = 1e-3, 1e-2, 4, 256
    t.min_train_rows = 8


def test_generative_answer_tokens_match_the_shared_format(tiny_model):
    from daemon.learn.backbone import BaseSpec, load_tokenizer
    from daemon.learn.heads.generative import AnswerCodec

    codec = AnswerCodec(load_tokenizer(BaseSpec("tiny", str(tiny_model))))
    scores = dict(zip(TARGETS, (0.0, 0.07, 0.5, 0.99, 1.0, 0.314), strict=True))
    codec.check(scores)
    decoded = codec.tok.decode(codec.answer(scores), skip_special_tokens=True)
    assert json.loads(decoded) == json.loads(format_answer(scores))


def test_the_answer_closes_the_models_turn_with_the_templates_token(tiny_model):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from daemon.learn.backbone import BaseSpec, load_tokenizer, turn_end_id
    from daemon.learn.gguf_tokenizer import GEMMA_CHAT_TEMPLATE
    from daemon.learn.heads.generative import AnswerCodec

    scores = dict.fromkeys(TARGETS, 0.42)
    chatml = load_tokenizer(BaseSpec("tiny", str(tiny_model)))
    assert AnswerCodec(chatml).answer(scores)[-1] == chatml.convert_tokens_to_ids("<|im_end|>")
    # Gemma's turns end with <end_of_turn>; its EOS (<eos>) ends the whole text.
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel()]
    )
    bpe.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"]
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator([format_answer(scores), "user model"], trainer)
    gemma = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", pad_token="<pad>",
                                    bos_token="<bos>", eos_token="<eos>")  # fmt: skip
    gemma.chat_template = GEMMA_CHAT_TEMPLATE
    end = gemma.convert_tokens_to_ids("<end_of_turn>")
    assert turn_end_id(gemma) == end != gemma.eos_token_id
    codec = AnswerCodec(gemma)
    codec.check(scores)
    assert codec.answer(scores)[-1] == end


def _decode_alone(model, text: str) -> dict[str, float]:
    """The generative head's answer read one row at a time, without a KV cache: each
    step runs the whole sequence so far (the reference the batched decoder must match)."""
    import torch

    from daemon.learn.backbone import prompt_ids

    codec, seq, scores = model.codec, prompt_ids(model.tok, text, model.max_length), {}

    def probs(ids: list[int], candidates: list[int]) -> torch.Tensor:
        logits = model.lm(input_ids=torch.tensor([ids])).logits[0, -1].float()
        return torch.softmax(logits[candidates], dim=0)

    values = torch.arange(10, dtype=torch.float32)
    for i, t in enumerate(TARGETS):
        seq += codec.literals[i]
        p_int = probs(seq, codec.digit[:2])
        if p_int[1] > p_int[0]:
            scores[t], seq = 1.0, seq + [codec.digit[1], *codec.dot, codec.digit[0], codec.digit[0]]
            continue
        seq += [codec.digit[0], *codec.dot]
        p1 = probs(seq, codec.digit)
        seq += [codec.digit[int(p1.argmax())]]
        p2 = probs(seq, codec.digit)
        seq += [codec.digit[int(p2.argmax())]]
        frac = float((p1 * values).sum()) / 10 + float((p2 * values).sum()) / 100
        scores[t] = float(p_int[1]) + float(p_int[0]) * frac
    return scores


def test_batched_generative_decoding_matches_one_row_at_a_time(tiny_model) -> None:
    import torch

    from daemon.config import TrainConfig
    from daemon.learn.backbone import BaseSpec, load_causal_lm
    from daemon.learn.heads.generative import GenerativeModel

    torch.manual_seed(0)
    lm, tok, _ = load_causal_lm(
        BaseSpec("tiny", str(tiny_model)), "cpu", TrainConfig(use_unsloth="never")
    )
    model = GenerativeModel(lm, tok, 256)
    texts = [f"What was said: {'very ' * n}warm and calm." for n in (0, 3, 11, 1, 30)]
    with torch.no_grad():
        expected = [_decode_alone(model, text) for text in texts]
    batched = model.predict(texts, batch_size=4)  # left padding of unequal prompts
    for got, want in zip(batched, expected, strict=True):
        for t in TARGETS:
            assert abs(got[t] - want[t]) < 1e-4, (t, got[t], want[t])


def test_the_llm_encoder_stops_after_the_layer_it_reads(tiny_model) -> None:
    import numpy as np
    import torch

    from daemon.learn.backbone import BaseSpec
    from daemon.learn.encoders import LLMHiddenEncoder

    encoder = LLMHiddenEncoder(BaseSpec("tiny", str(tiny_model)), "cpu", layer=1)
    texts = ["What was said: warm and calm.", "Short.", "A much longer answer " * 9]
    calls = []
    last = encoder.model.layers[-1].register_forward_hook(lambda *_: calls.append(1))
    vectors = encoder.encode(texts)
    last.remove()
    assert not calls  # the layers above the one read never ran
    batch = encoder.tok(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        full = encoder.model(**batch, output_hidden_states=True).hidden_states[1]
    weights = batch["attention_mask"].unsqueeze(-1).float()
    expected = ((full * weights).sum(1) / weights.sum(1)).numpy()
    assert np.allclose(vectors, expected, atol=1e-5)


def test_training_and_prediction_end_to_end(config, database, tiny_model):
    from daemon.learn import registry
    from daemon.learn.predictor import load_predictor
    from daemon.learn.trainer import run_training

    tiny_train_config(config, tiny_model, ["regression", "generative"])
    add_labelled(database, synthetic_rows(120))
    messages = run_training(config, database, "t1", "cpu")
    versions = registry.all_versions(database)
    assert sorted(v.kind for v in versions) == ["generative", "regression"], messages
    for v in versions:
        metrics = json.loads(v.metrics_json)
        assert metrics["report_split"] == "validation"
        assert metrics["validation"]["n"] == 24  # every validation row, no train row
        assert 0.0 < v.val_mean_accuracy <= 1.0
        assert v.train_count == 96
        predictor = load_predictor(Path(v.path), "cpu")
        texts = ["The speaker is cheerful and confident.", "The speaker is gloomy and nervous."]
        first, again = predictor.predict(texts), predictor.predict(texts)
        assert first == again  # deterministic
        assert all(0.0 <= first[0][t] <= 1.0 for t in TARGETS)
    reg = next(v for v in versions if v.kind == "regression")
    assert reg.val_mean_accuracy > registry.baseline_accuracy(reg), messages
    high, low = load_predictor(Path(reg.path)).predict(texts)
    assert high["extraversion"] > low["extraversion"]
    assert registry.promoted(database, "transcript_only") is not None
    _check_eval_and_tables(database, reg)


def _check_eval_and_tables(database, row) -> None:
    """`lprd eval` figures equal the registry's, and the tables name traits and direction."""
    from rich.console import Console

    from daemon.learn.evaluate import evaluate_version
    from daemon.learn.registry import baseline_accuracy
    from daemon.learn.report import eval_table, scores_table

    result = evaluate_version(database, row, "validation")
    assert result["model"]["mean_accuracy"] == pytest.approx(row.val_mean_accuracy)
    assert result["baseline"]["mean_accuracy"] == pytest.approx(baseline_accuracy(row))
    trained = json.loads(row.metrics_json)["intervals"]
    assert trained["level"] == 0.9 and trained["calibration"] == "holdout"
    assert result["intervals"]["mean_coverage"] == trained["validation"]["mean_coverage"]
    assert result["intervals"]["mean_width"] == pytest.approx(trained["validation"]["mean_width"])
    console = Console(width=160, record=True)
    console.print(eval_table(result))
    console.print(scores_table(dict.fromkeys(TARGETS, 0.5)))
    text = console.export_text()
    assert "Emotional stability" in text and "Interview" in text and "mean (5 traits)" in text
