"""What the app asks of the model, Qt-free: load a track, get the proposal, preview the master.

Every function here runs on a worker thread (the app never calls them on the GUI thread) and
reports progress through a ``Progress`` the GUI polls. The proposer is loaded once per
``Analyser`` and reused for re-analysis and co-mastering.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from greymaster_app.playback.meters import PathReading, whole_track_reading
from model import audio_io, chain, targeting
from model.audio_io import Track
from model.params import ChainParams


class Progress:
    """A phase name and a 0–1 fraction, written by a worker and read by the GUI (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase = ""
        self._fraction = 0.0

    def set(self, phase: str, fraction: float) -> None:
        with self._lock:
            self._phase, self._fraction = phase, min(max(fraction, 0.0), 1.0)

    def get(self) -> tuple[str, float]:
        with self._lock:
            return self._phase, self._fraction


@dataclass(frozen=True)
class Preview:
    """The master as the export will make it, for the meters and the waveform overview.

    Shape: ``master`` (2, N) float32 at the track's rate.
    """

    trim_db: float
    master: np.ndarray
    targeting: targeting.TargetingResult
    reading: PathReading
    """The whole master's meter values (shown while nothing plays)."""


class Analyser:
    """The model behind the app: loads the proposer once (``weights`` None = the shipped ones)."""

    def __init__(self, weights: str | Path | None = None) -> None:
        self._weights = weights
        self._model: Any = None
        self._lock = threading.Lock()

    def _proposer(self) -> Any:
        from model import proposer

        with self._lock:
            if self._model is None:
                self._model = proposer.load(self._weights or proposer.DEFAULT_WEIGHTS)
            return self._model

    def propose(self, track: Track, target_lufs: float, reference: Track | None = None,
                locks: Mapping[str, float] | None = None) -> ChainParams:
        """The model's parameters for ``track`` at ``target_lufs``; ``locks`` (physical values by
        ``stage.name``) come back unchanged and shape the rest (co-mastering)."""
        from model import proposer, residual_net

        params = proposer.propose(
            self._proposer(), track.audio, track.sample_rate_hz, target_lufs,
            reference=None if reference is None else reference.audio,
            reference_fs=None if reference is None else reference.sample_rate_hz,
            locks=dict(locks or {}))
        residual_net.load_cached()  # here, not in the live player's worker on first use
        return params


def load_track(path: str | Path, progress: Progress) -> Track:
    """Decode a file (an ``AudioFileError`` saying why when it cannot be used)."""
    progress.set("Reading the file", 0.05)
    track = audio_io.load(path)
    progress.set("Reading the file", 0.3)
    return track


def preview(track: Track, params: ChainParams, target_lufs: float, ceiling_dbtp: float,
            progress: Progress | None = None) -> Preview:
    """Render the whole chain with the trim that lands on ``target_lufs`` (the same search the
    export runs), at the track's rate."""
    used = targeting.with_ceiling(params, ceiling_dbtp)
    if progress is not None:
        progress.set("Rendering the master", 0.6)
    pre = chain.render_stages(track.audio, track.sample_rate_hz, used, chain.PRE_LIMITER_STAGES)
    if progress is not None:
        progress.set("Finding the trim for the loudness target", 0.8)
    result, post = targeting.find_trim(pre.audio, track.sample_rate_hz, used, target_lufs)
    master = chain.as_stereo(post.audio)
    reading = whole_track_reading(master, track.sample_rate_hz)
    if progress is not None:
        progress.set("Done", 1.0)
    return Preview(result.trim_db, master, result, reading)
