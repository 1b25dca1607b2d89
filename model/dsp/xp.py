"""Array-generic math: one formula serves numpy arrays (renderer, streamer) and torch tensors
(training), without importing torch on the render path.

numpy and torch share the names used here (``sin``, ``cos``, ``sqrt``, ``exp``, ``log10``,
``clip``, ``where``, ``maximum``, ``stack(..., axis=)``), so a formula written against
``namespace(x)`` runs on both.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np


def is_tensor(value: Any) -> bool:
    """True for a torch tensor (checked without importing torch)."""
    return type(value).__module__.split(".")[0] == "torch"


def namespace(*values: Any) -> ModuleType:
    """``torch`` if any value is a tensor, else ``numpy``."""
    if any(is_tensor(v) for v in values):
        return sys.modules["torch"]
    return np


def as_array(value: Any) -> Any:
    """A tensor stays a tensor; anything else becomes a float64 numpy array."""
    return value if is_tensor(value) else np.asarray(value, dtype=np.float64)


def as_arrays(*values: Any) -> tuple[Any, ...]:
    """All values in one namespace: tensors (dtype and device of the first tensor) if any value
    is a tensor, else float64 numpy arrays."""
    tensors = [v for v in values if is_tensor(v)]
    if not tensors:
        return tuple(np.asarray(v, dtype=np.float64) for v in values)
    torch = sys.modules["torch"]
    like = tensors[0]
    return tuple(v if is_tensor(v) else torch.as_tensor(v, dtype=like.dtype, device=like.device)
                 for v in values)
