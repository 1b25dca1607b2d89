"""True-peak limiter: the chain's last stage, and the product's loudness guarantee.

Guarantee: no output sample and no value of the ITU-R BS.1770-4 4×-oversampled interpolator
(``model.dsp.truepeak``, which includes the raw samples) exceeds the ceiling, on any input.

The gain computer (one gain for all channels, "linked"), per sample:

1. Drive: ``s = x · 10^(−threshold_db / 20)``.
2. Detector: ``d[n]`` = the largest of |s[c, n]| and the four interpolated values that the
   BS.1770-4 filter computes when sample n arrives, over all channels. The filter has 12 taps,
   so window n (the values of ``d[n]``) is made of the samples ``[n − 11, n]`` only: that is
   the support the gain has to cover.
3. Target gain reduction ``GR_t[n] = 1 − ceiling / d[n]`` where ``d[n]`` exceeds the ceiling,
   else 0 (linear: gain = 1 − GR).
4. Hold: ``GR_h[m] = max GR_t[n]`` over the windows n ∈ [m − Lc, m + 11], Lc = ceil(L) with L
   the lookahead in samples: a running maximum (van Herk / Gil-Werman, O(1) per sample).
5. Release: ``model.dsp.smoothing`` on GR_h with an instant attack, so the linear gain
   reduction recovers 63 % of the way to its held value in ``release_ms``.
6. Box filter over the lookahead: ``g[m] = 1 − Σ_k w_k · GR[m + k] / (1 + L)``, k = 0 … Lc,
   w_k = 1 except the last tap, w_Lc = L − Lc + 1: a fractional lookahead, so that the knob is
   continuous and has a gradient.
7. ``y[m] = g[m] · s[m]``: the audio waits Lc + 11 samples so that the gain is already down when
   a peak arrives (``render`` removes the delay; ``Streamer`` reports it).

Why the ceiling holds. For every window n, steps 4–6 keep GR ≥ GR_t[n] on [n − 11, n + Lc] (an
average with non-negative weights of values that are all ≥ GR_t[n]), so the gain is at most
ceiling / d[n] on every sample of the window's support. Where that window's target is the one
the gain comes down to, the held plateau covers the whole support and the box, so the gain is
*flat* across all 12 taps: every interpolated output value is then exactly g times the input's,
≤ ceiling, and the raw sample too. This is the construction of x42-dpl and Signalsmith's limiter
with the hold widened to the interpolator's support. Where the gain is *not* flat over a support
(during a release, or on a ramp between peaks of different heights) the output value
Σ_j P_j g_j s_j is only bounded by max(g)·|Σ_j P_j s_j| + (max g − min g)·Σ_j |P_j|·max|s_j|,
and one gain computer does leave overs there. Hence three *correction passes*: the same gain
computer run on the output, with the output's exact true peak as its detector, an instant
release and a 48-sample box (L = 47). A correction is flat over each offending support, which
lands exactly on the ceiling, and is as small as the over it removes; what it leaves behind
comes from its own slope across the neighbouring supports, a small fraction of its size.
Measured worst cases, over stress signals and over inputs optimised by a hill-climbing search to
defeat the limiter: 9e-2 relative after the main pass, then 5e-4, 3e-6 and 2e-8 after each
correction; the ratio per correction (under 1 %) is an observation, not a theorem. Finally the
ceiling used inside is 2^-21 (4e-6 dB) below the requested one: rounding to float32 moves each
output sample by at most 2^-24 of the ceiling and an interpolated value by at most Σ_j |P_j|
≤ 2.03 times that, so rounding cannot cross the ceiling, and what is left covers the last
correction's residue 20 times over. So the ceiling holds by construction wherever the gain is
flat over an interpolator support, and elsewhere by measuring the output exactly and correcting
it, three times.

The correction passes only measure windows that could be over: the bound above, computed from
the gain's spread over the window, clears almost all of them (all but 0.01 to 5 %, the most
with a 1 ms release and no lookahead), and only the rest are measured (48 taps per channel).
Values within ``OVER_TOLERANCE`` (1e-12 relative) of the internal ceiling do not count as over.

Latency: Lc + 11 for the main pass, + 3 · 58 for the corrections.

Meters: ``gain_reduction_db``: total gain reduction per output sample, positive dB, float32.

``render`` is the streamer run over the whole signal in chunks, flushed with silence and trimmed
by the latency: one set of numba kernels for both. The torch face computes the same passes with
conv1d (detector, ``truepeak.PHASES``), max-pooling (hold), ``smoothing.smooth_torch`` (release,
attack coefficient 0) and a conv1d box, measuring every output window exactly.

References:
    ITU-R BS.1770-4 (10/2015), Annex 2 (true-peak interpolator).
    F. Adriaensen, R. Gareus, x42-dpl "Digital Peak Limiter" (peak hold, lookahead, release).
    G. Luff, "Designing a straightforward limiter", Signalsmith Audio, 2022 (a peak hold over the
    lookahead followed by a box filter of the same length keeps the gain below every target).
    M. van Herk, "A fast algorithm for local minimum and maximum filters on rectangular and
    octagonal kernels", Pattern Recognition Letters 13(7), 1992.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np

from model.dsp import smoothing, truepeak
from model.units import db_to_gain

NAMES = ("threshold_db", "ceiling_dbtp", "release_ms", "lookahead_ms")
"""The stage's parameters (``model.params``, stage "limiter")."""

LAG_SAMPLES = truepeak.TAPS - 1
"""Window n of the detector is made of the samples [n − 11, n]."""

CORRECTION_PASSES = 3
"""Correction passes after the main one (each removes all but under 1 % of what is left)."""

CORRECTION_LOOKAHEAD_SAMPLES = 47.0
"""The correction passes' lookahead: a 48-sample box, four interpolator supports."""

CORRECTION_LATENCY = int(CORRECTION_LOOKAHEAD_SAMPLES) + LAG_SAMPLES
"""Delay of one correction pass."""

ROUNDING_MARGIN = 2.0**-21
"""Relative amount by which the internal ceiling sits below the requested one (float32 output)."""

OVER_TOLERANCE = 1e-12
"""A detector value within this relative amount above the ceiling does not count as over."""

TAP_ABS_SUM = float(np.max(np.abs(truepeak.PHASES).sum(axis=1)))
"""max_k Σ_j |P_kj| (2.0228): bounds what a gain that varies over a support can add."""

_CHUNK = 1 << 14
"""``render``'s block length (fits the caches)."""


def _folded_taps(phase: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A phase folded with its mirror image: (a_j + a_(11−j), a_j − a_(11−j)) for j < 6."""
    half = phase.shape[0] // 2
    return (tuple(float(v) for v in phase[:half] + phase[::-1][:half]),
            tuple(float(v) for v in phase[:half] - phase[::-1][:half]))


if not (np.array_equal(truepeak.PHASES[3], truepeak.PHASES[0][::-1])
        and np.array_equal(truepeak.PHASES[2], truepeak.PHASES[1][::-1])):
    raise ValueError("the limiter's detector needs the interpolator's mirror-image phases")
(_SUMS0, _DIFFS0), (_SUMS1, _DIFFS1) = _folded_taps(truepeak.PHASES[0]), _folded_taps(
    truepeak.PHASES[1])


def drive_gain(threshold_db: Any) -> Any:
    """Linear input gain for a threshold: the limiter adds −threshold dB. numpy or torch."""
    return db_to_gain(-threshold_db)


def internal_ceiling(ceiling_dbtp: Any) -> Any:
    """The linear ceiling the passes aim at (``ROUNDING_MARGIN`` below the requested one)."""
    return db_to_gain(ceiling_dbtp) * (1.0 - ROUNDING_MARGIN)


def lookahead_samples(lookahead_ms: float, sample_rate_hz: float) -> float:
    """Lookahead in fractional samples; values within 1e-9 of an integer snap to it."""
    samples = float(lookahead_ms) * sample_rate_hz / 1000.0
    return float(round(samples)) if abs(samples - round(samples)) < 1e-9 else samples


def latency_samples(lookahead_ms: float, sample_rate_hz: float) -> int:
    """The limiter's delay: ceil(lookahead) + 11 for the main pass, 58 per correction pass."""
    lookahead = math.ceil(lookahead_samples(lookahead_ms, sample_rate_hz))
    return lookahead + LAG_SAMPLES + CORRECTION_PASSES * CORRECTION_LATENCY


# ---------------------------------------------------------------------------------------------
# numba kernels: the renderer and the streamer


@numba.njit(cache=True, nogil=True, inline="always")
def _larger(a: float, b: float) -> float:
    """max(a, b) as a plain select (the builtin's NaN handling stops vectorisation)."""
    return a if a > b else b


@numba.njit(cache=True, nogil=True, inline="always")
def _smaller(a: float, b: float) -> float:
    """min(a, b) as a plain select."""
    return a if a < b else b


@numba.njit(cache=True, nogil=True, inline="always")
def _mirror_peak(sums: tuple, diffs: tuple, buf: np.ndarray, i: int) -> float:
    """max(|I|, |I'|) for an interpolator phase and its mirror image, at x[n] = buf[i + 11].

    With S = Σ_j sums[j]·(x[n − j] + x[n − 11 + j]) and D = Σ_j diffs[j]·(x[n − j] −
    x[n − 11 + j]) over j < 6: I = (S + D)/2 and I' = (S − D)/2, so max(|I|, |I'|) =
    (|S| + |D|)/2 (half the multiplications of two 12-tap filters; written out so that the
    compiler vectorises over i).
    """
    s = (sums[0] * (buf[i + 11] + buf[i]) + sums[1] * (buf[i + 10] + buf[i + 1])
         + sums[2] * (buf[i + 9] + buf[i + 2]) + sums[3] * (buf[i + 8] + buf[i + 3])
         + sums[4] * (buf[i + 7] + buf[i + 4]) + sums[5] * (buf[i + 6] + buf[i + 5]))
    d = (diffs[0] * (buf[i + 11] - buf[i]) + diffs[1] * (buf[i + 10] - buf[i + 1])
         + diffs[2] * (buf[i + 9] - buf[i + 2]) + diffs[3] * (buf[i + 8] - buf[i + 3])
         + diffs[4] * (buf[i + 7] - buf[i + 4]) + diffs[5] * (buf[i + 6] - buf[i + 5]))
    return 0.5 * (abs(s) + abs(d))


@numba.njit(cache=True, nogil=True, inline="always")
def _window_true_peak(buf: np.ndarray, i: int) -> float:
    """The detector at x[n] = buf[i + 11]: the larger of |x[n]| and the four interpolated
    values computed from buf[i … i + 11]."""
    return _larger(abs(buf[i + LAG_SAMPLES]),
                   _larger(_mirror_peak(_SUMS0, _DIFFS0, buf, i),
                           _mirror_peak(_SUMS1, _DIFFS1, buf, i)))


@numba.njit(cache=True, nogil=True)
def _row_peaks(buf: np.ndarray, peaks: np.ndarray, spans: np.ndarray) -> None:
    """For the sample at buf[i + 11]: peaks[i] = its true-peak detector, spans[i] = max |x|
    over its window buf[i … i + 11]."""
    for i in range(peaks.shape[0]):
        peaks[i] = _window_true_peak(buf, i)
    for i in range(spans.shape[0]):
        span = abs(buf[i])
        for j in range(1, truepeak.TAPS):
            span = _larger(span, abs(buf[i + j]))
        spans[i] = span


@numba.njit(cache=True, nogil=True)
def _detect(signal: np.ndarray, history: np.ndarray, peaks: np.ndarray,
            spans: np.ndarray) -> None:
    """Linked detector over channels. Shape: signal (C, n); history (C, 11), updated."""
    channels, n = signal.shape
    buf = np.empty(n + LAG_SAMPLES)
    channel_peaks = np.empty(n)
    channel_spans = np.empty(n)
    for c in range(channels):
        buf[:LAG_SAMPLES] = history[c]
        buf[LAG_SAMPLES:] = signal[c]
        history[c] = buf[n:]
        if c == 0:
            _row_peaks(buf, peaks, spans)
            continue
        _row_peaks(buf, channel_peaks, channel_spans)
        for i in range(n):
            peaks[i] = _larger(peaks[i], channel_peaks[i])
            spans[i] = _larger(spans[i], channel_spans[i])


@numba.njit(cache=True, nogil=True, inline="always")
def _target(peak: float, ceiling: float) -> float:
    """Gain reduction that brings ``peak`` down to the ceiling; 0 unless it is over."""
    return 1.0 - ceiling / peak if peak > ceiling * (1.0 + OVER_TOLERANCE) else 0.0


@numba.njit(cache=True, nogil=True)
def _hold(peaks: np.ndarray, ceiling: float, values: np.ndarray, suffix: np.ndarray,
          counters: np.ndarray, prefix_state: np.ndarray, held: np.ndarray) -> None:
    """Steps 3–4: held[i] = the largest target over the last len(values) windows.

    Running maximum after van Herk / Gil-Werman: the stream is cut into blocks of the window's
    length; ``prefix`` is the running maximum of the current block, ``suffix`` the suffix maxima
    of the previous one. ``counters`` = [position in the block, length of the current run of
    zero targets]. After a whole window of zeros the state is cleared once and the zeros that
    follow skip the arrays (the output is 0 whatever the position).
    """
    window = values.shape[0]
    k, zeros = counters[0], counters[1]
    prefix = prefix_state[0]
    for i in range(peaks.shape[0]):
        value = _target(peaks[i], ceiling)
        if value == 0.0:
            zeros += 1
            if zeros > window:
                held[i] = 0.0
                continue
            if zeros == window:
                values[:] = 0.0
                suffix[:] = 0.0
                prefix = 0.0
                held[i] = 0.0
                continue
        else:
            zeros = 0
        values[k] = value
        prefix = value if k == 0 else _larger(prefix, value)
        held[i] = _larger(prefix, suffix[k + 1]) if k + 1 < window else prefix
        k += 1
        if k == window:
            running = values[window - 1]
            suffix[window - 1] = running
            for j in range(window - 2, -1, -1):
                running = _larger(running, values[j])
                suffix[j] = running
            k = 0
    counters[0], counters[1] = k, zeros
    prefix_state[0] = prefix


@numba.njit(cache=True, nogil=True)
def _box(reduction: np.ndarray, lookahead: float, ring: np.ndarray, counters: np.ndarray,
         sum_state: np.ndarray, gains: np.ndarray) -> None:
    """Step 6: gains[i] = 1 − Σ_k w_k · GR[k] / (1 + L) over the last ceil(L) + 1 reductions.

    The newest value has weight L − ceil(L) + 1, the others 1. The running sum is recomputed
    whenever the ring wraps, so rounding cannot accumulate. ``counters`` = [ring position,
    length of the current run of zero reductions]; after a full ring of zeros the gain is
    exactly 1 and the ring is left alone until a reduction comes.
    """
    size = ring.shape[0]
    newest_weight = lookahead - (size - 2)
    norm = 1.0 + lookahead
    pos, zeros = counters[0], counters[1]
    total = sum_state[0]
    for i in range(reduction.shape[0]):
        value = reduction[i]
        if value == 0.0:
            zeros += 1
            if zeros >= size:
                if zeros == size:
                    ring[:] = 0.0
                    total = 0.0
                gains[i] = 1.0
                continue
        else:
            zeros = 0
        total += value - ring[pos]
        ring[pos] = value
        pos += 1
        if pos == size:
            pos = 0
            total = 0.0
            for k in range(size):
                total += ring[k]
        gains[i] = 1.0 - (total - (1.0 - newest_weight) * value) / norm
    counters[0], counters[1] = pos, zeros
    sum_state[0] = total


@numba.njit(cache=True, nogil=True, inline="always")
def _spread12(buf: np.ndarray, i: int) -> tuple[float, float]:
    """(max, max − min) of buf[i … i + 11]."""
    top = buf[i]
    bottom = top
    for j in range(1, truepeak.TAPS):
        top = _larger(top, buf[i + j])
        bottom = _smaller(bottom, buf[i + j])
    return top, top - bottom


@numba.njit(cache=True, nogil=True)
def _apply(gains: np.ndarray, peaks: np.ndarray, gain_before: np.ndarray, audio: np.ndarray,
           spans: np.ndarray, first_column: int, ceiling: float, total: np.ndarray,
           peaks_out: np.ndarray) -> None:
    """Step 7 as a gain, and the detector of the pass's output.

    Shape: gains (11 + n): this pass's previous 11 gains, then this block's; peaks (n,): this
    pass's input detector and gain_before (n,): the gain applied before it, both at the times
    of this block's gains; audio (C, H + n), spans (H + n,): the driven input and its max |s|
    over each window, with the time of gains[11 + i] at column ``first_column + i``;
    total (11 + n): the previous 11 total gains are filled in, this block's are written.
    peaks_out (n,): an upper bound of the output's window i, exact where the bound is over:
    max(g)·d + (max g − min g)·Σ|P|·max|s| (module docstring).
    """
    n = peaks.shape[0]
    for i in range(n):
        total[LAG_SAMPLES + i] = gain_before[i] * gains[LAG_SAMPLES + i]
    if np.all(gains == 1.0):
        peaks_out[:] = peaks  # what the bound gives; nothing can be over (no target, no gain)
        return
    spans = spans[first_column: first_column + n]
    for i in range(n):
        top, spread = _spread12(gains, i)
        peaks_out[i] = top * peaks[i] + spread * TAP_ABS_SUM * spans[i]
    limit = ceiling * (1.0 + OVER_TOLERANCE)
    window = np.empty(truepeak.TAPS)
    for i in range(n):
        if peaks_out[i] <= limit:
            continue
        start = first_column + i - LAG_SAMPLES
        peak = 0.0
        for c in range(audio.shape[0]):
            for j in range(truepeak.TAPS):
                window[j] = audio[c, start + j] * total[i + j]
            peak = _larger(peak, _window_true_peak(window, 0))
        peaks_out[i] = peak


def _reduction_db(gain: np.ndarray) -> np.ndarray:
    """−20·log10(gain) as float32, exactly 0 where the gain is 1. A gain of 0 (an input so large
    that the gain underflows) reads as the reduction of the smallest normal float64, ≈ 6154 dB,
    not +inf."""
    if np.all(gain == 1.0):
        return np.zeros(gain.shape, dtype=np.float32)
    reduction_db = np.log10(np.maximum(gain, np.finfo(np.float64).tiny))
    reduction_db *= -20.0
    reduction_db += 0.0
    return reduction_db.astype(np.float32)


class _Delay:
    """A delay line of ``length`` samples for a stream of rows, which start at ``fill`` (one
    value per row)."""

    def __init__(self, length: int, fill: tuple[float, ...]) -> None:
        self.history = np.repeat(np.array(fill, dtype=np.float64)[:, None], length, axis=1)

    def extend(self, block: np.ndarray) -> np.ndarray:
        """The last ``length`` samples, then ``block`` (rows, length + n); keeps the new last."""
        joined = np.concatenate([self.history, block], axis=1)
        self.history = joined[:, block.shape[1]:]
        return joined

    def push(self, block: np.ndarray) -> np.ndarray:
        """``block`` delayed by ``length`` samples."""
        return self.extend(block)[:, : block.shape[1]]


class _GainComputer:
    """One pass of steps 3–7 with its state. ``process`` takes (2, n): the pass's input
    detector and the total gain before it, at the pass's input times, and returns the same for
    its output, at its output times (``latency`` samples later)."""

    def __init__(self, lookahead: float, alpha_release: float) -> None:
        self.lookahead = lookahead
        self.alpha_release = alpha_release
        self.latency = math.ceil(lookahead) + LAG_SAMPLES
        self.reset()

    def reset(self) -> None:
        window = math.ceil(self.lookahead) + truepeak.TAPS
        self.hold_values = np.zeros(window)
        self.hold_suffix = np.zeros(window)
        self.hold_counters = np.zeros(2, dtype=np.int64)
        self.hold_prefix = np.zeros(1)
        self.release = 0.0
        self.box_ring = np.zeros(math.ceil(self.lookahead) + 1)
        self.box_counters = np.zeros(2, dtype=np.int64)
        self.box_sum = np.zeros(1)
        self.inputs = _Delay(self.latency, (0.0, 1.0))
        self.gain_history = np.ones(LAG_SAMPLES)
        self.total_history = np.ones(LAG_SAMPLES)

    def process(self, inputs: np.ndarray, ceiling: float, audio: np.ndarray, spans: np.ndarray,
                first_column: int) -> np.ndarray:
        """One block. Shape: inputs (2, n) → (2, n); audio (C, H + n) and spans (H + n,): the
        driven input and its window spans, the pass's output times from ``first_column`` on."""
        n = inputs.shape[1]
        held = np.empty(n)
        _hold(inputs[0], ceiling, self.hold_values, self.hold_suffix, self.hold_counters,
              self.hold_prefix, held)
        reduction = held
        if self.alpha_release > 0.0 and (self.release > 0.0 or held.any()):
            reduction = np.empty(n)
            self.release = smoothing.smooth_kernel(held, 0.0, self.alpha_release, self.release,
                                                   reduction, np.empty(n, dtype=np.bool_))
        gains = np.empty(LAG_SAMPLES + n)
        gains[:LAG_SAMPLES] = self.gain_history
        _box(reduction, self.lookahead, self.box_ring, self.box_counters, self.box_sum,
             gains[LAG_SAMPLES:])
        self.gain_history = gains[n:]
        delayed = self.inputs.push(inputs)
        total = np.empty(LAG_SAMPLES + n)
        total[:LAG_SAMPLES] = self.total_history
        outputs = np.empty((2, n))
        _apply(gains, delayed[0], delayed[1], audio, spans, first_column, ceiling, total,
               outputs[0])
        self.total_history = total[n:]
        outputs[1] = total[LAG_SAMPLES:]
        return outputs


class Streamer:
    """Block-streaming limiter. Output = ``render``'s output delayed by ``latency_samples``.

    Shape: ``process(block)`` (channels, n) float32 → ((channels, n) float32,
    {"gain_reduction_db": (n,) float32}). ``set_params`` takes effect from the next block; a
    new lookahead changes the latency, so it restarts the limiter from silence.
    """

    def __init__(self, params: Mapping[str, float], sample_rate_hz: float, channels: int) -> None:
        self.sample_rate_hz = float(sample_rate_hz)
        self.channels = int(channels)
        self._passes: list[_GainComputer] = []
        self.set_params(params)

    def set_params(self, params: Mapping[str, float]) -> None:
        """New settings from the next block on (the table's four names)."""
        values = {name: float(params[name]) for name in NAMES}
        self.drive = float(drive_gain(values["threshold_db"]))
        self.ceiling = float(internal_ceiling(values["ceiling_dbtp"]))
        alpha = float(smoothing.time_constant_coefficient(values["release_ms"],
                                                          self.sample_rate_hz))
        lookahead = lookahead_samples(values["lookahead_ms"], self.sample_rate_hz)
        if self._passes and self._passes[0].lookahead == lookahead:
            self._passes[0].alpha_release = alpha
            return
        self._passes = [_GainComputer(lookahead, alpha)] + [
            _GainComputer(CORRECTION_LOOKAHEAD_SAMPLES, 0.0) for _ in range(CORRECTION_PASSES)]
        self.latency_samples = sum(stage.latency for stage in self._passes)
        self.reset()

    def reset(self) -> None:
        """Back to silence."""
        self._detector_history = np.zeros((self.channels, LAG_SAMPLES))
        self._inputs = _Delay(self.latency_samples + LAG_SAMPLES, (0.0,) * (self.channels + 1))
        for stage in self._passes:
            stage.reset()

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Limit one block (its output is ``latency_samples`` late)."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected a ({self.channels}, samples) block, got {block.shape}")
        n = block.shape[1]
        rows = np.empty((self.channels + 1, n))
        np.multiply(block, self.drive, out=rows[: self.channels], dtype=np.float64)
        detector = np.empty((2, n))
        detector[1] = 1.0
        _detect(rows[: self.channels], self._detector_history, detector[0], rows[self.channels])
        joined = self._inputs.extend(rows)
        audio, spans = joined[: self.channels], joined[self.channels]
        first_column = joined.shape[1] - n
        for stage in self._passes:
            first_column -= stage.latency
            detector = stage.process(detector, self.ceiling, audio, spans, first_column)
        gain = detector[1]
        out = np.empty((self.channels, n), dtype=np.float32)
        np.multiply(audio[:, first_column: first_column + n], gain, out=out, casting="same_kind")
        return out, {"gain_reduction_db": _reduction_db(gain)}


def render(audio: np.ndarray, params: Mapping[str, float],
           sample_rate_hz: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Limit a whole signal. Shape: (C, N) float32 → (C, N) float32, aligned with the input.

    Meters: ``gain_reduction_db`` (N,) float32, positive dB.
    """
    audio = np.asarray(audio, dtype=np.float32)
    channels, n = audio.shape
    streamer = Streamer(params, sample_rate_hz, channels)
    delay = streamer.latency_samples
    out = np.empty((channels, n), dtype=np.float32)
    reduction_db = np.empty(n, dtype=np.float32)
    for start in range(0, n + delay, _CHUNK):
        stop = min(start + _CHUNK, n + delay)
        block = audio[:, start:stop]
        if block.shape[1] < stop - start:
            block = np.concatenate(
                [block, np.zeros((channels, stop - start - block.shape[1]), np.float32)], axis=1)
        y, meters = streamer.process(block)
        first = max(start, delay)
        out[:, first - delay: stop - delay] = y[:, first - start:]
        reduction_db[first - delay: stop - delay] = meters["gain_reduction_db"][first - start:]
    return out, {"gain_reduction_db": reduction_db}


# ---------------------------------------------------------------------------------------------
# torch face (training)


def forward_torch(audio: Any, params: Mapping[str, Any],
                  sample_rate_hz: float) -> tuple[Any, dict[str, Any]]:
    """Differentiable limiter, the same passes as ``render``, every output window measured
    exactly. Gradients reach the audio and all four parameters (the lookahead through the box
    filter's fractional last tap; its integer part, the hold length, is a step).

    Shape: audio (batch, channels, samples); params: names → (batch,) tensors.
    Returns (batch, channels, samples) and {"gain_reduction_db": (batch, samples)}.
    """
    import torch

    _, _, n = audio.shape
    drive = drive_gain(params["threshold_db"])
    ceiling = internal_ceiling(params["ceiling_dbtp"])
    alpha = smoothing.time_constant_coefficient(params["release_ms"], sample_rate_hz)
    lookahead = params["lookahead_ms"] * (sample_rate_hz / 1000.0)
    snapped = torch.where((lookahead - lookahead.round()).abs() < 1e-9, lookahead.round(),
                          lookahead)
    lookahead = lookahead + (snapped - lookahead).detach()
    sizes = [math.ceil(float(v)) for v in lookahead.detach().cpu()]
    pad = max(sizes) + LAG_SAMPLES + CORRECTION_PASSES * CORRECTION_LATENCY
    signal = torch.nn.functional.pad(audio * drive[:, None, None], (0, pad))
    total = _gain_torch(signal, ceiling, alpha, lookahead, sizes)
    correction = torch.full_like(lookahead, CORRECTION_LOOKAHEAD_SAMPLES)
    correction_sizes = [int(CORRECTION_LOOKAHEAD_SAMPLES)] * len(sizes)
    for _ in range(CORRECTION_PASSES):
        total = total * _gain_torch(signal * total[:, None, :], ceiling, None, correction,
                                    correction_sizes)
    total = total[:, :n]
    return signal[:, :, :n] * total[:, None, :], {"gain_reduction_db": -20.0 * torch.log10(total)}


def _peaks_torch(signal: Any) -> Any:
    """The linked detector: (batch, C, M) → (batch, M)."""
    import torch

    batch, channels, length = signal.shape
    kernel = torch.as_tensor(truepeak.PHASES[:, ::-1].copy(), dtype=signal.dtype,
                             device=signal.device)[:, None, :]
    flat = signal.reshape(batch * channels, 1, length)
    interpolated = torch.nn.functional.conv1d(
        torch.nn.functional.pad(flat, (LAG_SAMPLES, 0)), kernel)
    peaks = torch.maximum(interpolated.abs().amax(dim=1), flat[:, 0].abs())
    return peaks.reshape(batch, channels, length).amax(dim=1)


def _gain_torch(signal: Any, ceiling: Any, alpha_release: Any, lookahead: Any,
                sizes: list[int]) -> Any:
    """One pass (steps 2–6) over whole signals: (batch, C, M) → gain (batch, M), aligned.

    ``alpha_release`` None means an instant release; ``sizes`` are ceil(lookahead) per example.
    """
    import torch

    peaks = _peaks_torch(signal)
    limit = ceiling[:, None]
    target = torch.where(peaks > limit * (1.0 + OVER_TOLERANCE),
                         1.0 - limit / torch.maximum(peaks, limit), torch.zeros_like(peaks))
    held = torch.stack([
        torch.nn.functional.max_pool1d(
            torch.nn.functional.pad(target[b][None, None], (size, LAG_SAMPLES)),
            size + truepeak.TAPS, stride=1)[0, 0]
        for b, size in enumerate(sizes)])
    reduction = held
    if alpha_release is not None:
        reduction = smoothing.smooth_torch(held, torch.zeros_like(alpha_release), alpha_release)
    gains = []
    for b, size in enumerate(sizes):
        last = (lookahead[b] - (size - 1))[None]
        weights = torch.cat([torch.ones(size, dtype=signal.dtype, device=signal.device), last])
        weights = weights / (1.0 + lookahead[b])
        box = torch.nn.functional.conv1d(
            torch.nn.functional.pad(reduction[b][None, None], (0, size)), weights[None, None])
        gains.append(1.0 - box[0, 0])
    return torch.stack(gains)
