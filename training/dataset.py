"""Self-supervised training pairs: a degraded excerpt in, the original master at the same place
out, with analysis and reference excerpts of the same recording.

Each track is decoded once (stereo, 44.1 kHz, cached as float16 beside its integrated loudness).
Item ``i`` is track ``i mod len(files)`` with its own generator ``default_rng([seed, i])``, so an
item is the same whatever the order, worker or epoch it is loaded in. Per item:

1. a random degradation (``training.degrade``), the same for all excerpts of the item;
2. the loss excerpt at a random offset: the degradation runs from rest over ``preroll_s`` of
   context plus the excerpt, then the context is cut off (kept as ``input_context``);
3. ``analysis_excerpts`` degraded excerpts, evenly spread from the first possible start to the
   last, each degraded with the same pre-roll rule;
4. as many clean reference excerpts, evenly spread over the starts that do not overlap the
   target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model import audio_io
from model.features import ANALYSIS_RATE_HZ
from model.loudness import integrated_loudness
from training import degrade, split


@dataclass(frozen=True)
class DecodedTrack:
    """A track at 44.1 kHz: audio float16 (2, N) and its integrated loudness in LUFS."""

    audio: np.ndarray
    loudness_lufs: float


def decode(path: Path) -> DecodedTrack:
    """Load, make stereo (mono → dual mono), resample to 44.1 kHz, measure loudness."""
    track = audio_io.load(path)
    audio = track.audio if track.channels == 2 else np.repeat(track.audio, 2, axis=0)
    audio = audio_io.resample(audio, track.sample_rate_hz, ANALYSIS_RATE_HZ)
    return DecodedTrack(audio.astype(np.float16),
                        integrated_loudness(audio, ANALYSIS_RATE_HZ))


def evenly_spaced(first: int, last: int, count: int) -> np.ndarray:
    """``count`` integer positions from ``first`` to ``last`` inclusive. Shape: (count,)."""
    return np.round(np.linspace(first, last, count)).astype(np.int64)


def starts_avoiding(total: int, length: int, busy_start: int, busy_stop: int,
                    count: int) -> np.ndarray:
    """Evenly spread starts of windows of ``length`` in ``[0, total)`` that do not overlap
    ``[busy_start, busy_stop)``. Shape: (count,) int64."""
    gap_start = max(0, busy_start - length + 1)
    gap_stop = min(total - length + 1, busy_stop)
    free = (total - length + 1) - (gap_stop - gap_start)
    if free < count:
        raise ValueError("track too short for reference excerpts beside the target")
    slots = evenly_spaced(0, free - 1, count)
    return np.where(slots < gap_start, slots, slots + (gap_stop - gap_start))


class PairDataset(torch.utils.data.Dataset):
    """Map-style dataset of degraded/original pairs, deterministic per index.

    Shape of an item (fs = 44100, X = excerpt_s·fs, A = analysis_s·fs, P = preroll_s·fs,
    E = analysis_excerpts), all float32 unless noted:
        "analysis" (E, 2, A), "input" (2, X), "input_context" (2, P), "target" (2, X),
        "reference" (E, 2, A), "target_lufs" (), "known_units" (P,), "known_mask" (P,) bool,
        "degradation" str (JSON), "track" () int64, "offset" () int64 (start of input/target),
        "analysis_offsets" (E,) int64, "reference_offsets" (E,) int64.

    Args:
        files: the tracks (e.g. ``split.resolve(load_split()["train"], corpus)``).
        seed: the dataset's seed; items differ across seeds.
        items_per_track: items per track in one pass (``len`` = files · items_per_track).
    """

    def __init__(self, files: list[Path], seed: int, excerpt_s: float = 1.5,
                 analysis_excerpts: int = 6, analysis_s: float = 2.0, preroll_s: float = 0.5,
                 items_per_track: int = 16) -> None:
        self.files = list(files)
        self.seed = seed
        self.excerpt_samples = round(excerpt_s * ANALYSIS_RATE_HZ)
        self.analysis_excerpts = analysis_excerpts
        self.analysis_samples = round(analysis_s * ANALYSIS_RATE_HZ)
        self.preroll_samples = round(preroll_s * ANALYSIS_RATE_HZ)
        self.items_per_track = items_per_track
        self._decoded: dict[int, DecodedTrack] = {}

    @classmethod
    def from_split(cls, side: str, corpus_dir: str | Path, seed: int,
                   split_path: str | Path = split.DEFAULT_PATH, **options: Any) -> PairDataset:
        """The dataset over one side ("train", "validation", "test") of a split file."""
        return cls(split.resolve(split.load_split(split_path)[side], corpus_dir), seed,
                   **options)

    def __len__(self) -> int:
        return len(self.files) * self.items_per_track

    def track(self, index: int) -> DecodedTrack:
        """Track ``index`` of ``files``, decoded on first use."""
        if index not in self._decoded:
            self._decoded[index] = decode(self.files[index])
        return self._decoded[index]

    def preload(self) -> None:
        """Decode every track now (before forking DataLoader workers, which then share it)."""
        for index in range(len(self.files)):
            self.track(index)

    def _degraded(self, audio: np.ndarray, start: int, length: int,
                  degradation: degrade.Degradation) -> np.ndarray:
        """Degrade ``audio[:, start − P : start + length]`` from rest. Shape: (2, P + length)."""
        clean = audio[:, start - self.preroll_samples:start + length].astype(np.float32)
        return degrade.apply(clean, ANALYSIS_RATE_HZ, degradation)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        track_index = index % len(self.files)
        decoded = self.track(track_index)
        audio, total = decoded.audio, decoded.audio.shape[1]
        rng = np.random.default_rng([self.seed, index])
        degradation = degrade.random_degradation(rng)
        pre, length, span = self.preroll_samples, self.excerpt_samples, self.analysis_samples

        offset = int(rng.integers(pre, total - length + 1))
        degraded_input = self._degraded(audio, offset, length, degradation)
        analysis_offsets = evenly_spaced(pre, total - span, self.analysis_excerpts)
        analysis = np.stack([self._degraded(audio, int(start), span, degradation)[:, pre:]
                             for start in analysis_offsets])
        reference_offsets = starts_avoiding(total, span, offset, offset + length,
                                            self.analysis_excerpts)
        reference = np.stack([audio[:, start:start + span] for start in reference_offsets])
        known_units, known_mask = degrade.inverse_units(degradation)
        return {
            "analysis": torch.from_numpy(analysis),
            "input": torch.from_numpy(np.ascontiguousarray(degraded_input[:, pre:])),
            "input_context": torch.from_numpy(np.ascontiguousarray(degraded_input[:, :pre])),
            "target": torch.from_numpy(audio[:, offset:offset + length].astype(np.float32)),
            "reference": torch.from_numpy(reference.astype(np.float32)),
            "target_lufs": torch.tensor(decoded.loudness_lufs, dtype=torch.float32),
            "known_units": torch.from_numpy(known_units),
            "known_mask": torch.from_numpy(known_mask),
            "degradation": degradation.to_json(),
            "track": torch.tensor(track_index),
            "offset": torch.tensor(offset),
            "analysis_offsets": torch.from_numpy(analysis_offsets),
            "reference_offsets": torch.from_numpy(reference_offsets),
        }
