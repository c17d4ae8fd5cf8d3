"""Offline diarization: silero-vad speech regions, resemblyzer voice embeddings on sliding
windows, and agglomerative clustering whose distance threshold (not a forced count) decides
how many speakers there are.

The threshold sits where two 1.6 s windows of one voice and of two voices are equally often
misjudged on the First Impressions clips (cosine distance about 0.39); `bench/diarization.py`
measures the count and error rate on concatenations of different people."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from daemon.audio.resample import to_rate
from daemon.audio.turns import Interval, Turn, make_turn, merge_turns
from daemon.errors import StopRequested

if TYPE_CHECKING:
    from daemon.model_cache import ModelCache

EMBED_RATE = 16000
FRAME_S = 0.01  # resemblyzer mel hop
WINDOW_FRAMES = 160  # 1.6 s windows, resemblyzer's partial-utterance length
STEP_FRAMES = 40  # 0.4 s hop
MIN_WINDOW_FRAMES = 50  # speech regions shorter than 0.5 s are labelled by their neighbours
# A voice needs this much speech to count as a speaker: absolute, not a share, so that a
# long recording with many voices keeps its quiet ones.
MIN_SPEAKER_S = 2.0


def resemblyzer_version() -> str:
    from importlib.metadata import version

    return f"resemblyzer {version('resemblyzer')}"


def load_encoder(device: str) -> Any:
    """resemblyzer's VoiceEncoder with the weights shipped in the package."""
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device=device, verbose=False)


def _windows(regions: list[Interval], n_frames: int) -> list[tuple[int, int]]:
    """Frame windows of WINDOW_FRAMES covering every speech region (centred when shorter)."""
    out: list[tuple[int, int]] = []
    for start, end in regions:
        a, b = int(start / FRAME_S), min(n_frames, int(end / FRAME_S))
        if b - a < MIN_WINDOW_FRAMES:
            continue
        if b - a <= WINDOW_FRAMES:
            mid = (a + b) // 2
            lo = max(0, min(mid - WINDOW_FRAMES // 2, n_frames - WINDOW_FRAMES))
            out.append((lo, lo + WINDOW_FRAMES))
            continue
        for lo in range(a, b - WINDOW_FRAMES + 1, STEP_FRAMES):
            out.append((lo, lo + WINDOW_FRAMES))
        if out[-1][1] < b:
            out.append((b - WINDOW_FRAMES, b))
    return [(lo, hi) for lo, hi in out if lo >= 0 and hi <= n_frames]


def _never() -> bool:
    return False


def embed_windows(
    encoder: Any,
    samples: np.ndarray,
    rate: int,
    regions: list[Interval],
    should_stop: Callable[[], bool] = _never,
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """L2-normalised embeddings of the speech windows, and the windows (in 10 ms frames).

    Raises StopRequested between batches once `should_stop()` is true.
    """
    import torch
    from resemblyzer.audio import wav_to_mel_spectrogram

    wav = to_rate(samples, rate, EMBED_RATE)
    mel = wav_to_mel_spectrogram(wav)
    windows = _windows(regions, mel.shape[0])
    if not windows:
        return np.zeros((0, 256), dtype=np.float32), []
    batches = []
    for i in range(0, len(windows), 64):
        if should_stop():
            raise StopRequested("stopped between embedding batches")
        chunk = np.stack([mel[lo:hi] for lo, hi in windows[i : i + 64]])
        with torch.inference_mode():
            batches.append(encoder(torch.from_numpy(chunk).to(encoder.device)).cpu().numpy())
    emb = np.concatenate(batches)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-9
    return emb, windows


def speech_credit(windows: list[tuple[int, int]], regions: list[Interval]) -> np.ndarray:
    """Seconds of speech each window stands for: every speech frame is shared equally among
    the windows that cover it, so a cluster's credits add up to the speech it holds."""
    n = max((hi for _lo, hi in windows), default=0) + 1
    speech = np.zeros(n)
    for start, end in regions:
        speech[int(start / FRAME_S) : int(np.ceil(end / FRAME_S))] = FRAME_S
    cover = np.zeros(n)
    for lo, hi in windows:
        cover[lo:hi] += 1.0
    cum = np.concatenate([[0.0], np.cumsum(speech / np.maximum(cover, 1.0))])
    return np.asarray([cum[hi] - cum[lo] for lo, hi in windows])


def cluster(
    emb: np.ndarray,
    distance: float,
    min_share: float,
    min_seconds: float = MIN_SPEAKER_S,
    credit: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster labels: average-linkage on cosine distance cut at `distance`; clusters holding
    less than `min_share` of the speech or less than `min_seconds` of it are folded into the
    nearest kept one. `credit` is each window's speech in seconds (default: one hop)."""
    if len(emb) < 2:
        return np.zeros(len(emb), dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(emb, method="average", metric="cosine")
    labels = fcluster(tree, t=distance, criterion="distance") - 1
    if credit is None:
        credit = np.full(len(emb), STEP_FRAMES * FRAME_S)
    held = np.bincount(labels, weights=credit)
    need = max(min_share * float(credit.sum()), min_seconds)
    big = [c for c in range(len(held)) if held[c] >= need - 1e-9]
    if not big:
        big = [int(np.argmax(held))]
    centroids = np.stack([emb[labels == c].mean(axis=0) for c in big])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    return np.asarray([big[int(np.argmax(centroids @ e))] for e in emb])


def frame_labels(labels: np.ndarray, windows: list[tuple[int, int]], n_frames: int) -> np.ndarray:
    """Per-frame speaker index by vote of the overlapping windows (-1 where none covers)."""
    k = int(labels.max()) + 1 if len(labels) else 0
    votes = np.zeros((n_frames, max(k, 1)), dtype=np.float32)
    for lab, (lo, hi) in zip(labels, windows, strict=True):
        votes[lo:hi, lab] += 1.0
    out = votes.argmax(axis=1)
    out[votes.sum(axis=1) == 0] = -1
    return out


def regions_to_turns(
    regions: list[Interval], per_frame: np.ndarray
) -> list[tuple[float, float, int]]:
    """Split speech regions where the frame label changes; uncovered frames take the nearest."""
    turns: list[tuple[float, float, int]] = []
    covered = np.flatnonzero(per_frame >= 0)
    for start, end in regions:
        a = int(start / FRAME_S)
        b = max(a + 1, min(len(per_frame), int(np.ceil(end / FRAME_S))))
        labs = per_frame[a:b].copy()
        for i in np.flatnonzero(labs < 0):
            j = covered[np.argmin(np.abs(covered - (a + i)))]
            labs[i] = per_frame[j]
        cut = [0, *(np.flatnonzero(np.diff(labs)) + 1).tolist(), len(labs)]
        for lo, hi in zip(cut[:-1], cut[1:], strict=False):
            t0 = max(start, (a + lo) * FRAME_S)
            t1 = min(end, (a + hi) * FRAME_S)
            if t1 > t0:
                turns.append((t0, t1, int(labs[lo])))
    return turns


def diarize(
    models: ModelCache,
    samples: np.ndarray,
    rate: int,
    regions: list[Interval],
    distance: float,
    min_share: float,
    should_stop: Callable[[], bool] = _never,
) -> list[Turn]:
    """Turns labelled SPEAKER_00, SPEAKER_01... in order of first appearance.

    The voice encoder is loaded once into `models`, on its device.
    """
    device = models.device
    encoder = models.get(
        ("resemblyzer", resemblyzer_version(), device), lambda: load_encoder(device)
    )
    emb, windows = embed_windows(encoder, samples, rate, regions, should_stop)
    if not windows:
        # Only very short bursts of speech: too little to tell voices apart, so one speaker.
        return merge_turns(make_turn(a, b, "SPEAKER_00") for a, b in regions)
    labels = cluster(emb, distance, min_share, credit=speech_credit(windows, regions))
    n_frames = int(np.ceil(len(samples) / rate / FRAME_S)) + 1
    raw = regions_to_turns(regions, frame_labels(labels, windows, n_frames))
    order: dict[int, str] = {}
    for _s, _e, lab in raw:
        order.setdefault(lab, f"SPEAKER_{len(order):02d}")
    return merge_turns((make_turn(s, e, order[lab]) for s, e, lab in raw), max_gap=0.0)
