"""Spectral matching: fit the chain's EQ and stereo width so that a track's long-term spectrum
takes the shape of a target spectrum (a reference track's, or one the proposer predicts).

The long-term spectrum is the mean power of the mid and the side over the whole track (Hann
frames of ``FFT_SIZE``, half overlap), summed into ``BANDS_PER_OCTAVE`` bands from
``LOWEST_BAND_HZ`` to ``HIGHEST_BAND_HZ``, in dB. The chain's EQ acts on left and right alike, so
it adds its response e(f) (dB) to mid and side; the width w scales the side. With the source
spectra M(f), S(f) and the target's T_M(f), T_S(f), ``fit`` minimises over the EQ's unlocked
knobs (in the table's 0–1 units, so every range is the table's own)::

    Σ_f [M + e + k − T_M]² + SIDE_WEIGHT · Σ_f∈side bands [S + e + k + W − T_S]²
        + (GAIN_PULL · gain_dB)² per EQ gain

where k (overall level: loudness targeting sets it later) and W = 20·log10(w) take their least-
squares values at every step (W held in the table's width range, or at a locked width's value).
Side bands are those above ``SIDE_FROM_HZ`` (below, mono bass decides the side) where the side
is within ``SIDE_FLOOR_DB`` of the mid in both spectra (a near-mono side says nothing about
width). The fit starts from the given EQ and from the flat EQ, keeps the better, and
leaves every other parameter as it was.

This is the principle of Matchering's and the commercial assistants' "match EQ" (average
spectra of mid and side), but with the chain's six parametric sections, so the result stays a
set of knobs an engineer can read and change.

References:
    P. D. Welch, "The use of fast Fourier transform for the estimation of power spectra",
    IEEE Trans. Audio Electroacoustics 15(2), 1967.
    S. Grachev, Matchering 2.0 (github.com/sergree/matchering): reference-based mid/side
    spectrum matching.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from model.dsp import eq
from model.params import TABLE, ChainParams, spec
from model.units import db_to_gain, gain_to_db

FFT_SIZE = 16384
BANDS_PER_OCTAVE = 6
LOWEST_BAND_HZ = 30.0
HIGHEST_BAND_HZ = 16000.0
SIDE_FROM_HZ = 150.0
SIDE_FLOOR_DB = 30.0
SIDE_WEIGHT = 0.5
GAIN_PULL = 0.1
"""Residual per dB of EQ gain: a 6 dB section costs as much as 0.6 dB of misfit in one band."""
MIN_WIDTH = 1e-3
"""Width floor for its dB value (the table's width reaches 0, whose dB is −inf)."""
POWER_FLOOR = 1e-12
FRAMES_PER_BATCH = 256

_EQ_KEYS: tuple[str, ...] = tuple(row.key for row in TABLE if row.stage == "eq")


@dataclass(frozen=True)
class Spectrum:
    """Long-term band spectra in dB. Shape: mid_db, side_db (B,) at ``band_centres_hz()``."""

    mid_db: np.ndarray
    side_db: np.ndarray


def band_edges_hz() -> np.ndarray:
    """Edges of the fractional-octave bands. Shape: (B + 1,)."""
    octaves = np.log2(HIGHEST_BAND_HZ / LOWEST_BAND_HZ)
    count = round(float(octaves) * BANDS_PER_OCTAVE)
    return LOWEST_BAND_HZ * 2.0 ** (np.arange(count + 1) / BANDS_PER_OCTAVE)


def band_centres_hz() -> np.ndarray:
    """Geometric centres of the bands. Shape: (B,)."""
    edges = band_edges_hz()
    return np.sqrt(edges[:-1] * edges[1:])


def long_term_spectrum(audio: np.ndarray, sample_rate_hz: float) -> Spectrum:
    """Mean power of mid (L+R)/2 and side (L−R)/2 per band, in dB (a mono track has a silent
    side). Tracks shorter than ``FFT_SIZE`` are zero-padded to one frame.

    Shape: audio (channels, N) → Spectrum of (B,) each.
    """
    x = np.asarray(audio, dtype=np.float64)
    mid = x.mean(axis=0) if x.shape[0] > 1 else x[0]
    side = 0.5 * (x[0] - x[1]) if x.shape[0] > 1 else np.zeros_like(mid)
    powers = [_mean_power(signal) for signal in (mid, side)]
    freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / sample_rate_hz)
    edges = band_edges_hz()
    band = np.searchsorted(edges, freqs, side="right") - 1
    inside = (band >= 0) & (band < edges.size - 1)
    counts = np.bincount(band[inside], minlength=edges.size - 1)
    mid_db, side_db = (
        10.0 * np.log10(np.bincount(band[inside], p[inside], edges.size - 1)
                        / np.maximum(counts, 1) + POWER_FLOOR)
        for p in powers)
    return Spectrum(mid_db, side_db)


def _mean_power(signal: np.ndarray) -> np.ndarray:
    """Welch's mean |FFT|² over Hann frames with half overlap. Shape: (N,) → (FFT_SIZE/2 + 1,)."""
    hop = FFT_SIZE // 2
    if signal.size < FFT_SIZE:
        signal = np.pad(signal, (0, FFT_SIZE - signal.size))
    window = np.hanning(FFT_SIZE)
    starts = np.arange(0, signal.size - FFT_SIZE + 1, hop)
    total = np.zeros(FFT_SIZE // 2 + 1)
    for first in range(0, starts.size, FRAMES_PER_BATCH):
        frames = np.stack([signal[s:s + FFT_SIZE] for s in starts[first:first + FRAMES_PER_BATCH]])
        total += (np.abs(np.fft.rfft(frames * window, axis=1)) ** 2).sum(axis=0)
    return total / (starts.size * np.sum(window ** 2))


def side_mask(source: Spectrum, target: Spectrum) -> np.ndarray:
    """The bands whose side counts in the fit (see the module doc). Shape: (B,) bool."""
    return ((band_centres_hz() >= SIDE_FROM_HZ)
            & (source.side_db > source.mid_db - SIDE_FLOOR_DB)
            & (target.side_db > target.mid_db - SIDE_FLOOR_DB))


class _Problem:
    """The least-squares problem of ``fit`` over the free EQ knobs (unit values)."""

    def __init__(self, params: ChainParams, source: Spectrum, target: Spectrum,
                 locked: Collection[str], sample_rate_hz: float) -> None:
        self.params = params
        self.free = [key for key in _EQ_KEYS if key not in locked]
        self.freqs_hz = band_centres_hz()
        self.sample_rate_hz = sample_rate_hz
        self.mid_gap = target.mid_db - source.mid_db
        self.side = side_mask(source, target)
        self.side_gap = (target.side_db - source.side_db)[self.side]
        width = spec("stereo.width")
        self.width_db_bounds = (gain_to_db(max(width.minimum, MIN_WIDTH)),
                                gain_to_db(width.maximum))
        self.width_locked = "stereo.width" in locked

    def eq_values(self, units: np.ndarray) -> dict[str, float]:
        values = self.params.stage("eq")
        for key, unit in zip(self.free, units, strict=True):
            row = spec(key)
            values[row.name] = float(np.clip(row.from_unit(float(unit)), row.minimum,
                                             row.maximum))
        return values

    def solve_level_and_width(self, response_db: np.ndarray) -> tuple[float, float]:
        """Least-squares k and W for an EQ response (W fixed at the locked width's value)."""
        mid_miss = self.mid_gap - response_db
        side_miss = self.side_gap - response_db[self.side]
        if self.width_locked or not self.side.any():
            width_db = gain_to_db(max(self.params.values["stereo"]["width"], MIN_WIDTH))
        else:
            # Alternate the two closed forms: they converge in a few rounds (a 2×2 system with
            # a bound on W).
            width_db = 0.0
            for _ in range(8):
                level_db = self._level(mid_miss, side_miss - width_db)
                width_db = float(np.clip(np.mean(side_miss - level_db), *self.width_db_bounds))
        return self._level(mid_miss, side_miss - width_db), width_db

    @staticmethod
    def _level(mid_miss: np.ndarray, side_miss: np.ndarray) -> float:
        total = mid_miss.sum() + SIDE_WEIGHT * side_miss.sum()
        return float(total / (mid_miss.size + SIDE_WEIGHT * side_miss.size))

    def residuals(self, units: np.ndarray) -> np.ndarray:
        values = self.eq_values(units)
        response = eq.response_db(values, self.freqs_hz, self.sample_rate_hz)
        level_db, width_db = self.solve_level_and_width(response)
        gains = np.array([values[f"{band}_gain_db"] for band, _ in eq.BANDS])
        return np.concatenate([
            response + level_db - self.mid_gap,
            np.sqrt(SIDE_WEIGHT) * (response[self.side] + level_db + width_db - self.side_gap),
            GAIN_PULL * gains])


def fit(params: ChainParams, source: Spectrum, target: Spectrum, sample_rate_hz: float,
        locked: Collection[str] = ()) -> ChainParams:
    """``params`` with the EQ and ``stereo.width`` fitted so that the source's spectrum, through
    them, matches the target's shape (see the module doc); keys in ``locked`` keep their values.
    """
    problem = _Problem(params, source, target, locked, sample_rate_hz)
    best_units = np.array([])
    if problem.free:
        results = []
        for start in (params, ChainParams()):
            units = dict(zip((row.key for row in TABLE), start.units(), strict=True))
            x0 = np.array([units[key] for key in problem.free])
            results.append(scipy.optimize.least_squares(
                problem.residuals, x0, bounds=(0.0, 1.0), x_scale=0.1, max_nfev=400))
        best_units = min(results, key=lambda result: result.cost).x
    values = problem.eq_values(best_units)
    fitted = params
    for name, value in values.items():
        fitted = fitted.replace(f"eq.{name}", value)
    if not problem.width_locked:
        response = eq.response_db(values, problem.freqs_hz, sample_rate_hz)
        _, width_db = problem.solve_level_and_width(response)
        width = spec("stereo.width")
        fitted = fitted.replace("stereo.width", float(np.clip(db_to_gain(width_db),
                                                              width.minimum, width.maximum)))
    return fitted

