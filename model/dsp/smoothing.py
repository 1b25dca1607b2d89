"""Attack/release one-pole smoothing (the ballistics of compressors and limiters).

    y[n] = a[n]·y[n−1] + (1 − a[n])·x[n],   a[n] = α_attack if x[n] > y[n−1] else α_release

with α = exp(−1 / (τ·fs)): after a step, y reaches 63 % (1 − 1/e) of the change in τ seconds.
"Attack" is the rising direction of x (e.g. gain reduction in dB growing).

One numba kernel is the forward pass of every face: the renderer calls it on the whole signal,
the streamer per block carrying ``y[n−1]``, and the torch face (``model.dsp.autograd.smooth``)
wraps it with an analytic backward pass (the adjoint recursion run backwards in time), as
torchcomp does.

References:
    D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range Compressor Design — A Tutorial
    and Analysis", JAES 60(6), 2012 (smooth branching peak detector, eq. 17).
    C.-Y. Yu et al., "Differentiable All-pole Filters for Time-varying Audio Systems", DAFx 2024
    (torchcomp's backward pass).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from model.dsp.xp import as_array, namespace


def time_constant_coefficient(time_ms: Any, sample_rate_hz: float) -> Any:
    """α = exp(−1/(τ·fs)) for a time constant τ in ms (63 % convention); numpy or torch.

    τ = 0 gives α = 0 (instant).
    """
    time_ms = as_array(time_ms)
    xp = namespace(time_ms)
    safe = xp.maximum(time_ms, 1e-12 + 0 * time_ms)
    return xp.where(time_ms > 0, xp.exp(-1000.0 / (safe * sample_rate_hz)), 0 * time_ms)


DENORMAL_FLOOR = 1e-30
"""Smaller magnitudes are flushed to zero: a decay into subnormal floats runs ~7× slower."""


@numba.njit(cache=True, nogil=True)
def smooth_kernel(x: np.ndarray, alpha_attack: float, alpha_release: float, initial: float,
                  out: np.ndarray, attack_mask: np.ndarray) -> float:
    """The recursion over (samples,); writes ``out`` and which samples attacked; returns y[−1]."""
    y = initial
    for n in range(x.shape[0]):
        if x[n] > y:
            a = alpha_attack
            attack_mask[n] = True
        else:
            a = alpha_release
            attack_mask[n] = False
        y = a * y + (1.0 - a) * x[n]
        if -DENORMAL_FLOOR < y < DENORMAL_FLOOR:
            y = 0.0
        out[n] = y
    return y


@numba.njit(cache=True, nogil=True)
def smooth_backward_kernel(grad_out: np.ndarray, x: np.ndarray, y: np.ndarray,
                           attack_mask: np.ndarray, alpha_attack: float, alpha_release: float,
                           initial: float, grad_x: np.ndarray) -> tuple[float, float]:
    """Adjoint of ``smooth_kernel``: λ[n] = g[n] + a[n+1]·λ[n+1]; ∂L/∂x[n] = (1 − a[n])·λ[n];
    ∂L/∂a[n] = λ[n]·(y[n−1] − x[n]), summed per branch. Returns (∂L/∂α_attack, ∂L/∂α_release).
    """
    adjoint = 0.0
    next_a = 0.0
    grad_attack = 0.0
    grad_release = 0.0
    for n in range(x.shape[0] - 1, -1, -1):
        adjoint = grad_out[n] + next_a * adjoint
        a = alpha_attack if attack_mask[n] else alpha_release
        grad_x[n] = (1.0 - a) * adjoint
        previous = y[n - 1] if n > 0 else initial
        if attack_mask[n]:
            grad_attack += adjoint * (previous - x[n])
        else:
            grad_release += adjoint * (previous - x[n])
        next_a = a
    return grad_attack, grad_release


def smooth(x: np.ndarray, alpha_attack: float, alpha_release: float,
           initial: float = 0.0) -> tuple[np.ndarray, float]:
    """Smooth a whole signal or one block. Shape: (samples,) → (samples,) float64.

    Returns the smoothed signal and its last value (the state for the next block).
    """
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x64)
    mask = np.empty(x64.shape[0], dtype=np.bool_)
    last = smooth_kernel(x64, float(alpha_attack), float(alpha_release), float(initial), out,
                         mask)
    return out, last


def smooth_torch(x: Any, alpha_attack: Any, alpha_release: Any, initial: float = 0.0) -> Any:
    """Differentiable smoothing: x (batch, samples); alphas (batch,) → (batch, samples)."""
    from model.dsp import autograd

    return autograd.smooth(x, alpha_attack, alpha_release, initial)
