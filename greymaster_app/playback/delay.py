"""A whole-sample delay line over blocks."""

from __future__ import annotations

import numpy as np


class DelayLine:
    """Delays rows of samples by ``length`` samples, across blocks of any size.

    Shape: ``process(block)`` (rows, n) → (rows, n) of the same dtype; the first ``length``
    output samples are ``fill``.
    """

    def __init__(self, length: int, rows: int, dtype: type = np.float32, fill: float = 0) -> None:
        if length < 0:
            raise ValueError("a delay cannot be negative")
        self.length = length
        self.fill = fill
        self._held = np.full((rows, length), fill, dtype=dtype)

    def reset(self) -> None:
        self._held[:] = self.fill

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.length == 0:
            return block.copy()
        joined = np.concatenate([self._held, block.astype(self._held.dtype, copy=False)], axis=1)
        n = block.shape[1]
        self._held = joined[:, n:].copy()
        return joined[:, :n]
