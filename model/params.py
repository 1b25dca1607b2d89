"""The one parameter table of the mastering chain, and the validated parameter set.

Every parameter of every stage is declared here once, with its unit, range, default, scale and a
one-line description. Everything else (predictor heads, GUI knobs, the params JSON schema, the CLI
listing) derives from this table: there is no second copy of a range anywhere.

A params file is JSON: ``{"schema": 1, "<stage>": {"enabled": true, "<name>": value, ...}, ...}``.
Validation is strict: an unknown stage or name, a value of the wrong type or out of range is a
``ParamsError`` naming the parameter and its range; a missing value takes its default.

Besides its knobs, the neural residual stage takes the track's latent z (the proposer's
``Proposal.latent``, ``LATENT_DIM`` floats) as its conditioning: ``ChainParams.latent``, stored in
the file as ``"residual": {..., "latent": [...]}``. It is not a knob (no table row); absent, the
residual is conditioned on zeros.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from model.errors import ParamsError

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 1 << 20
"""A params file is a few kB; anything over this is refused before it is read."""

Scale = Literal["linear", "log"]


@dataclass(frozen=True)
class ParamSpec:
    """One knob of one stage, in physical units.

    ``to_unit`` / ``from_unit`` map between the physical value and the 0–1 range the predictor
    heads and the GUI knobs work in (log scale: uniform in log of the value). Both accept floats,
    numpy arrays and torch tensors.
    """

    stage: str
    name: str
    unit: str
    minimum: float
    maximum: float
    default: float
    scale: Scale
    description: str
    off_at_minimum: bool = False
    """The minimum switches the stage's function off (the GUI then shows "off")."""

    def __post_init__(self) -> None:
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(f"{self.key}: default outside its range")
        if self.scale == "log" and self.minimum <= 0:
            raise ValueError(f"{self.key}: a log-scaled parameter needs a positive minimum")

    @property
    def key(self) -> str:
        """``stage.name``, the name used on the command line and in messages."""
        return f"{self.stage}.{self.name}"

    def to_unit(self, value: Any) -> Any:
        """Physical value → 0–1 (same type as the input)."""
        if self.scale == "log":
            lo, hi = math.log(self.minimum), math.log(self.maximum)
            return (_log(value) - lo) / (hi - lo)
        return (value - self.minimum) / (self.maximum - self.minimum)

    def from_unit(self, unit_value: Any) -> Any:
        """0–1 → physical value (same type as the input)."""
        if self.scale == "log":
            lo, hi = math.log(self.minimum), math.log(self.maximum)
            return _exp(lo + unit_value * (hi - lo))
        return self.minimum + unit_value * (self.maximum - self.minimum)

    def range_text(self) -> str:
        """Human-readable range, e.g. ``-40 … 0 dB``."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.minimum:g} … {self.maximum:g}{unit}"


def _log(value: Any) -> Any:
    return value.log() if hasattr(value, "log") else _np().log(value)


def _exp(value: Any) -> Any:
    return value.exp() if hasattr(value, "exp") else _np().exp(value)


def _np() -> Any:
    import numpy

    return numpy


def _p(stage: str, name: str, unit: str, lo: float, hi: float, default: float, scale: Scale,
       description: str, off_at_minimum: bool = False) -> ParamSpec:
    return ParamSpec(stage, name, unit, lo, hi, default, scale, description, off_at_minimum)


def _eq_band(prefix: str, label: str, f_lo: float, f_hi: float, f_default: float,
             q_lo: float, q_hi: float, q_default: float) -> list[ParamSpec]:
    return [
        _p("eq", f"{prefix}_freq_hz", "Hz", f_lo, f_hi, f_default, "log",
           f"{label}: centre or corner frequency"),
        _p("eq", f"{prefix}_gain_db", "dB", -12.0, 12.0, 0.0, "linear",
           f"{label}: boost (+) or cut (−)"),
        _p("eq", f"{prefix}_q", "", q_lo, q_hi, q_default, "log",
           f"{label}: quality factor (higher is narrower)"),
    ]


STAGES: tuple[str, ...] = ("eq", "compressor", "saturation", "stereo", "residual", "limiter")
"""The chain's stages, in signal order (the residual before the limiter, so the true-peak ceiling
holds whatever it adds)."""

LATENT_DIM = 512
"""Length of the latent z that conditions the neural residual (the proposer's latent)."""

STAGE_TITLES: dict[str, str] = {
    "eq": "Parametric EQ",
    "compressor": "Compressor",
    "saturation": "Saturation",
    "stereo": "Stereo imager",
    "residual": "Neural residual",
    "limiter": "True-peak limiter",
}

TABLE: tuple[ParamSpec, ...] = (
    *_eq_band("low_shelf", "Low shelf", 20.0, 1000.0, 100.0, 0.3, 2.0, 0.707),
    *_eq_band("peak1", "Peak 1", 20.0, 20000.0, 200.0, 0.1, 10.0, 1.0),
    *_eq_band("peak2", "Peak 2", 20.0, 20000.0, 800.0, 0.1, 10.0, 1.0),
    *_eq_band("peak3", "Peak 3", 20.0, 20000.0, 3000.0, 0.1, 10.0, 1.0),
    *_eq_band("peak4", "Peak 4", 20.0, 20000.0, 8000.0, 0.1, 10.0, 1.0),
    *_eq_band("high_shelf", "High shelf", 1000.0, 20000.0, 10000.0, 0.3, 2.0, 0.707),
    _p("compressor", "threshold_db", "dB", -40.0, 0.0, -18.0, "linear",
       "Level above which the gain is reduced"),
    _p("compressor", "ratio", ":1", 1.0, 20.0, 2.0, "log",
       "Input dB change per output dB change above the threshold"),
    _p("compressor", "attack_ms", "ms", 0.1, 30.0, 10.0, "log",
       "Time for the gain reduction to reach 63 % of a step increase"),
    _p("compressor", "release_ms", "ms", 10.0, 500.0, 150.0, "log",
       "Time for the gain reduction to recover 63 % after a step decrease"),
    _p("compressor", "knee_db", "dB", 0.0, 12.0, 6.0, "linear",
       "Width of the soft knee around the threshold (0 = hard knee)"),
    _p("compressor", "makeup_db", "dB", 0.0, 24.0, 0.0, "linear",
       "Gain added after compression"),
    _p("saturation", "drive_db", "dB", 0.0, 24.0, 3.0, "linear",
       "Gain into the waveshaper (output level compensated)"),
    _p("saturation", "hardness", "", 0.0, 1.0, 0.0, "linear",
       "Blend from soft (tanh) to hard clipping curve, level-matched"),
    _p("saturation", "mix", "", 0.0, 1.0, 0.25, "linear",
       "Wet/dry blend (0 = dry, 1 = fully saturated)"),
    _p("saturation", "bias", "FS", -0.1, 0.1, 0.0, "linear",
       "Offset into the waveshaper for even harmonics (resulting DC removed)"),
    _p("stereo", "width", "", 0.0, 2.0, 1.0, "linear",
       "Side level: 0 = mono, 1 = unchanged, 2 = twice as wide"),
    _p("stereo", "bass_mono_hz", "Hz", 20.0, 500.0, 120.0, "log",
       "Below this crossover frequency the side signal is removed (mono bass; 20 Hz = off)",
       off_at_minimum=True),
    _p("stereo", "upmix_low_width", "", 0.0, 1.0, 0.0, "linear",
       "Decorrelated width added below 300 Hz (mono-to-stereo upmix)"),
    _p("stereo", "upmix_mid_width", "", 0.0, 1.0, 0.0, "linear",
       "Decorrelated width added between 300 Hz and 3 kHz (mono-to-stereo upmix)"),
    _p("stereo", "upmix_high_width", "", 0.0, 1.0, 0.0, "linear",
       "Decorrelated width added above 3 kHz (mono-to-stereo upmix)"),
    _p("residual", "amount", "", 0.0, 1.0, 0.0, "linear",
       "Blend of the neural residual path into the signal (0 = pure grey-box chain)"),
    _p("limiter", "threshold_db", "dB", -12.0, 0.0, 0.0, "linear",
       "Input drive: the limiter adds −threshold dB of gain before limiting"),
    _p("limiter", "ceiling_dbtp", "dBTP", -3.0, -0.1, -1.0, "linear",
       "Maximum true-peak level of the output"),
    _p("limiter", "release_ms", "ms", 1.0, 100.0, 30.0, "log",
       "Time for the gain reduction to recover 63 % after a peak"),
    _p("limiter", "lookahead_ms", "ms", 0.0, 5.0, 2.0, "linear",
       "How early the gain starts to fall before a peak (adds to the output delay)"),
)


def stage_specs(stage: str) -> tuple[ParamSpec, ...]:
    """The table's rows for one stage, in declaration order."""
    if stage not in STAGES:
        raise KeyError(stage)
    return tuple(spec for spec in TABLE if spec.stage == stage)


def spec(key: str) -> ParamSpec:
    """Look up ``stage.name``; a ``ParamsError`` listing the valid names if unknown."""
    for row in TABLE:
        if row.key == key:
            return row
    raise ParamsError(f"unknown parameter {key!r} (see `greymaster params` for the list)")


def defaults(stage: str) -> dict[str, float]:
    """The table's default values for one stage."""
    return {s.name: s.default for s in stage_specs(stage)}


@dataclass(frozen=True)
class ChainParams:
    """A complete, validated set of parameters for the chain.

    ``values[stage][name]`` holds physical values for every parameter of the table;
    ``enabled[stage]`` says whether the stage runs (False = bypassed); ``latent`` is the neural
    residual's conditioning z (``LATENT_DIM`` finite floats), None for zeros.
    """

    values: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {stage: defaults(stage) for stage in STAGES})
    enabled: Mapping[str, bool] = field(
        default_factory=lambda: dict.fromkeys(STAGES, True))
    latent: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for stage in STAGES:
            if set(self.values[stage]) != {s.name for s in stage_specs(stage)}:
                raise ParamsError(f"stage '{stage}' needs exactly the parameters of the table")
            for row in stage_specs(stage):
                _check_range(row, self.values[stage][row.name])
        if self.latent is not None:
            object.__setattr__(self, "latent", _check_latent(self.latent))

    def stage(self, stage: str) -> dict[str, float]:
        """A copy of one stage's values."""
        return dict(self.values[stage])

    def stage_inputs(self, stage: str) -> dict[str, Any]:
        """What a stage module's ``render`` / ``Streamer`` take: the stage's values, plus
        ``latent`` for the residual stage when one is set."""
        inputs: dict[str, Any] = self.stage(stage)
        if stage == "residual" and self.latent is not None:
            inputs["latent"] = self.latent
        return inputs

    def with_latent(self, latent: Any) -> ChainParams:
        """A copy with the residual's conditioning z (``LATENT_DIM`` floats, or None)."""
        return ChainParams({s: dict(v) for s, v in self.values.items()}, dict(self.enabled),
                           None if latent is None else _check_latent(latent))

    def units(self) -> list[float]:
        """Every value in its row's 0–1 units (``ParamSpec.to_unit``), in TABLE order: the
        layout the proposer's heads and the training targets use."""
        return [row.to_unit(self.values[row.stage][row.name]) for row in TABLE]

    def replace(self, key: str, value: float) -> ChainParams:
        """A copy with ``stage.name`` set to ``value`` (validated)."""
        row = spec(key)
        values = {stage: dict(v) for stage, v in self.values.items()}
        values[row.stage][row.name] = _check_range(row, value)
        return ChainParams(values, dict(self.enabled), self.latent)

    def with_enabled(self, stage: str, enabled: bool) -> ChainParams:
        """A copy with one stage switched on or off."""
        if stage not in STAGES:
            raise ParamsError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
        flags = dict(self.enabled)
        flags[stage] = bool(enabled)
        return ChainParams({s: dict(v) for s, v in self.values.items()}, flags, self.latent)

    def to_json(self) -> dict[str, Any]:
        """The params-file document (schema 1); the latent, when set, under "residual"."""
        doc: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for stage in STAGES:
            doc[stage] = {"enabled": bool(self.enabled[stage]), **self.stage(stage)}
        if self.latent is not None:
            doc["residual"]["latent"] = list(self.latent)
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> ChainParams:
        """Validate a params document; missing stages or values take their defaults."""
        if not isinstance(doc, dict):
            raise ParamsError("params must be a JSON object like {\"schema\": 1, \"eq\": {...}}")
        schema = doc.get("schema")
        if schema != SCHEMA_VERSION:
            raise ParamsError(
                f"params schema {schema!r} is not supported (this version reads schema "
                f"{SCHEMA_VERSION}; put \"schema\": {SCHEMA_VERSION} in the file)")
        values = {stage: defaults(stage) for stage in STAGES}
        enabled = dict.fromkeys(STAGES, True)
        latent = None
        for stage, body in doc.items():
            if stage == "schema":
                continue
            if stage not in STAGES:
                raise ParamsError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
            if not isinstance(body, dict):
                raise ParamsError(f"'{stage}' must be an object of parameter values")
            for name, value in body.items():
                if name == "enabled":
                    if not isinstance(value, bool):
                        raise ParamsError(f"{stage}.enabled must be true or false")
                    enabled[stage] = value
                    continue
                if stage == "residual" and name == "latent":
                    latent = _check_latent(value)
                    continue
                row = spec(f"{stage}.{name}")
                values[stage][name] = _check_range(row, value)
        return cls(values, enabled, latent)

    @classmethod
    def load(cls, path: str | Path) -> ChainParams:
        """Read and validate a params file; ``ParamsError`` on any problem."""
        try:
            size = Path(path).stat().st_size
            if size > MAX_FILE_BYTES:
                raise ParamsError(f"{path} is {size} bytes: too large for a params file "
                                  f"(at most {MAX_FILE_BYTES} bytes)")
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ParamsError(f"params file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ParamsError(f"cannot read params file {path}: {exc}") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParamsError(
                f"params file {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        except ValueError:
            raise ParamsError(f"params file {path} holds a number with too many digits to be a "
                              "parameter value") from None
        except RecursionError:
            raise ParamsError(f"params file {path} is nested too deeply to be a params "
                              "file") from None
        return cls.from_json(doc)


def _check_latent(latent: Any) -> tuple[float, ...]:
    """A latent as a tuple of ``LATENT_DIM`` finite floats; ``ParamsError`` otherwise."""
    if isinstance(latent, str | bytes | Mapping) or not hasattr(latent, "__len__"):
        raise ParamsError(f"residual.latent must be a list of {LATENT_DIM} numbers")
    if len(latent) != LATENT_DIM:
        raise ParamsError(f"residual.latent has {len(latent)} numbers, needs {LATENT_DIM} (save "
                          "the params again from an analysis)")
    values = []
    for value in latent:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            raise ParamsError(f"residual.latent must hold finite numbers, got {value!r}")
        values.append(float(value))
    return tuple(values)


def _check_range(row: ParamSpec, value: Any) -> float:
    """The value as a float if it is a number (not a bool) in the row's range; NaN, infinities
    and integers too large for a float are compared exactly and fail the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParamsError(f"{row.key} must be a number in {row.range_text()}, got {value!r}")
    if not row.minimum <= value <= row.maximum:
        raise ParamsError(f"{row.key} = {value!r} is outside its range {row.range_text()}")
    return float(value)
