"""Saturation: aliasing, level matching, bias and DC, transparency, an ideal-oversampling oracle,
the filters' specification, parity of the three faces, no dead knobs, rates and mono."""

import numpy as np
import pytest
import scipy.signal
import torch

from model.dsp import saturation
from model.params import stage_specs
from tests.signals import music_like, rel_error_db, sine

FS = 44100.0
PARAMS = {"drive_db": 12.0, "hardness": 0.5, "mix": 0.7, "bias": 0.05}


def _params(**changes: float) -> dict[str, float]:
    return {**PARAMS, **changes}


def _render(audio: np.ndarray, **changes: float) -> np.ndarray:
    return saturation.render(audio, _params(**changes), FS)[0]


def _power_spectrum(y: np.ndarray, sample_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of the last second (1 Hz bins) under a Kaiser window (β = 30: sidelobes
    far below any level measured here, main lobe ±10 bins)."""
    segment = np.asarray(y[-int(sample_rate_hz):], np.float64)
    window = scipy.signal.windows.kaiser(segment.shape[0], 30.0)
    power = np.abs(np.fft.rfft(segment * window)) ** 2
    return np.fft.rfftfreq(segment.shape[0], 1.0 / sample_rate_hz), power


def _alias_to_harmonic_db(y: np.ndarray, fundamental_hz: float, sample_rate_hz: float) -> float:
    """Energy at non-harmonic bins (aliases) over energy at the harmonics k·f0 below Nyquist."""
    freqs, power = _power_spectrum(y, sample_rate_hz)
    harmonic = np.zeros(freqs.shape, dtype=bool)
    for k in range(1, int(sample_rate_hz / 2 // fundamental_hz) + 1):
        harmonic |= np.abs(freqs - k * fundamental_hz) <= 20.0
    alias = ~harmonic & (freqs > 20.0)
    return float(10 * np.log10(power[alias].sum() / power[harmonic].sum()))


def _band_power(freqs: np.ndarray, power: np.ndarray, freq_hz: float) -> float:
    return float(power[np.abs(freqs - freq_hz) <= 20.0].sum())


def _rms_db(y: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(y, np.float64) ** 2)))


# --- acceptance criteria ---------------------------------------------------------------------

@pytest.mark.parametrize(("hardness", "limit_db"), [(0.0, -95.0), (0.5, -68.0), (1.0, -62.0)])
def test_aliasing_of_5khz_sine_at_12db_drive_is_far_below_the_harmonics(hardness, limit_db):
    # Measured: −105.7 dB (tanh), −73.2 dB (blend), −67.2 dB (hard clip) for a 0 dBFS sine.
    x = sine(5000.0, 1.5, FS, level_dbfs=0.0, channels=1)
    y = _render(x, drive_db=12.0, hardness=hardness, mix=1.0, bias=0.0)[0]
    assert _alias_to_harmonic_db(y, 5000.0, FS) < limit_db


def test_alias_measure_detects_a_naive_waveshaper():
    # The same measure on clip(4·x)/4 without oversampling (DESIGN.md §4: about −18 dB).
    x = sine(5000.0, 1.5, FS, level_dbfs=0.0, channels=1)[0]
    assert _alias_to_harmonic_db(np.clip(4.0 * x, -1, 1) / 4.0, 5000.0, FS) > -30.0


@pytest.mark.parametrize("drive_db", [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0, 24.0])
def test_soft_and_hard_curves_are_level_matched(drive_db):
    """Level matching as designed: both curves have the same small-signal gain and the same
    ceiling. Criterion: a −6 dBFS sine's RMS differs by < 2 dB between hardness 0 and 1 at
    every drive (the gap is tanh's softer knee, 1.8 dB at 6 dB of drive, where clip is still
    linear but tanh(1) = 0.76), by < 0.6 dB at drive 0 and from 14 dB on (both linear / both
    saturated); a −40 dBFS sine (small signal) differs by < 0.1 dB. Each level is also checked
    against the curve's own definition, shape(g·x)/g on the sine (within 0.05 dB)."""
    gain = 10.0 ** (drive_db / 20.0)
    gaps = {}
    for level_dbfs in (-6.0, -40.0):
        x = sine(1000.0, 0.5, FS, level_dbfs=level_dbfs, channels=1)
        levels = {}
        for hardness in (0.0, 1.0):
            y = _render(x, drive_db=drive_db, hardness=hardness, mix=1.0, bias=0.0)
            levels[hardness] = _rms_db(y[0, 4410:])
            u = gain * x[0, 4410:].astype(np.float64)
            curve = (1 - hardness) * np.tanh(u) + hardness * np.clip(u, -1, 1)
            assert levels[hardness] == pytest.approx(_rms_db(curve / gain), abs=0.05)
        gaps[level_dbfs] = abs(levels[0.0] - levels[1.0])
    assert gaps[-6.0] < 2.0
    if drive_db == 0.0 or drive_db >= 14.0:
        assert gaps[-6.0] < 0.6
    assert gaps[-40.0] < 0.1


def test_bias_makes_even_harmonics_and_the_dc_is_removed():
    x = sine(1000.0, 3.0, FS, level_dbfs=-6.0, channels=1)
    gain = 10.0 ** (12.0 / 20.0)
    for bias, second_harmonic in ((0.0, lambda db: db < -100.0), (0.1, lambda db: db > -35.0)):
        y = _render(x, drive_db=12.0, hardness=0.5, mix=1.0, bias=bias)[0]
        freqs, power = _power_spectrum(y, FS)
        relative_db = 10 * np.log10(_band_power(freqs, power, 2000.0)
                                    / _band_power(freqs, power, 1000.0))
        assert second_harmonic(relative_db)
        # The shaped signal's own DC (one period of the definition) is removed after settling.
        u = gain * x[0, :44100].astype(np.float64) + bias
        curve = 0.5 * np.tanh(u) + 0.5 * np.clip(u, -1, 1)
        offset = 0.5 * np.tanh(bias) + 0.5 * np.clip(bias, -1, 1)
        raw_dc = abs(np.mean(curve - offset)) / gain
        assert abs(np.mean(y[-2 * int(FS):], dtype=np.float64)) < max(1e-3 * raw_dc, 1e-8)
    assert raw_dc > 0.01


def test_mix_zero_returns_the_input_exactly():
    x = music_like(0.5, FS)
    np.testing.assert_array_equal(_render(x, mix=0.0), x)
    streamer = saturation.Streamer(_params(mix=0.0), FS, 2)
    out = np.concatenate([streamer.process(x[:, i:i + 512])[0] for i in range(0, x.shape[1], 512)],
                         axis=1)
    latency = streamer.latency_samples
    np.testing.assert_array_equal(out[:, latency:], x[:, :-latency])
    np.testing.assert_array_equal(out[:, :latency], 0.0)


@pytest.mark.parametrize("hardness", [0.0, 0.5, 1.0])
def test_drive_zero_on_a_quiet_signal_is_transparent(hardness):
    x = music_like(1.0, FS)
    x = (x * 0.01 / np.max(np.abs(x))).astype(np.float32)          # peak −40 dBFS
    y = _render(x, drive_db=0.0, hardness=hardness, mix=1.0, bias=0.0)
    assert rel_error_db(y, x) < -80.0                                # measured ≤ −85 dB


# --- the whole path against its definition --------------------------------------------------

def _ideal_output(x: np.ndarray, params: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Steady-state output of one period of a periodic signal: the curve applied to the 64×
    band-limited interpolation (FFT), band-limited back to Nyquist; the difference wet − x then
    shaped by the documented linear responses (the 2-tap average, the decimation filters, the DC
    blocker) and scaled by mix. Returns (output, mix·difference)."""
    n = x.shape[0]
    spectrum = np.fft.rfft(x)
    up = 64
    dense = np.zeros(n * up // 2 + 1, complex)
    dense[:spectrum.shape[0]] = spectrum * up
    gain = 10.0 ** (params["drive_db"] / 20.0)
    hardness, bias = params["hardness"], params["bias"]

    def curve(u: np.ndarray) -> np.ndarray:
        return (1 - hardness) * np.tanh(u) + hardness * np.clip(u, -1, 1)

    wet = (curve(gain * np.fft.irfft(dense, n * up) + bias) - curve(bias)) / gain
    difference = np.fft.rfft(wet)[:spectrum.shape[0]] / up - spectrum
    freqs = np.fft.rfftfreq(n, 1.0 / FS)

    def zero_phase(taps: np.ndarray, rate_hz: float) -> np.ndarray:
        offsets = np.arange(taps.shape[0]) - (taps.shape[0] - 1) / 2
        return np.cos(2 * np.pi * np.outer(freqs, offsets) / rate_hz) @ np.asarray(taps, float)

    z = np.exp(-2j * np.pi * freqs / FS)
    b0, b1, b2, _, a1, a2 = saturation._dc_block_sos(FS)
    difference *= ((b0 + b1 * z + b2 * z * z) / (1 + a1 * z + a2 * z * z)
                   * np.cos(np.pi * freqs / (4 * FS))
                   * zero_phase(saturation._halfband_full(saturation.STAGE1_TAPS), 2 * FS)
                   * zero_phase(saturation.STAGE2_DECIMATOR, 4 * FS))
    difference[0] = 0.0
    mixed = params["mix"] * difference
    return np.fft.irfft(spectrum + mixed, n), np.fft.irfft(mixed, n)


@pytest.mark.parametrize("changes", [
    {"drive_db": 12.0, "hardness": 1.0, "mix": 1.0, "bias": 0.0},
    {"drive_db": 12.0, "hardness": 0.0, "mix": 1.0, "bias": 0.0},
    {"drive_db": 18.0, "hardness": 0.5, "mix": 0.6, "bias": 0.08},
])
def test_render_equals_ideal_oversampling_and_is_aligned(changes):
    period = 4410                                       # 1 kHz, 10 periods of 0.1 s
    x = np.sin(2 * np.pi * 1000.0 * np.arange(period) / FS)
    y = _render(np.tile(x, 30).astype(np.float32)[None, :], **changes)[0, -period:]
    expected, difference = _ideal_output(x, _params(**changes))
    assert rel_error_db(y - expected + difference, difference) < -60.0   # measured ≤ −65.8
    assert rel_error_db(np.roll(y, 1) - expected + difference, difference) > -25.0


# --- filters and numerics ---------------------------------------------------------------------

def test_oversampling_filters_meet_their_specification():
    def response_db(taps: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
        freqs, h = scipy.signal.freqz(np.asarray(taps, np.float64), worN=1 << 15, fs=rate)
        return freqs, 20 * np.log10(np.abs(h) + 1e-30)

    stage1 = saturation._halfband_full(saturation.STAGE1_TAPS)
    freqs, db = response_db(stage1, 2.0)                  # frequencies in units of fs
    assert np.all(np.abs(db[freqs <= 0.43]) < 1e-3)
    assert np.all(db[freqs >= 0.567] < -90.0)
    freqs, db = response_db(saturation._halfband_full(saturation.STAGE2_TAPS), 4.0)
    assert np.all(np.abs(db[freqs <= 0.5]) < 0.01) and np.all(db[freqs >= 1.5] < -75.0)
    freqs, db = response_db(saturation.STAGE2_DECIMATOR, 4.0)
    assert np.all(np.abs(db[freqs <= 0.5]) < 0.01) and np.all(db[freqs >= 1.5] < -85.0)
    for taps in (saturation.STAGE1_TAPS, saturation.STAGE2_TAPS, saturation.STAGE2_DECIMATOR):
        np.testing.assert_array_equal(taps, taps[::-1])
        assert taps.shape[0] % 4 == 0


def test_latency_is_the_sum_of_the_filter_delays():
    # Centre delays of the full filters (lengths L1 at 2×, L2 and M at 4×) and ADAA's half 4×
    # sample, in base-rate samples, less what the decimator phases skip (q2 4× samples and
    # q1 2× samples).
    l1 = saturation._halfband_full(saturation.STAGE1_TAPS).shape[0]
    l2 = saturation._halfband_full(saturation.STAGE2_TAPS).shape[0]
    m = saturation.STAGE2_DECIMATOR.shape[0]
    total = (l1 - 1) / 4 + (l2 - 1) / 8 + 1 / 8 + (m - 1) / 8 + (l1 - 1) / 4
    skipped = saturation.STAGE2_PHASE / 4 + saturation.STAGE1_PHASE / 2
    assert total - skipped == saturation.LATENCY_SAMPLES
    assert saturation.Streamer(PARAMS, FS, 2).latency_samples == saturation.LATENCY_SAMPLES


def test_series_tanh_matches_numpy():
    u = np.linspace(-30.0, 30.0, 200001).astype(np.float32)
    ours = np.array([saturation._tanh(v) for v in u[::50]])
    np.testing.assert_allclose(ours, np.tanh(u[::50].astype(np.float64)), atol=1e-6, rtol=0)


# --- the contract: parity, no dead knobs, rates, mono ------------------------------------------

@pytest.mark.parametrize("block", [1, 7, 512, 4096])
def test_streamer_equals_render_delayed(block):
    x = music_like(0.05 if block == 1 else 0.5, FS, seed=2)
    expected = _render(x)
    streamer = saturation.Streamer(PARAMS, FS, 2)
    out = np.concatenate([streamer.process(x[:, i:i + block])[0]
                          for i in range(0, x.shape[1], block)], axis=1)
    latency = streamer.latency_samples
    assert rel_error_db(out[:, latency:], expected[:, :-latency]) < -80.0
    streamer.reset()
    again = np.concatenate([streamer.process(x[:, i:i + block])[0]
                            for i in range(0, x.shape[1], block)], axis=1)
    np.testing.assert_array_equal(again, out)


def _torch_params(params: dict[str, float], requires_grad: bool = False) -> dict:
    return {name: torch.tensor([value], dtype=torch.float64, requires_grad=requires_grad)
            for name, value in params.items()}


@pytest.mark.parametrize("changes", [{}, {"hardness": 0.0, "bias": 0.0, "mix": 0.25},
                                     {"hardness": 1.0, "drive_db": 24.0, "bias": -0.1}])
def test_torch_equals_render(changes):
    x = music_like(0.5, FS, seed=3)
    expected = _render(x, **changes)
    ours, meters = saturation.forward_torch(torch.from_numpy(x.astype(np.float64))[None],
                                            _torch_params(_params(**changes)), FS)
    assert meters == {}
    assert rel_error_db(ours[0].numpy(), expected) < -80.0


def test_torch_batches_carry_their_own_parameters():
    x = torch.from_numpy(music_like(0.2, FS, seed=4).astype(np.float64))
    params = {spec.name: torch.tensor([PARAMS[spec.name], spec.maximum], dtype=torch.float64)
              for spec in stage_specs("saturation")}
    ours, _ = saturation.forward_torch(torch.stack([x, x]), params, FS)
    second = {name: float(value[1]) for name, value in params.items()}
    assert rel_error_db(ours[1].numpy(), saturation.render(x.numpy(), second, FS)[0]) < -80.0


def test_every_knob_changes_render_and_has_a_finite_nonzero_gradient():
    x = music_like(0.3, FS, seed=5)
    reference = _render(x)
    for spec in stage_specs("saturation"):
        nudged = _render(x, **{spec.name: PARAMS[spec.name] + 0.01 * (spec.maximum - spec.minimum)})
        assert rel_error_db(nudged, reference) > -100.0, spec.name
    params = _torch_params(PARAMS, requires_grad=True)
    weights = torch.from_numpy(np.random.default_rng(0).standard_normal(x.shape))
    out, _ = saturation.forward_torch(torch.from_numpy(x.astype(np.float64))[None], params, FS)
    (out[0] * weights).sum().backward()
    for name, value in params.items():
        grad = float(value.grad[0])
        assert np.isfinite(grad) and grad != 0.0, name


def test_torch_gradients_match_finite_differences_of_render():
    x = music_like(0.2, FS, seed=6)
    weights = np.random.default_rng(1).standard_normal(x.shape)
    params = _torch_params(PARAMS, requires_grad=True)
    audio = torch.from_numpy(x.astype(np.float64))[None].requires_grad_(True)
    out, _ = saturation.forward_torch(audio, params, FS)
    (out[0] * torch.from_numpy(weights)).sum().backward()
    for spec in stage_specs("saturation"):
        step = 1e-3 * (spec.maximum - spec.minimum)
        loss = [np.sum(weights * _render(x, **{spec.name: PARAMS[spec.name] + sign * step}))
                for sign in (1.0, -1.0)]
        numeric = (loss[0] - loss[1]) / (2 * step)
        assert float(params[spec.name].grad[0]) == pytest.approx(numeric, rel=0.02), spec.name
    assert torch.isfinite(audio.grad).all()


def test_silence_gives_silence_and_gradients_stay_finite():
    x = torch.zeros(1, 2, 2000, dtype=torch.float64, requires_grad=True)
    params = _torch_params(_params(hardness=1.0), requires_grad=True)
    out, _ = saturation.forward_torch(x, params, FS)
    assert torch.count_nonzero(out) == 0
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(value.grad).all() for value in params.values())
    np.testing.assert_array_equal(_render(np.zeros((2, 2000), np.float32)), 0.0)


@pytest.mark.parametrize("sample_rate_hz", [8000.0, 192000.0])
def test_extreme_sample_rates_and_mono(sample_rate_hz):
    x = music_like(0.3, sample_rate_hz)[:1]
    params = _params(drive_db=24.0, hardness=1.0, bias=0.1, mix=1.0)
    y, _ = saturation.render(x, params, sample_rate_hz)
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert np.max(np.abs(y - x)) > 1e-3
    streamer = saturation.Streamer(params, sample_rate_hz, 1)
    out = np.concatenate([streamer.process(x[:, i:i + 512])[0] for i in range(0, x.shape[1], 512)],
                         axis=1)
    latency = streamer.latency_samples
    assert rel_error_db(out[:, latency:], y[:, :-latency]) < -80.0


def test_streamer_is_silent_for_its_latency_after_reset():
    from model.params import defaults
    from tests.signals import music_like

    params = {**defaults("saturation"), "drive_db": 12.0, "mix": 0.5, "bias": 0.05}
    streamer = saturation.Streamer(params, 44100, 2)
    x = music_like(0.05, 44100, seed=1)
    for _ in range(2):
        out, _ = streamer.process(x)
        assert np.all(out[:, : streamer.latency_samples] == 0.0)
        streamer.reset()


# --- the static transfer curve (the GUI's picture) ------------------------------------------

@pytest.mark.parametrize("changes", [
    {},
    {"drive_db": 24.0, "hardness": 1.0, "mix": 1.0, "bias": -0.1},
    {"drive_db": 6.0, "hardness": 0.0, "mix": 1.0, "bias": 0.1},
    {"drive_db": 0.0, "hardness": 0.3, "mix": 0.5, "bias": 0.0},
])
def test_transfer_curve_is_what_render_does_to_a_slow_sine(changes):
    """A 20 Hz sine swept over ±1.5 is slow enough that the oversampling filters and the
    anti-aliasing averages act as the identity, so render = x + DC_block(curve(x) − x). The DC
    block (linear, not part of the curve) is applied to the curve's difference by an
    independent Butterworth high-pass. Measured: ≤ 1.4e-4 (at the hard-clip corners)."""
    params = _params(**changes)
    x = sine(20.0, 1.0, FS, level_dbfs=20 * np.log10(1.5), channels=1)
    y = saturation.render(x, params, FS)[0][0].astype(np.float64)
    x64 = x[0].astype(np.float64)
    dc_block = scipy.signal.butter(2, saturation.DC_BLOCK_HZ, "highpass", fs=FS, output="sos")
    expected = x64 + scipy.signal.sosfilt(dc_block, saturation.transfer_curve(x64, params) - x64)
    settled = slice(int(0.5 * FS), None)
    np.testing.assert_allclose(y[settled], expected[settled], rtol=0.0, atol=1e-3)


def test_transfer_curve_follows_its_definition_at_points():
    x = np.array([-1.5, -0.5, -0.01, 0.0, 0.01, 0.5, 1.5])
    gain = 10.0 ** (12.0 / 20.0)
    hard = {"drive_db": 12.0, "hardness": 1.0, "mix": 1.0, "bias": 0.0}
    np.testing.assert_allclose(saturation.transfer_curve(x, hard), np.clip(gain * x, -1, 1) / gain)
    soft = {**hard, "hardness": 0.0, "bias": 0.1, "mix": 0.5}
    wet = (np.tanh(gain * x + 0.1) - np.tanh(0.1)) / gain
    np.testing.assert_allclose(saturation.transfer_curve(x, soft), 0.5 * x + 0.5 * wet)
    np.testing.assert_array_equal(saturation.transfer_curve(x, {**soft, "mix": 0.0}), x)
    for hardness in (0.0, 0.4, 1.0):
        assert saturation.transfer_curve(np.zeros(1), {**soft, "hardness": hardness})[0] == 0.0
