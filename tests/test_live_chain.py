"""LiveChain and LiveStage: the chain in real time, click-free changes, constant latency.

Oracles: ``model.chain.render`` of the same parameters (delayed by the latency), the stages' own
streamers forked and run alone, the input delayed (the dry path), and the crossfade's definition
(w = sin²(π/2 · k/F), F = 10 ms). Click checks compare the output's largest sample-to-sample step
with what offline renders at the swept values have.
"""

import copy
import itertools
import math

import numpy as np
import pytest

from greymaster_app.playback import live_chain
from greymaster_app.playback.live_chain import LiveChain, LiveStage, fade_curve
from model import chain
from model.dsp import limiter, saturation
from model.params import STAGES, ChainParams
from model.units import db_to_gain
from tests.isolation import heavy_modules_imported
from tests.signals import clicks, music_like, rel_error_db, sine

FS = 44100
BLOCK = 256


def fade_samples(sample_rate_hz: int = FS) -> int:
    return round(0.010 * sample_rate_hz)


def fade_weights(sample_rate_hz: int = FS) -> np.ndarray:
    """The crossfade's incoming weight by definition, float64: sin²(π/2 · k/F), k = 1 … F."""
    samples = fade_samples(sample_rate_hz)
    return np.sin(0.5 * np.pi * np.arange(1, samples + 1) / samples) ** 2


def active_params() -> ChainParams:
    """Every stage audibly active on the test signals."""
    p = ChainParams()
    for key, value in {"eq.low_shelf_gain_db": 4.0, "eq.peak2_gain_db": -4.0,
                       "eq.high_shelf_gain_db": 3.0, "compressor.threshold_db": -24.0,
                       "compressor.ratio": 3.0, "saturation.drive_db": 9.0, "saturation.mix": 0.5,
                       "saturation.bias": 0.03, "stereo.width": 1.3,
                       "stereo.upmix_mid_width": 0.2, "limiter.threshold_db": -4.0}.items():
        p = p.replace(key, value)
    return p


def delayed(x: np.ndarray, delay_samples: int) -> np.ndarray:
    """x delayed by silence, same length."""
    return np.concatenate([np.zeros((x.shape[0], delay_samples), np.float32), x],
                          axis=1)[:, :x.shape[1]]


def run(live, x: np.ndarray, block: int, before=None):
    """Process x in blocks; ``before(start)`` runs before each block. Returns the output and
    each block's meters."""
    outs, meters = [], []
    for start in range(0, x.shape[1], block):
        if before is not None:
            before(start)
        out, m = live.process(x[:, start:start + block])
        outs.append(out)
        meters.append(m)
    return np.concatenate(outs, axis=1), meters


def largest_step(audio: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(audio.astype(np.float64), axis=1))))


def stereo_sine(duration_s: float) -> np.ndarray:
    """220 Hz at −6 dBFS, the right channel 1 rad later (so that width acts)."""
    return np.concatenate([sine(220.0, duration_s, FS, -6.0, channels=1),
                           sine(220.0, duration_s, FS, -6.0, channels=1, phase_rad=1.0)])


@pytest.fixture(scope="module")
def program() -> np.ndarray:
    return music_like(0.6, FS, seed=11)


# ---------------------------------------------------------------------------------------------
# The curve and the latency


def test_fade_curve_is_the_equal_gain_raised_cosine():
    curve = fade_curve(FS)
    assert curve.dtype == np.float32 and curve.shape == (fade_samples(),)
    np.testing.assert_allclose(curve, fade_weights(), rtol=0, atol=1e-7)
    assert curve[-1] == 1.0
    assert np.all(np.diff(curve) > 0)


@pytest.mark.parametrize("rate_hz", [44100, 48000])
def test_latency_is_the_largest_possible(rate_hz):
    live = LiveChain(active_params().replace("limiter.lookahead_ms", 0.0), rate_hz)
    expected = saturation.LATENCY_SAMPLES + limiter.latency_samples(5.0, rate_hz)
    assert live.latency_samples == expected


def test_latency_never_changes_with_lookahead_or_bypass():
    """Quiet impulses pass every stage unchanged (limiter under its ceiling, the others
    bypassed): the output is the input delayed by exactly ``latency_samples``, bit for bit,
    while the lookahead moves over its range and the limiter is switched off and on."""
    x = clicks(0.8, FS, period_s=0.01, level_dbfs=-20.0)
    params = ChainParams(enabled={stage: stage == "limiter" for stage in STAGES})
    live = LiveChain(params, FS)
    latency = live.latency_samples
    settings = itertools.cycle([params.replace("limiter.lookahead_ms", 0.0),
                                params.replace("limiter.lookahead_ms", 3.7),
                                params.with_enabled("limiter", False),
                                params.replace("limiter.lookahead_ms", 5.0)])

    def change(start: int) -> None:
        if start % (BLOCK * 10) == BLOCK * 5:
            live.set_params(next(settings), 0.0)

    y, _ = run(live, x, BLOCK, change)
    np.testing.assert_array_equal(y, delayed(x, latency))
    assert live.latency_samples == latency


# ---------------------------------------------------------------------------------------------
# 1. Nothing changes: the offline render, delayed


CASES = {
    "block1": (44100, 1, active_params(), 0.0, False),
    "block7": (44100, 7, active_params(), 0.0, False),
    "block256": (44100, 256, active_params(), 0.0, False),
    "block1000": (44100, 1000, active_params(), 0.0, False),
    "block10000": (44100, 10000, active_params(), 0.0, False),
    "lookahead0": (44100, 256, active_params().replace("limiter.lookahead_ms", 0.0), 0.0, False),
    "lookahead3.3": (44100, 7, active_params().replace("limiter.lookahead_ms", 3.3), 0.0, False),
    "eq_saturation_bypassed": (
        44100, 256, active_params().with_enabled("eq", False).with_enabled("saturation", False),
        0.0, False),
    "stereo_limiter_bypassed": (
        44100, 1000, active_params().with_enabled("stereo", False).with_enabled("limiter", False),
        0.0, False),
    "trim": (44100, 256, active_params(), 4.5, False),
    "mono_as_dual_mono": (44100, 256, active_params(), 0.0, True),
    "48k_block7": (48000, 7, active_params().replace("limiter.lookahead_ms", 1.3), 0.0, False),
    "48k_block1000": (48000, 1000, active_params(), 0.0, False),
}


@pytest.mark.parametrize("case", CASES)
def test_unchanged_chain_equals_the_delayed_render(case):
    """Within −120 dB, not bit for bit: the saturation streamer rounds differently from its
    renderer's parallel kernel (a few float32 ulps; with the saturation bypassed it is exact)."""
    rate_hz, block, params, trim_db, mono = CASES[case]
    x = music_like(0.15 if block == 1 else 0.4, rate_hz, seed=3)
    if mono:
        x = x[:1]
    live = LiveChain(params, rate_hz, trim_db)
    latency = live.latency_samples
    y, _ = run(live, chain.as_stereo(x), block)
    reference = chain.render(x, rate_hz, params, trim_db).audio
    assert np.all(y[:, :latency] == 0.0)
    assert rel_error_db(y[:, latency:], reference[:, :-latency]) < -120.0


def test_dual_mono_renders_as_mono_bit_for_bit():
    """The player turns mono into dual mono; the chain renders that exactly as the mono file
    (mid = (x + x)/2 = x and side = 0 exactly in the imager, every other stage per channel),
    so the live chain's dual mono equals the mono render within its own −120 dB (above)."""
    x = music_like(0.4, FS, seed=3)[:1]
    params = active_params()
    mono = chain.render(x, FS, params).audio
    dual = chain.render(np.repeat(x, 2, axis=0), FS, params).audio
    np.testing.assert_array_equal(dual, mono)


def test_meters_are_aligned_with_the_render_and_present_for_bypassed_stages(program):
    params = active_params().with_enabled("eq", False).replace("limiter.threshold_db", -10.0)
    live = LiveChain(params, FS)
    latency = live.latency_samples
    _, meters = run(live, program, BLOCK)
    reference = chain.render(program, FS, params).meters
    assert all(set(m) == set(STAGES) for m in meters)
    compressor_db = np.concatenate([m["compressor"]["gain_reduction_db"] for m in meters])
    limiter_db = np.concatenate([m["limiter"]["gain_reduction_db"] for m in meters])
    assert compressor_db.shape == limiter_db.shape == (program.shape[1],)
    np.testing.assert_array_equal(compressor_db, reference["compressor"]["gain_reduction_db"])
    np.testing.assert_allclose(limiter_db[latency:],
                               reference["limiter"]["gain_reduction_db"][:-latency], atol=1e-4)
    assert np.max(limiter_db) > 1.0
    assert all(isinstance(m["stereo"]["correlation"], float) for m in meters)


# ---------------------------------------------------------------------------------------------
# 3.–6. Changes: forks, bypass, trim, lookahead


CHANGES = [("eq", "peak1_gain_db", 9.0), ("compressor", "threshold_db", -36.0),
           ("saturation", "drive_db", 20.0), ("stereo", "width", 0.2),
           ("limiter", "release_ms", 100.0), ("limiter", "lookahead_ms", 0.0)]


@pytest.mark.parametrize(("stage_name", "name", "value"), CHANGES,
                         ids=[f"{s}.{n}" for s, n, _ in CHANGES])
def test_a_change_crossfades_from_the_old_streamer_to_its_fork(program, stage_name, name, value):
    """Before the change: the old streamer. During the fade: old·(1 − w) + new·w. After it:
    exactly the fork (the old streamer copied, given the new values) run alone; a fork whose
    latency changed is a fresh streamer pre-rolled over the last PREROLL_S through its own
    pre-delay. The meters are the incoming streamer's from the change on."""
    params = active_params().replace("limiter.threshold_db", -12.0)
    old_values = params.stage(stage_name)
    new_values = {**old_values, name: value}
    stage = LiveStage(stage_name, old_values, True, FS, fade_curve(FS))
    change_at = 40 * BLOCK
    refs = {}

    def change(start: int) -> None:
        if start != change_at:
            return
        refs["old"] = copy.deepcopy(stage.streamer)
        fork = copy.deepcopy(stage.streamer)
        fork.set_params(new_values)
        new_delay = stage.latency_samples - fork.latency_samples
        if fork.latency_samples != stage.streamer.latency_samples:
            preroll = round(0.5 * FS)
            fork = chain.stage_module(stage_name).Streamer(new_values, FS, 2)
            silence_first = np.concatenate([np.zeros((2, preroll), np.float32),
                                            delayed(program, new_delay)], axis=1)
            fork.process(silence_first[:, change_at:change_at + preroll])
        refs["new"], refs["new_delay"] = fork, new_delay
        refs["old_delay"] = stage.latency_samples - stage.streamer.latency_samples
        stage.request(new_values, True)

    x = program[:, :change_at + 20 * BLOCK]
    y, meters = run(stage, x, BLOCK, change)
    old, _ = run(refs["old"], delayed(x, refs["old_delay"])[:, change_at:], BLOCK)
    new, new_meters = run(refs["new"], delayed(x, refs["new_delay"])[:, change_at:], BLOCK)
    w = fade_weights()
    fade = slice(change_at, change_at + w.shape[0])
    expected_fade = old[:, :w.shape[0]] * (1.0 - w) + new[:, :w.shape[0]] * w
    np.testing.assert_allclose(y[:, fade], expected_fade, rtol=0, atol=2e-7)
    np.testing.assert_array_equal(y[:, fade.stop:], new[:, w.shape[0]:])
    assert rel_error_db(old, new) > -60.0, "the change must be audible for the test to mean much"
    for got, want in zip(meters[change_at // BLOCK:], new_meters, strict=True):
        assert got.keys() == want.keys()
        for key in got:
            np.testing.assert_array_equal(got[key], want[key])
    assert stage.values == new_values and not stage.pending


def test_only_stages_whose_values_changed_fork(program):
    params = active_params()
    live = LiveChain(params, FS)
    live.process(program[:, :BLOCK])
    before = {name: stage.streamer for name, stage in live.stages.items()}
    live.set_params(params.replace("compressor.ratio", 6.0).with_enabled("eq", False), 0.0)
    live.process(program[:, BLOCK:2 * BLOCK])
    forked = {name for name, stage in live.stages.items() if stage.streamer is not before[name]}
    assert forked == {"compressor"}


def test_a_change_during_a_fade_waits_for_it_and_the_latest_wins(program):
    stage = LiveStage("compressor", ChainParams().stage("compressor"), True, FS, fade_curve(FS))
    values = {t: {**ChainParams().stage("compressor"), "threshold_db": t} for t in (-10, -20, -30)}
    stage.request(values[-10], True)
    blocks = (program[:, start:start + 64] for start in itertools.count(0, 64))
    stage.process(next(blocks))
    stage.request(values[-20], True)
    stage.request(values[-30], True)
    fade_blocks = math.ceil(fade_samples() / 64)
    for _ in range(fade_blocks - 1):
        assert stage.values == values[-10] and stage.pending
        stage.process(next(blocks))
    assert stage.values == values[-10]
    stage.process(next(blocks))
    assert stage.values == values[-30]
    for _ in range(fade_blocks - 1):
        stage.process(next(blocks))
    assert not stage.pending


@pytest.mark.parametrize("stage_name", ["compressor", "saturation", "limiter"])
def test_bypass_crossfades_wet_and_dry_and_keeps_the_state_warm(program, stage_name):
    """Off: wet·(1 − w) + dry·w, then exactly the dry input delayed by the stage's fixed
    latency. On again: the reverse, then exactly what the stage would have played had it never
    been bypassed (it kept processing)."""
    values = active_params().stage(stage_name)
    stage = LiveStage(stage_name, values, True, FS, fade_curve(FS))
    off_at, on_at = 20 * BLOCK, 30 * BLOCK
    refs = {}

    def toggle(start: int) -> None:
        if start == off_at:
            refs["never_bypassed"] = copy.deepcopy(stage.streamer)
            refs["pre_delay"] = stage.latency_samples - stage.streamer.latency_samples
            stage.request(values, False)
        if start == on_at:
            stage.request(values, True)

    x = program[:, :40 * BLOCK]
    y, _ = run(stage, x, BLOCK, toggle)
    wet, _ = run(refs["never_bypassed"], delayed(x, refs["pre_delay"])[:, off_at:], BLOCK)
    dry = delayed(x, stage.latency_samples)[:, off_at:]
    w = fade_weights()
    n = w.shape[0]
    out = y[:, off_at:]
    on = on_at - off_at
    np.testing.assert_allclose(out[:, :n], wet[:, :n] * (1 - w) + dry[:, :n] * w, atol=2e-7)
    np.testing.assert_array_equal(out[:, n:on], dry[:, n:on])
    np.testing.assert_allclose(out[:, on:on + n], dry[:, on:on + n] * (1 - w)
                               + wet[:, on:on + n] * w, atol=2e-7)
    np.testing.assert_array_equal(out[:, on + n:], wet[:, on + n:])
    assert rel_error_db(wet, dry) > -40.0


def test_trim_is_a_gain_ramp(program):
    """All stages bypassed: the output is the input delayed, times the trim, which moves from
    its old to its new gain along the fade curve, from the first sample that reaches the limiter
    after the call (which comes out the limiter's fixed latency later)."""
    params = ChainParams(enabled=dict.fromkeys(STAGES, False))
    live = LiveChain(params, FS, trim_db=0.0)
    change_at = 10 * BLOCK
    y, _ = run(live, program, BLOCK,
               lambda start: live.set_params(params, -6.0) if start == change_at else None)
    w = fade_weights()
    g_old, g_new = 1.0, float(np.float32(db_to_gain(-6.0)))
    gain = np.full(program.shape[1], g_new)
    ramp_at = change_at + live.stages["limiter"].latency_samples
    gain[:ramp_at] = g_old
    gain[ramp_at:ramp_at + w.shape[0]] = g_old + (g_new - g_old) * w
    np.testing.assert_allclose(y, delayed(program, live.latency_samples) * gain, rtol=1e-6,
                               atol=1e-9)


def test_trim_goes_in_front_of_the_limiter():
    """+12 dB of trim ramped in on a −6 dBFS sine: the limiter still holds its ceiling."""
    x = stereo_sine(0.3)
    params = ChainParams()
    live = LiveChain(params, FS)
    y, _ = run(live, x, BLOCK, lambda start: live.set_params(params, 12.0) if start else None)
    ceiling = db_to_gain(params.values["limiter"]["ceiling_dbtp"])
    assert np.max(np.abs(y)) <= ceiling
    assert np.max(np.abs(y)) > 0.9 * ceiling


def test_lookahead_change_is_time_aligned(program):
    """After a lookahead change the output follows the offline render of the new settings in
    time (within what the limiter's release state, started PREROLL_S earlier, leaves) and is
    far from the same render a sample early or late."""
    params = active_params().replace("limiter.threshold_db", -8.0)
    new = params.replace("limiter.lookahead_ms", 4.5)
    live = LiveChain(params, FS)
    latency = live.latency_samples
    change_at = 40 * BLOCK
    y, _ = run(live, program, BLOCK,
               lambda start: live.set_params(new, 0.0) if start == change_at else None)
    reference = delayed(chain.render(program, FS, new).audio, latency)
    after = slice(change_at + latency + fade_samples(), None)
    error_db = rel_error_db(y[:, after], reference[:, after])
    shifted = [rel_error_db(y[:, after], np.roll(reference, shift, axis=1)[:, after])
               for shift in (-1, 1)]
    assert error_db < -90.0
    assert min(shifted) > -20.0


# ---------------------------------------------------------------------------------------------
# 7. Click-free: knob sweeps


ACTIVE = {
    "eq": {"eq.low_shelf_gain_db": 6.0, "eq.peak1_gain_db": 6.0, "eq.high_shelf_gain_db": -6.0},
    "compressor": {"compressor.threshold_db": -30.0, "compressor.ratio": 4.0},
    "saturation": {"saturation.drive_db": 18.0, "saturation.mix": 1.0},
    "stereo": {"stereo.width": 2.0},
    "residual": {"residual.amount": 1.0},
    "limiter": {"limiter.threshold_db": -10.0},
    "trim": {},
}
"""Per swept stage: settings under which it audibly acts (the other stages stay at defaults,
which keeps the sine smooth enough for a click to stand out)."""

SWEEPS = {
    "eq.peak1_gain_db": np.linspace(-12.0, 12.0, 5),
    "compressor.threshold_db": np.linspace(-40.0, 0.0, 5),
    "saturation.drive_db": np.linspace(0.0, 24.0, 5),
    "stereo.width": np.linspace(0.0, 2.0, 5),
    "residual.amount": np.linspace(0.0, 1.0, 5),
    "trim": np.linspace(-12.0, 6.0, 5),
    "limiter.lookahead_ms": np.linspace(0.0, 5.0, 5),
    **{stage: [True, False] for stage in STAGES},
}
"""Swept knob → the values it steps through (up and down, one step every block); a bare stage
name toggles its bypass."""


def setting(knob: str, value) -> tuple[ChainParams, float]:
    """Parameters and trim with ``knob`` at ``value``, its stage made active."""
    params = ChainParams()
    for key, active in ACTIVE[knob.split(".")[0]].items():
        if key != knob:
            params = params.replace(key, active)
    if knob == "trim":
        return params, float(value)
    if knob in STAGES:
        return params.with_enabled(knob, bool(value)), 0.0
    return params.replace(knob, float(value)), 0.0


def sweep_step_ratio(x: np.ndarray, knob: str) -> float:
    """The output's largest step over the click bound, for ``knob`` swept every block.

    Bound: 1.05 · J + D · Δw_max + 1e-6, where J is the largest step of the offline renders at
    the swept values, D the largest difference between any two of them and Δw_max the fade
    curve's steepest step (π/(2F) ≈ 0.0036). An equal-gain crossfade y = u + (v − u)·w of two
    signals steps by at most max(|Δu|, |Δv|) + |v − u|·Δw (product rule), so that is what a
    click-free change may add; the 5 % covers streamer states that a sweep leaves between the
    renders'. An abrupt switch may step by up to D, about 280 times more.
    """
    values = SWEEPS[knob]
    order = list(range(len(values))) + list(range(len(values) - 2, 0, -1))
    first, first_trim_db = setting(knob, values[0])
    live = LiveChain(first, FS, first_trim_db)
    latency = live.latency_samples

    def step(start: int) -> None:
        live.set_params(*setting(knob, values[order[(start // BLOCK) % len(order)]]))

    y = run(live, x, BLOCK, step)[0][:, latency:]
    renders = [chain.render(x, FS, *setting(knob, v)).audio[:, :-latency] for v in values]
    largest = max(largest_step(r) for r in renders)
    spread = max(float(np.max(np.abs(a.astype(np.float64) - b)))
                 for a, b in itertools.combinations(renders, 2))
    steepest = float(np.max(np.diff(np.concatenate([[0.0], fade_weights()]))))
    assert spread > 0.01, f"{knob} must change the output for the sweep to mean much"
    return largest_step(y) / (1.05 * largest + spread * steepest + 1e-6)


@pytest.fixture
def audible_residual(monkeypatch):
    """The residual stage runs a network with random weights: whether a change clicks is the
    live chain's business, whatever the weights, and the shipped network may act too softly on
    these signals for the sweep to mean much."""
    import torch

    from model import residual_net
    from model.dsp import residual

    torch.manual_seed(2)
    net = residual_net.ResidualNet()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(0.3 * torch.randn_like(parameter))
    monkeypatch.setattr(residual, "_network", lambda: net.requires_grad_(False))


@pytest.mark.usefixtures("audible_residual")
@pytest.mark.parametrize("signal", ["music", "sine"])
@pytest.mark.parametrize("knob", SWEEPS)
def test_knob_sweeps_are_click_free(program, signal, knob):
    x = program if signal == "music" else stereo_sine(0.6)
    assert sweep_step_ratio(x, knob) <= 1.0


@pytest.mark.usefixtures("audible_residual")
@pytest.mark.parametrize("knob", ["saturation.drive_db", "stereo.width", "trim", *STAGES])
def test_the_click_check_catches_an_abrupt_switch(monkeypatch, knob):
    """With a one-sample fade (an abrupt switch) the same check fails on the sine: it can fail.
    (The EQ gain, compressor threshold and lookahead sweeps do not click on this sine even when
    abrupt: the streamers keep their state across a change, and forks are time-aligned.)"""
    monkeypatch.setattr(live_chain, "FADE_S", 1e-9)
    assert sweep_step_ratio(stereo_sine(0.6), knob) > 1.2


# ---------------------------------------------------------------------------------------------
# 8. Reaction time, reset, input checks


@pytest.mark.parametrize("block", [64, 1000])
def test_a_change_acts_from_the_next_call_and_completes_within_one_fade(program, block):
    """With the saturation and the limiter bypassed (pure delays after causal stages), the
    output at t is the chain's at t − latency, so an EQ change made before the call that starts
    at ``change_at`` shows from output sample change_at + latency on, and not before. The change
    is complete within one fade: ``pending_changes`` clears after ceil(F / block) calls."""
    params = active_params().with_enabled("saturation", False).with_enabled("limiter", False)
    changed, unchanged = LiveChain(params, FS), LiveChain(params, FS)
    latency = changed.latency_samples
    change_at = 8 * block
    y_unchanged, _ = run(unchanged, program, block)
    calls_pending = []

    def change(start: int) -> None:
        if start == change_at:
            changed.set_params(params.replace("eq.peak2_gain_db", 6.0), 0.0)
            assert changed.pending_changes
        if start > change_at:
            calls_pending.append(changed.pending_changes)

    y, _ = run(changed, program, block, change)
    differs = np.flatnonzero(np.any(y != y_unchanged, axis=0))
    assert differs[0] == change_at + latency
    assert calls_pending.index(False) == math.ceil(fade_samples() / block) - 1
    assert not any(calls_pending[calls_pending.index(False):])


def test_reset_applies_the_latest_params_at_once(program):
    params = active_params()
    new = params.replace("limiter.lookahead_ms", 0.5).with_enabled("stereo", False)
    live = LiveChain(params, FS)
    run(live, program[:, :10 * BLOCK], BLOCK)
    live.set_params(new, 2.0)
    live.reset()
    assert not live.pending_changes
    y, _ = run(live, program, BLOCK)
    fresh, _ = run(LiveChain(new, FS, 2.0), program, BLOCK)
    np.testing.assert_array_equal(y, fresh)


@pytest.mark.parametrize("shape", [(1, 64), (2, 0), (3, 64), (64,)])
def test_rejects_blocks_that_are_not_stereo(shape):
    with pytest.raises(ValueError, match="stereo block"):
        LiveChain(ChainParams(), FS).process(np.zeros(shape, np.float32))


def test_live_chain_does_not_import_torch_or_scipy_signal():
    code = ("import numpy as np; from greymaster_app.playback.live_chain import LiveChain; "
            "from model.params import ChainParams; p = ChainParams(); live = LiveChain(p, 48000); "
            "live.process(np.zeros((2, 64), np.float32)); "
            "live.set_params(p.replace('limiter.lookahead_ms', 4.0), 1.0); "
            "live.process(np.zeros((2, 64), np.float32))")
    assert heavy_modules_imported(code) == []
