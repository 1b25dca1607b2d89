"""Attack/release one-pole smoothing (the ballistics of compressors and limiters).

    y[n] = a[n]·y[n−1] + (1 − a[n])·x[n],   a[n] = α_attack if x[n] > y[n−1] else α_release

with α = exp(−1 / (τ·fs)): after a step, y reaches 63 % (1 − 1/e) of the change in τ seconds.
"Attack" is the rising direction of x (e.g. gain reduction in dB growing).

One numba kernel is the forward pass of every face: the renderer calls it on the whole signal,
the streamer calls it per block carrying ``y[n−1]``, and the torch face wraps it in an autograd
function with an analytic backward pass (the adjoint recursion run backwards in time), as
torchcomp does.

References:
    D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range Compressor Design — A Tutorial
    and Analysis", JAES 60(6), 2012 (smooth branching peak detector, eq. 17).
    C.-Y. Yu et al., "Differentiable All-pole Filters for Time-varying Audio Systems", DAFx 2024
    (torchcomp's backward pass).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch


def time_constant_coefficient(time_ms: float, sample_rate_hz: float) -> float:
    """α = exp(−1/(τ·fs)) for a time constant τ in ms (63 % convention); 0 for τ = 0."""
    if time_ms <= 0.0:
        return 0.0
    return math.exp(-1000.0 / (time_ms * sample_rate_hz))


def time_constant_coefficient_torch(time_ms: torch.Tensor, sample_rate_hz: float) -> torch.Tensor:
    """Differentiable α = exp(−1/(τ·fs)). Shape: (...,) → (...,)."""
    return torch.exp(-1000.0 / (time_ms * sample_rate_hz))


@numba.njit(cache=True, nogil=True)
def _smooth(x: np.ndarray, alpha_attack: float, alpha_release: float, initial: float,
            out: np.ndarray, attack_mask: np.ndarray) -> float:
    y = initial
    for n in range(x.shape[0]):
        if x[n] > y:
            a = alpha_attack
            attack_mask[n] = True
        else:
            a = alpha_release
            attack_mask[n] = False
        y = a * y + (1.0 - a) * x[n]
        out[n] = y
    return y


@numba.njit(cache=True, nogil=True)
def _smooth_backward(grad_out: np.ndarray, x: np.ndarray, y: np.ndarray,
                     attack_mask: np.ndarray, alpha_attack: float, alpha_release: float,
                     initial: float, grad_x: np.ndarray) -> tuple[float, float]:
    n_samples = x.shape[0]
    adjoint = 0.0
    next_a = 0.0
    grad_attack = 0.0
    grad_release = 0.0
    for n in range(n_samples - 1, -1, -1):
        adjoint = grad_out[n] + next_a * adjoint
        a = alpha_attack if attack_mask[n] else alpha_release
        grad_x[n] = (1.0 - a) * adjoint
        previous = y[n - 1] if n > 0 else initial
        grad_a = adjoint * (previous - x[n])
        if attack_mask[n]:
            grad_attack += grad_a
        else:
            grad_release += grad_a
        next_a = a
    return grad_attack, grad_release


def smooth(x: np.ndarray, alpha_attack: float, alpha_release: float,
           initial: float = 0.0) -> tuple[np.ndarray, float]:
    """Smooth a whole signal or one block. Shape: (samples,) → (samples,).

    Returns the smoothed signal and the last value (the state for the next block).
    """
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x64)
    mask = np.empty(x64.shape[0], dtype=np.bool_)
    last = _smooth(x64, float(alpha_attack), float(alpha_release), float(initial), out, mask)
    return out, last


class _SmoothFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha_attack: torch.Tensor, alpha_release: torch.Tensor,
                initial: float) -> torch.Tensor:
        xs = x.detach().cpu().double().numpy()
        a_att = alpha_attack.detach().cpu().double().numpy()
        a_rel = alpha_release.detach().cpu().double().numpy()
        ys = np.empty_like(xs)
        masks = np.empty(xs.shape, dtype=np.bool_)
        for i in range(xs.shape[0]):
            _smooth(xs[i], a_att[i], a_rel[i], initial, ys[i], masks[i])
        ctx.saved = (xs, ys, masks, a_att, a_rel, initial)
        ctx.meta = (x.dtype, x.device, alpha_attack.dtype)
        return torch.from_numpy(ys).to(dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        xs, ys, masks, a_att, a_rel, initial = ctx.saved
        dtype, device, alpha_dtype = ctx.meta
        g = grad_out.detach().cpu().double().numpy()
        grad_x = np.empty_like(xs)
        grad_att = np.empty(xs.shape[0])
        grad_rel = np.empty(xs.shape[0])
        for i in range(xs.shape[0]):
            grad_att[i], grad_rel[i] = _smooth_backward(
                np.ascontiguousarray(g[i]), xs[i], ys[i], masks[i], a_att[i], a_rel[i], initial,
                grad_x[i])

        def back(array: np.ndarray, as_dtype: torch.dtype) -> torch.Tensor:
            return torch.from_numpy(array).to(dtype=as_dtype, device=device)

        return back(grad_x, dtype), back(grad_att, alpha_dtype), back(grad_rel, alpha_dtype), None


def smooth_torch(x: torch.Tensor, alpha_attack: torch.Tensor, alpha_release: torch.Tensor,
                 initial: float = 0.0) -> torch.Tensor:
    """Differentiable attack/release smoothing, per example.

    Shape:
        x: (batch, samples); alpha_attack, alpha_release: (batch,). Returns (batch, samples).
    """
    batch = x.shape[0]
    return _SmoothFunction.apply(x, alpha_attack.expand(batch), alpha_release.expand(batch),
                                 float(initial))
