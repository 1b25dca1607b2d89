"""Torch autograd wrapper around the stereo imager's decorrelator (training face only).

The forward pass runs ``stereo.decorrelate``, the numba kernel the renderer uses. D is a fixed
linear time-invariant filter (no parameters), so the backward pass is its adjoint: the same
filter run on the time-reversed gradient, reversed again.
"""

from __future__ import annotations

import numpy as np
import torch

from model.dsp import stereo


def _numpy64(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().double().numpy())


class DecorrelateFunction(torch.autograd.Function):
    """y = D x from rest over (rows, samples); ∂L/∂x = reverse(D reverse(∂L/∂y))."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, sample_rate_hz: float) -> torch.Tensor:
        ctx.sample_rate_hz = sample_rate_hz
        return torch.from_numpy(stereo.decorrelate(_numpy64(rows), sample_rate_hz)).to(rows)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        reversed_grad = _numpy64(grad_out)[:, ::-1]
        grad = stereo.decorrelate(reversed_grad, ctx.sample_rate_hz)[:, ::-1].copy()
        return torch.from_numpy(grad).to(grad_out), None


def decorrelate(audio: torch.Tensor, sample_rate_hz: float) -> torch.Tensor:
    """Differentiable decorrelator D from rest, every channel independently.

    Shape: audio (batch, channels, samples) → same, dtype and device of ``audio``.
    """
    rows = audio.reshape(-1, audio.shape[-1])
    return DecorrelateFunction.apply(rows, sample_rate_hz).reshape(audio.shape)
