"""The mastering chain: EQ → compressor → saturation → stereo imager → neural residual →
true-peak limiter.

Three faces over the stages' own faces (``model/dsp/stage.py``):
``render`` (whole track, for export), ``ChainStreamer`` (blocks, for live playback) and
``forward_torch`` (differentiable, for training). Any rate from 8 to 192 kHz, mono or stereo in,
always stereo out; a bypassed stage is skipped. A trim gain (set by loudness targeting) goes in
front of the limiter. Each stage's meter signals come back beside the audio.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from model.dsp.stage import Meters
from model.params import STAGES, ChainParams
from model.units import db_to_gain

PRE_LIMITER_STAGES = STAGES[:-1]
FRONT_STAGES = ("eq", "compressor", "saturation")
BACK_STAGES = tuple(stage for stage in STAGES if stage not in FRONT_STAGES)
RENDER_CHUNK_FRAMES = 1 << 16
"""Whole-track renders stream in chunks of this many frames: bounded memory, warm caches."""


def stage_module(stage: str) -> ModuleType:
    """The module implementing a stage of the table (``model.dsp.<stage>``)."""
    if stage not in STAGES:
        raise KeyError(stage)
    return importlib.import_module(f"model.dsp.{stage}")


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
        out, meters[stage] = stage_module(stage).render(out, params.stage_inputs(stage),
                                                         sample_rate_hz)
    return RenderResult(out, sample_rate_hz, meters)


def render_limiter(audio: np.ndarray, sample_rate_hz: int, params: ChainParams,
                   trim_db: float = 0.0) -> RenderResult:
    """Trim gain then the limiter (if enabled), on the pre-limiter chain's output; stereo out."""
    out = as_stereo(audio)
    if trim_db != 0.0:
        out = out * np.float32(db_to_gain(trim_db))
    return render_stages(out, sample_rate_hz, params, ("limiter",))


class ChainStreamer:
    """The chain over blocks, for live playback and for whole-track renders. Output is the chain's
    stage-by-stage render (``render_stages``) delayed by ``latency_samples`` (the enabled stages'
    latencies summed).

    The chain is split in two halves (``FRONT_STAGES``, ``BACK_STAGES``) that can run on two
    threads, one block apart.

    Shape: ``process(block)`` (channels, n) → ((2, n), meters of this block per stage).
    """

    def __init__(self, params: ChainParams, sample_rate_hz: int, channels: int,
                 trim_db: float = 0.0) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.params = params
        self.trim_gain = np.float32(db_to_gain(trim_db))
        self.streamers: dict[str, Any] = {
            stage: stage_module(stage).Streamer(params.stage_inputs(stage), sample_rate_hz,
                                                2 if stage == "limiter" else channels)
            for stage in STAGES}
        self.input_frames: int | None = None
        self.limiter_frames = 0

    def stage_latency(self, stage: str) -> int:
        """Latency of one stage, 0 when bypassed."""
        return self.streamers[stage].latency_samples if self.params.enabled[stage] else 0

    @property
    def latency_samples(self) -> int:
        return sum(self.stage_latency(stage) for stage in STAGES)

    def set_params(self, params: ChainParams, trim_db: float | None = None) -> None:
        """New parameter values from the next block on (bypass changes reset nothing)."""
        for stage in STAGES:
            if params.stage_inputs(stage) != self.params.stage_inputs(stage):
                self.streamers[stage].set_params(params.stage_inputs(stage))
        self.params = params
        if trim_db is not None:
            self.trim_gain = np.float32(db_to_gain(trim_db))

    def reset(self) -> None:
        for streamer in self.streamers.values():
            streamer.reset()
        self.input_frames = None
        self.limiter_frames = 0

    def end_input(self, frames: int) -> None:
        """The input ends after ``frames`` frames: from there on the limiter hears silence, not
        the earlier stages' tails (as in ``render_limiter``), so that the output cut at that
        length keeps the limiter's true-peak ceiling. ``stream`` calls it before its flush."""
        self.input_frames = frames

    def _limiter_input(self, block: np.ndarray) -> np.ndarray:
        """The block about to enter the limiter, silent from the end of the input on."""
        start = self.limiter_frames
        self.limiter_frames += block.shape[1]
        if self.input_frames is None:
            return block
        end = self.input_frames + sum(self.stage_latency(stage) for stage in PRE_LIMITER_STAGES)
        keep = min(max(end - start, 0), block.shape[1])
        if keep == block.shape[1]:
            return block
        silenced = block.copy()
        silenced[:, keep:] = 0.0
        return silenced

    def _run(self, block: np.ndarray, stages: tuple[str, ...]) -> tuple[np.ndarray, dict]:
        out = block
        meters: dict[str, Meters] = {}
        for stage in stages:
            if stage == "limiter":
                out = as_stereo(out)
                if self.trim_gain != 1.0:
                    out = out * self.trim_gain
                out = self._limiter_input(out)
            if self.params.enabled[stage]:
                out, meters[stage] = self.streamers[stage].process(out)
        return out, meters

    def process_front(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, Meters]]:
        """The first half of the chain. Shape: (channels, n) → (channels, n)."""
        return self._run(np.ascontiguousarray(block, dtype=np.float32), FRONT_STAGES)

    def process_back(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, Meters]]:
        """The second half of the chain. Shape: (channels, n) → (2, n)."""
        out, meters = self._run(block, BACK_STAGES)
        return as_stereo(out), meters

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, Meters]]:
        front, front_meters = self.process_front(block)
        out, back_meters = self.process_back(front)
        return out, {**front_meters, **back_meters}


def stream(blocks: Iterable[np.ndarray], streamer: ChainStreamer,
           on_meters: Callable[[dict[str, Meters]], None] | None = None) -> Iterator[np.ndarray]:
    """Run blocks through the chain, its two halves on two threads one block apart (the numba
    kernels release the GIL), and yield the output with the chain's latency removed: the
    concatenated output equals ``render_stages`` over the concatenated input.

    Shape: blocks of (channels, n) float32 → blocks of (2, n'), in order, same total length.
    ``on_meters`` receives each block's meters, front half then back half.
    """
    latency = to_skip = streamer.latency_samples
    pending: deque[Future] = deque()

    def finished() -> Iterator[np.ndarray]:
        nonlocal to_skip
        back, back_meters = pending.popleft().result()
        if on_meters is not None:
            on_meters(back_meters)
        skip = min(to_skip, back.shape[1])
        to_skip -= skip
        if skip < back.shape[1]:
            yield back[:, skip:]

    def flushed() -> Iterator[np.ndarray]:
        """The input, then ``end_input`` and silence as long as the latency."""
        frames = 0
        for block in blocks:
            frames += block.shape[1]
            yield block
        streamer.end_input(frames)
        if latency:
            yield np.zeros((streamer.channels, latency), dtype=np.float32)

    with ThreadPoolExecutor(max_workers=1) as back_thread:
        for block in flushed():
            front, front_meters = streamer.process_front(block)
            if on_meters is not None:
                on_meters(front_meters)
            pending.append(back_thread.submit(streamer.process_back, front))
            while len(pending) > 2:
                yield from finished()
        while pending:
            yield from finished()


def chunks(audio: np.ndarray, frames: int = RENDER_CHUNK_FRAMES) -> Iterator[np.ndarray]:
    """Consecutive blocks of ``frames`` samples. Shape: (C, N) → (C, ≤ frames) views."""
    for start in range(0, audio.shape[1], frames):
        yield audio[:, start:start + frames]


def render(audio: np.ndarray, sample_rate_hz: int, params: ChainParams,
           trim_db: float = 0.0) -> RenderResult:
    """The whole chain on a whole track. Shape: (1 or 2, N) → (2, N) float32, time-aligned.

    Streams the track through ``stream`` in chunks; per-sample meters are aligned with the
    input. Equals ``render_stages`` over the whole chain (the parity tests hold them together).
    """
    streamer = ChainStreamer(params, sample_rate_hz, audio.shape[0], trim_db)
    out = np.empty((2, audio.shape[1]), dtype=np.float32)
    series: dict[str, dict[str, list[np.ndarray]]] = {}

    def collect(meters: dict[str, Meters]) -> None:
        for stage, values in meters.items():
            for name, value in values.items():
                if np.ndim(value) == 1:
                    series.setdefault(stage, {}).setdefault(name, []).append(value)

    position = 0
    for block in stream(chunks(audio), streamer, collect):
        out[:, position:position + block.shape[1]] = block
        position += block.shape[1]
    return RenderResult(out, sample_rate_hz, _aligned_meters(streamer, series, audio.shape[1]))


def warm_up() -> None:
    """Load every stage's compiled kernels (about 0.3 s in a fresh process) by rendering a few
    milliseconds of silence; run it on a thread while a file decodes to hide that time."""
    silence = np.zeros((2, 512), dtype=np.float32)
    render(silence, 44100, ChainParams())
    render_stages(silence, 44100, ChainParams(), STAGES)


def _aligned_meters(streamer: ChainStreamer, series: dict[str, dict[str, list[np.ndarray]]],
                    n_frames: int) -> dict[str, Meters]:
    """Per-sample meter streams shifted back by the latency up to and including their stage,
    plus each stage's whole-stream summary meters."""
    meters: dict[str, Meters] = {}
    delay = 0
    for stage in STAGES:
        if not streamer.params.enabled[stage]:
            continue
        delay += streamer.stage_latency(stage)
        meters[stage] = {name: np.concatenate(chunks)[delay:delay + n_frames]
                         for name, chunks in series.get(stage, {}).items()}
        summary = getattr(streamer.streamers[stage], "summary_meters", None)
        if summary is not None:
            meters[stage].update(summary())
    return meters


def forward_torch(audio: Any, params: Mapping[str, Mapping[str, Any]], sample_rate_hz: int,
                  enabled: Mapping[str, bool] | None = None,
                  networks: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Differentiable chain for training.

    Shape:
        audio: (batch, 1 or 2, samples); params[stage][name]: (batch,) physical values, and
        params["residual"]["latent"]: (batch, LATENT_DIM) when the residual is conditioned.
        networks: trainable networks by stage (``net`` of that stage's ``forward_torch``, e.g.
        the residual network being trained); a stage not named uses its shipped weights.
        Returns (batch, 2, samples) and the stages' meter tensors.
    """
    out = audio
    meters: dict[str, Any] = {}
    for stage in STAGES:
        if stage == "limiter" and out.shape[1] == 1:
            out = out.expand(-1, 2, -1)
        if enabled is not None and not enabled[stage]:
            continue
        extra = {"net": networks[stage]} if networks and stage in networks else {}
        out, meters[stage] = stage_module(stage).forward_torch(out, params[stage], sample_rate_hz,
                                                               **extra)
    return out, meters
