"""Random, logged "de-mastering" degradations and the chain parameters that undo them.

A degradation is applied in the order EQ → dynamics → width → level:

- EQ: the chain's own six-section layout and RBJ filters (``model.dsp.eq``): a tilt as opposite
  low and high shelves (``TILT_DB`` range), plus bumps or dips in some of the four peak slots
  (each slot used with probability ``PEAK_PROBABILITY``, its frequency drawn in the slot's own
  region so that slot order follows frequency). An RBJ section with gain −G has exactly the
  reciprocal transfer function of the one with +G (same frequency and Q), so the EQ with negated
  gains is the exact inverse.
- Dynamics, one of: ``none``; ``reduced``: ``model.dsp.compressor.render``; ``exaggerated``: the
  upward expander of ``expand`` (above its threshold T the level grows by a slope k > 1), whose
  static curve the compressor with threshold T, ratio k, hard knee and no makeup undoes exactly.
- Width: mid/side, S ← width·S (M = (L+R)/2, S = (L−R)/2), width in 0.5–1.5.
- Level: a gain of −12…0 dB (not a table parameter: loudness targeting undoes it).

``inverse_units`` gives the table's parameters in unit form where the inverse is known:
every EQ gain (0 dB for unused peaks), the frequency and Q of used sections, the compressor's
threshold, ratio, knee and makeup for ``exaggerated`` dynamics, and ``stereo.width`` = 1/width.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Literal

import numba
import numpy as np

from model.dsp import biquad, compressor, eq, smoothing
from model.params import TABLE, spec
from model.units import db_to_gain

DynamicsKind = Literal["none", "reduced", "exaggerated"]

PEAK_SLOTS: tuple[str, ...] = ("peak1", "peak2", "peak3", "peak4")
PEAK_REGIONS_HZ: tuple[tuple[float, float], ...] = (
    (30.0, 250.0), (150.0, 1200.0), (800.0, 5000.0), (3000.0, 16000.0))
"""Frequency region of each peak slot (overlapping, ascending; inside the table's range)."""
PEAK_PROBABILITY = 0.5
PEAK_GAIN_DB = (-6.0, 6.0)
PEAK_Q = (0.5, 4.0)
TILT_DB = (-6.0, 6.0)
"""Low-shelf gain; the high shelf gets the opposite gain."""
LOW_SHELF_HZ = (80.0, 400.0)
HIGH_SHELF_HZ = (2000.0, 8000.0)
SHELF_Q = (0.5, 1.0)
WIDTH = (0.5, 1.5)
LEVEL_DB = (-12.0, 0.0)
DYNAMICS_KINDS: tuple[DynamicsKind, ...] = ("none", "reduced", "exaggerated")
COMPRESSOR_THRESHOLD_DB = (-30.0, -10.0)
COMPRESSOR_RATIO = (1.5, 6.0)
EXPANDER_THRESHOLD_DB = (-24.0, -6.0)
EXPANDER_SLOPE = (1.1, 1.5)
"""With the threshold at −24 dB or above, a full-scale peak gains at most (1.5 − 1)·24 = 12 dB."""
ATTACK_MS = (1.0, 20.0)
RELEASE_MS = (50.0, 300.0)
KNEE_DB = (0.0, 6.0)
_TINY = compressor.TINY
"""Added to the expander's detector peak before the log (the compressor's floor)."""


@dataclass(frozen=True)
class EqSection:
    """One section of the degradation's EQ, at its slot of the chain's EQ layout."""

    band: str
    kind: Literal["low_shelf", "peaking", "high_shelf"]
    freq_hz: float
    gain_db: float
    q: float


@dataclass(frozen=True)
class Dynamics:
    """The dynamics change. ``reduced``: compressor threshold, ratio, attack, release, knee.
    ``exaggerated``: expander threshold, ``ratio`` = slope k (output dB per input dB above the
    threshold), attack and release of its gain, ``knee_db`` = 0. ``none``: neutral values."""

    kind: DynamicsKind
    threshold_db: float = 0.0
    ratio: float = 1.0
    attack_ms: float = 10.0
    release_ms: float = 150.0
    knee_db: float = 0.0


@dataclass(frozen=True)
class Degradation:
    """A logged degradation: EQ sections (shelves always, peaks where used), dynamics, width
    factor and level change."""

    eq: tuple[EqSection, ...]
    dynamics: Dynamics
    width: float
    level_db: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Degradation:
        doc = json.loads(text)
        return cls(tuple(EqSection(**section) for section in doc["eq"]),
                   Dynamics(**doc["dynamics"]), float(doc["width"]), float(doc["level_db"]))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def random_degradation(rng: np.random.Generator) -> Degradation:
    """Draw a degradation (every value inside the parameter table's ranges)."""
    tilt_db = _uniform(rng, TILT_DB)
    sections = [EqSection("low_shelf", "low_shelf", _log_uniform(rng, LOW_SHELF_HZ), tilt_db,
                          _uniform(rng, SHELF_Q))]
    for slot, region in zip(PEAK_SLOTS, PEAK_REGIONS_HZ, strict=True):
        if rng.random() < PEAK_PROBABILITY:
            sections.append(EqSection(slot, "peaking", _log_uniform(rng, region),
                                      _uniform(rng, PEAK_GAIN_DB), _log_uniform(rng, PEAK_Q)))
    sections.append(EqSection("high_shelf", "high_shelf", _log_uniform(rng, HIGH_SHELF_HZ),
                              -tilt_db, _uniform(rng, SHELF_Q)))
    kind = DYNAMICS_KINDS[int(rng.integers(len(DYNAMICS_KINDS)))]
    if kind == "reduced":
        dynamics = Dynamics(kind, _uniform(rng, COMPRESSOR_THRESHOLD_DB),
                            _log_uniform(rng, COMPRESSOR_RATIO), _log_uniform(rng, ATTACK_MS),
                            _log_uniform(rng, RELEASE_MS), _uniform(rng, KNEE_DB))
    elif kind == "exaggerated":
        dynamics = Dynamics(kind, _uniform(rng, EXPANDER_THRESHOLD_DB),
                            _uniform(rng, EXPANDER_SLOPE), _log_uniform(rng, ATTACK_MS),
                            _log_uniform(rng, RELEASE_MS), 0.0)
    else:
        dynamics = Dynamics(kind)
    return Degradation(tuple(sections), dynamics, _uniform(rng, WIDTH), _uniform(rng, LEVEL_DB))


def eq_params(sections: tuple[EqSection, ...], gain_sign: float = 1.0) -> dict[str, float]:
    """The chain EQ's parameters for these sections (gains times ``gain_sign``); slots without
    a section are 0 dB at the table's default frequency and Q (an exact identity section)."""
    params = {row.name: row.default for row in TABLE if row.stage == "eq"}
    for section in sections:
        params[f"{section.band}_freq_hz"] = section.freq_hz
        params[f"{section.band}_gain_db"] = gain_sign * section.gain_db
        params[f"{section.band}_q"] = section.q
    return params


@numba.njit(cache=True, nogil=True)
def _expand(audio: np.ndarray, threshold_db: float, slope: float, alpha_attack: float,
            alpha_release: float, out: np.ndarray) -> None:
    """Upward expander over (channels, samples), stereo-linked, gain smoothed in dB from 0."""
    gain_db = 0.0
    for n in range(audio.shape[1]):
        peak = 0.0
        for c in range(audio.shape[0]):
            peak = max(peak, abs(audio[c, n]))
        level_db = 20.0 * math.log10(peak + _TINY)
        target_db = max(0.0, (slope - 1.0) * (level_db - threshold_db))
        alpha = alpha_attack if target_db > gain_db else alpha_release
        gain_db = alpha * gain_db + (1.0 - alpha) * target_db
        gain = 10.0 ** (gain_db / 20.0)
        for c in range(audio.shape[0]):
            out[c, n] = audio[c, n] * gain


def expand(audio: np.ndarray, dynamics: Dynamics, sample_rate_hz: float) -> np.ndarray:
    """Upward expansion above a threshold: the mirror of the compressor.

    Per sample: detector x_dB = 20·log10(max_c |x| + 1e-12); static gain
    G = max(0, (k − 1)·(x_dB − T)) dB, so that above T the output level is T + k·(x_dB − T);
    G smoothed in dB by the smoothing module's recursion (attack while G rises), from 0 dB.

    Shape: (channels, samples) float32 → (channels, samples) float32.
    """
    alpha_attack = float(smoothing.time_constant_coefficient(dynamics.attack_ms, sample_rate_hz))
    alpha_release = float(smoothing.time_constant_coefficient(dynamics.release_ms,
                                                              sample_rate_hz))
    out = np.empty_like(audio, dtype=np.float32)
    _expand(np.ascontiguousarray(audio, dtype=np.float32), dynamics.threshold_db,
            dynamics.ratio, alpha_attack, alpha_release, out)
    return out


def compressor_params(dynamics: Dynamics) -> dict[str, float]:
    """The compressor's table parameters of a ``reduced`` (or, as inverse, ``exaggerated``)
    dynamics record, makeup 0 dB."""
    return {"threshold_db": dynamics.threshold_db, "ratio": dynamics.ratio,
            "attack_ms": dynamics.attack_ms, "release_ms": dynamics.release_ms,
            "knee_db": dynamics.knee_db, "makeup_db": 0.0}


def scale_width(audio: np.ndarray, width: float) -> np.ndarray:
    """S ← width·S with M = (L+R)/2, S = (L−R)/2; L = M + S, R = M − S. Shape: (2, N) → (2, N)."""
    mid = 0.5 * (audio[0] + audio[1])
    side = (0.5 * width) * (audio[0] - audio[1])
    return np.stack([mid + side, mid - side]).astype(np.float32)


def _render_eq(audio: np.ndarray, sections: tuple[EqSection, ...],
               sample_rate_hz: float) -> np.ndarray:
    """``eq.render`` with ``eq_params(sections)``, skipping the 0 dB slots: a 0 dB RBJ section
    has numerator = denominator and passes every sample through bit-exactly, so the output is
    the same and the cascade is shorter."""
    params = eq_params(sections)
    used = [i for i, (band, _) in enumerate(eq.BANDS) if params[f"{band}_gain_db"] != 0.0]
    return biquad.render(audio, eq.sections(params, sample_rate_hz)[used])


def apply(audio: np.ndarray, sample_rate_hz: float, degradation: Degradation) -> np.ndarray:
    """Degrade a stereo signal: EQ → dynamics → width → level, each from rest.

    Shape: (2, N) float32 → (2, N) float32.
    """
    out = _render_eq(np.ascontiguousarray(audio, dtype=np.float32), degradation.eq,
                     sample_rate_hz)
    if degradation.dynamics.kind == "reduced":
        out, _ = compressor.render(out, compressor_params(degradation.dynamics), sample_rate_hz)
    elif degradation.dynamics.kind == "exaggerated":
        out = expand(out, degradation.dynamics, sample_rate_hz)
    out = scale_width(out, degradation.width)
    return (out * np.float32(db_to_gain(degradation.level_db))).astype(np.float32)


_INDEX = {row.key: i for i, row in enumerate(TABLE)}


def inverse_units(degradation: Degradation) -> tuple[np.ndarray, np.ndarray]:
    """The table parameters that undo the degradation, where the table can express them.

    Returns:
        known_units (P,) float32 in TABLE order (0–1 via each ParamSpec.to_unit; 0 where
        unknown) and known_mask (P,) bool.
    """
    units = np.zeros(len(TABLE), dtype=np.float32)
    mask = np.zeros(len(TABLE), dtype=bool)

    def know(key: str, value: float) -> None:
        row = spec(key)
        if row.minimum <= value <= row.maximum:
            units[_INDEX[key]] = row.to_unit(value)
            mask[_INDEX[key]] = True

    for slot in PEAK_SLOTS:
        know(f"eq.{slot}_gain_db", 0.0)
    for section in degradation.eq:
        know(f"eq.{section.band}_freq_hz", section.freq_hz)
        know(f"eq.{section.band}_gain_db", -section.gain_db)
        know(f"eq.{section.band}_q", section.q)
    if degradation.dynamics.kind == "exaggerated":
        know("compressor.threshold_db", degradation.dynamics.threshold_db)
        know("compressor.ratio", degradation.dynamics.ratio)
        know("compressor.knee_db", 0.0)
        know("compressor.makeup_db", 0.0)
    know("stereo.width", 1.0 / degradation.width)
    return units, mask
