"""Parametric EQ: low shelf, four peaking bands and a high shelf, as a cascade of RBJ biquads.

Each band of the table (``low_shelf``, ``peak1`` … ``peak4``, ``high_shelf``) has
``<band>_freq_hz`` (centre or corner frequency), ``<band>_gain_db`` (±12 dB) and ``<band>_q``.
Band b is one RBJ cookbook section (``biquad.low_shelf``, ``biquad.peaking``,
``biquad.high_shelf``; shelves have their corner at the midpoint gain), and the EQ is the
cascade in table order::

    H(z) = Π_b (b0 + b1 z⁻¹ + b2 z⁻²) / (1 + a1 z⁻¹ + a2 z⁻²)

Frequencies above 0.45·fs are clamped there by ``biquad`` (so a 10 kHz shelf at 8 kHz acts at
3.6 kHz). With every gain at 0 dB each section's numerator equals its denominator and the EQ is
transparent. The stage keeps the channel count, has no latency and no meters.

``sections`` gives the (6, 6) sos from the same formulas on floats (renderer, streamer, the
app's curve via ``response_db``) and on tensors (training, differentiable w.r.t. every knob).
All three faces filter with the shared exact IIR kernel of ``biquad``.

References:
    R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients" (W3C Audio EQ
    Cookbook).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from model.dsp import biquad
from model.dsp.xp import as_arrays, namespace
from model.params import stage_specs

BANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("low_shelf", biquad.low_shelf),
    ("peak1", biquad.peaking),
    ("peak2", biquad.peaking),
    ("peak3", biquad.peaking),
    ("peak4", biquad.peaking),
    ("high_shelf", biquad.high_shelf),
)
"""The bands in cascade order, each with its RBJ design function."""

NAMES: tuple[str, ...] = tuple(spec.name for spec in stage_specs("eq"))
"""The stage's parameter names, from the table."""


def _check_names(params: Mapping[str, Any]) -> None:
    """``KeyError`` unless ``params`` has exactly the table's EQ names."""
    missing = sorted(set(NAMES) - set(params))
    unknown = sorted(set(params) - set(NAMES))
    if missing or unknown:
        raise KeyError(f"eq parameters: missing {missing}, unknown {unknown}")


def sections(params: Mapping[str, Any], sample_rate_hz: float) -> Any:
    """The EQ's biquads, one row per band in cascade order.

    Shape:
        params: names → floats, numpy arrays or tensors of a common broadcast shape (...,).
        Returns sos (..., 6, 6): numpy float64 for non-tensor params, else a torch tensor
        (differentiable w.r.t. every parameter).

    Args:
        params: exactly the table's EQ names, physical units.
        sample_rate_hz: the sample rate the coefficients are for.
    """
    _check_names(params)
    values = dict(zip(NAMES, as_arrays(*(params[name] for name in NAMES)), strict=True))
    common = sum(value * 0 for value in values.values())  # zeros of the broadcast shape
    rows = [design(values[f"{band}_freq_hz"] + common, values[f"{band}_gain_db"] + common,
                   values[f"{band}_q"] + common, sample_rate_hz)
            for band, design in BANDS]
    return namespace(*rows).stack(rows, axis=-2)


def response_db(params: Mapping[str, Any], freqs_hz: Any, sample_rate_hz: float) -> np.ndarray:
    """Magnitude response of the cascade, 20·log10 |H(e^jω)|, ω = 2π f / fs.

    Shape:
        params: names → floats or numpy arrays (...,); freqs_hz (F,).
        Returns float64 (..., F).
    """
    sos = np.asarray(sections(params, sample_rate_hz))[..., None]  # (..., 6, 6, 1)
    z1 = np.exp(-2j * math.pi * np.asarray(freqs_hz, dtype=np.float64) / sample_rate_hz)
    num = sos[..., 0, :] + sos[..., 1, :] * z1 + sos[..., 2, :] * z1 ** 2
    den = sos[..., 3, :] + sos[..., 4, :] * z1 + sos[..., 5, :] * z1 ** 2
    return 20.0 * np.log10(np.abs(np.prod(num / den, axis=-2)))


def render(audio: np.ndarray, params: Mapping[str, float],
           sample_rate_hz: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Whole-track EQ from rest.

    Shape: audio float32 (channels, samples) → (float32 (channels, samples), {}).
    """
    return biquad.render(audio, sections(params, sample_rate_hz)), {}


class Streamer:
    """The EQ over blocks, carrying the filter state between calls (no latency).

    Shape: ``process(block)`` takes float32 (channels, n) and returns (float32 (channels, n), {}).
    """

    latency_samples = 0

    def __init__(self, params: Mapping[str, float], sample_rate_hz: float,
                 channels: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._filter = biquad.Streamer(sections(params, sample_rate_hz), channels)

    def reset(self) -> None:
        self._filter.reset()

    def set_params(self, params: Mapping[str, float]) -> None:
        """New coefficients from the next block on; the filter state is kept."""
        self._filter.set_sos(sections(params, self.sample_rate_hz))

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        return self._filter.process(block), {}


def forward_torch(audio: Any, params: Mapping[str, Any],
                  sample_rate_hz: float) -> tuple[Any, dict[str, Any]]:
    """Differentiable EQ, per-example parameters (exact IIR, the renderer's kernel).

    Shape:
        audio: tensor (batch, channels, samples); params: names → tensors (batch,) or scalars.
        Returns (tensor (batch, channels, samples) in audio's dtype, {}).
    """
    import torch

    _check_names(params)
    batch = audio.shape[0]
    per_example = {name: torch.as_tensor(params[name]).to(torch.float64).expand(batch)
                   for name in NAMES}
    sos = sections(per_example, sample_rate_hz)  # (batch, 6, 6), float64 coefficients
    return biquad.filter_torch(audio, sos), {}
