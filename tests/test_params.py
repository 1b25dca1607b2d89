"""The parameter table and params-file validation."""

import json

import numpy as np
import pytest
import torch

from model import params
from model.errors import ParamsError


def test_every_stage_has_rows_and_keys_are_unique():
    keys = [row.key for row in params.TABLE]
    assert len(keys) == len(set(keys))
    for stage in params.STAGES:
        assert params.stage_specs(stage)


def test_eq_has_shelves_and_four_peaks_with_the_issue_ranges():
    names = {row.name for row in params.stage_specs("eq")}
    for band in ("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf"):
        assert {f"{band}_freq_hz", f"{band}_gain_db", f"{band}_q"} <= names
        gain = params.spec(f"eq.{band}_gain_db")
        assert (gain.minimum, gain.maximum) == (-12.0, 12.0)


@pytest.mark.parametrize("row", params.TABLE, ids=lambda r: r.key)
def test_unit_mapping_round_trips_for_floats_arrays_and_tensors(row):
    units = np.linspace(0.0, 1.0, 11)
    physical = row.from_unit(units)
    assert physical[0] == pytest.approx(row.minimum) and physical[-1] == pytest.approx(row.maximum)
    np.testing.assert_allclose(row.to_unit(physical), units, atol=1e-12)
    tensor = row.from_unit(torch.tensor(units))
    np.testing.assert_allclose(tensor.numpy(), physical, rtol=1e-12)
    assert row.to_unit(row.default) == pytest.approx(row.to_unit(np.float64(row.default)))


def test_json_round_trip_and_missing_values_take_defaults():
    doc = {"schema": 1, "compressor": {"ratio": 4.0, "enabled": False}}
    chain = params.ChainParams.from_json(doc)
    assert chain.values["compressor"]["ratio"] == 4.0
    assert chain.enabled["compressor"] is False
    assert chain.values["eq"] == params.defaults("eq")
    again = params.ChainParams.from_json(json.loads(json.dumps(chain.to_json())))
    assert again == chain


@pytest.mark.parametrize(("doc", "message"), [
    ({"schema": 1, "compressor": {"ratio": 40}}, "compressor.ratio = 40 is outside its range 1"),
    ({"schema": 1, "compressor": {"ratios": 2}}, "unknown parameter 'compressor.ratios'"),
    ({"schema": 1, "reverb": {}}, "unknown stage 'reverb'"),
    ({"schema": 2}, "schema 2 is not supported"),
    ({"compressor": {}}, "schema None is not supported"),
    ({"schema": 1, "eq": {"peak1_gain_db": "loud"}}, "eq.peak1_gain_db must be a number"),
    ({"schema": 1, "eq": {"enabled": 1}}, "eq.enabled must be true or false"),
    ({"schema": 1, "limiter": {"release_ms": float("nan")}}, "limiter.release_ms = nan"),
    ([1, 2], "params must be a JSON object"),
])
def test_bad_documents_name_the_problem(doc, message):
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        params.ChainParams.from_json(doc)


def test_load_reports_bad_json_with_its_line(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"schema": 1,\n "eq": {,}}')
    with pytest.raises(ParamsError, match="not valid JSON \\(line 2"):
        params.ChainParams.load(path)
    with pytest.raises(ParamsError, match="not found"):
        params.ChainParams.load(tmp_path / "missing.json")


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"schema": 1, "eq": {"low_shelf_gain_db": 1e400}}', "outside its range"),
    ('{"schema": 1, "compressor": {"ratio": NaN}}', "outside its range"),
    (" " * (params.MAX_FILE_BYTES + 1), "too large"),
    (b"\xff\xfe\x00garbage", "cannot read"),
])
def test_hostile_files_are_refused_with_a_message(tmp_path, text, message):
    path = tmp_path / "p.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ParamsError, match=message):
        params.ChainParams.load(path)


def test_units_follow_the_table_order_and_invert():
    chosen = params.ChainParams().replace("compressor.ratio", 20.0).replace("eq.peak1_gain_db", -6)
    units = chosen.units()
    keys = [row.key for row in params.TABLE]
    assert len(units) == len(keys)
    assert units[keys.index("compressor.ratio")] == pytest.approx(1.0)
    assert units[keys.index("eq.peak1_gain_db")] == pytest.approx(0.25)  # −6 in −12 … 12
    for row, unit in zip(params.TABLE, units, strict=True):
        assert row.from_unit(unit) == pytest.approx(chosen.values[row.stage][row.name])


def test_the_residual_stage_sits_before_the_limiter_and_its_amount_is_off_by_default():
    assert params.STAGES.index("residual") == params.STAGES.index("limiter") - 1
    amount = params.spec("residual.amount")
    assert (amount.minimum, amount.maximum, amount.default) == (0.0, 1.0, 0.0)
    assert params.ChainParams().latent is None


def test_the_latent_round_trips_through_json_and_survives_edits():
    z = [float(v) for v in np.random.default_rng(0).normal(size=params.LATENT_DIM)]
    chain = params.ChainParams().with_latent(np.asarray(z, dtype=np.float32))
    assert chain.latent == tuple(float(v) for v in np.asarray(z, dtype=np.float32))
    doc = json.loads(json.dumps(chain.to_json()))
    assert len(doc["residual"]["latent"]) == params.LATENT_DIM
    assert params.ChainParams.from_json(doc) == chain
    edited = chain.replace("residual.amount", 0.5).with_enabled("eq", False)
    assert edited.latent == chain.latent
    assert edited.stage_inputs("residual") == {"amount": 0.5, "latent": chain.latent}
    assert edited.stage("residual") == {"amount": 0.5}
    assert "latent" not in params.ChainParams().to_json()["residual"]
    assert chain.with_latent(None) == params.ChainParams()


@pytest.mark.parametrize(("latent", "message"), [
    ([0.0] * 3, "has 3 numbers, needs 512"),
    ("zeros", "must be a list of 512 numbers"),
    ([0.0] * 511 + [float("inf")], "finite numbers"),
    ([0.0] * 511 + ["x"], "finite numbers"),
    ([0.0] * 511 + [True], "finite numbers"),
])
def test_a_bad_latent_is_a_params_error(latent, message):
    with pytest.raises(ParamsError, match=message):
        params.ChainParams.from_json({"schema": 1, "residual": {"latent": latent}})


@pytest.mark.parametrize("doc", [{"schema": 1, "\n": None}, {"schema": 1, "eq": {"a\nb": 1.0}}])
def test_unknown_names_with_line_breaks_stay_on_one_line(doc):
    """Found by tests/test_properties.py: a stage named "\\n" broke the one-line message."""
    with pytest.raises(params.ParamsError) as error:
        params.ChainParams.from_json(doc)
    assert "\n" not in str(error.value)
