"""Biquad filters: RBJ cookbook coefficients and exact IIR filtering in three faces.

The coefficient formulas are written once over numpy or torch (``model.dsp.xp``): given tensors
they are differentiable, so training reaches a filter's frequency, gain and Q; given floats they
feed the renderer and the streamer without importing torch.

A second-order section is a row ``[b0, b1, b2, 1, a1, a2]`` (scipy's ``sos`` layout, a0 = 1).
One numba kernel (transposed direct form II, float64 state) filters in every face: ``render``
from rest, ``Streamer`` carrying its state between blocks, and ``filter_torch`` through
``model.dsp.autograd`` whose backward pass runs the transposed filter. Training sees the very
same IIR filter that exports use, not an FIR approximation.

References:
    R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients" (W3C Audio EQ
    Cookbook). Linkwitz-Riley crossovers: two cascaded Butterworth (Q = 1/√2) sections.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from model.dsp.xp import as_array, as_arrays, namespace

MAX_FREQ_FRACTION = 0.45
"""Corner frequencies are clamped to this fraction of the sample rate (keeps every rate stable)."""

BUTTERWORTH_Q = 1.0 / math.sqrt(2.0)


def _omega(freq_hz: Any, sample_rate_hz: float) -> Any:
    xp = namespace(freq_hz)
    freq = xp.clip(freq_hz, 1.0, MAX_FREQ_FRACTION * sample_rate_hz)
    return 2.0 * math.pi * freq / sample_rate_hz


def _normalise(b0: Any, b1: Any, b2: Any, a0: Any, a1: Any, a2: Any) -> Any:
    xp = namespace(b0, a0)
    one = a0 / a0
    return xp.stack([b0 / a0, b1 / a0, b2 / a0, one, a1 / a0, a2 / a0], axis=-1)


def peaking(freq_hz: Any, gain_db: Any, q: Any, sample_rate_hz: float) -> Any:
    """RBJ peaking EQ. Shape: parameters (...,) → sos (..., 6), numpy or torch like the input."""
    freq_hz, gain_db, q = as_arrays(freq_hz, gain_db, q)
    xp = namespace(freq_hz, gain_db, q)
    amp = 10.0 ** (gain_db / 40.0)
    w0 = _omega(freq_hz, sample_rate_hz)
    alpha = xp.sin(w0) / (2.0 * q)
    cos = xp.cos(w0)
    return _normalise(1 + alpha * amp, -2 * cos, 1 - alpha * amp,
                      1 + alpha / amp, -2 * cos, 1 - alpha / amp)


def _shelf(freq_hz: Any, gain_db: Any, q: Any, sample_rate_hz: float, sign: float) -> Any:
    freq_hz, gain_db, q = as_arrays(freq_hz, gain_db, q)
    xp = namespace(freq_hz, gain_db, q)
    amp = 10.0 ** (gain_db / 40.0)
    w0 = _omega(freq_hz, sample_rate_hz)
    k = 2.0 * xp.sqrt(amp) * xp.sin(w0) / (2.0 * q)
    cos = sign * xp.cos(w0)
    return _normalise(
        amp * ((amp + 1) - (amp - 1) * cos + k),
        sign * 2 * amp * ((amp - 1) - (amp + 1) * cos),
        amp * ((amp + 1) - (amp - 1) * cos - k),
        (amp + 1) + (amp - 1) * cos + k,
        -sign * 2 * ((amp - 1) + (amp + 1) * cos),
        (amp + 1) + (amp - 1) * cos - k,
    )


def low_shelf(freq_hz: Any, gain_db: Any, q: Any, sample_rate_hz: float) -> Any:
    """RBJ low shelf (corner at the midpoint gain). Shape: (...,) → sos (..., 6)."""
    return _shelf(freq_hz, gain_db, q, sample_rate_hz, sign=1.0)


def high_shelf(freq_hz: Any, gain_db: Any, q: Any, sample_rate_hz: float) -> Any:
    """RBJ high shelf (corner at the midpoint gain). Shape: (...,) → sos (..., 6)."""
    return _shelf(freq_hz, gain_db, q, sample_rate_hz, sign=-1.0)


def lowpass(freq_hz: Any, sample_rate_hz: float, q: float = BUTTERWORTH_Q) -> Any:
    """RBJ second-order low-pass. Shape: (...,) → sos (..., 6)."""
    freq_hz = as_array(freq_hz)
    xp = namespace(freq_hz)
    w0 = _omega(freq_hz, sample_rate_hz)
    alpha = xp.sin(w0) / (2.0 * q)
    cos = xp.cos(w0)
    return _normalise((1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha)


def highpass(freq_hz: Any, sample_rate_hz: float, q: float = BUTTERWORTH_Q) -> Any:
    """RBJ second-order high-pass. Shape: (...,) → sos (..., 6)."""
    freq_hz = as_array(freq_hz)
    xp = namespace(freq_hz)
    w0 = _omega(freq_hz, sample_rate_hz)
    alpha = xp.sin(w0) / (2.0 * q)
    cos = xp.cos(w0)
    return _normalise((1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha)


@numba.njit(cache=True, nogil=True, inline="always")
def section_step(sos: np.ndarray, z: np.ndarray, k: int, v: float) -> float:
    """One sample through section k, transposed direct form II; ``z[k]`` is updated. For numba
    kernels of other stages that interleave sections with their own per-sample work."""
    y = sos[k, 0] * v + z[k, 0]
    z[k, 0] = sos[k, 1] * v - sos[k, 4] * y + z[k, 1]
    z[k, 1] = sos[k, 2] * v - sos[k, 5] * y
    return y


@numba.njit(cache=True, nogil=True)
def _cascade_channel(x: np.ndarray, sos: np.ndarray, z: np.ndarray, out: np.ndarray) -> None:
    """Transposed direct form II over one channel (samples,); ``z`` (sections, 2) is updated."""
    for n in range(x.shape[0]):
        v = np.float64(x[n])
        for s in range(sos.shape[0]):
            v = section_step(sos, z, s, v)
        out[n] = v


@numba.njit(cache=True, nogil=True, parallel=True)
def _cascade_parallel(x: np.ndarray, sos: np.ndarray, state: np.ndarray, out: np.ndarray) -> None:
    """Every channel on its own thread (whole tracks); ``state`` (sections, channels, 2)."""
    for c in numba.prange(x.shape[0]):
        z = state[:, c, :].copy()
        _cascade_channel(x[c], sos, z, out[c])
        state[:, c, :] = z


@numba.njit(cache=True, nogil=True)
def _cascade(x: np.ndarray, sos: np.ndarray, state: np.ndarray, out: np.ndarray) -> None:
    """One thread (blocks). No ``prange`` here: even unused, it starts numba's thread pool,
    whose spinning workers then slow every other thread down."""
    for c in range(x.shape[0]):
        z = state[:, c, :].copy()
        _cascade_channel(x[c], sos, z, out[c])
        state[:, c, :] = z


def _as_sos(sos: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(sos, dtype=np.float64).reshape(-1, 6))


def render(audio: np.ndarray, sos: Any, dtype: type = np.float32) -> np.ndarray:
    """Whole-signal filtering from rest. Shape: (channels, samples) → same, in ``dtype``."""
    audio = np.ascontiguousarray(audio)
    sections = _as_sos(sos)
    out = np.empty(audio.shape, dtype=dtype)
    _cascade_parallel(audio, sections, np.zeros((sections.shape[0], audio.shape[0], 2)), out)
    return out


class Streamer:
    """A cascade of biquads over blocks, carrying its state between calls.

    Shape: ``process(block)`` takes and returns (channels, samples), float32.
    """

    def __init__(self, sos: Any, channels: int) -> None:
        self.sos = _as_sos(sos)
        self.state = np.zeros((self.sos.shape[0], channels, 2))

    def reset(self) -> None:
        self.state[:] = 0.0

    def set_sos(self, sos: Any) -> None:
        """New coefficients of the same number of sections; the filter state is kept."""
        self.sos = _as_sos(sos)

    def process(self, block: np.ndarray) -> np.ndarray:
        out = np.empty(block.shape, dtype=np.float32)
        _cascade(np.ascontiguousarray(block), self.sos, self.state, out)
        return out


def filter_torch(audio: Any, sos: Any) -> Any:
    """Differentiable exact IIR filtering from rest, per example (see ``autograd.biquad_filter``).

    Shape: audio (batch, channels, samples); sos (batch or 1, sections, 6) or (batch, 6).
    """
    from model.dsp import autograd

    return autograd.biquad_filter(audio, sos)
