"""Properties over the whole parameter table (issue 6), checked with hypothesis.

Every example draws every row of ``model.params.TABLE`` within [minimum, maximum] (the edges and
the default drawn on purpose, as well as values in between), random bypass flags, and an input
signal: noise from −60 to +12 dBFS RMS, fully clipped full-scale noise, a sine, silence, a DC
offset or single-sample impulses; stereo, mono, or mono copied to both channels; 0.3 to 1 s at
44.1 or 48 kHz. The properties:

- ``chain.render``: finite, float32, shape (2, N), for any parameters and bypass flags; with the
  limiter enabled, and any trim before it that loudness targeting may choose, the output's true
  peak (``model.dsp.truepeak``, the BS.1770-4 meter the limiter promises to satisfy) is at or
  under the limiter's ceiling;
- ``ChainStreamer`` in odd block sizes equals ``chain.render`` (within −80 dB relative);
- ``chain.forward_torch``: finite output and finite gradients for the parameters and the audio;
- a params document survives ``to_json`` → JSON text → ``from_json`` (and ``ChainParams.load``);
- a value for any row loads exactly when it is a number in the row's range, else ParamsError;
- any JSON document given to ``ChainParams.from_json`` or ``ChainParams.load`` loads validly
  (and then holds exactly the values the document gives, defaults elsewhere) or raises
  ``ParamsError``, never another exception.

The runs are deterministic (``derandomize=True``, no example database). Cases tried: 60 renders
for the finiteness property, 60 for the ceiling, 30 streaming comparisons, 20 torch forward and
backward passes, 100 JSON round trips, 400 single values and 2 × 400 hostile documents, plus the
2 examples these found (a fixed test each): 1472 in all (``CASES_TRIED``).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import chain
from model.dsp import truepeak
from model.errors import ParamsError
from model.params import STAGES, TABLE, ChainParams, ParamSpec, defaults, stage_specs
from model.targeting import MAX_TRIM_DB, MIN_TRIM_DB
from tests.signals import rel_error_db

RATES_HZ = (44100, 48000)
SIGNAL_KINDS = ("noise", "clipped_noise", "sine", "silence", "dc", "impulses")
LAYOUTS = ("stereo", "mono", "mono_as_stereo")

CEILING_TOLERANCE = 1e-9
"""Relative excess over the ceiling allowed in the measurement. The limiter promises the ceiling
itself (model/dsp/limiter.py): it aims 2^-21 (4.8e-7) below it so that float32 rounding of the
output (at most 2.03 · 2^-24 = 1.2e-7 of the ceiling through the interpolator) cannot cross it.
What is left to allow for is the float64 rounding of the meter's 12-tap sums and of 10^(dB/20),
about 1e-15; 1e-9 is far above that and far below the limiter's internal margin."""

TORCH_EXCERPT_S = 0.1
"""The torch face runs on the first 0.1 s of each signal (its saturation stage takes about a
second per 0.3 s of stereo audio forward and backward)."""

STREAM_ERROR_DB = -80.0
"""The design's parity bound between the chain's faces (DESIGN.md §3)."""

EXAMPLES = {"render": 60, "ceiling": 60, "stream": 30, "torch": 20, "round_trip": 100,
            "one_value": 400, "hostile": 400}
FOUND = 2
"""Examples the properties found, kept as fixed tests."""
CASES_TRIED = sum(EXAMPLES.values()) + EXAMPLES["hostile"] + FOUND
"""Examples run by this module (the hostile-document test checks two functions: 2 × 400)."""


def _settings(name: str) -> settings:
    return settings(max_examples=EXAMPLES[name], deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- strategies -----------------------------------------------------------------------------------


def values_of(row: ParamSpec) -> st.SearchStrategy[float]:
    """Any value of a row's range; the minimum, maximum and default on purpose."""
    return st.one_of(st.sampled_from((row.minimum, row.maximum, row.default)),
                     st.floats(row.minimum, row.maximum))


@st.composite
def chain_params(draw: st.DrawFn, limiter_enabled: bool | None = None) -> ChainParams:
    """Every row of the table in range, and random bypass flags (the limiter's can be forced)."""
    values = {stage: {row.name: draw(values_of(row)) for row in stage_specs(stage)}
              for stage in STAGES}
    enabled = {stage: draw(st.booleans()) for stage in STAGES}
    if limiter_enabled is not None:
        enabled["limiter"] = limiter_enabled
    return ChainParams(values, enabled)


def make_signal(kind: str, level_db: float, frames: int, sample_rate_hz: int,
                seed: int) -> np.ndarray:
    """One of ``SIGNAL_KINDS`` as independent channels. Shape: (2, frames) float32.

    ``level_db``: RMS of the noise, peak of the sine, the impulses and the DC offset, in dBFS.
    """
    rng = np.random.default_rng(seed)
    level = 10.0 ** (level_db / 20.0)
    if kind == "noise":
        x = level * rng.standard_normal((2, frames))
    elif kind == "clipped_noise":
        x = np.clip(4.0 * rng.standard_normal((2, frames)), -1.0, 1.0)
    elif kind == "sine":
        freq_hz = math.exp(rng.uniform(math.log(20.0), math.log(0.45 * sample_rate_hz)))
        t = np.arange(frames) / sample_rate_hz
        x = level * np.sin(2 * np.pi * freq_hz * t + rng.uniform(0, 2 * np.pi, (2, 1)))
    elif kind == "silence":
        x = np.zeros((2, frames))
    elif kind == "dc":
        x = np.full((2, frames), level * rng.choice((-1.0, 1.0)))
    else:
        x = np.zeros((2, frames))
        positions = rng.integers(0, frames, (2, 8))
        for channel in range(2):
            x[channel, positions[channel]] = level * rng.choice((-1.0, 1.0), 8)
    return x.astype(np.float32)


@st.composite
def signals(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    """(audio (1 or 2, N) float32, sample rate): 0.3 to 1 s of one of the test signals."""
    rate = draw(st.sampled_from(RATES_HZ))
    frames = draw(st.integers(round(0.3 * rate), rate))
    x = make_signal(draw(st.sampled_from(SIGNAL_KINDS)), draw(st.floats(-60.0, 12.0)), frames,
                    rate, draw(st.integers(0, 2**32 - 1)))
    layout = draw(st.sampled_from(LAYOUTS))
    if layout == "mono":
        return x[:1], rate
    if layout == "mono_as_stereo":
        return np.repeat(x[:1], 2, axis=0), rate
    return x, rate


def true_peak_over_ceiling(audio: np.ndarray, ceiling_dbtp: float) -> float:
    """The BS.1770-4 true peak of the loudest channel relative to the ceiling (linear)."""
    return float(truepeak.true_peak(audio).max()) / 10.0 ** (ceiling_dbtp / 20.0)


# --- the rendered chain ---------------------------------------------------------------------------


@_settings("render")
@given(params=chain_params(), signal=signals())
def test_render_is_finite_stereo_float32_for_any_parameters(params, signal):
    audio, rate = signal
    out = chain.render(audio, rate, params).audio
    assert out.shape == (2, audio.shape[1]) and out.dtype == np.float32
    assert np.all(np.isfinite(out))


@_settings("ceiling")
@given(params=chain_params(limiter_enabled=True), signal=signals(),
       trim_db=st.sampled_from((0.0, MIN_TRIM_DB, MAX_TRIM_DB)) | st.floats(MIN_TRIM_DB,
                                                                          MAX_TRIM_DB))
def test_limiter_enabled_keeps_the_true_peak_under_its_ceiling(params, signal, trim_db):
    audio, rate = signal
    out = chain.render(audio, rate, params, trim_db).audio
    assert np.all(np.isfinite(out))
    ceiling_dbtp = params.values["limiter"]["ceiling_dbtp"]
    assert true_peak_over_ceiling(out, ceiling_dbtp) <= 1.0 + CEILING_TOLERANCE


def test_output_cut_at_the_end_of_the_input_keeps_the_ceiling():
    """The example the ceiling property found: the EQ rings on after the input ends; the
    limiter used to hear that tail and the output, cut where the input ends, went 0.36 % over
    the ceiling there. The limiter now hears silence after the end, as ``render_limiter`` does.
    """
    values = {stage: {row.name: row.minimum for row in stage_specs(stage)} for stage in STAGES}
    enabled = {stage: stage in ("eq", "limiter") for stage in STAGES}
    params = ChainParams(values, enabled)
    audio = (0.5 * np.random.default_rng(0).standard_normal((2, 13230))).astype(np.float32)
    out = chain.render(audio, 44100, params).audio
    assert true_peak_over_ceiling(out, -3.0) <= 1.0 + CEILING_TOLERANCE
    pre = chain.render_stages(audio, 44100, params, chain.PRE_LIMITER_STAGES)
    stage_by_stage = chain.render_limiter(pre.audio, 44100, params).audio
    assert rel_error_db(out, stage_by_stage) < STREAM_ERROR_DB


@_settings("stream")
@given(params=chain_params(), signal=signals(),
       block=st.integers(0, 400).map(lambda k: 10 * k + 7))
def test_streaming_in_odd_blocks_equals_render(params, signal, block):
    audio, rate = signal
    rendered = chain.render(audio, rate, params).audio
    streamer = chain.ChainStreamer(params, rate, audio.shape[0])
    streamer.end_input(audio.shape[1])
    latency = streamer.latency_samples
    padded = np.concatenate([audio, np.zeros((audio.shape[0], latency), np.float32)], axis=1)
    parts = [streamer.process(padded[:, start:start + block])[0]
             for start in range(0, padded.shape[1], block)]
    streamed = np.concatenate(parts, axis=1)[:, latency:]
    assert streamed.shape == rendered.shape
    assert rel_error_db(streamed, rendered) < STREAM_ERROR_DB


@_settings("torch")
@given(params=chain_params(), signal=signals())
def test_torch_face_is_finite_with_finite_gradients(params, signal):
    audio, rate = signal
    excerpt = torch.tensor(audio[:, : round(TORCH_EXCERPT_S * rate)], dtype=torch.float64)[None]
    excerpt.requires_grad_(True)
    tensors = {stage: {name: torch.tensor([value], dtype=torch.float64, requires_grad=True)
                       for name, value in params.stage(stage).items()} for stage in STAGES}
    out, _ = chain.forward_torch(excerpt, tensors, rate, params.enabled)
    assert out.shape == (1, 2, excerpt.shape[2])
    assert torch.isfinite(out).all()
    out.pow(2).mean().backward()
    assert torch.isfinite(excerpt.grad).all()
    for stage in STAGES:
        for name, tensor in tensors[stage].items():
            grad = tensor.grad
            if params.enabled[stage]:
                assert grad is not None and torch.isfinite(grad).all(), f"{stage}.{name}: {grad}"
            else:
                assert grad is None, f"{stage} is bypassed but {name} has a gradient"


# --- params documents -----------------------------------------------------------------------------


@_settings("round_trip")
@given(params=chain_params())
def test_params_survive_the_json_round_trip(params, tmp_path_factory):
    text = json.dumps(params.to_json(), allow_nan=False)
    assert ChainParams.from_json(json.loads(text)) == params
    path = tmp_path_factory.mktemp("params") / "p.json"
    path.write_text(text, encoding="utf-8")
    assert ChainParams.load(path) == params


def test_a_number_too_long_for_python_is_a_params_error(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"schema": 1, "eq": {"peak1_gain_db": ' + "9" * 5000 + "}}")
    with pytest.raises(ParamsError, match="too many digits"):
        ChainParams.load(path)


NUMBERS = (st.floats() | st.integers()
           | st.sampled_from((10**400, -(10**400), 2**63, 1e308, -0.0, True, False)))
JSON_VALUES = st.recursive(
    st.none() | NUMBERS | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=16)


def stage_bodies(stage: str) -> st.SearchStrategy[object]:
    """A stage's object: its own parameter names (and others) with any values."""
    names = [row.name for row in stage_specs(stage)] + ["enabled"]
    body = st.dictionaries(st.sampled_from(names) | st.text(max_size=12), NUMBERS | JSON_VALUES,
                           max_size=6)
    return body | JSON_VALUES


DOCUMENTS = st.builds(
    lambda known, unknown: {**unknown, **known},
    st.fixed_dictionaries({"schema": st.just(1) | JSON_VALUES},
                          optional={stage: stage_bodies(stage) for stage in STAGES}),
    st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2))
"""Documents close enough to a params file to reach every check (right stage and parameter
names, numbers in and out of range, huge integers, NaN, infinities, wrong types, nesting)."""


def check_loaded(doc: object, params: ChainParams) -> None:
    """A document that loaded: every value it gives is held exactly, the rest are defaults."""
    assert isinstance(doc, dict)
    for stage in STAGES:
        body = doc.get(stage, {})
        expected = {**defaults(stage), **{k: v for k, v in body.items() if k != "enabled"}}
        assert params.stage(stage) == expected
        assert params.enabled[stage] is body.get("enabled", True)


def in_range(row: ParamSpec, value: object) -> bool:
    """The table's rule, written independently: a number (not a bool) within [min, max]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return row.minimum <= value <= row.maximum


@st.composite
def rows_and_values(draw: st.DrawFn) -> tuple[ParamSpec, object]:
    """A row of the table and a value for it: in range, near it, or anything JSON can hold."""
    row = draw(st.sampled_from(TABLE))
    span = row.maximum - row.minimum
    value = draw(values_of(row) | st.floats(row.minimum - span, row.maximum + span)
                 | st.integers(math.floor(row.minimum) - 2, math.ceil(row.maximum) + 2)
                 | NUMBERS | JSON_VALUES)
    return row, value


@_settings("one_value")
@given(row_and_value=rows_and_values())
def test_each_value_loads_exactly_when_it_is_a_number_in_range(row_and_value):
    row, value = row_and_value
    doc = {"schema": 1, row.stage: {row.name: value}}
    if in_range(row, value):
        assert ChainParams.from_json(doc).values[row.stage][row.name] == value
        assert ChainParams().replace(row.key, value).values[row.stage][row.name] == value
    else:
        with pytest.raises(ParamsError, match=re.escape(row.key)):
            ChainParams.from_json(doc)


@_settings("hostile")
@given(doc=JSON_VALUES | DOCUMENTS)
def test_any_json_document_loads_validly_or_is_a_params_error(doc, tmp_path_factory):
    try:
        params = ChainParams.from_json(doc)
    except ParamsError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        check_loaded(doc, params)
    path = tmp_path_factory.mktemp("params") / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    try:
        params = ChainParams.load(path)
    except ParamsError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        check_loaded(json.loads(path.read_text(encoding="utf-8")), params)


def test_the_docstring_states_the_number_of_cases():
    assert f"{CASES_TRIED} in all" in __doc__
