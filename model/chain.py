"""The mastering chain: EQ → compressor → saturation → stereo imager → true-peak limiter.

Three faces over the stages' own faces (``model/dsp/stage.py``):
``render`` (whole track, for export), ``ChainStreamer`` (blocks, for live playback) and
``forward_torch`` (differentiable, for training). Any rate from 8 to 192 kHz, mono or stereo in,
always stereo out; a bypassed stage is skipped. A trim gain (set by loudness targeting) goes in
front of the limiter. Each stage's meter signals come back beside the audio.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from model.dsp.stage import Meters
from model.params import STAGES, ChainParams

PRE_LIMITER_STAGES = STAGES[:-1]


def stage_module(stage: str) -> ModuleType:
    """The module implementing a stage of the table (``model.dsp.<stage>``)."""
    if stage not in STAGES:
        raise KeyError(stage)
    return importlib.import_module(f"model.dsp.{stage}")


def db_to_gain(level_db: float) -> float:
    """Decibels → linear amplitude factor."""
    return float(10.0 ** (level_db / 20.0))


@dataclass
class RenderResult:
    """A rendered master. ``audio``: float32 (2, samples); ``meters[stage]``: its meters."""

    audio: np.ndarray
    sample_rate_hz: int
    meters: dict[str, Meters] = field(default_factory=dict)


def as_stereo(audio: np.ndarray) -> np.ndarray:
    """Mono (1, N) → dual mono (2, N); stereo unchanged."""
    return np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio


def render_stages(audio: np.ndarray, sample_rate_hz: int, params: ChainParams,
                  stages: tuple[str, ...]) -> RenderResult:
    """Run the given stages in order (bypassed ones skipped). Shape: (C, N) → (C', N) float32."""
    out = np.ascontiguousarray(audio, dtype=np.float32)
    meters: dict[str, Meters] = {}
    for stage in stages:
        if not params.enabled[stage]:
            continue
        out, meters[stage] = stage_module(stage).render(out, params.stage(stage), sample_rate_hz)
    return RenderResult(out, sample_rate_hz, meters)


def render_limiter(audio: np.ndarray, sample_rate_hz: int, params: ChainParams,
                   trim_db: float = 0.0) -> RenderResult:
    """Trim gain then the limiter (if enabled), on the pre-limiter chain's output; stereo out."""
    out = as_stereo(audio)
    if trim_db != 0.0:
        out = out * np.float32(db_to_gain(trim_db))
    return render_stages(out, sample_rate_hz, params, ("limiter",))


def render(audio: np.ndarray, sample_rate_hz: int, params: ChainParams,
           trim_db: float = 0.0) -> RenderResult:
    """The whole chain on a whole track. Shape: (1 or 2, N) → (2, N) float32, time-aligned."""
    pre = render_stages(audio, sample_rate_hz, params, PRE_LIMITER_STAGES)
    post = render_limiter(pre.audio, sample_rate_hz, params, trim_db)
    return RenderResult(post.audio, sample_rate_hz, {**pre.meters, **post.meters})


class ChainStreamer:
    """The chain over blocks, for live playback. Output is ``render``'s delayed by
    ``latency_samples`` (the sum of the enabled stages' latencies).

    Shape: ``process(block)`` (channels, n) → ((2, n), meters of this block per stage).
    """

    def __init__(self, params: ChainParams, sample_rate_hz: int, channels: int,
                 trim_db: float = 0.0) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.params = params
        self.trim_gain = np.float32(db_to_gain(trim_db))
        self.streamers: dict[str, Any] = {
            stage: stage_module(stage).Streamer(params.stage(stage), sample_rate_hz,
                                                2 if stage == "limiter" else channels)
            for stage in STAGES}

    @property
    def latency_samples(self) -> int:
        return sum(self.streamers[s].latency_samples for s in STAGES if self.params.enabled[s])

    def set_params(self, params: ChainParams, trim_db: float | None = None) -> None:
        """New parameter values from the next block on (bypass changes reset nothing)."""
        for stage in STAGES:
            if params.stage(stage) != self.params.stage(stage):
                self.streamers[stage].set_params(params.stage(stage))
        self.params = params
        if trim_db is not None:
            self.trim_gain = np.float32(db_to_gain(trim_db))

    def reset(self) -> None:
        for streamer in self.streamers.values():
            streamer.reset()

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, Meters]]:
        out = np.ascontiguousarray(block, dtype=np.float32)
        meters: dict[str, Meters] = {}
        for stage in STAGES:
            if stage == "limiter":
                out = as_stereo(out) * self.trim_gain
            if self.params.enabled[stage]:
                out, meters[stage] = self.streamers[stage].process(out)
        return as_stereo(out), meters


def forward_torch(audio: Any, params: Mapping[str, Mapping[str, Any]], sample_rate_hz: int,
                  enabled: Mapping[str, bool] | None = None) -> tuple[Any, dict[str, Any]]:
    """Differentiable chain for training.

    Shape:
        audio: (batch, 1 or 2, samples); params[stage][name]: (batch,) physical values.
        Returns (batch, 2, samples) and the stages' meter tensors.
    """
    out = audio
    meters: dict[str, Any] = {}
    for stage in STAGES:
        if stage == "limiter" and out.shape[1] == 1:
            out = out.expand(-1, 2, -1)
        if enabled is not None and not enabled[stage]:
            continue
        out, meters[stage] = stage_module(stage).forward_torch(out, params[stage], sample_rate_hz)
    return out, meters
