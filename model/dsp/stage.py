"""The contract every stage module of the chain fulfils (DESIGN.md §3: one definition, two speeds).

A stage module (``model/dsp/<stage>.py``) defines, over the same math:

``forward_torch(audio, params, sample_rate_hz) -> (audio_out, meters)``
    Differentiable. ``audio``: tensor (batch, channels, samples); ``params``: the stage's table
    names → tensors (batch,) in physical units; returns a tensor (batch, channels_out, samples)
    and a dict of meter tensors.

``render(audio, params, sample_rate_hz) -> (audio_out, meters)``
    Fast whole-track renderer. ``audio``: float32 array (channels, samples); ``params``: names →
    floats; returns float32 (channels_out, samples) and a dict of meter arrays / floats.

``Streamer(params, sample_rate_hz, channels)``
    Block-streaming processor with explicit state: ``process(block) -> (block_out, meters)``,
    ``reset()``, ``set_params(params)``, and ``latency_samples`` (its delay; 0 for most stages).
    Per-sample meter arrays are aligned with the streamer's output. A stage whose meters are
    scalars per block also offers ``summary_meters()``: the same meters over everything
    processed since the last reset.

Parity: streaming in any block sizes equals ``render``, and both equal ``forward_torch``,
within −80 dB of error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

Meters = dict[str, np.ndarray | float]


class Streamer(Protocol):
    """Block-streaming face of a stage (see the module docstring)."""

    latency_samples: int

    def process(self, block: np.ndarray) -> tuple[np.ndarray, Meters]: ...

    def reset(self) -> None: ...

    def set_params(self, params: Mapping[str, float]) -> None: ...
