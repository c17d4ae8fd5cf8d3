"""The seed-model adapters run on the real libraries: pyannote's SpeakerDiarization built from
randomly initialised PyanNet / WeSpeakerResNet34 / PLDA, and funasr's AutoModel building a
SenseVoiceSmall of the real architecture (tiny dimensions, random weights) from a local
config, so loading and output conversion are tested without a download."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.audio import emotion2vec_backend, pyannote_backend, sensevoice_backend
from daemon.errors import PermanentError
from daemon.model_cache import ModelCache
from daemon.runner import execute
from daemon.stages import diarize, speech_emotion, transcribe
from daemon.stages.extract_audio import STAGE as EXTRACT
from daemon.stages.probe import STAGE as PROBE
from tests.support.audio_helpers import ENGINEER, clip, espeak, requires_espeak, silence

SV_TAGS = ["<|en|>", "<|NEUTRAL|>", "<|HAPPY|>", "<|Speech|>", "<|Laughter|>", "<|withitn|>"]


def random_pyannote_pipeline(tmp_path):
    """pyannote 4's SpeakerDiarization (VBx clustering) over random real-architecture models."""
    import torch
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet
    from pyannote.audio.pipelines import SpeakerDiarization

    torch.manual_seed(0)
    seg = PyanNet(sincnet={"stride": 10})
    seg.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=5.0,
        min_duration=5.0,
        warm_up=(0.0, 0.0),
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    seg.build()
    rng = np.random.default_rng(0)
    xvec, plda = tmp_path / "xvec.npz", tmp_path / "plda.npz"
    np.savez(xvec, mean1=rng.normal(size=256), mean2=rng.normal(size=128) * 0.1,
             lda=rng.normal(size=(256, 128)))  # fmt: skip
    q, _ = np.linalg.qr(rng.normal(size=(128, 128)))
    np.savez(plda, mu=np.zeros(128), tr=q, psi=np.abs(rng.normal(size=128)) + 0.5)
    pipeline = SpeakerDiarization(
        segmentation=seg.eval(),
        embedding=WeSpeakerResNet34().eval(),
        plda=PLDA(xvec, plda),
        clustering="VBxClustering",
    )
    return pipeline.instantiate(pipeline.default_parameters())


@pytest.mark.slow
@requires_espeak
def test_diarize_stage_runs_a_real_pyannote_pipeline(tmp_path, make_ctx) -> None:
    folder = tmp_path / "pyannote-local"
    folder.mkdir()
    (folder / "config.yaml").write_text("version: 3.1.0\n")
    path = clip(tmp_path / "p.mp4", silence(0.3), espeak(ENGINEER, tmp_path), silence(0.3))
    ctx = make_ctx(path)
    ctx.models = ModelCache("cpu")
    ctx.config.audio.pyannote_model = str(folder)
    # `auto` picks pyannote because its folder is present; the loaded pipeline is cached.
    ctx.models.get(("pyannote", str(folder), "cpu"), lambda: random_pyannote_pipeline(tmp_path))
    for stage in (PROBE, EXTRACT):
        execute(stage, ctx)
    out = execute(diarize.STAGE, ctx)
    assert out.kind == "done", out.message
    assert out.backend == "pyannote" and str(folder) in out.model
    data = ctx.store.read_json(ctx.artifact_path("diarize.json"))["data"]
    duration = data["summary"]["duration_s"]
    assert data["turns"] and all(
        0 <= t["start"] < t["end"] <= duration + 0.1 for t in data["turns"]
    )
    assert {t["speaker"] for t in data["turns"]} <= {
        s["speaker"] for s in data["summary"]["speakers"]
    }
    assert all(s["speaker"].startswith("SPEAKER_") for s in data["summary"]["speakers"])
    assert data["summary"]["subject"] == data["summary"]["speakers"][0]["speaker"]


def test_pyannote_legacy_annotation_converts_to_sorted_turns() -> None:
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    ann[Segment(3.0, 4.5)] = "B"
    ann[Segment(0.5, 2.0)] = "A"
    out = pyannote_backend.convert_output(ann)
    assert out["turns"] == [
        {"start": 0.5, "end": 2.0, "speaker": "A"},
        {"start": 3.0, "end": 4.5, "speaker": "B"},
    ]
    assert out["exclusive_turns"] == out["turns"]


def test_pyannote_load_failure_is_permanent_with_a_hint(tmp_path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.yaml").write_text("pipeline:\n  name: not.a.Pipeline\n")
    with pytest.raises(PermanentError, match="diarize_backend = 'offline'"):
        pyannote_backend.load_pipeline(folder, None, "cpu")


def tiny_sensevoice(tmp_path, force_token: str | None = None):
    """funasr's AutoModel building SenseVoiceSmall (tiny, random) with a tiny tokenizer."""
    import sentencepiece as spm
    import torch
    from funasr import AutoModel

    corpus = ["hello world this is a small tokenizer for the model output"] * 40
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_prefix=str(tmp_path / "tiny"),
        vocab_size=40,
        user_defined_symbols=SV_TAGS,
        model_type="char",
    )
    model = AutoModel(
        model="SenseVoiceSmall",
        model_conf={},
        disable_update=True,
        device="cpu",
        input_size=560,
        encoder="SenseVoiceEncoderSmall",
        encoder_conf={
            "output_size": 32,
            "attention_heads": 2,
            "linear_units": 64,
            "num_blocks": 2,
            "tp_blocks": 1,
            "input_layer": "pe",
            "pos_enc_class": "SinusoidalPositionEncoder",
            "normalize_before": True,
            "kernel_size": 11,
            "sanm_shfit": 0,
            "selfattention_layer_type": "sanm",
        },
        tokenizer="SentencepiecesTokenizer",
        tokenizer_conf={"bpemodel": str(tmp_path / "tiny.model"), "unk_symbol": "<unk>"},
        frontend="WavFrontend",
        frontend_conf={"fs": 16000, "n_mels": 80, "frame_length": 25, "frame_shift": 10,
                       "lfr_m": 7, "lfr_n": 6},
    )  # fmt: skip
    if force_token is not None:
        # Make the CTC head always emit one token, so the tag parser sees real model output.
        tok = model.kwargs["tokenizer"]
        ctc = model.model.ctc.ctc_lo
        with torch.no_grad():
            ctc.weight.zero_()
            ctc.bias.fill_(-10.0)
            ctc.bias[tok.sp.piece_to_id(force_token)] = 10.0
    return model


def test_sensevoice_adapter_on_a_random_real_architecture(tmp_path) -> None:
    model = tiny_sensevoice(tmp_path, force_token="<|Laughter|>")
    samples = np.random.default_rng(1).normal(scale=0.1, size=48000).astype(np.float32)
    segments = sensevoice_backend.transcribe_chunks(
        model, samples, 16000, [(0.0, 1.5), (1.5, 3.0)], "en"
    )
    assert [(s["start"], s["end"]) for s in segments] == [(0.0, 1.5), (1.5, 3.0)]
    assert all(s["events"] == ["laughter"] and s["text"] == "" for s in segments)


@requires_espeak
def test_transcribe_stage_with_sensevoice_keeps_tags_out_of_the_text(tmp_path, make_ctx) -> None:
    folder = tmp_path / "sv"
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"")
    path = clip(tmp_path / "s.mp4", espeak(ENGINEER, tmp_path))
    ctx = make_ctx(path)
    ctx.models = ModelCache("cpu")
    ctx.config.audio.sensevoice_model = str(folder)
    ctx.config.audio.fsmn_vad_model = str(tmp_path / "no-vad")
    ctx.models.get(("sensevoice", str(folder), "None", "cpu"), lambda: tiny_sensevoice(tmp_path))
    for stage in (PROBE, EXTRACT, diarize.STAGE):
        assert execute(stage, ctx).kind == "done"
    out = execute(transcribe.STAGE, ctx)
    assert out.kind == "done", out.message
    assert out.backend == "sensevoice" and str(folder) in out.model
    data = ctx.store.read_json(ctx.artifact_path("transcribe.json"))["data"]
    assert data["segments"], "the random model still emits tokens"
    for seg in data["segments"]:
        assert "<|" not in seg["text"] and "|>" not in seg["text"]
    assert "<|" not in data["summary"]["text"]
    assert data["summary"]["word_count"] == len(data["summary"]["text"].split())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "<|en|><|NEUTRAL|><|Speech|><|withitn|>Hello there.",
            [{"text": "Hello there.", "language": "en", "emotion": "neutral", "events": []}],
        ),
        (
            "<|en|><|HAPPY|><|Laughter|><|woitn|>so good<|zh|><|SAD|><|BGM|><|withitn|>再见",
            [
                {"text": "so good", "language": "en", "emotion": "happy", "events": ["laughter"]},
                {"text": "再见", "language": "zh", "emotion": "sad", "events": ["music"]},
            ],
        ),
        (
            "plain 😊 words",
            [{"text": "plain words", "language": None, "emotion": None, "events": []}],
        ),  # fmt: skip
        ("<|nospeech|><|EMO_UNKNOWN|><|Event_UNK|><|woitn|>", []),
    ],
)
def test_sensevoice_tags_become_fields(raw: str, expected: list) -> None:
    assert sensevoice_backend.parse_tagged(raw) == expected


def test_emotion2vec_output_converts_to_a_distribution() -> None:
    # funasr's emotion2vec result structure, as AutoModel.generate returns it.
    result = [
        {
            "key": "x",
            "labels": ["生气/angry", "厌恶/disgusted", "恐惧/fearful", "开心/happy", "中立/neutral",
                       "其他/other", "难过/sad", "吃惊/surprised", "<unk>"],
            "scores": [0.05, 0.0, 0.05, 0.6, 0.2, 0.0, 0.1, 0.0, 0.0],
        }
    ]  # fmt: skip
    dist = emotion2vec_backend.convert(result)
    assert max(dist, key=dist.get) == "happy"
    assert "unknown" in dist and "<unk>" not in dist
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-3)


def test_speech_emotion_summary_weights_segments_by_length() -> None:
    series = [
        {"start": 0.0, "end": 3.0, "distribution": {"happy": 0.8, "neutral": 0.2}},
        {"start": 3.0, "end": 4.0, "distribution": {"happy": 0.2, "neutral": 0.8}},
        {"start": 4.0, "end": 7.0, "distribution": {"happy": 0.9, "neutral": 0.1}},
    ]
    s = speech_emotion.summarize(series)
    assert s["distribution"]["happy"] == pytest.approx((2.4 + 0.2 + 2.7) / 7, abs=1e-3)
    assert s["dominant"][0] == "happy"
    assert s["changes_per_min"] == pytest.approx(2 / (7 / 60), abs=1e-2)
