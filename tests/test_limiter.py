"""True-peak limiter: the ceiling on every input, as the BS.1770-4 meter (``truepeak.true_peak``)
reads it; transparency, release time, latency, meters, and the parity of the three faces."""

import itertools
import math
import warnings

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from model.dsp import limiter, truepeak
from model.params import stage_specs
from tests.signals import clicks, music_like, noise, rel_error_db, sine, square

FS = 44100
RATES = (8000, 44100, 48000, 192000)
ROUNDING = 1e-6
"""Allowed relative excess over the ceiling: float32 rounding."""
RANGES = {spec.name: (spec.minimum, spec.maximum) for spec in stage_specs("limiter")}
CORNERS = [dict(zip(RANGES, values, strict=True))
           for values in itertools.product(*RANGES.values())]
"""The 16 combinations of every parameter's extremes (threshold −12 dB is the most drive)."""
WORKING = {"threshold_db": -6.0, "ceiling_dbtp": -1.0, "release_ms": 30.0, "lookahead_ms": 2.0}


def linear(level_db: float) -> float:
    return 10.0 ** (level_db / 20.0)


def peak_over_ceiling(renders: list[tuple[np.ndarray, float]]) -> float:
    """max over (output, ceiling_dbtp) pairs of true_peak(output) / ceiling, measured in one
    pass: the outputs scaled by their ceilings, made stereo and joined with silence between."""
    gap = np.zeros((2, 2 * truepeak.TAPS))
    parts = []
    for output, ceiling_dbtp in renders:
        parts += [np.broadcast_to(output, (2, output.shape[1])) / linear(ceiling_dbtp), gap]
    return float(truepeak.true_peak(np.concatenate(parts, axis=1)).max())


def chirp(duration_s: float, rate: float) -> np.ndarray:
    """Full-scale sine sweep from 20 Hz to 0.45·fs."""
    t = np.arange(round(duration_s * rate)) / rate
    top = 0.45 * rate
    phase = 2 * np.pi * (20.0 * t + (top - 20.0) * t**2 / (2 * duration_s))
    return np.tile(np.sin(phase).astype(np.float32), (2, 1))


def stress_signals(rate: float) -> dict[str, np.ndarray]:
    duration = 0.1
    return {
        "square_997hz": square(997.0, duration, rate),
        "square_quarter_rate": square(rate / 4.0, duration, rate),
        "square_near_quarter_rate": square(rate / 4.3, duration, rate),
        "square_low": square(61.0, duration, rate),
        "clicks": clicks(duration, rate, period_s=0.013),
        "quarter_rate_sine_45_degrees": sine(rate / 4.0, duration, rate, 0.0, phase_rad=np.pi / 4),
        "white_noise": noise(duration, rate, level_dbfs=-3.0),
        "chirp": chirp(duration, rate),
        "music_like": music_like(duration, rate) * 2.0,
    }


# --- the guarantee ------------------------------------------------------------------------------


def test_quarter_rate_sine_is_a_real_inter_sample_over():
    x = sine(FS / 4.0, 0.1, FS, 0.0, phase_rad=np.pi / 4)
    assert np.max(np.abs(x)) < linear(-2.9)
    assert truepeak.true_peak_dbtp(x) > -0.15


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", list(stress_signals(8000)))
def test_ceiling_holds_at_every_corner_of_the_table(rate, name):
    x = stress_signals(rate)[name]
    renders = []
    for corner in CORNERS:
        for audio in (x, x[:1]):
            y, _ = limiter.render(audio, corner, rate)
            assert y.shape == audio.shape and y.dtype == np.float32
            renders.append((y, corner["ceiling_dbtp"]))
    assert peak_over_ceiling(renders) <= 1.0 + ROUNDING


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("level_after_drive_db", [0.0, 6.0])
def test_full_scale_square_waves_stay_under_the_ceiling(rate, level_after_drive_db):
    renders = []
    for freq_hz in (50.0, 997.0, rate / 8.0, rate / 4.1, rate / 4.0, rate / 3.0):
        x = square(freq_hz, 0.05, rate, level_dbfs=0.0)
        for ceiling, lookahead, release in itertools.product((-3.0, -0.1), (0.0, 5.0),
                                                            (1.0, 100.0)):
            p = {"threshold_db": -level_after_drive_db, "ceiling_dbtp": ceiling,
                 "release_ms": release, "lookahead_ms": lookahead}
            renders.append((limiter.render(x, p, rate)[0], ceiling))
    assert peak_over_ceiling(renders) <= 1.0 + ROUNDING


@settings(max_examples=400, deadline=None)
@given(audio=hnp.arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(1, 400)),
                        elements=st.floats(-4.0, 4.0, width=32)),
       threshold=st.floats(*RANGES["threshold_db"]), ceiling=st.floats(*RANGES["ceiling_dbtp"]),
       release=st.floats(*RANGES["release_ms"]), lookahead=st.floats(*RANGES["lookahead_ms"]),
       rate=st.sampled_from(RATES))
def test_ceiling_holds_for_random_signals_and_settings(audio, threshold, ceiling, release,
                                                       lookahead, rate):
    p = {"threshold_db": threshold, "ceiling_dbtp": ceiling, "release_ms": release,
         "lookahead_ms": lookahead}
    y, meters = limiter.render(audio, p, rate)
    assert np.all(np.isfinite(y)) and np.all(meters["gain_reduction_db"] >= 0.0)
    assert peak_over_ceiling([(y, ceiling)]) <= 1.0 + ROUNDING


@pytest.mark.music
def test_real_music_at_full_drive_stays_under_the_ceiling(loud_track):
    music, rate = soundfile.read(loud_track, dtype="float32", always_2d=True)
    p = dict(WORKING, threshold_db=-12.0)
    y, meters = limiter.render(np.ascontiguousarray(music.T), p, rate)
    assert peak_over_ceiling([(y, p["ceiling_dbtp"])]) <= 1.0 + ROUNDING
    assert np.median(meters["gain_reduction_db"]) > 3.0


# --- transparency, release, alignment, meters ----------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 48000])
def test_transparent_below_the_ceiling(rate):
    x = music_like(0.5, rate) * 0.3
    p = dict(WORKING, threshold_db=-6.0, ceiling_dbtp=-1.0)
    expected = (x.astype(np.float64) * 10.0 ** (6.0 / 20.0)).astype(np.float32)
    assert truepeak.true_peak_dbtp(expected) < -1.5
    y, meters = limiter.render(x, p, rate)
    np.testing.assert_array_equal(y, expected)
    assert np.all(meters["gain_reduction_db"] == 0.0)


@pytest.mark.parametrize("release_ms", [2.0, 50.0])
@pytest.mark.parametrize("lookahead_ms", [0.0, 5.0])
def test_release_recovers_63_percent_in_release_ms(release_ms, lookahead_ms):
    rate = 48000
    x = np.zeros((2, rate // 2), dtype=np.float32)
    x[:, 1000] = 1.0
    p = {"threshold_db": 0.0, "ceiling_dbtp": -6.0, "release_ms": release_ms,
         "lookahead_ms": lookahead_ms}
    _, meters = limiter.render(x, p, rate)
    reduction = 1.0 - 10.0 ** (-meters["gain_reduction_db"].astype(np.float64) / 20.0)
    start = 1000 + 300  # past the hold and the box: the release alone
    crossing = start + int(np.argmax(reduction[start:] <= reduction[start] * math.exp(-1.0)))
    assert (crossing - start) * 1000.0 / rate == pytest.approx(release_ms, abs=1.5e3 / rate)


def test_render_is_aligned_and_flushed():
    x = np.zeros((2, 3000), dtype=np.float32)
    x[:, 0], x[:, 1500], x[:, -1] = 1.0, -1.0, 1.0
    p = dict(WORKING, threshold_db=0.0, ceiling_dbtp=-3.0)
    y, _ = limiter.render(x, p, FS)
    for index in (0, 1500, -1):
        assert y[0, index] == pytest.approx(x[0, index] * linear(-3.0), rel=1e-5)
    assert np.count_nonzero(y) == 6


def test_gain_reduction_meter_is_the_applied_gain():
    x = music_like(1.0, FS, seed=2)
    p = dict(WORKING, threshold_db=-12.0)
    y, meters = limiter.render(x, p, FS)
    reduction_db = meters["gain_reduction_db"]
    assert reduction_db.shape == (x.shape[1],) and reduction_db.dtype == np.float32
    assert np.all(reduction_db >= 0.0) and reduction_db.max() > 6.0
    driven = x.astype(np.float64) * linear(12.0)
    loud = np.abs(driven[0]) > 0.05
    applied_db = -20.0 * np.log10(y[0, loud] / driven[0, loud])
    np.testing.assert_allclose(reduction_db[loud], applied_db, atol=1e-4)


def test_gain_reduction_meter_is_finite_where_the_gain_underflows_to_zero():
    x = np.zeros((2, 4096), np.float32)
    x[:, 100:200] = 1e30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, meters = limiter.render(x, WORKING, FS)
    reduction_db = meters["gain_reduction_db"]
    assert np.all(np.isfinite(reduction_db)) and np.all(np.isfinite(y))
    smallest_normal_db = 1022 * 20.0 * math.log10(2.0)
    assert reduction_db.max() == pytest.approx(smallest_normal_db, rel=1e-6)
    assert peak_over_ceiling([(y, WORKING["ceiling_dbtp"])]) <= 1.0 + ROUNDING


# --- streaming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 7, 512, 4096])
def test_streamer_equals_render_delayed_by_its_latency(block):
    x = music_like(0.06 if block == 1 else 1.0, FS, seed=block)
    p = dict(WORKING, threshold_db=-9.0, release_ms=20.0, lookahead_ms=1.3)
    rendered, meters = limiter.render(x, p, FS)
    streamer = limiter.Streamer(p, FS, 2)
    latency = streamer.latency_samples
    assert latency == math.ceil(1.3 * FS / 1000) + 11 + 3 * 58
    padded = np.concatenate([x, np.zeros((2, latency), np.float32)], axis=1)
    parts = [streamer.process(padded[:, i:i + block]) for i in range(0, padded.shape[1], block)]
    streamed = np.concatenate([out for out, _ in parts], axis=1)[:, latency:]
    streamed_meter = np.concatenate([m["gain_reduction_db"] for _, m in parts])[latency:]
    assert rel_error_db(streamed, rendered) < -80.0
    np.testing.assert_allclose(streamed_meter, meters["gain_reduction_db"], atol=1e-4)


def test_streamer_reset_and_new_settings():
    x = music_like(0.5, FS, seed=5)
    streamer = limiter.Streamer(dict(WORKING, threshold_db=-12.0), FS, 2)
    first, _ = streamer.process(x)
    streamer.reset()
    again, _ = streamer.process(x)
    np.testing.assert_array_equal(first, again)
    streamer.set_params(dict(WORKING, threshold_db=-12.0, ceiling_dbtp=-3.0))
    later = np.concatenate([streamer.process(x)[0] for _ in range(2)], axis=1)
    assert truepeak.true_peak_dbtp(later[:, streamer.latency_samples:]) <= -3.0 + 1e-5
    streamer.set_params(dict(WORKING, lookahead_ms=5.0))
    assert streamer.latency_samples == limiter.latency_samples(5.0, FS)


def test_sample_rates_and_mono():
    for rate in (8000, 192000):
        x = music_like(0.3, rate)[:1] * 3.0
        y, meters = limiter.render(x, WORKING, rate)
        assert y.shape == x.shape and np.all(np.isfinite(y))
        assert meters["gain_reduction_db"].max() > 0.0


# --- the kernels against their definitions --------------------------------------------------------


def test_detector_equals_the_bs1770_meter_in_blocks():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3000))
    history = np.zeros((2, limiter.LAG_SAMPLES))
    peaks, spans = [], []
    for start in range(0, 3000, 700):
        block = np.ascontiguousarray(x[:, start:start + 700])
        p, s = np.empty(block.shape[1]), np.empty(block.shape[1])
        limiter._detect(block, history, p, s)
        peaks.append(p)
        spans.append(s)
    np.testing.assert_allclose(np.concatenate(peaks), truepeak.peak_envelope(x).max(axis=0),
                               rtol=1e-13)
    padded = np.abs(np.concatenate([np.zeros((2, 11)), x], axis=1)).max(axis=0)
    window_max = np.lib.stride_tricks.sliding_window_view(padded, 12).max(axis=1)
    np.testing.assert_array_equal(np.concatenate(spans), window_max)


def test_hold_is_a_running_maximum_of_the_targets():
    rng = np.random.default_rng(5)
    peaks = np.where(rng.random(5000) < 0.2, rng.uniform(0.5, 3.0, 5000), 0.1)
    peaks[2000:2600] = 0.1  # a long quiet stretch: the fast path
    window, ceiling = 37, 0.9
    values, suffix = np.zeros(window), np.zeros(window)
    counters, prefix = np.zeros(2, dtype=np.int64), np.zeros(1)
    held = []
    for start in range(0, 5000, 333):
        out = np.empty(len(peaks[start:start + 333]))
        limiter._hold(peaks[start:start + 333], ceiling, values, suffix, counters, prefix, out)
        held.append(out)
    targets = np.concatenate([np.zeros(window - 1), np.maximum(0.0, 1.0 - ceiling / peaks)])
    expected = np.lib.stride_tricks.sliding_window_view(targets, window).max(axis=1)
    np.testing.assert_array_equal(np.concatenate(held), expected)


# --- torch face ----------------------------------------------------------------------------------


def torch_params(p: dict[str, float], requires_grad: bool = False) -> dict[str, torch.Tensor]:
    return {name: torch.tensor([value], dtype=torch.float64, requires_grad=requires_grad)
            for name, value in p.items()}


@pytest.mark.parametrize("p", [dict(WORKING, threshold_db=-12.0),
                               {"threshold_db": -6.0, "ceiling_dbtp": -0.1, "release_ms": 1.0,
                                "lookahead_ms": 0.0}])
def test_torch_face_equals_render(p):
    x = music_like(0.4, FS, seed=6)
    rendered, meters = limiter.render(x, p, FS)
    out, torch_meters = limiter.forward_torch(torch.from_numpy(x.astype(np.float64))[None],
                                              torch_params(p), FS)
    assert rel_error_db(out[0].numpy(), rendered) < -80.0
    np.testing.assert_allclose(torch_meters["gain_reduction_db"][0].numpy(),
                               meters["gain_reduction_db"], atol=1e-4)


def test_every_knob_changes_the_output_and_has_a_gradient():
    x = music_like(0.3, FS, seed=8)
    base, _ = limiter.render(x, WORKING, FS)
    for name, step in [("threshold_db", -0.5), ("ceiling_dbtp", -0.2), ("release_ms", 5.0),
                       ("lookahead_ms", 0.5)]:
        nudged, _ = limiter.render(x, dict(WORKING, **{name: WORKING[name] + step}), FS)
        assert rel_error_db(nudged, base) > -60.0, name
    params = torch_params(WORKING, requires_grad=True)
    audio = torch.from_numpy(x.astype(np.float64))[None].requires_grad_(True)
    out, _ = limiter.forward_torch(audio, params, FS)
    (out**2).mean().backward()
    for name, value in params.items():
        assert torch.isfinite(value.grad).all() and value.grad.abs().item() > 0, name
    assert torch.isfinite(audio.grad).all() and audio.grad.abs().max() > 0
