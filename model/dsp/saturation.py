"""Saturation: a level-compensated soft/hard waveshaper, 4× oversampled, with antiderivative
anti-aliasing, a wet/dry mix, and bias for even harmonics (its DC removed).

The curve, on u = g·x + bias with g = 10^(drive_db / 20)::

    shape(u) = (1 − hardness)·tanh(u) + hardness·clip(u, −1, 1)

Both curves have unity small-signal gain and saturate at ±1, so hardness changes the knee, not
the level. The wet signal is (shape(g·x + bias) − shape(bias)) / g: dividing by the drive keeps
the small-signal gain at 1 whatever the drive (the mix blends like with like; the drive lowers
the level where saturation starts, to 1/g), and subtracting shape(bias) keeps silence silent.

Signal flow, the same in every face::

    x ──▶ ↑2 ──▶ ↑2 ──▶ d = wet − avg(x₄) ──▶ ↓2 ──▶ ↓2 ──▶ ·mix ──▶ DC block ──┐
    x ──▶ delay (LATENCY_SAMPLES) ─────────────────────────────────────────────── + ──▶ out

- **Oversampling 4×**, two linear-phase polyphase FIR stages designed as Kaiser-windowed sincs.
  Stage 1 (base rate ↔ 2×) is a 95-tap halfband: flat (< 0.001 dB) to 0.43·fs, ≥ 91 dB down
  from 0.567·fs, so distortion products above Nyquist do not fold back (the fifth harmonic of
  5 kHz at 44.1 kHz, 25 kHz, would fold to 19.1 kHz). Stage 2 (2× ↔ 4×) only separates 0.5·fs
  from 1.5·fs: a 23-tap halfband up (≥ 78 dB) and a 24-tap even-length low-pass down (≥ 88 dB).
- **Anti-aliasing at 4×**: the hard-clip part uses first-order antiderivative anti-aliasing
  (ADAA): the mean of clip over the segment between consecutive samples,
  (F(u[n]) − F(u[n−1])) / (u[n] − u[n−1]) with F(u) = u²/2 for |u| ≤ 1 and |u| − 1/2 beyond,
  and clip((u[n] + u[n−1]) / 2) where |u[n] − u[n−1]| ≤ ADAA_EPSILON (ill-conditioned). The
  smooth tanh part (aliasing already ≈ −105 dB at 4×) takes the trapezoidal mean
  (tanh(u[n]) + tanh(u[n−1])) / 2 instead of log cosh: both parts then share one linear
  response (the 2-tap average, half a 4× sample of delay), so the blend stays coherent.
  That half sample is taken back by the 4× → 2× decimator, an even-length linear-phase FIR
  (half-integer delay), and the decimators' phases make the whole path an integer number of
  base-rate samples, LATENCY_SAMPLES (see ``_alignment``).
- **Wet/dry in the difference domain**: the oversampled path computes only d = wet − dry (the
  dry reference x₄ goes through the same 2-tap average) and the output is
  x_delayed + mix·DC_block(↓d). So mix = 0 returns the input exactly; the dry signal never goes
  through the resampling filters (their passband and band edge cost nothing); in the linear
  region d = 0 (hard clip exactly, tanh to third order), so drive 0 and bias 0 on a quiet signal
  is transparent. The only linear effect left on the wet side is the 2-tap average's droop on
  d, cos(π·f / 4fs): −0.14 dB at 10 kHz and −0.56 dB at 20 kHz (44.1 kHz), on the difference.
- **DC blocking**: bias makes the curve asymmetric (even harmonics) and leaves a DC that follows
  the signal's envelope. A Butterworth high-pass at DC_BLOCK_HZ (``biquad.highpass``) on the
  difference removes it. It never touches the dry signal; with bias = 0 the difference has no
  DC and the high-pass only turns the phase of the difference's sub-bass (10° at 40 Hz).
- **Level matching**: equal small-signal gain (both curves → u) and equal ceiling (both → ±1).
  In between, tanh's knee is softer: at u = 1, where clip is still linear, tanh(1) = 0.76
  (−2.4 dB), so a −6 dBFS sine at mix 1 reads up to 1.8 dB quieter with hardness 0 than with
  hardness 1 (at 6 dB of drive), and within 0.6 dB at drive 0 and from 14 dB of drive on.

Numerics: the FIR stages and tanh run in float32 (tanh by a vectorisable series, error < 1e-6),
the ADAA quotient in float64. The renderer (parallel over channels) and the streamer share one
per-channel kernel with explicit filter state. The torch face runs the same taps (``conv1d``)
and formulas, differentiable in the audio and every parameter; the ADAA branch divides by a safe
denominator so its gradient stays finite.

References:
    J. D. Parker, V. Zavalishin, E. Le Bivic, "Reducing the aliasing of nonlinear waveshaping
    using continuous-time convolution", DAFx 2016. S. Bilbao, F. Esqueda, J. D. Parker,
    V. Välimäki, "Antiderivative antialiasing for memoryless nonlinearities", IEEE SPL 24(7),
    2017. J. F. Kaiser, "Nonrecursive digital filter design using the I0-sinh window function",
    IEEE ISCAS 1974.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np

from model.dsp import biquad
from model.units import db_to_gain

DC_BLOCK_HZ = 5.0
"""Corner of the Butterworth high-pass that removes the bias's DC from the difference signal."""

ADAA_EPSILON = 1e-6
"""Below this step |u[n] − u[n−1]| the ADAA quotient is replaced by the midpoint value."""

CHUNK_SAMPLES = 1024
"""Base-rate samples per pass through the kernel's stages (keeps the 4× buffers in cache)."""


def _kaiser_lowpass(n_taps: int, cutoff: float, beta: float) -> np.ndarray:
    """Linear-phase windowed-sinc low-pass with unity DC gain. Shape: (n_taps,).

    Args:
        cutoff: −6 dB frequency as a fraction of the sample rate (0.25 = half of Nyquist).
        beta: Kaiser window parameter (higher: more stopband attenuation, wider transition).
    """
    n = np.arange(n_taps) - (n_taps - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(n_taps, beta)
    return taps / taps.sum()


def _halfband_taps(n_taps: int, beta: float) -> np.ndarray:
    """The nonzero taps of a halfband low-pass of length 2·n_taps − 1. Shape: (n_taps,).

    The full filter is h[2j] = taps[j], h[n_taps − 1] = 1/2 (its centre) and zero elsewhere.
    The taps sum to 1/2, so both polyphase branches have unity DC gain.
    """
    taps = _kaiser_lowpass(2 * n_taps - 1, 0.25, beta)[0::2]
    return taps / (2.0 * taps.sum())


def _halfband_full(taps: np.ndarray) -> np.ndarray:
    """The complete halfband filter from its nonzero taps. Shape: (T,) → (2T − 1,) float64."""
    full = np.zeros(2 * taps.shape[0] - 1)
    full[0::2] = taps
    full[taps.shape[0] - 1] = 0.5
    return full


STAGE1_TAPS = _halfband_taps(48, 10.0).astype(np.float32)
"""Base rate ↔ 2×: the 48 nonzero taps of a 95-tap halfband (interpolator and decimator)."""

STAGE2_TAPS = _halfband_taps(12, 8.0).astype(np.float32)
"""2× → 4× interpolator: the 12 nonzero taps of a 23-tap halfband."""

STAGE2_DECIMATOR = _kaiser_lowpass(24, 0.25, 9.0).astype(np.float32)
"""4× → 2× decimator: an even-length low-pass; its half-sample delay absorbs ADAA's."""


def _alignment(taps1: int, taps2: int, taps_decimator: int) -> tuple[int, int, int]:
    """Decimator phases and latency that make the path an integer base-rate delay.

    Delays: each stage-1 halfband T1 − 1 samples at 2×; the stage-2 interpolator T2 − 1 at 4×;
    ADAA 1/2 at 4×; the stage-2 decimator (M − 1)/2 at 4×. A decimator keeping the filtered
    samples 2i + q (phase q ∈ {0, 1}) moves its output one input sample earlier for q = 1,
    which makes the delay accumulated before each decimation even.

    Args:
        taps1, taps2: nonzero taps T1, T2 of the two halfbands (full lengths 2T − 1).
        taps_decimator: length M of the even-length 4× → 2× decimator.
    Returns:
        (stage-2 decimator phase, stage-1 decimator phase, latency in base-rate samples).
    """
    stage2_delay_4x = (taps2 - 1) + taps_decimator // 2     # (T2 − 1) + 1/2 + (M − 1)/2
    phase2 = stage2_delay_4x % 2
    delay_2x = (taps1 - 1) + (stage2_delay_4x - phase2) // 2
    phase1 = (delay_2x + taps1 - 1) % 2
    return phase2, phase1, (delay_2x + taps1 - 1 - phase1) // 2


STAGE2_PHASE, STAGE1_PHASE, LATENCY_SAMPLES = _alignment(
    STAGE1_TAPS.shape[0], STAGE2_TAPS.shape[0], STAGE2_DECIMATOR.shape[0])

# ---------------------------------------------------------------------------------------------
# numba kernel (render and streamer)
# ---------------------------------------------------------------------------------------------

_FAST = {"fastmath": True, "error_model": "numpy"}


@numba.njit(inline="always", **_FAST)
def _tanh(u: np.float32) -> np.float32:
    """tanh in float32: sign(u)·(1 − e)/(1 + e), e = exp(−2|u|) by a degree-10 Taylor series
    of exp(−2|u|/16) squared four times (|u| clamped to 10, where tanh rounds to 1).
    Error < 1e-6; unlike libm's tanh it vectorises."""
    y = min(abs(u), np.float32(10.0)) * np.float32(-2.0 / 16.0)
    p = np.float32(1.0 / 3628800.0)
    p = p * y + np.float32(1.0 / 362880.0)
    p = p * y + np.float32(1.0 / 40320.0)
    p = p * y + np.float32(1.0 / 5040.0)
    p = p * y + np.float32(1.0 / 720.0)
    p = p * y + np.float32(1.0 / 120.0)
    p = p * y + np.float32(1.0 / 24.0)
    p = p * y + np.float32(1.0 / 6.0)
    p = p * y + np.float32(0.5)
    p = p * y + np.float32(1.0)
    p = p * y + np.float32(1.0)
    for _ in range(4):
        p = p * p
    return math.copysign((np.float32(1.0) - p) / (np.float32(1.0) + p), u)


@numba.njit(inline="always", **_FAST)
def _clip(u: float) -> float:
    return min(max(u, -1.0), 1.0)


@numba.njit(inline="always", **_FAST)
def _clip_antiderivative(u: float) -> float:
    a = abs(u)
    return 0.5 * u * u if a <= 1.0 else a - 0.5


@numba.njit(cache=True, nogil=True, **_FAST)
def _fir(buf: np.ndarray, taps: np.ndarray, n: int, out: np.ndarray) -> None:
    """Causal FIR with symmetric taps: out[i] = Σ_j taps[j]·buf[i + j] for i < n, ``buf``
    holding T − 1 history samples, then the input. T is a multiple of 4: four taps per pass
    over the block, whose loop over i vectorises."""
    block = out[:n]
    block[:] = 0.0
    for j in range(0, taps.shape[0], 4):
        t0, t1, t2, t3 = taps[j], taps[j + 1], taps[j + 2], taps[j + 3]
        window = buf[j:j + n + 3]
        for i in range(n):
            block[i] += (t0 * window[i] + t1 * window[i + 1] + t2 * window[i + 2]
                         + t3 * window[i + 3])


@numba.njit(cache=True, nogil=True, **_FAST)
def _interpolate(buf: np.ndarray, taps: np.ndarray, n: int, scratch: np.ndarray,
                 out: np.ndarray) -> None:
    """Halfband interpolation by 2 (gain 2): out[2i] = 2·Σ_j taps[j]·x[i − j] and
    out[2i + 1] = x[i − T/2 + 1]. ``buf`` holds T − 1 history samples, then x[0:n]."""
    _fir(buf, taps, n, scratch)
    centre = taps.shape[0] // 2
    for i in range(n):
        out[2 * i] = 2.0 * scratch[i]
        out[2 * i + 1] = buf[i + centre]


@numba.njit(cache=True, nogil=True, **_FAST)
def _shape_difference(x4: np.ndarray, n: int, drive_gain: float, hardness: float, bias: float,
                      soft: np.ndarray, hard: np.ndarray, out: np.ndarray) -> None:
    """The oversampled wet − dry difference; ``x4`` holds the previous 4× sample, then n new.

    out[k] = (wet[k] − shape(bias)) / g − (x[k] + x[k − 1]) / 2, with wet the trapezoidal tanh
    and the ADAA clip blended by hardness (module docstring). ``soft`` (n + 1,) float32 and
    ``hard`` (n + 1,) float64 are scratch. The ADAA quotient divides a difference of
    antiderivatives by a small step, so it is formed in float64. A part of weight 0 is skipped.
    """
    offset = (1.0 - hardness) * _tanh(np.float32(bias)) + hardness * _clip(bias)
    soft[:n + 1] = 0.0
    if hardness < 1.0:
        for k in range(n + 1):
            soft[k] = _tanh(np.float32(drive_gain * x4[k] + bias))
    if hardness == 0.0:
        for k in range(n):
            wet = 0.5 * (soft[k + 1] + soft[k])
            out[k] = (wet - offset) / drive_gain - 0.5 * (x4[k + 1] + x4[k])
        return
    for k in range(n + 1):
        hard[k] = _clip_antiderivative(drive_gain * x4[k] + bias)
    for k in range(n):
        step = drive_gain * (x4[k + 1] - x4[k])
        steep = abs(step) > ADAA_EPSILON
        quotient = (hard[k + 1] - hard[k]) / (step if steep else 1.0)
        midpoint = _clip(drive_gain * 0.5 * (x4[k + 1] + x4[k]) + bias)
        wet = ((1.0 - hardness) * 0.5 * (soft[k + 1] + soft[k])
               + hardness * (quotient if steep else midpoint))
        out[k] = (wet - offset) / drive_gain - 0.5 * (x4[k + 1] + x4[k])


@numba.njit(cache=True, nogil=True, **_FAST)
def _difference_channel(x: np.ndarray, n_out: int, drive_gain: float, hardness: float,
                        bias: float, mix: float, hist_up1: np.ndarray, hist_up2: np.ndarray,
                        hist_shape: np.ndarray, hist_down2: np.ndarray, hist_down1: np.ndarray,
                        up1: np.ndarray, up2: np.ndarray, down2: np.ndarray, phase2: int,
                        phase1: int, out: np.ndarray) -> None:
    """mix·(wet − dry) of one channel at the base rate, ``n_out`` samples of ``x`` (zeros past
    its end), in chunks: interpolate ×2 twice (x₄); the shaped difference at 4×; the 4× → 2×
    decimator, computed at 4× and split into the polyphase components W₀[k] = z[2k],
    W₁[k] = z[2k + 1] of its output z; the halfband decimator from those components.

    Shape: x (samples,); out (n_out,). The ``hist_*`` arrays hold each stage's input history
    and are updated; ``hist_down1`` (2, T1 − 1) holds W_phase1 (under the halfband's nonzero
    taps) first, then the other component (under its centre tap).
    """
    h1, h2, h4 = hist_up1.shape[0], hist_up2.shape[0], hist_down2.shape[0]
    centre1 = h1 + phase1 - up1.shape[0] // 2
    b1 = np.empty(h1 + CHUNK_SAMPLES, dtype=np.float32)
    b2 = np.empty(h2 + 2 * CHUNK_SAMPLES, dtype=np.float32)
    b3 = np.empty(1 + 4 * CHUNK_SAMPLES, dtype=np.float32)
    b4 = np.empty(h4 + 4 * CHUNK_SAMPLES, dtype=np.float32)
    b5 = np.empty((2, h1 + CHUNK_SAMPLES), dtype=np.float32)
    scratch = np.empty(4 * CHUNK_SAMPLES, dtype=np.float32)
    soft = np.empty(1 + 4 * CHUNK_SAMPLES, dtype=np.float32)
    hard = np.empty(1 + 4 * CHUNK_SAMPLES)
    b1[:h1] = hist_up1
    b2[:h2] = hist_up2
    b3[0] = hist_shape[0]
    b4[:h4] = hist_down2
    b5[:, :h1] = hist_down1
    for start in range(0, n_out, CHUNK_SAMPLES):
        n = min(CHUNK_SAMPLES, n_out - start)
        n_new = max(0, min(n, x.shape[0] - start))
        b1[h1:h1 + n_new] = x[start:start + n_new]
        b1[h1 + n_new:h1 + n] = 0.0
        _interpolate(b1, up1, n, scratch, b2[h2:])
        _interpolate(b2, up2, 2 * n, scratch, b3[1:])
        _shape_difference(b3, 4 * n, drive_gain, hardness, bias, soft, hard, b4[h4:])
        _fir(b4, down2, 4 * n, scratch)
        for k in range(n):
            b5[phase1, h1 + k] = scratch[4 * k + phase2]
            b5[1 - phase1, h1 + k] = scratch[4 * k + 2 + phase2]
        _fir(b5[0], up1, n, scratch)
        for i in range(n):
            out[start + i] = mix * (scratch[i] + 0.5 * b5[1, i + centre1])
        b1[:h1] = b1[n:n + h1]
        b2[:h2] = b2[2 * n:2 * n + h2]
        b3[0] = b3[4 * n]
        b4[:h4] = b4[4 * n:4 * n + h4]
        b5[:, :h1] = b5[:, n:n + h1]
    hist_up1[:] = b1[:h1]
    hist_up2[:] = b2[:h2]
    hist_shape[0] = b3[0]
    hist_down2[:] = b4[:h4]
    hist_down1[:] = b5[:, :h1]


@numba.njit(cache=True, nogil=True, parallel=True)
def _difference_parallel(x: np.ndarray, n_out: int, drive_gain: float, hardness: float,
                         bias: float, mix: float, hist_up1: np.ndarray, hist_up2: np.ndarray,
                         hist_shape: np.ndarray, hist_down2: np.ndarray, hist_down1: np.ndarray,
                         up1: np.ndarray, up2: np.ndarray, down2: np.ndarray, phase2: int,
                         phase1: int, out: np.ndarray) -> None:
    """``_difference_channel`` over (channels, ·) arrays, one thread per channel (render)."""
    for c in numba.prange(x.shape[0]):
        _difference_channel(x[c], n_out, drive_gain, hardness, bias, mix, hist_up1[c],
                            hist_up2[c], hist_shape[c], hist_down2[c], hist_down1[c], up1, up2,
                            down2, phase2, phase1, out[c])


@numba.njit(cache=True, nogil=True)
def _difference_serial(x: np.ndarray, n_out: int, drive_gain: float, hardness: float,
                       bias: float, mix: float, hist_up1: np.ndarray, hist_up2: np.ndarray,
                       hist_shape: np.ndarray, hist_down2: np.ndarray, hist_down1: np.ndarray,
                       up1: np.ndarray, up2: np.ndarray, down2: np.ndarray, phase2: int,
                       phase1: int, out: np.ndarray) -> None:
    """``_difference_channel`` over (channels, ·) arrays in one thread (short streamer blocks,
    where starting threads would cost more than the work)."""
    for c in range(x.shape[0]):
        _difference_channel(x[c], n_out, drive_gain, hardness, bias, mix, hist_up1[c],
                            hist_up2[c], hist_shape[c], hist_down2[c], hist_down1[c], up1, up2,
                            down2, phase2, phase1, out[c])


class _DifferencePath:
    """The oversampled difference path and its filter state. Shape: (channels, samples)."""

    def __init__(self, channels: int, parallel: bool) -> None:
        taps1 = STAGE1_TAPS.shape[0]
        self.kernel = _difference_parallel if parallel else _difference_serial
        self.hist_up1 = np.zeros((channels, taps1 - 1), dtype=np.float32)
        self.hist_up2 = np.zeros((channels, STAGE2_TAPS.shape[0] - 1), dtype=np.float32)
        self.hist_shape = np.zeros((channels, 1), dtype=np.float32)
        self.hist_down2 = np.zeros((channels, STAGE2_DECIMATOR.shape[0] - 1), dtype=np.float32)
        self.hist_down1 = np.zeros((channels, 2, taps1 - 1), dtype=np.float32)

    def reset(self) -> None:
        for history in (self.hist_up1, self.hist_up2, self.hist_shape, self.hist_down2,
                        self.hist_down1):
            history[:] = 0.0

    def process(self, audio: np.ndarray, n_out: int, params: Mapping[str, float]) -> np.ndarray:
        """mix·(wet − dry), float32 (channels, n_out); input past its end is silence."""
        out = np.empty((audio.shape[0], n_out), dtype=np.float32)
        self.kernel(np.ascontiguousarray(audio, dtype=np.float32), n_out,
                    db_to_gain(float(params["drive_db"])), float(params["hardness"]),
                    float(params["bias"]), float(params["mix"]), self.hist_up1, self.hist_up2,
                    self.hist_shape, self.hist_down2, self.hist_down1, STAGE1_TAPS, STAGE2_TAPS,
                    STAGE2_DECIMATOR, STAGE2_PHASE, STAGE1_PHASE, out)
        return out


def _dc_block_sos(sample_rate_hz: float) -> np.ndarray:
    return biquad.highpass(DC_BLOCK_HZ, sample_rate_hz)


def transfer_curve(x: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """The stage's static (memoryless) transfer curve: output for a constant input level.

    y = x + mix·((shape(g·x + bias) − shape(bias)) / g − x), g = 10^(drive_db / 20), with
    shape(u) = (1 − hardness)·tanh(u) + hardness·clip(u, −1, 1): the kernel's wet − dry
    difference (``_shape_difference``) added to the dry signal, as ``render`` does, in float64.

    Included: drive, the hardness blend, bias, the level compensation (÷ g and − shape(bias), so
    y(0) = 0) and the mix. Left out, because they are not memoryless: the DC block, which removes
    the signal-dependent mean of the difference that bias creates (so with bias ≠ 0 the rendered
    output sits lower or higher than this curve by that mean), and the oversampling filters and
    the anti-aliasing averages, which for a slowly varying input reduce to the identity.

    Shape:
        x: (...,) input sample values (full scale ±1) → (...,) float64.
    Args:
        params: drive_db, hardness, mix, bias (physical units, see ``model.params``).
    """
    drive_gain = db_to_gain(float(params["drive_db"]))
    hardness = float(params["hardness"])
    bias = float(params["bias"])

    def shape(u: np.ndarray) -> np.ndarray:
        return (1.0 - hardness) * np.tanh(u) + hardness * np.clip(u, -1.0, 1.0)

    x = np.asarray(x, dtype=np.float64)
    difference = (shape(drive_gain * x + bias) - shape(np.float64(bias))) / drive_gain - x
    return x + float(params["mix"]) * difference


def render(audio: np.ndarray, params: Mapping[str, float],
           sample_rate_hz: float) -> tuple[np.ndarray, dict]:
    """Saturate a whole track; the output is aligned with the input (latency removed).

    Shape:
        audio: (channels, samples) float32 → (channels, samples) float32.
    Args:
        params: drive_db, hardness, mix, bias (physical units, see ``model.params``).
    Returns:
        The saturated audio and an empty meters dict.
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    n_out = audio.shape[1] + LATENCY_SAMPLES
    difference = _DifferencePath(audio.shape[0], parallel=True).process(audio, n_out, params)
    blocked = biquad.render(difference, _dc_block_sos(sample_rate_hz))
    return audio + blocked[:, LATENCY_SAMPLES:], {}


class Streamer:
    """Block-streaming saturation: ``render``'s output delayed by ``latency_samples``.

    The first ``latency_samples`` after a reset are silent: they would hold the linear-phase
    filters' pre-ringing, which ``render`` discards when it aligns its output.

    Shape: ``process(block)`` takes and returns (channels, samples) float32.
    """

    latency_samples: int = LATENCY_SAMPLES

    def __init__(self, params: Mapping[str, float], sample_rate_hz: float, channels: int) -> None:
        self.params = dict(params)
        self.path = _DifferencePath(channels, parallel=False)
        self.dc_block = biquad.Streamer(_dc_block_sos(sample_rate_hz), channels)
        self.dry = np.zeros((channels, LATENCY_SAMPLES), dtype=np.float32)
        self.silent_samples = LATENCY_SAMPLES

    def reset(self) -> None:
        self.path.reset()
        self.dc_block.reset()
        self.dry[:] = 0.0
        self.silent_samples = LATENCY_SAMPLES

    def set_params(self, params: Mapping[str, float]) -> None:
        """New parameter values, used from the next block on."""
        self.params = dict(params)

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict]:
        n = block.shape[1]
        difference = self.path.process(block, n, self.params)
        dry = np.concatenate([self.dry, np.asarray(block, dtype=np.float32)], axis=1)
        self.dry = dry[:, n:].copy()
        out = dry[:, :n] + self.dc_block.process(difference)
        if self.silent_samples:
            muted = min(self.silent_samples, n)
            out[:, :muted] = 0.0
            self.silent_samples -= muted
        return out, {}


# ---------------------------------------------------------------------------------------------
# torch face (training)
# ---------------------------------------------------------------------------------------------

def _causal_filter_torch(x: Any, taps: np.ndarray) -> Any:
    """y[t] = Σ_m taps[m]·x[t − m] from rest. Shape: (rows, samples) → (rows, samples)."""
    import torch

    kernel = torch.as_tensor(np.asarray(taps, np.float64)[::-1].copy(), dtype=x.dtype,
                             device=x.device)
    padded = torch.nn.functional.pad(x[:, None, :], (kernel.shape[0] - 1, 0))
    return torch.nn.functional.conv1d(padded, kernel[None, None, :])[:, 0, :]


def _interpolate_torch(x: Any, taps: np.ndarray) -> Any:
    """As ``_interpolate``: zero-stuffing, then the full halfband times 2.
    Shape: (rows, samples) → (rows, 2·samples)."""
    import torch

    stuffed = torch.stack([x, torch.zeros_like(x)], dim=-1).reshape(x.shape[0], -1)
    return 2.0 * _causal_filter_torch(stuffed, _halfband_full(taps))


def _decimate_torch(w: Any, taps: np.ndarray, phase: int) -> Any:
    """z[i] = Σ_m taps[m]·w[2i + phase − m]. Shape: (rows, 2·samples) → (rows, samples)."""
    return _causal_filter_torch(w, taps)[:, phase::2]


def _clip_antiderivative_torch(u: Any) -> Any:
    import torch

    return torch.where(u.abs() <= 1.0, 0.5 * u * u, u.abs() - 0.5)


def _shape_difference_torch(x4: Any, drive_gain: Any, hardness: Any, bias: Any) -> Any:
    """As ``_shape_difference``, from rest. Shape: x4 (rows, n); parameters (rows, 1)."""
    import torch

    previous_x = torch.nn.functional.pad(x4, (1, 0))[:, :-1]
    current = drive_gain * x4 + bias
    previous = drive_gain * previous_x + bias
    step = current - previous
    steep = step.abs() > ADAA_EPSILON
    safe_step = torch.where(steep, step, torch.ones_like(step))
    quotient = ((_clip_antiderivative_torch(current) - _clip_antiderivative_torch(previous))
                / safe_step)
    midpoint = torch.clamp(0.5 * (current + previous), -1.0, 1.0)
    soft = 0.5 * (torch.tanh(current) + torch.tanh(previous))
    wet = (1.0 - hardness) * soft + hardness * torch.where(steep, quotient, midpoint)
    offset = (1.0 - hardness) * torch.tanh(bias) + hardness * torch.clamp(bias, -1.0, 1.0)
    return (wet - offset) / drive_gain - 0.5 * (x4 + previous_x)


def forward_torch(audio: Any, params: Mapping[str, Any],
                  sample_rate_hz: float) -> tuple[Any, dict]:
    """Differentiable saturation: the same filters and formulas as ``render``.

    Shape:
        audio: (batch, channels, samples) → (batch, channels, samples), aligned with the input.
    Args:
        params: drive_db, hardness, mix, bias as tensors (batch,) in physical units.
    Returns:
        The saturated audio and an empty meters dict.
    """
    import torch

    batch, channels, n = audio.shape

    def per_row(name: str) -> Any:
        value = torch.as_tensor(params[name], dtype=audio.dtype, device=audio.device)
        return value.reshape(-1, 1).expand(batch, channels).reshape(-1, 1)

    rows = torch.nn.functional.pad(audio.reshape(batch * channels, n), (0, LATENCY_SAMPLES))
    x4 = _interpolate_torch(_interpolate_torch(rows, STAGE1_TAPS), STAGE2_TAPS)
    d4 = _shape_difference_torch(x4, db_to_gain(per_row("drive_db")), per_row("hardness"),
                                 per_row("bias"))
    d2 = _decimate_torch(d4, STAGE2_DECIMATOR, STAGE2_PHASE)
    d1 = _decimate_torch(d2, _halfband_full(STAGE1_TAPS), STAGE1_PHASE)
    difference = (per_row("mix") * d1).reshape(batch, channels, -1)
    sos = torch.as_tensor(_dc_block_sos(sample_rate_hz), dtype=audio.dtype, device=audio.device)
    blocked = biquad.filter_torch(difference, sos)
    return audio + blocked[..., LATENCY_SAMPLES:], {}
