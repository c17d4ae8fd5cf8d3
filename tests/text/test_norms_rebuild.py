"""`lprd norms rebuild`: norms from the processed videos in the database, re-queueing describe."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select, update

from daemon.cli import main
from daemon.pipeline import Pipeline
from daemon.text import norms_build
from daemon.text.norms import load_norms
from storage.models import StageRun
from storage.states import StageStatus
from storage.videos import register_video


def _videos(n: int) -> dict[str, dict]:
    return {
        f"clip{i:03d}.mp4": {
            "probe": {"duration_s": 15.0},
            "transcribe": {"word_count": 30 + i},
            "prosody": {"speech_rate_sps": 3.0 + i * 0.05, "pitch_mean_hz": 200.0},
            "analyze_face": {"apparent_gender": "female", "blinks_per_min": None},
        }
        for i in range(n)
    }


def test_build_takes_percentile_cuts_and_keeps_shipped_norms_without_enough_clips() -> None:
    videos = _videos(40)
    rebuilt = norms_build.build(videos, min_clips=30)
    rates = [3.0 + i * 0.05 for i in range(40)]
    cuts = rebuilt.raw["norms"]["speech_rate_sps"]["cuts"]
    assert cuts == pytest.approx(np.percentile(rates, [10, 25, 75, 90]), abs=1e-4)
    sample = rebuilt.raw["norms"]["speech_rate_sps"]["sample"]
    assert sample["clips"] == 40 and sample["videos"][0] == "clip000.mp4"
    assert rebuilt.replaced["word_rate_video_wps"] == 40
    assert rebuilt.kept["blinks_per_min"] == 0 and rebuilt.kept["pitch_mean_hz_male"] == 0
    assert "loudness_lufs" not in rebuilt.raw["norms"]  # a broadcast standard, not other people


def test_local_norms_overlay_the_shipped_ones(tmp_path) -> None:
    shipped = load_norms()
    rebuilt = norms_build.build(_videos(40), min_clips=30)
    norms_build.write(tmp_path, rebuilt)
    mine = load_norms(tmp_path)
    assert mine.version == f"{shipped.version}+{rebuilt.raw['version']}"
    assert mine.norms["speech_rate_sps"].clips == 40
    assert mine.norms["pitch_sd_semitones"] == shipped.norms["pitch_sd_semitones"]
    assert mine.phrase("speech_rate_sps", 3.0) == "much slower than most speakers"
    assert shipped.phrase("speech_rate_sps", 3.0) == "slower than most speakers"


def _processed(config, database, store, n: int) -> None:
    """n videos whose analysis stages and describe finished, as the workers leave them."""
    pipeline = Pipeline.default()
    current = pipeline.fingerprints(config, database)
    for name, summaries in _videos(n).items():
        sha = f"{n:02d}{name}".encode().hex().ljust(64, "0")[:64]
        with database.write() as session:
            reg = register_video(session, sha256=sha, name=name, path=config.home_dir / name,
                                 size_bytes=1, plans=pipeline.plans.values())  # fmt: skip
            for stage, summary in summaries.items():
                path = store.path(sha, f"{stage}.json")
                data = summary if stage == "probe" else {"summary": summary}
                store.write_json(path, {"stage": stage, "status": "done", "data": data})
                session.execute(update(StageRun).where(StageRun.video_id == reg.video_id,
                                StageRun.stage == stage).values(status=StageStatus.DONE,
                                artifact=store.relative(path), fingerprint=current[stage]))  # fmt: skip
            session.execute(
                update(StageRun)
                .where(StageRun.video_id == reg.video_id, StageRun.stage == "describe")
                .values(status=StageStatus.DONE, fingerprint=current["describe"])
            )


def test_rebuild_command_writes_home_norms_and_requeues_describe(
    config, database, store, capsys
) -> None:
    _processed(config, database, store, 12)
    home = str(config.home_dir)
    assert main(["--home", home, "norms", "rebuild", "--min-clips", "10"]) == 0
    out = capsys.readouterr().out
    assert "speech_rate_sps: rebuilt from 12 videos" in out
    assert "blinks_per_min: shipped norm kept (0 videos" in out
    local = json.loads((config.home_dir / "norms.json").read_text())
    assert local["norms"]["speech_rate_sps"]["sample"]["clips"] == 12
    with database.read() as session:
        describe = session.scalars(select(StageRun.status).where(StageRun.stage == "describe"))
        prosody = session.scalars(select(StageRun.status).where(StageRun.stage == "prosody"))
        assert set(describe) == {"pending"} and set(prosody) == {"done"}
    assert main(["--home", home, "norms", "show"]) == 0
    assert "12 clips" in capsys.readouterr().out
