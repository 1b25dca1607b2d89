"""Co-mastering: the free knobs re-proposed around the knobs the engineer locked.

The heads see the locks as inputs, but one network trained on independent degradations learns
little from them. This module adds what the training data says directly: how the network's
errors on different knobs go together. Over the training split, with e = known − proposed (the
degradation's inverse minus the plain proposal, unit values in TABLE order), the second moments

    S_ij = mean of e_i · e_j over the items where both i and j are known

form the coupling (P, P); knobs never known (saturation, limiter, ...) have zero rows. For a set
L of locked knobs and the free rest F, a lock tells the network's error on its knob,
e_L = locked − proposed, and the free knobs move by its least-squares prediction

    Δ_F = S_FL (S_LL + λ·diag(S_LL) + ε·I)⁻¹ e_L

(the conditional mean of a zero-mean Gaussian error with covariance S; λ = ``RIDGE`` shrinks it
towards no change). Locking the true low shelf of a tilt, for example, moves the high shelf
towards the opposite gain. With nothing locked, or a coupling of zeros, nothing changes.

Reference: C. M. Bishop, "Pattern Recognition and Machine Learning", Springer 2006, §2.3.1
(conditional Gaussian distributions).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

RIDGE = 0.1
"""λ: the locked knobs' error variances are inflated by this fraction before solving."""
EPSILON = 1e-6
"""ε: keeps the solve defined for locked knobs that were never known in training."""


def second_moments(errors: np.ndarray, known: np.ndarray) -> np.ndarray:
    """S_ij = mean of e_i·e_j over the items where both are known (0 where no item knows both).

    Shape: errors (N, P), known (N, P) bool → (P, P) float32.
    """
    weights = known.astype(np.float64)
    products = (errors * weights).T @ (errors * weights)
    counts = weights.T @ weights
    return np.divide(products, counts, out=np.zeros_like(products),
                     where=counts > 0).astype(np.float32)


def condition(proposed: Tensor, lock_units: Tensor, lock_mask: Tensor,
              coupling: Tensor) -> Tensor:
    """The free knobs moved by the locked knobs' errors (module docstring); the locked entries
    are returned as proposed (the caller puts the locks in).

    Shape: proposed, lock_units (B, P) unit values; lock_mask (B, P) bool; coupling (P, P)
    → (B, P), clamped to 0–1.
    """
    rows = []
    for values, locks, mask in zip(proposed, lock_units, lock_mask, strict=True):
        locked = mask.nonzero().squeeze(1)
        free = (~mask).nonzero().squeeze(1)
        if locked.numel() == 0 or free.numel() == 0:
            rows.append(values)
            continue
        s_ll = coupling[locked][:, locked]
        system = s_ll + torch.diag(RIDGE * torch.diagonal(s_ll) + EPSILON)
        error = (locks[locked] - values[locked]).to(coupling.dtype)
        shift = coupling[free][:, locked] @ torch.linalg.solve(system, error)
        rows.append(values.index_add(0, free, shift.to(values.dtype)))
    return torch.stack(rows).clamp(0.0, 1.0)
