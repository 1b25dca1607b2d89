"""The mastering chain for live playback: click-free changes at a latency that never changes.

Each stage of the chain runs in a ``LiveStage`` whose output latency is fixed at the stage's
largest possible latency (``latency_range_samples``): its ``Streamer`` sits behind a pre-delay of
(largest − current latency), and a dry path (the input delayed by the largest latency) stands in
for the stage when it is bypassed. A bypassed stage keeps processing, so its state stays warm and
switching it back on is seamless. The chain's latency is the stages' fixed latencies summed
(the saturation's plus the limiter's at the longest lookahead of the table).

Every change is a crossfade of ``FADE_S`` along an equal-gain raised-cosine curve (``fade_curve``:
the incoming side weighs w = sin², the outgoing side 1 − w = cos²):

- new parameter values: the stage's streamer is forked (``copy.deepcopy``), the fork takes the
  new values, both run for the fade, then the old one is dropped. Only stages whose values
  changed fork. A fork whose latency differs (the limiter's lookahead) restarts from silence:
  it is pre-rolled over the stage's last ``PREROLL_S`` of input, through its own pre-delay, so
  that it comes in time-aligned and with its state settled.
- bypass: a crossfade between the stage's wet and dry outputs.
- trim (the loudness-targeting gain, in front of the limiter as in ``model.chain``): a ramp
  from the old to the new gain along the same curve.

A change that arrives while a stage is fading waits for the fade to end; the latest one wins.

Threads: ``LiveChain.set_params`` may be called from any thread. It stores one reference to an
immutable (parameters, trim) pair, an atomic assignment under the GIL; ``process`` (the worker
thread) reads that reference once at the start of each call.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np

from model.chain import stage_module
from model.dsp import limiter
from model.dsp.stage import Meters, Streamer
from model.params import STAGES, ChainParams, defaults, spec
from model.units import db_to_gain

FADE_S = 0.010
"""Length of the crossfade for parameter changes, bypass toggles and trim changes."""

PREROLL_S = 0.5
"""Input history run through a stage whose latency changed, before it is faded in."""

CHANNELS = 2
"""The live chain is always stereo (the player turns mono into dual mono)."""

_SPARE_SAMPLES = 4096
"""Room beyond a history's length, so that it moves its contents back only every few blocks."""


def fade_curve(sample_rate_hz: int) -> np.ndarray:
    """The incoming side's weight over one fade: w[k] = sin²(π/2 · (k + 1) / F), k = 0 … F − 1,
    F = round(FADE_S · fs) ≥ 1. It rises from near 0 to exactly 1; the outgoing side weighs
    1 − w = cos², so the two weights always sum to 1 (equal gain).

    Shape: (F,) float32.
    """
    samples = max(1, round(FADE_S * sample_rate_hz))
    phase = 0.5 * np.pi * np.arange(1, samples + 1) / samples
    return (np.sin(phase) ** 2).astype(np.float32)


def latency_range_samples(stage: str, sample_rate_hz: int) -> tuple[int, int]:
    """A stage's smallest and largest latency over the table's ranges: the limiter's follows its
    lookahead (``limiter.latency_samples``), every other stage's is fixed."""
    if stage == "limiter":
        lookahead = spec("limiter.lookahead_ms")
        return (limiter.latency_samples(lookahead.minimum, sample_rate_hz),
                limiter.latency_samples(lookahead.maximum, sample_rate_hz))
    latency = stage_module(stage).Streamer(defaults(stage), sample_rate_hz,
                                           CHANNELS).latency_samples
    return latency, latency


class _Crossfade:
    """Progress through one fade along a curve (``fade_curve``): ``position`` counts the
    samples of the running fade done so far, None when no fade runs."""

    def __init__(self, curve: np.ndarray) -> None:
        self.curve = curve
        self.position: int | None = None

    @property
    def running(self) -> bool:
        return self.position is not None

    def start(self) -> None:
        self.position = 0

    def stop(self) -> None:
        self.position = None

    def mix(self, outgoing: np.ndarray, incoming: np.ndarray) -> np.ndarray:
        """outgoing · (1 − w) + incoming · w over the fade's next samples, then the incoming
        signal alone; the fade ends when its curve is used up.

        Shape: two (C, n) arrays → a new (C, n) float32 array.
        """
        n = incoming.shape[1]
        k = min(n, self.curve.shape[0] - self.position)
        out = np.empty(incoming.shape, dtype=np.float32)
        np.subtract(incoming[:, :k], outgoing[:, :k], out=out[:, :k])
        out[:, :k] *= self.curve[self.position:self.position + k]
        out[:, :k] += outgoing[:, :k]
        out[:, k:] = incoming[:, k:]
        self.position += k
        if self.position == self.curve.shape[0]:
            self.position = None
        return out


class _History:
    """The latest ``length_samples`` of a stream (silence before it began), readable at any
    delay: a linear buffer written forwards and moved back to its start when full, so that a
    read is a view and a block costs one copy.

    Shape: (channels, ·) float32.
    """

    def __init__(self, channels: int, length_samples: int) -> None:
        self.length_samples = length_samples
        self.buffer = np.zeros((channels, length_samples + max(length_samples, _SPARE_SAMPLES)),
                               dtype=np.float32)
        self.end = length_samples

    def clear(self) -> None:
        self.buffer[:] = 0.0
        self.end = self.length_samples

    def push(self, block: np.ndarray) -> None:
        """Append a block (channels, n)."""
        n = block.shape[1]
        if self.end + n > self.buffer.shape[1]:
            kept = self.buffer[:, self.end - self.length_samples:self.end]
            if self.length_samples + n > self.buffer.shape[1]:
                grown = np.empty((self.buffer.shape[0], 2 * (self.length_samples + n)),
                                 dtype=np.float32)
                grown[:, :self.length_samples] = kept
                self.buffer = grown
            else:
                self.buffer[:, :self.length_samples] = kept
            self.end = self.length_samples
        self.buffer[:, self.end:self.end + n] = block
        self.end += n

    def delayed(self, delay_samples: int, n: int) -> np.ndarray:
        """The last n samples pushed, delayed by ``delay_samples`` (n + delay ≤ the length plus
        the last block). A view, valid until the next ``push``. Shape: (channels, n)."""
        stop = self.end - delay_samples
        return self.buffer[:, stop - n:stop]


class LiveStage:
    """One stage of the chain at a fixed latency, with click-free changes (module docstring).

    Shape: ``process(block)`` (2, n) float32 → ((2, n) float32, the meters of the streamer that
    is active or fading in). The output is the stage's render of its input (or the input itself
    when bypassed), delayed by ``latency_samples``; it is the input block itself (a bypassed
    stage without latency) or a new array, never a view of the stage's buffers.
    """

    def __init__(self, stage: str, values: Mapping[str, float], enabled: bool,
                 sample_rate_hz: int, curve: np.ndarray) -> None:
        self.stage = stage
        self.sample_rate_hz = sample_rate_hz
        self.module = stage_module(stage)
        self._kernels = {id(item): item for item in vars(self.module).values() if callable(item)}
        smallest, self.latency_samples = latency_range_samples(stage, sample_rate_hz)
        variable = smallest < self.latency_samples
        self.preroll_samples = round(PREROLL_S * sample_rate_hz) if variable else 0
        length = self.latency_samples + self.preroll_samples
        self._history = _History(CHANNELS, length) if length else None
        self._fade = _Crossfade(curve)
        self._current = self._target = (dict(values), bool(enabled))
        self.streamer: Streamer = self.module.Streamer(self.values, sample_rate_hz, CHANNELS)
        # The streamer fading out and whether it was enabled; None when no fade runs.
        self._outgoing: tuple[Streamer, bool] | None = None

    @property
    def values(self) -> dict[str, float]:
        """The parameter values playing now (or fading in)."""
        return self._current[0]

    @property
    def enabled(self) -> bool:
        """Whether the stage plays now (or fades in); False = bypassed."""
        return self._current[1]

    @property
    def pending(self) -> bool:
        """True while a fade runs or a change waits."""
        return self._fade.running or self._target is not self._current

    def request(self, values: Mapping[str, float], enabled: bool) -> None:
        """New values and bypass state, taken up at the start of a ``process`` call when no
        fade runs (the latest request wins; one equal to what plays cancels a waiting one)."""
        target = (dict(values), bool(enabled))
        self._target = self._current if target == self._current else target

    def reset(self) -> None:
        """Back to silence with the latest requested values, at once and without a fade."""
        self._current = self._target
        self.streamer = self.module.Streamer(self.values, self.sample_rate_hz, CHANNELS)
        self._outgoing = None
        self._fade.stop()
        if self._history is not None:
            self._history.clear()

    def process(self, block: np.ndarray) -> tuple[np.ndarray, Meters]:
        """One block through the stage (see the class docstring for shapes)."""
        if not self._fade.running and self._target is not self._current:
            self._begin_change()
        if self._history is not None:
            self._history.push(block)
        dry = self._delayed(block, self.latency_samples)
        wet, meters = self._run(self.streamer, block)
        incoming = wet if self.enabled else dry
        if self._outgoing is None:
            if self.enabled or self.latency_samples == 0:
                return incoming, meters
            return dry.copy(), meters  # a view of the history otherwise
        streamer, was_enabled = self._outgoing
        if not was_enabled:
            outgoing = dry
        elif streamer is self.streamer:
            outgoing = wet
        else:
            outgoing, _ = self._run(streamer, block)
        out = self._fade.mix(outgoing, incoming)
        if not self._fade.running:
            self._outgoing = None
        return out, meters

    def _begin_change(self) -> None:
        """Start the fade to the requested values (a bypassed stage switches at once)."""
        values, enabled = self._target
        incoming = self._fork(values) if values != self.values else self.streamer
        if enabled or self.enabled:
            self._outgoing = (self.streamer, self.enabled)
            self._fade.start()
        self.streamer = incoming
        self._current = self._target

    def _fork(self, values: dict[str, float]) -> Streamer:
        """A copy of the streamer with new values; pre-rolled from silence if its latency
        changed. Module-level kernels (numba dispatchers) are shared, not copied."""
        fork = copy.deepcopy(self.streamer, dict(self._kernels))
        fork.set_params(values)
        if fork.latency_samples != self.streamer.latency_samples:
            fork.reset()
            fork.process(self._history.delayed(self._pre_delay(fork), self.preroll_samples))
        return fork

    def _pre_delay(self, streamer: Streamer) -> int:
        delay = self.latency_samples - streamer.latency_samples
        if not 0 <= delay <= self.latency_samples:
            raise ValueError(f"{self.stage}: latency {streamer.latency_samples} is outside "
                             f"0 … {self.latency_samples} samples")
        return delay

    def _delayed(self, block: np.ndarray, delay_samples: int) -> np.ndarray:
        """The input block delayed (the block itself for no delay). Shape: (2, n)."""
        if delay_samples == 0:
            return block
        return self._history.delayed(delay_samples, block.shape[1])

    def _run(self, streamer: Streamer, block: np.ndarray) -> tuple[np.ndarray, Meters]:
        return streamer.process(self._delayed(block, self._pre_delay(streamer)))


class LiveChain:
    """The chain on the live worker thread (module docstring).

    Shape: ``process(block)`` (2, n) float32, n ≥ 1 → ((2, n) float32, meters per stage), the
    output delayed by ``latency_samples``. Every stage's meters come back, bypassed or not, from
    the streamer active or fading in: the compressor's and the limiter's ``gain_reduction_db``
    (n,), the stereo imager's floats for the block. ``latency_samples`` is constant for the
    object's life: the stages' largest possible latencies summed.
    """

    def __init__(self, params: ChainParams, sample_rate_hz: int, trim_db: float = 0.0) -> None:
        self.sample_rate_hz = sample_rate_hz
        curve = fade_curve(sample_rate_hz)
        self.stages = {stage: LiveStage(stage, params.stage_inputs(stage), params.enabled[stage],
                                        sample_rate_hz, curve)
                       for stage in STAGES}
        self.latency_samples: int = sum(stage.latency_samples for stage in self.stages.values())
        self._request = self._taken = (params, float(trim_db))
        self._trim_gain = self._target_trim_gain = self._old_trim_gain = _trim_gain(trim_db)
        self._trim_fade = _Crossfade(curve)

    def set_params(self, params: ChainParams, trim_db: float) -> None:
        """New parameters and trim, from any thread; ``process`` takes them up at its next call."""
        self._request = (params, float(trim_db))

    @property
    def pending_changes(self) -> bool:
        """True while a fade runs or a change waits."""
        return (self._request is not self._taken or self._trim_fade.running
                or self._target_trim_gain != self._trim_gain
                or any(stage.pending for stage in self.stages.values()))

    def reset(self) -> None:
        """Back to silence; the latest parameters apply at once, without a fade."""
        self._take_request()
        for stage in self.stages.values():
            stage.reset()
        self._trim_gain = self._target_trim_gain
        self._trim_fade.stop()

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, Meters]]:
        """One block through the chain, taking up the latest ``set_params`` first."""
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != CHANNELS or block.shape[1] < 1:
            raise ValueError(f"expected a stereo block of shape (2, n ≥ 1), got {block.shape}")
        self._take_request()
        out = block
        meters: dict[str, Meters] = {}
        for name, stage in self.stages.items():
            if name == "limiter":
                out = self._trimmed(out)
            out, meters[name] = stage.process(out)
        return out, meters

    def _take_request(self) -> None:
        request = self._request
        if request is self._taken:
            return
        self._taken = request
        params, trim_db = request
        for name, stage in self.stages.items():
            stage.request(params.stage_inputs(name), params.enabled[name])
        self._target_trim_gain = _trim_gain(trim_db)

    def _trimmed(self, audio: np.ndarray) -> np.ndarray:
        """The trim gain, ramped along the fade curve when it changes. Shape: (2, n)."""
        if not self._trim_fade.running and self._target_trim_gain != self._trim_gain:
            self._old_trim_gain, self._trim_gain = self._trim_gain, self._target_trim_gain
            self._trim_fade.start()
        if self._trim_fade.running:
            return self._trim_fade.mix(audio * self._old_trim_gain, audio * self._trim_gain)
        return audio if self._trim_gain == 1.0 else audio * self._trim_gain


def _trim_gain(trim_db: float) -> np.float32:
    """The trim as the float32 gain ``model.chain.ChainStreamer`` applies."""
    return np.float32(db_to_gain(trim_db))
