"""Feed-forward, stereo-linked compressor in the log domain (Giannoulis, Massberg & Reiss 2012).

Per sample n:

1. Detector: the instantaneous peak over channels, x_dB[n] = 20·log10(max_c |x[c, n]| + 1e-12).
   One level drives one gain for all channels (stereo link); silence reads −240 dB.
2. Static gain computer with threshold T, ratio R and a soft knee W dB wide
   (``static_curve_db``); the gain reduction is GR[n] = x_dB[n] − y_dB[n] ≥ 0.
3. Ballistics: the smooth branching peak detector applied after the gain computer, in dB
   (``model.dsp.smoothing``): attack while GR rises, release while it falls, with
   α = exp(−1/(τ·fs)), so after a step the smoothed GR covers 63 % (1 − 1/e) of its change in
   τ = attack_ms or release_ms (the 63 % convention, not torchcomp's 10–90 %). ``render``
   starts from 0 dB of gain reduction.
4. Output: x[c, n] · 10^((makeup_db − GR_smoothed[n]) / 20).

Meters: ``gain_reduction_db``, the smoothed GR per sample in positive dB (exactly the values the
gain applies).

The renderer and the streamer run one numba kernel: detector and curve in parallel over chunks,
the shared smoothing kernel in order, then the gain in parallel over chunks. Its logarithm and
exponential are written out (``_natural_log``, ``_exp``) so that the compiler vectorises them:
the C library's scalar calls took most of the time. Both agree with the C library within a few
units in the last place. The torch face computes the detector and the curve in torch and
smooths through ``smoothing.smooth_torch``, whose forward pass is the same smoothing kernel.

References:
    D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range Compressor Design — A Tutorial
    and Analysis", JAES 60(6), 2012 (eq. 4 soft knee, eq. 17 smooth branching peak detector,
    fig. 7 log-domain feed-forward topology).
    W. J. Cody, W. Waite, "Software Manual for the Elementary Functions", 1980 (argument
    reduction of log and exp).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np

from model.dsp import smoothing
from model.dsp.xp import as_arrays, namespace
from model.units import db_to_gain

TINY = 1e-12
"""Added to the detector's linear peak before the log."""

_CHUNK = 4096
_DB_PER_NEPER = 20.0 / math.log(10.0)
_NEPER_PER_DB = math.log(10.0) / 20.0
_MIN_EXPONENT = -700.0
"""``_exp`` clamps its argument to ±700: e^−700 times any float32 is 0 in float32, and the gain
never exceeds e^2.8 (24 dB of makeup)."""

_LN2 = math.log(2.0)
_LOG2_E = 1.0 / math.log(2.0)
_LN2_HIGH = 6.93147180369123816490e-01
_LN2_LOW = 1.90821492927058770002e-10
_SQRT2 = math.sqrt(2.0)
_MANTISSA_BITS = (1 << 52) - 1
_EXPONENT_BIAS = 1023
_ATANH_SERIES = tuple(1.0 / k for k in range(17, 0, -2))
"""1/17, 1/15, …, 1: the series of atanh(s)/s in s², highest power first (Horner)."""
_EXP_SERIES = tuple(1.0 / math.factorial(n) for n in range(13, -1, -1))
"""1/13!, …, 1/1!, 1/0!: the Taylor series of e^r, highest power first (Horner)."""


MIN_KNEE_DB = 1e-6
"""Knee widths up to this are a hard knee (``static_curve_db``)."""


def static_curve_db(level_db: Any, threshold_db: Any, ratio: Any, knee_db: Any) -> Any:
    """The static gain computer: output level for an input level, in dB (numpy or torch).

    y = x below T − W/2; y = x + (1/R − 1)·(x − T + W/2)²/(2W) within the knee;
    y = T + (x − T)/R above T + W/2. W ≤ ``MIN_KNEE_DB`` is a hard knee (no division by a
    vanishing width, finite torch gradients; the knee it drops is under 10⁻⁶ dB wide).

    Shape: the arguments broadcast together; returns their broadcast shape.

    Args:
        level_db: input level x in dB.
        threshold_db: T in dB.
        ratio: R ≥ 1.
        knee_db: knee width W ≥ 0 in dB.

    Returns:
        The output level y in dB (y ≤ x).

    References:
        Giannoulis, Massberg & Reiss, JAES 2012, eq. 4.
    """
    level_db, threshold_db, ratio, knee_db = as_arrays(level_db, threshold_db, ratio, knee_db)
    xp = namespace(level_db)
    over_db = level_db - threshold_db
    wide = knee_db > MIN_KNEE_DB
    knee_db = xp.where(wide, knee_db, 0 * knee_db)
    safe_knee_db = xp.where(wide, knee_db, 1.0 + 0 * knee_db)
    in_knee = level_db + (1 / ratio - 1) * (over_db + knee_db / 2) ** 2 / (2 * safe_knee_db)
    above = threshold_db + over_db / ratio
    return xp.where(2 * over_db < -knee_db, level_db,
                    xp.where(2 * over_db > knee_db, above, in_knee))


@numba.njit(cache=True, nogil=True, inline="always")
def _gain_reduction_db(level_db: float, threshold_db: float, ratio: float,
                       knee_db: float) -> float:
    """x − ``static_curve_db``(x) for one level: the kernel's copy of the formula, branch-free."""
    over_db = level_db - threshold_db
    slope = 1.0 - 1.0 / ratio
    knee_db = knee_db if knee_db > MIN_KNEE_DB else 0.0
    safe_knee_db = knee_db if knee_db > 0 else 1.0
    in_knee = slope * (over_db + knee_db / 2) ** 2 / (2 * safe_knee_db)
    above = slope * over_db
    compressed = above if 2 * over_db > knee_db else in_knee
    return 0.0 if 2 * over_db < -knee_db else compressed


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _natural_log(x: np.ndarray, out: np.ndarray) -> None:
    """out = ln(x) for positive normal float64 x, within 1e-15·max(1, |ln x|) of the C library.

    x = 2^e·m with m in [√½, √2); ln m = 2·atanh(s) = 2·(s + s³/3 + … + s¹⁷/17), s = (m−1)/(m+1),
    |s| ≤ 0.172, so the first omitted term is below 1e-16. Shape: (n,) → (n,).
    """
    bits = x.view(np.int64)
    mantissa_bits = out.view(np.int64)
    for i in range(x.shape[0]):
        mantissa_bits[i] = (bits[i] & _MANTISSA_BITS) | (_EXPONENT_BIAS << 52)
    for i in range(x.shape[0]):
        exponent = np.float64((bits[i] >> 52) - _EXPONENT_BIAS)
        mantissa = out[i]
        high = mantissa > _SQRT2
        mantissa = 0.5 * mantissa if high else mantissa
        exponent = exponent + 1.0 if high else exponent
        s = (mantissa - 1.0) / (mantissa + 1.0)
        s2 = s * s
        series = 0.0
        for coefficient in _ATANH_SERIES:
            series = series * s2 + coefficient
        out[i] = exponent * _LN2 + 2.0 * s * series


@numba.njit(cache=True, nogil=True, inline="always")
def _split_ln2(x: float) -> tuple[float, float]:
    """x clamped to [−700, 700] = k·ln 2 + r with k whole and |r| ≤ ln(2)/2 (Cody–Waite: ln 2 in
    two parts, so r is exact)."""
    x = min(max(x, _MIN_EXPONENT), -_MIN_EXPONENT)
    k = np.floor(x * _LOG2_E + 0.5)
    return k, (x - k * _LN2_HIGH) - k * _LN2_LOW


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _exp(x: np.ndarray, out: np.ndarray) -> None:
    """out = e^x for x in [−700, 700] (clamped there), within 3e-16 relative.

    e^x = 2^k·e^r (``_split_ln2``): 2^k is set in the exponent bits, e^r summed by its Taylor
    series to r¹³/13! (first omitted term below 1e-17). Shape: (n,) → (n,).
    """
    scale_bits = out.view(np.int64)
    for i in range(x.shape[0]):
        k, _ = _split_ln2(x[i])
        scale_bits[i] = (np.int64(k) + _EXPONENT_BIAS) << 52
    for i in range(x.shape[0]):
        _, r = _split_ln2(x[i])
        series = 0.0
        for coefficient in _EXP_SERIES:
            series = series * r + coefficient
        out[i] = out[i] * series


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _static_gain_reduction(audio: np.ndarray, start: int, stop: int, threshold_db: float,
                           ratio: float, knee_db: float, out: np.ndarray) -> None:
    """Detector and gain computer: out[n] = x_dB[n] − y_dB[n] for n in [start, stop)."""
    peak = np.zeros(stop - start)
    for c in range(audio.shape[0]):
        for i in range(stop - start):
            peak[i] = max(peak[i], abs(np.float64(audio[c, start + i])))
    for i in range(stop - start):
        peak[i] += TINY
    log_peak = np.empty_like(peak)
    _natural_log(peak, log_peak)
    for i in range(stop - start):
        out[start + i] = _gain_reduction_db(_DB_PER_NEPER * log_peak[i], threshold_db, ratio,
                                            knee_db)


@numba.njit(cache=True, nogil=True)
def _smooth(gain_reduction_db: np.ndarray, alpha_attack: float, alpha_release: float,
            initial_db: float) -> float:
    """The shared smoothing kernel in place, chunk by chunk (a small attack mask that stays in
    cache); returns the state."""
    attack_mask = np.empty(_CHUNK, dtype=np.bool_)
    state = initial_db
    for start in range(0, gain_reduction_db.shape[0], _CHUNK):
        chunk = gain_reduction_db[start:start + _CHUNK]
        state = smoothing.smooth_kernel(chunk, alpha_attack, alpha_release, state, chunk,
                                        attack_mask[:chunk.shape[0]])
    return state


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _apply_gain(audio: np.ndarray, start: int, stop: int, smoothed_db: np.ndarray,
                makeup_db: float, out: np.ndarray) -> None:
    """out[c, n] = audio[c, n]·10^((makeup − GR[n])/20) for n in [start, stop)."""
    exponent = np.empty(stop - start)
    for i in range(stop - start):
        exponent[i] = (makeup_db - smoothed_db[start + i]) * _NEPER_PER_DB
    gain = np.empty_like(exponent)
    _exp(exponent, gain)
    for c in range(audio.shape[0]):
        for i in range(stop - start):
            out[c, start + i] = audio[c, start + i] * gain[i]


@numba.njit(cache=True, nogil=True, parallel=True)
def _compress_parallel(audio: np.ndarray, threshold_db: float, ratio: float, knee_db: float,
                       alpha_attack: float, alpha_release: float, makeup_db: float,
                       initial_db: float, out: np.ndarray, meter_db: np.ndarray) -> float:
    """Detector, curve, smoothing and gain over (channels, samples), the detector and the gain
    on threads over chunks (whole tracks); returns the smoother state.

    Writes ``out`` (channels, samples) and ``meter_db`` (samples,): the static GR, then in
    place the smoothed GR that the gain applies.
    """
    n_samples = audio.shape[1]
    n_chunks = (n_samples + _CHUNK - 1) // _CHUNK
    for k in numba.prange(n_chunks):
        _static_gain_reduction(audio, k * _CHUNK, min(n_samples, (k + 1) * _CHUNK),
                               threshold_db, ratio, knee_db, meter_db)
    state = _smooth(meter_db, alpha_attack, alpha_release, initial_db)
    for k in numba.prange(n_chunks):
        _apply_gain(audio, k * _CHUNK, min(n_samples, (k + 1) * _CHUNK), meter_db, makeup_db,
                    out)
    return state


@numba.njit(cache=True, nogil=True)
def _compress(audio: np.ndarray, threshold_db: float, ratio: float, knee_db: float,
              alpha_attack: float, alpha_release: float, makeup_db: float, initial_db: float,
              out: np.ndarray, meter_db: np.ndarray) -> float:
    """As ``_compress_parallel`` in one thread (blocks). No ``prange`` here: even unused, it
    starts numba's thread pool, whose spinning workers slow every other thread down."""
    n_samples = audio.shape[1]
    _static_gain_reduction(audio, 0, n_samples, threshold_db, ratio, knee_db, meter_db)
    state = _smooth(meter_db, alpha_attack, alpha_release, initial_db)
    _apply_gain(audio, 0, n_samples, meter_db, makeup_db, out)
    return state


class _Settings:
    """The kernel's scalar arguments for one parameter set and sample rate."""

    def __init__(self, params: Mapping[str, float], sample_rate_hz: float) -> None:
        self.threshold_db = float(params["threshold_db"])
        self.ratio = float(params["ratio"])
        self.knee_db = float(params["knee_db"])
        self.makeup_db = float(params["makeup_db"])
        self.alpha_attack = float(
            smoothing.time_constant_coefficient(params["attack_ms"], sample_rate_hz))
        self.alpha_release = float(
            smoothing.time_constant_coefficient(params["release_ms"], sample_rate_hz))

    def run(self, audio: np.ndarray, initial_db: float,
            parallel: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
        """Compress a signal or block from the smoother state ``initial_db``; ``parallel`` splits
        the detector and the gain over threads (whole tracks).

        Returns the output, the smoothed GR in dB and the smoother's final state.
        """
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        out = np.empty(audio.shape, dtype=np.float32)
        meter_db = np.empty(audio.shape[1], dtype=np.float32)
        kernel = _compress_parallel if parallel else _compress
        state = kernel(audio, self.threshold_db, self.ratio, self.knee_db, self.alpha_attack,
                          self.alpha_release, self.makeup_db, initial_db, out, meter_db)
        return out, meter_db, state


def render(audio: np.ndarray, params: Mapping[str, float],
           sample_rate_hz: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Compress a whole signal; the smoother starts at 0 dB of gain reduction.

    Shape:
        audio: (channels, samples) float32 → (channels, samples) float32, no latency.

    Args:
        audio: the input signal.
        params: the compressor's table names → physical values.
        sample_rate_hz: the sample rate.

    Returns:
        The compressed signal and ``{"gain_reduction_db": (samples,) float32}``.
    """
    out, meter_db, _ = _Settings(params, sample_rate_hz).run(audio, 0.0, parallel=True)
    return out, {"gain_reduction_db": meter_db}


class Streamer:
    """Block-streaming compressor; carries the smoothed gain reduction between blocks.

    Shape: ``process(block)`` takes and returns (channels, samples) float32; its meters hold
    ``gain_reduction_db`` (samples,) float32.
    """

    latency_samples = 0

    def __init__(self, params: Mapping[str, float], sample_rate_hz: float,
                 channels: int) -> None:
        self.sample_rate_hz = float(sample_rate_hz)
        self.channels = int(channels)
        self.settings = _Settings(params, self.sample_rate_hz)
        self.state_db = 0.0

    def reset(self) -> None:
        """Back to no gain reduction, as at the start of ``render``."""
        self.state_db = 0.0

    def set_params(self, params: Mapping[str, float]) -> None:
        """New parameters from the next block on; the smoother state is kept."""
        self.settings = _Settings(params, self.sample_rate_hz)

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Compress the next block of (channels, samples)."""
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected a block of shape ({self.channels}, samples), "
                             f"got {block.shape}")
        out, meter_db, self.state_db = self.settings.run(block, self.state_db)
        return out, {"gain_reduction_db": meter_db}


def forward_torch(audio: Any, params: Mapping[str, Any],
                  sample_rate_hz: float) -> tuple[Any, dict[str, Any]]:
    """Differentiable compressor, the same math as ``render``.

    Shape:
        audio: (batch, channels, samples); params: names → (batch,) tensors (or scalars).
        Returns (batch, channels, samples) and ``{"gain_reduction_db": (batch, samples)}``.

    Args:
        audio: the input signal tensor.
        params: the compressor's table names → physical values.
        sample_rate_hz: the sample rate.

    Returns:
        The compressed signal and the smoothed gain reduction in dB, both differentiable w.r.t.
        the audio and all six parameters.
    """
    import torch

    batch = audio.shape[0]

    def per_example(name: str) -> Any:
        value = torch.as_tensor(params[name], dtype=audio.dtype, device=audio.device)
        return value.reshape(-1).expand(batch)

    level_db = 20.0 * torch.log10(audio.abs().amax(dim=1) + TINY)
    static_gr_db = level_db - static_curve_db(level_db, per_example("threshold_db")[:, None],
                                              per_example("ratio")[:, None],
                                              per_example("knee_db")[:, None])
    alpha_attack = smoothing.time_constant_coefficient(per_example("attack_ms"), sample_rate_hz)
    alpha_release = smoothing.time_constant_coefficient(per_example("release_ms"),
                                                        sample_rate_hz)
    smoothed_db = smoothing.smooth_torch(static_gr_db, alpha_attack, alpha_release)
    gain = db_to_gain(per_example("makeup_db")[:, None] - smoothed_db)
    return audio * gain[:, None, :], {"gain_reduction_db": smoothed_db}
