"""Biquad filters: RBJ cookbook coefficients and exact IIR filtering in three faces.

Coefficients are computed once, in torch float64, so gradients flow from a filter's frequency,
gain and Q to the audio; the renderer and the streamer take the same numbers as numpy arrays.

A second-order section is a row ``[b0, b1, b2, 1, a1, a2]`` (scipy's ``sos`` layout, a0 = 1).
Filtering is scipy's ``sosfilt`` (exact recursion) in every face. The torch face is an autograd
function whose backward pass runs the transposed filter (the time-reversed recursion) to get the
gradients for the audio and for the coefficients, so training sees the very same IIR filter that
exports use, not an FIR approximation.

References:
    R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients" (W3C Audio EQ
    Cookbook). Linkwitz-Riley crossovers: two cascaded Butterworth (Q = 1/√2) sections.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import torch

MAX_FREQ_FRACTION = 0.45
"""Corner frequencies are clamped to this fraction of the sample rate (keeps every rate stable)."""

BUTTERWORTH_Q = 1.0 / math.sqrt(2.0)


def _omega(freq_hz: torch.Tensor, sample_rate_hz: float) -> torch.Tensor:
    freq = torch.clamp(freq_hz, 1.0, MAX_FREQ_FRACTION * sample_rate_hz)
    return 2.0 * math.pi * freq / sample_rate_hz


def _normalise(b0, b1, b2, a0, a1, a2) -> torch.Tensor:
    return torch.stack([b0 / a0, b1 / a0, b2 / a0, torch.ones_like(a0), a1 / a0, a2 / a0], dim=-1)


def peaking(freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor,
            sample_rate_hz: float) -> torch.Tensor:
    """RBJ peaking EQ. Shape: parameters (...,) → sos (..., 6)."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = _omega(freq_hz, sample_rate_hz)
    alpha = torch.sin(w0) / (2.0 * q)
    cos = torch.cos(w0)
    return _normalise(1 + alpha * amp, -2 * cos, 1 - alpha * amp,
                      1 + alpha / amp, -2 * cos, 1 - alpha / amp)


def low_shelf(freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor,
              sample_rate_hz: float) -> torch.Tensor:
    """RBJ low shelf (corner at the midpoint gain). Shape: (...,) → sos (..., 6)."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = _omega(freq_hz, sample_rate_hz)
    two_sqrt_a_alpha = 2.0 * torch.sqrt(amp) * torch.sin(w0) / (2.0 * q)
    cos = torch.cos(w0)
    return _normalise(
        amp * ((amp + 1) - (amp - 1) * cos + two_sqrt_a_alpha),
        2 * amp * ((amp - 1) - (amp + 1) * cos),
        amp * ((amp + 1) - (amp - 1) * cos - two_sqrt_a_alpha),
        (amp + 1) + (amp - 1) * cos + two_sqrt_a_alpha,
        -2 * ((amp - 1) + (amp + 1) * cos),
        (amp + 1) + (amp - 1) * cos - two_sqrt_a_alpha,
    )


def high_shelf(freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor,
               sample_rate_hz: float) -> torch.Tensor:
    """RBJ high shelf (corner at the midpoint gain). Shape: (...,) → sos (..., 6)."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = _omega(freq_hz, sample_rate_hz)
    two_sqrt_a_alpha = 2.0 * torch.sqrt(amp) * torch.sin(w0) / (2.0 * q)
    cos = torch.cos(w0)
    return _normalise(
        amp * ((amp + 1) + (amp - 1) * cos + two_sqrt_a_alpha),
        -2 * amp * ((amp - 1) + (amp + 1) * cos),
        amp * ((amp + 1) + (amp - 1) * cos - two_sqrt_a_alpha),
        (amp + 1) - (amp - 1) * cos + two_sqrt_a_alpha,
        2 * ((amp - 1) - (amp + 1) * cos),
        (amp + 1) - (amp - 1) * cos - two_sqrt_a_alpha,
    )


def lowpass(freq_hz: torch.Tensor, sample_rate_hz: float,
            q: float = BUTTERWORTH_Q) -> torch.Tensor:
    """RBJ second-order low-pass. Shape: (...,) → sos (..., 6)."""
    w0 = _omega(freq_hz, sample_rate_hz)
    alpha = torch.sin(w0) / (2.0 * q)
    cos = torch.cos(w0)
    return _normalise((1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha)


def highpass(freq_hz: torch.Tensor, sample_rate_hz: float,
             q: float = BUTTERWORTH_Q) -> torch.Tensor:
    """RBJ second-order high-pass. Shape: (...,) → sos (..., 6)."""
    w0 = _omega(freq_hz, sample_rate_hz)
    alpha = torch.sin(w0) / (2.0 * q)
    cos = torch.cos(w0)
    return _normalise((1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha)


def as_tensor(value: float | torch.Tensor) -> torch.Tensor:
    """A float64 tensor of a physical value (scalars for the renderer and the streamer)."""
    return torch.as_tensor(value, dtype=torch.float64)


def to_numpy(sos: torch.Tensor) -> np.ndarray:
    """Coefficients for scipy: float64 array (sections, 6)."""
    return sos.detach().to(torch.float64).reshape(-1, 6).cpu().numpy()


def render(audio: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Whole-signal filtering from rest. Shape: (channels, samples) → same, float32."""
    return scipy.signal.sosfilt(sos, audio, axis=-1).astype(np.float32)


class Streamer:
    """A cascade of biquads over blocks, carrying its state between calls.

    Shape: ``process(block)`` takes and returns (channels, samples).
    """

    def __init__(self, sos: np.ndarray, channels: int) -> None:
        self.sos = np.asarray(sos, dtype=np.float64).reshape(-1, 6)
        self.channels = channels
        self.state = np.zeros((self.sos.shape[0], channels, 2))

    def reset(self) -> None:
        self.state[:] = 0.0

    def set_sos(self, sos: np.ndarray) -> None:
        """New coefficients; the state is kept (direct-form II transposed, as in scipy)."""
        self.sos = np.asarray(sos, dtype=np.float64).reshape(-1, 6)

    def process(self, block: np.ndarray) -> np.ndarray:
        out, self.state = scipy.signal.sosfilt(self.sos, block, axis=-1, zi=self.state)
        return out.astype(np.float32)


class _BiquadFunction(torch.autograd.Function):
    """One section per example: y = (b / a) x, with the transposed filter in the backward pass."""

    @staticmethod
    def forward(ctx, audio: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
        x = audio.detach().cpu().double().numpy()
        coeffs = sos.detach().cpu().double().numpy()
        y = np.empty_like(x)
        for i in range(x.shape[0]):
            y[i] = scipy.signal.sosfilt(coeffs[i][None, :], x[i], axis=-1)
        ctx.save_for_backward(audio, sos)
        ctx.y = y
        return torch.from_numpy(y).to(audio)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        audio, sos = ctx.saved_tensors
        x = audio.detach().cpu().double().numpy()
        coeffs = sos.detach().cpu().double().numpy()
        g = grad_out.detach().cpu().double().numpy()
        y = ctx.y
        grad_x = np.empty_like(x)
        grad_sos = np.zeros_like(coeffs)
        for i in range(x.shape[0]):
            b, a = coeffs[i, :3], np.concatenate([[1.0], coeffs[i, 4:]])
            # u = A^{-T} g: the all-pole part run backwards in time.
            u = scipy.signal.lfilter([1.0], a, g[i][..., ::-1], axis=-1)[..., ::-1]
            grad_x[i] = scipy.signal.lfilter(b, [1.0], u[..., ::-1], axis=-1)[..., ::-1]
            for k in range(3):
                grad_sos[i, k] = np.sum(u[..., k:] * x[i][..., : x.shape[-1] - k])
            for k in (1, 2):
                grad_sos[i, 3 + k] = -np.sum(u[..., k:] * y[i][..., : y.shape[-1] - k])
        grad_sos[:, 3] = 0.0
        return (torch.from_numpy(grad_x).to(audio) if ctx.needs_input_grad[0] else None,
                torch.from_numpy(grad_sos).to(sos) if ctx.needs_input_grad[1] else None)


def filter_torch(audio: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
    """Differentiable exact IIR filtering from rest, per example.

    Shape:
        audio: (batch, channels, samples); sos: (batch, sections, 6) or (batch, 6).
        Returns (batch, channels, samples), the dtype and device of ``audio``.
    """
    if sos.dim() == 2:
        sos = sos.unsqueeze(1)
    sos = sos.expand(audio.shape[0], -1, -1)
    out = audio
    for section in range(sos.shape[1]):
        out = _BiquadFunction.apply(out, sos[:, section, :])
    return out
