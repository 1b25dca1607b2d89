"""Torch autograd wrappers around the numba kernels of the DSP cores (training face only).

The forward passes call the very kernels the renderer and the streamer use; the backward passes
are analytic. This is the only module of ``model/dsp`` that imports torch at import time; the
render path never imports it.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import torch

from model.dsp import biquad, smoothing


def _numpy64(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().double().numpy())


class BiquadFunction(torch.autograd.Function):
    """One second-order section per example: y = (b / a) x from rest.

    Backward: with u = A⁻ᵀ g (the all-pole part run backwards in time), ∂L/∂x = Bᵀ u,
    ∂L/∂b_k = Σ u[n] x[n−k] and ∂L/∂a_k = −Σ u[n] y[n−k].
    """

    @staticmethod
    def forward(ctx, audio: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
        x = _numpy64(audio)
        coeffs = _numpy64(sos)
        y = np.stack([biquad.render(x[i], coeffs[i][None, :], dtype=np.float64)
                      for i in range(x.shape[0])])
        ctx.save_for_backward(audio, sos)
        ctx.y = y
        return torch.from_numpy(y).to(audio)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        audio, sos = ctx.saved_tensors
        x, coeffs, g, y = _numpy64(audio), _numpy64(sos), _numpy64(grad_out), ctx.y
        grad_x = np.empty_like(x)
        grad_sos = np.zeros_like(coeffs)
        for i in range(x.shape[0]):
            b, a = coeffs[i, :3], np.concatenate([[1.0], coeffs[i, 4:]])
            u = scipy.signal.lfilter([1.0], a, g[i][..., ::-1], axis=-1)[..., ::-1]
            grad_x[i] = scipy.signal.lfilter(b, [1.0], u[..., ::-1], axis=-1)[..., ::-1]
            for k in range(3):
                grad_sos[i, k] = np.sum(u[..., k:] * x[i][..., : x.shape[-1] - k])
            for k in (1, 2):
                grad_sos[i, 3 + k] = -np.sum(u[..., k:] * y[i][..., : y.shape[-1] - k])
        return (torch.from_numpy(grad_x).to(audio) if ctx.needs_input_grad[0] else None,
                torch.from_numpy(grad_sos).to(sos) if ctx.needs_input_grad[1] else None)


def biquad_filter(audio: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
    """Differentiable exact IIR filtering from rest, per example.

    Shape:
        audio: (batch, channels, samples); sos: (batch, sections, 6), or (batch, 6) for one
        section per example. A cascade shared by the whole batch is (1, sections, 6).
        Returns (batch, channels, samples) in the dtype and device of ``audio``.
    """
    sos = sos.reshape(-1, sos.shape[-2] if sos.dim() == 3 else 1, 6)
    sos = sos.expand(audio.shape[0], -1, -1)
    out = audio
    for section in range(sos.shape[1]):
        out = BiquadFunction.apply(out, sos[:, section, :])
    return out


class SmoothFunction(torch.autograd.Function):
    """Attack/release smoothing per example; backward is the adjoint recursion in reverse time."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha_attack: torch.Tensor, alpha_release: torch.Tensor,
                initial: float) -> torch.Tensor:
        xs, a_att, a_rel = _numpy64(x), _numpy64(alpha_attack), _numpy64(alpha_release)
        ys = np.empty_like(xs)
        masks = np.empty(xs.shape, dtype=np.bool_)
        for i in range(xs.shape[0]):
            smoothing.smooth_kernel(xs[i], a_att[i], a_rel[i], initial, ys[i], masks[i])
        ctx.saved = (xs, ys, masks, a_att, a_rel, initial)
        ctx.alpha_dtype = alpha_attack.dtype
        return torch.from_numpy(ys).to(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        xs, ys, masks, a_att, a_rel, initial = ctx.saved
        g = _numpy64(grad_out)
        grad_x = np.empty_like(xs)
        grad_att = np.empty(xs.shape[0])
        grad_rel = np.empty(xs.shape[0])
        for i in range(xs.shape[0]):
            grad_att[i], grad_rel[i] = smoothing.smooth_backward_kernel(
                g[i], xs[i], ys[i], masks[i], a_att[i], a_rel[i], initial, grad_x[i])
        device = grad_out.device
        return (torch.from_numpy(grad_x).to(grad_out),
                torch.from_numpy(grad_att).to(dtype=ctx.alpha_dtype, device=device),
                torch.from_numpy(grad_rel).to(dtype=ctx.alpha_dtype, device=device),
                None)


def smooth(x: torch.Tensor, alpha_attack: torch.Tensor, alpha_release: torch.Tensor,
           initial: float = 0.0) -> torch.Tensor:
    """Differentiable attack/release smoothing (see ``model.dsp.smoothing``).

    Shape: x (batch, samples); alpha_attack, alpha_release (batch,) or scalars → (batch, samples).
    """
    batch = x.shape[0]
    return SmoothFunction.apply(x, torch.as_tensor(alpha_attack).expand(batch),
                                torch.as_tensor(alpha_release).expand(batch), float(initial))
