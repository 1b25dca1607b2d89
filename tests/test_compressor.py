"""Compressor: static curve and time constants against their definitions, faces in parity,
no dead knobs, any rate and channel count."""

import math

import numpy as np
import pytest
import torch

from model.dsp import compressor
from model.params import defaults, stage_specs
from tests.signals import music_like, rel_error_db

FS = 48000.0
ACTIVE = {"threshold_db": -24.0, "ratio": 4.0, "attack_ms": 2.0, "release_ms": 60.0,
          "knee_db": 6.0, "makeup_db": 6.0}
"""An operating point where every knob acts on ``music_like`` (peaks at −6 dBFS)."""


def expected_output_db(level_db: float, threshold_db: float, ratio: float,
                       knee_db: float) -> float:
    """Giannoulis, Massberg & Reiss 2012, eq. 4, written out independently of the module."""
    over_db = level_db - threshold_db
    if knee_db > 0 and abs(over_db) <= knee_db / 2:
        return level_db + (1 / ratio - 1) * (over_db + knee_db / 2) ** 2 / (2 * knee_db)
    if over_db > 0:
        return threshold_db + over_db / ratio
    return level_db


def gain_db(audio_in: np.ndarray, audio_out: np.ndarray) -> np.ndarray:
    """The gain each sample received, from the audio itself. Shape: (C, N) → (N,)."""
    return 20 * np.log10(np.abs(audio_out[0].astype(np.float64)) / np.abs(audio_in[0]))


# --- static curve -------------------------------------------------------------------------

CURVES = [(-20.0, 4.0, 6.0), (-30.0, 10.0, 12.0), (-10.0, 2.0, 0.0), (-40.0, 20.0, 3.0),
          (0.0, 20.0, 12.0)]


@pytest.mark.parametrize(("threshold_db", "ratio", "knee_db"), CURVES)
def test_static_curve_equals_the_formula(threshold_db, ratio, knee_db):
    levels = np.linspace(-80.0, 10.0, 901)
    expected = [expected_output_db(x, threshold_db, ratio, knee_db) for x in levels]
    ours = compressor.static_curve_db(levels, threshold_db, ratio, knee_db)
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    ours_torch = compressor.static_curve_db(torch.from_numpy(levels), threshold_db, ratio,
                                            knee_db)
    np.testing.assert_allclose(ours_torch.numpy(), expected, atol=1e-12)


def test_hard_knee_has_finite_gradients_at_the_threshold():
    level = torch.tensor([-20.0, -20.0 + 1e-9, -21.0, -19.0], dtype=torch.float64,
                         requires_grad=True)
    knobs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (-20.0, 4.0, 0.0)]
    compressor.static_curve_db(level, *knobs).sum().backward()
    for grad in [level.grad, *(k.grad for k in knobs)]:
        assert torch.all(torch.isfinite(grad))


@pytest.mark.parametrize(("threshold_db", "ratio", "knee_db"), CURVES)
def test_steady_state_sines_follow_the_static_curve(threshold_db, ratio, knee_db):
    # Level = the sine's peak in dBFS (the detector is a peak detector). 1 kHz at 48 kHz puts a
    # sample on every crest. Attack 0.1 ms and release 500 ms (the table's extremes) let the
    # smoothed gain reduction settle to the crest's; the output peak is read after 0.25 s.
    params = {"threshold_db": threshold_db, "ratio": ratio, "attack_ms": 0.1,
              "release_ms": 500.0, "knee_db": knee_db, "makeup_db": 0.0}
    t = np.arange(round(0.3 * FS)) / FS
    errors = []
    for level_dbfs in np.arange(-60.0, 0.1, 1.0):
        x = np.tile((10 ** (level_dbfs / 20) * np.sin(2 * np.pi * 1000.0 * t)), (2, 1))
        y, _ = compressor.render(x.astype(np.float32), params, FS)
        out_peak_db = 20 * np.log10(np.max(np.abs(y[:, round(0.25 * FS):])))
        errors.append(out_peak_db - expected_output_db(level_dbfs, threshold_db, ratio,
                                                       knee_db))
    assert np.max(np.abs(errors)) < 0.1


def test_makeup_adds_its_gain_and_ratio_one_is_transparent():
    x = music_like(0.2, FS)
    params = {**ACTIVE, "ratio": 1.0, "makeup_db": 7.5}
    y, meters = compressor.render(x, params, FS)
    np.testing.assert_allclose(y, x * 10 ** (7.5 / 20), rtol=1e-6, atol=1e-9)
    assert np.all(meters["gain_reduction_db"] == 0.0)


# --- time constants -----------------------------------------------------------------------

def crossing_time_ms(gain: np.ndarray, step_index: int, end_index: int,
                     rate_hz: float) -> float:
    """Time after a step for the gain to cover 63 % of its change (settled at ``end_index``).

    Sample ``step_index + k`` is taken as (k + 1)/fs after the step, as in the one-pole's
    definition (y[k] − y[−1] = (1 − α^(k+1))·(x − y[−1])).
    """
    start, final = gain[step_index - 1], gain[end_index - 1]
    covered = (gain[step_index:end_index] - start) / (final - start)
    return (np.argmax(covered >= 1 - math.exp(-1)) + 1) / rate_hz * 1000


@pytest.mark.parametrize(("attack_ms", "release_ms"), [(0.5, 10.0), (5.0, 100.0),
                                                       (30.0, 500.0), (0.1, 250.0)])
def test_gain_reaches_63_percent_in_attack_and_release_time(attack_ms, release_ms):
    # Hard knee: −40 dBFS is below the threshold (no reduction), −6 dBFS about 14 dB above it.
    params = {"threshold_db": -20.0, "ratio": 8.0, "attack_ms": attack_ms,
              "release_ms": release_ms, "knee_db": 0.0, "makeup_db": 0.0}
    rate_hz = 192000.0 if attack_ms < 0.5 else FS
    hold_s = 12 * max(attack_ms, release_ms) / 1000
    parts = [round(0.01 * rate_hz), round(hold_s * rate_hz), round(hold_s * rate_hz)]
    x = np.tile(np.concatenate([np.full(parts[0], 0.01), np.full(parts[1], 0.5),
                                np.full(parts[2], 0.01)]).astype(np.float32), (2, 1))
    y, _ = compressor.render(x, params, rate_hz)
    gain = gain_db(x, y)
    settled_db = expected_output_db(20 * np.log10(0.5), -20.0, 8.0, 0.0) - 20 * np.log10(0.5)
    assert gain[parts[0] + parts[1] - 1] == pytest.approx(settled_db, abs=1e-4)
    attack = crossing_time_ms(gain, parts[0], parts[0] + parts[1], rate_hz)
    release = crossing_time_ms(gain, parts[0] + parts[1], sum(parts), rate_hz)
    assert attack == pytest.approx(attack_ms, rel=0.1)
    assert release == pytest.approx(release_ms, rel=0.1)


def test_gain_reduction_meter_is_the_applied_gain():
    x = music_like(0.3, FS)
    y, meters = compressor.render(x, ACTIVE, FS)
    meter = meters["gain_reduction_db"]
    assert meter.dtype == np.float32 and meter.shape == (x.shape[1],)
    assert meter.min() >= 0 and meter.max() > 3
    loud = np.abs(x[0]) > 1e-3
    applied = ACTIVE["makeup_db"] - gain_db(x, y)
    np.testing.assert_allclose(meter[loud], applied[loud], atol=1e-4)


def test_stereo_link_applies_one_gain_to_both_channels():
    x = music_like(0.3, FS)
    x[1] *= 0.05
    y, _ = compressor.render(x, ACTIVE, FS)
    np.testing.assert_allclose(y[1] / x[1], y[0] / x[0], rtol=1e-5)  # music_like has no zeros
    mono, _ = compressor.render(x[:1], ACTIVE, FS)
    np.testing.assert_array_equal(mono[0], y[0])


# --- parity of the three faces -------------------------------------------------------------

@pytest.mark.parametrize("block", [1, 7, 512, 4096])
def test_streamer_equals_render(block):
    x = music_like(0.05 if block == 1 else 0.5, FS)
    whole, whole_meters = compressor.render(x, ACTIVE, FS)
    streamer = compressor.Streamer(ACTIVE, FS, channels=2)
    assert streamer.latency_samples == 0
    outs, meters = [], []
    for start in range(0, x.shape[1], block):
        out, meter = streamer.process(x[:, start:start + block])
        outs.append(out)
        meters.append(meter["gain_reduction_db"])
    assert rel_error_db(np.concatenate(outs, axis=1), whole) < -80
    assert rel_error_db(np.concatenate(meters), whole_meters["gain_reduction_db"]) < -80


def test_streamer_reset_and_set_params():
    x = music_like(1.0, FS)
    split = round(0.2 * FS)
    other = {**ACTIVE, "ratio": 10.0, "release_ms": 20.0}
    streamer = compressor.Streamer(ACTIVE, FS, channels=2)
    streamer.process(x[:, :split])
    streamer.reset()
    first, _ = streamer.process(x[:, :split])
    np.testing.assert_array_equal(first, compressor.render(x[:, :split], ACTIVE, FS)[0])
    streamer.set_params(other)
    second, _ = streamer.process(x[:, split:])
    whole_other, _ = compressor.render(x, other, FS)
    # The state carried over from the old parameters fades: the end equals the new render.
    tail = round(0.2 * FS)
    assert rel_error_db(second[:, -tail:], whole_other[:, -tail:]) < -80
    assert rel_error_db(second[:, :tail], whole_other[:, split:split + tail]) > -80
    with pytest.raises(ValueError, match="shape"):
        streamer.process(x[:1, :100])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_face_equals_render(dtype):
    x = music_like(0.3, FS)
    params = {name: torch.tensor([value], dtype=dtype) for name, value in ACTIVE.items()}
    out, meters = compressor.forward_torch(torch.from_numpy(x)[None].to(dtype), params, FS)
    expected, expected_meters = compressor.render(x, ACTIVE, FS)
    assert rel_error_db(out[0].numpy(), expected) < -80
    assert rel_error_db(meters["gain_reduction_db"][0].numpy(),
                        expected_meters["gain_reduction_db"]) < -80


def test_torch_face_batches_per_example_parameters():
    x = music_like(0.1, FS)
    other = {**ACTIVE, "threshold_db": -12.0, "knee_db": 0.0}
    params = {name: torch.tensor([ACTIVE[name], other[name]], dtype=torch.float64)
              for name in ACTIVE}
    out, _ = compressor.forward_torch(torch.from_numpy(x).double().expand(2, -1, -1), params, FS)
    for i, p in enumerate((ACTIVE, other)):
        assert rel_error_db(out[i].numpy(), compressor.render(x, p, FS)[0]) < -80


def test_torch_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    x = torch.from_numpy(0.3 * rng.standard_normal((1, 2, 64)))
    x.requires_grad_(True)
    names = list(ACTIVE)
    values = [torch.tensor([ACTIVE[n]], dtype=torch.float64, requires_grad=True) for n in names]

    def run(audio, *knobs):
        return compressor.forward_torch(audio, dict(zip(names, knobs, strict=True)), FS)[0]

    assert torch.autograd.gradcheck(run, (x, *values), eps=1e-7, atol=1e-5, rtol=1e-4)


# --- no dead knobs ---------------------------------------------------------------------------

def test_render_takes_exactly_the_table_names():
    assert set(ACTIVE) == {spec.name for spec in stage_specs("compressor")}
    x = music_like(0.1, FS)
    y, _ = compressor.render(x, defaults("compressor"), FS)
    assert y.shape == x.shape and y.dtype == np.float32


@pytest.mark.parametrize("name", list(ACTIVE))
def test_every_knob_changes_the_output(name):
    x = music_like(0.5, FS)
    spec = next(s for s in stage_specs("compressor") if s.name == name)
    step = 0.05 * (spec.maximum - spec.minimum)
    nudged = {**ACTIVE, name: ACTIVE[name] + step}
    base, _ = compressor.render(x, ACTIVE, FS)
    moved, _ = compressor.render(x, nudged, FS)
    assert rel_error_db(moved, base) > -90  # far above float32 rounding (about −140 dB)


def test_every_knob_has_a_finite_nonzero_gradient():
    x = torch.from_numpy(music_like(0.3, FS))[None].double()
    params = {name: torch.tensor([value], dtype=torch.float64, requires_grad=True)
              for name, value in ACTIVE.items()}
    out, meters = compressor.forward_torch(x, params, FS)
    (out.square().mean() + meters["gain_reduction_db"].mean()).backward()
    for name, value in params.items():
        assert torch.isfinite(value.grad).all() and value.grad.abs().item() > 0, name
    hard = {**params, "knee_db": torch.zeros(1, dtype=torch.float64, requires_grad=True)}
    compressor.forward_torch(x, hard, FS)[0].square().mean().backward()
    assert torch.isfinite(hard["knee_db"].grad).all()


# --- rates, channels, internals --------------------------------------------------------------

@pytest.mark.parametrize("rate_hz", [8000.0, 192000.0])
@pytest.mark.parametrize("channels", [1, 2])
def test_any_rate_and_channel_count(rate_hz, channels):
    x = music_like(0.2, rate_hz)[:channels]
    y, meters = compressor.render(x, ACTIVE, rate_hz)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert meters["gain_reduction_db"].max() > 1
    streamer = compressor.Streamer(ACTIVE, rate_hz, channels)
    assert rel_error_db(streamer.process(x)[0], y) < -80


def test_silence_and_a_long_release_stay_exact():
    x = np.zeros((2, round(2.0 * FS)), dtype=np.float32)
    x[:, : round(0.05 * FS)] = 0.7
    y, meters = compressor.render(x, {**ACTIVE, "release_ms": 10.0}, FS)
    assert np.all(y[:, round(0.05 * FS):] == 0.0)
    assert meters["gain_reduction_db"][-1] == 0.0


def test_vectorised_log_and_exp_equal_the_c_library():
    rng = np.random.default_rng(2)
    x = np.concatenate([10 ** rng.uniform(-13.0, 8.0, 100_000), [1e-12, 0.5, 1.0, 2.0]])
    out = np.empty_like(x)
    compressor._natural_log(x, out)
    np.testing.assert_allclose(out, np.log(x), rtol=0, atol=1e-14)
    v = np.concatenate([rng.uniform(-700.0, 700.0, 100_000), [-0.5, 0.0, 0.5]])
    out = np.empty_like(v)
    compressor._exp(v, out)
    np.testing.assert_allclose(out, np.exp(v), rtol=1e-15, atol=0)


@pytest.mark.parametrize("knee_db", [0.0, 5e-324, 1e-7])
def test_a_vanishing_knee_is_a_hard_knee_with_finite_gradients(knee_db):
    """Found by tests/test_properties.py: a knee of 5e-324 dB made the soft-knee branch divide
    by it, and its infinite gradient turned NaN through the branch selection."""
    import torch

    level = torch.linspace(-60.0, 0.0, 121, dtype=torch.float64, requires_grad=True)
    knee = torch.tensor(knee_db, dtype=torch.float64, requires_grad=True)
    out = compressor.static_curve_db(level, torch.tensor(-20.0, dtype=torch.float64),
                                     torch.tensor(4.0, dtype=torch.float64), knee)
    out.sum().backward()
    assert torch.isfinite(level.grad).all() and torch.isfinite(knee.grad)
    hard = compressor.static_curve_db(level.detach().numpy(), -20.0, 4.0, 0.0)
    np.testing.assert_allclose(out.detach().numpy(), hard, atol=1e-9)
