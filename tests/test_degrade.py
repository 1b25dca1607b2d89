"""Degradations: exact EQ inverse, width, level, expander curve, logged inverse parameters."""

import numpy as np
import pytest

from model.dsp import compressor, eq
from model.params import TABLE, spec
from model.units import db_to_gain
from tests.signals import music_like
from training import degrade

FS = 44100
SEEDS = range(8)


def physical(units: np.ndarray, mask: np.ndarray, stage: str) -> dict[str, float]:
    """One stage's parameters from known units, table defaults where unknown."""
    values = {}
    for i, row in enumerate(TABLE):
        if row.stage == stage:
            values[row.name] = float(row.from_unit(units[i])) if mask[i] else row.default
    return values


def only(degradation: degrade.Degradation, **changes) -> degrade.Degradation:
    """The degradation with every other part neutral."""
    neutral = {"eq": (), "dynamics": degrade.Dynamics("none"), "width": 1.0, "level_db": 0.0}
    return degrade.Degradation(**(neutral | {k: getattr(degradation, k) for k in changes}
                                  | changes))


@pytest.mark.parametrize("seed", SEEDS)
def test_chain_eq_with_the_inverse_units_undoes_the_eq_degradation(seed: int):
    degradation = degrade.random_degradation(np.random.default_rng(seed))
    audio = music_like(2.0, FS, seed=seed)
    degraded = degrade.apply(audio, FS, only(degradation, eq=degradation.eq))
    units, mask = degrade.inverse_units(degradation)
    restored, _ = eq.render(degraded, physical(units, mask, "eq"), FS)
    error = np.sqrt(np.mean((restored - audio) ** 2) / np.mean(audio ** 2))
    assert 20 * np.log10(error) < -60.0
    assert 20 * np.log10(np.sqrt(np.mean((degraded - audio) ** 2) / np.mean(audio ** 2))) > -40


@pytest.mark.parametrize("seed", SEEDS)
def test_degradation_is_inside_the_table_and_round_trips_through_json(seed: int):
    degradation = degrade.random_degradation(np.random.default_rng(seed))
    assert degrade.Degradation.from_json(degradation.to_json()) == degradation
    assert degradation == degrade.random_degradation(np.random.default_rng(seed))
    bands = [s.band for s in degradation.eq]
    assert bands[0] == "low_shelf" and bands[-1] == "high_shelf"
    assert degradation.eq[0].gain_db == -degradation.eq[-1].gain_db
    for section in degradation.eq:
        for name, value in (("freq_hz", section.freq_hz), ("gain_db", section.gain_db),
                            ("q", section.q)):
            row = spec(f"eq.{section.band}_{name}")
            assert row.minimum <= value <= row.maximum
    assert 0.5 <= degradation.width <= 1.5
    assert -12.0 <= degradation.level_db <= 0.0


def test_every_dynamics_kind_and_peak_slot_is_drawn():
    rng = np.random.default_rng(0)
    drawn = [degrade.random_degradation(rng) for _ in range(60)]
    assert {d.dynamics.kind for d in drawn} == set(degrade.DYNAMICS_KINDS)
    assert {s.band for d in drawn for s in d.eq} == {band for band, _ in eq.BANDS}


def test_width_scales_side_over_mid_exactly_and_keeps_the_mid():
    audio = music_like(1.0, FS)
    out = degrade.scale_width(audio, 0.7)
    mid_in, side_in = (audio[0] + audio[1]) / 2, (audio[0] - audio[1]) / 2
    mid_out, side_out = (out[0] + out[1]) / 2, (out[0] - out[1]) / 2
    np.testing.assert_allclose(mid_out, mid_in, atol=1e-7)
    np.testing.assert_allclose(side_out, 0.7 * side_in, atol=1e-7)


def test_level_is_an_exact_gain():
    audio = music_like(1.0, FS)
    record = degrade.random_degradation(np.random.default_rng(5))
    unity = degrade.Degradation(record.eq, record.dynamics, record.width, 0.0)
    quieter = degrade.Degradation(record.eq, record.dynamics, record.width, -7.5)
    np.testing.assert_allclose(degrade.apply(audio, FS, quieter),
                               degrade.apply(audio, FS, unity) * db_to_gain(-7.5), rtol=1e-6)


@pytest.mark.parametrize("level_db", [-30.0, -20.0, -12.0, -3.0])
def test_expander_static_curve(level_db: float):
    threshold_db, slope = -20.0, 1.4
    dynamics = degrade.Dynamics("exaggerated", threshold_db, slope, 1.0, 50.0, 0.0)
    steady = np.full((2, FS // 2), 10 ** (level_db / 20), dtype=np.float32)
    out = degrade.expand(steady, dynamics, FS)
    expected_db = threshold_db + slope * (level_db - threshold_db) if level_db > threshold_db \
        else level_db
    assert 20 * np.log10(out[0, -1]) == pytest.approx(expected_db, abs=1e-3)


def test_compressor_with_the_inverse_units_undoes_the_expander_curve():
    record = degrade.Degradation((), degrade.Dynamics("exaggerated", -18.0, 1.3, 5.0, 100.0),
                                 1.0, 0.0)
    units, mask = degrade.inverse_units(record)
    params = physical(units, mask, "compressor")
    levels_db = np.linspace(-18.0, 0.0, 19)
    expanded_db = -18.0 + 1.3 * (levels_db + 18.0)
    restored = compressor.static_curve_db(expanded_db, params["threshold_db"], params["ratio"],
                                          params["knee_db"])
    np.testing.assert_allclose(restored, levels_db, atol=1e-5)
    assert params["makeup_db"] == 0.0


def test_known_mask_follows_the_degradation():
    index = {row.key: i for i, row in enumerate(TABLE)}
    shelves = (degrade.EqSection("low_shelf", "low_shelf", 200.0, 3.0, 0.7),
               degrade.EqSection("peak2", "peaking", 500.0, -4.0, 2.0),
               degrade.EqSection("high_shelf", "high_shelf", 4000.0, -3.0, 0.7))
    reduced = degrade.Degradation(shelves, degrade.Dynamics("reduced", -20.0, 3.0), 0.8, -3.0)
    units, mask = degrade.inverse_units(reduced)
    assert not mask[[i for key, i in index.items() if key.startswith("compressor.")]].any()
    for slot in ("peak1", "peak3", "peak4"):
        assert mask[index[f"eq.{slot}_gain_db"]] and not mask[index[f"eq.{slot}_freq_hz"]]
        assert spec(f"eq.{slot}_gain_db").from_unit(units[index[f"eq.{slot}_gain_db"]]) == 0.0
    assert spec("eq.peak2_gain_db").from_unit(units[index["eq.peak2_gain_db"]]) == \
        pytest.approx(4.0)
    assert spec("stereo.width").from_unit(units[index["stereo.width"]]) == pytest.approx(1.25)
    assert mask.sum() == 3 * 3 + 3 + 1
    expanded = degrade.Degradation(shelves, degrade.Dynamics("exaggerated", -20.0, 1.2), 0.8, 0)
    _, mask = degrade.inverse_units(expanded)
    assert mask[index["compressor.threshold_db"]] and mask[index["compressor.ratio"]]
    assert not mask[index["compressor.attack_ms"]]


@pytest.mark.parametrize("seed", SEEDS)
def test_apply_is_eq_then_dynamics_then_width_then_level(seed: int):
    record = degrade.random_degradation(np.random.default_rng(seed))
    audio = music_like(1.0, FS, seed=seed)
    expected, _ = eq.render(audio, degrade.eq_params(record.eq), FS)
    if record.dynamics.kind == "reduced":
        expected, _ = compressor.render(expected, degrade.compressor_params(record.dynamics), FS)
    elif record.dynamics.kind == "exaggerated":
        expected = degrade.expand(expected, record.dynamics, FS)
    expected = degrade.scale_width(expected, record.width) * db_to_gain(record.level_db)
    np.testing.assert_allclose(degrade.apply(audio, FS, record), expected, rtol=1e-6,
                               atol=1e-7)
