"""Level conversions, one definition for every module (floats, numpy arrays or torch tensors)."""

from __future__ import annotations

import math
from typing import Any


def db_to_gain(level_db: Any) -> Any:
    """Decibels → linear amplitude factor, 10^(dB/20); same type as the input."""
    return 10.0 ** (level_db / 20.0)


def gain_to_db(gain: float) -> float:
    """Linear amplitude → decibels, 20·log10(gain); −inf for silence (gain ≤ 0)."""
    return 20.0 * math.log10(gain) if gain > 0.0 else -math.inf
