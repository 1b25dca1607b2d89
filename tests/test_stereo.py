"""Stereo imager: LR4 mono bass and width, all-pass upmix, fold-down, meters, parity, gradients.

Oracles: scipy's Butterworth designs (the LR4 identities LP4 + HP4 = all-pass), the analog
Butterworth magnitude formula, spectra and meter formulas computed with numpy on the output.
"""


import numpy as np
import pytest
import scipy.signal
import torch

from model.dsp import stereo
from model.params import defaults, spec, stage_specs
from tests.isolation import heavy_modules_imported
from tests.signals import music_like, noise, rel_error_db

FS = 44100.0


def _params(**overrides: float) -> dict[str, float]:
    return {**defaults("stereo"), **overrides}


UPMIX_ALL = {"upmix_low_width": 0.4, "upmix_mid_width": 0.6, "upmix_high_width": 0.8}


def _lr4(freq_hz: float, kind: str, fs: float = FS) -> np.ndarray:
    """Independent LR4 design: scipy's 2nd-order Butterworth, twice."""
    section = scipy.signal.butter(2, freq_hz, btype=kind, fs=fs, output="sos")
    return np.vstack([section, section])


def _mid_side(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = audio.astype(np.float64)
    return (x[0] + x[1]) / 2, (x[0] - x[1]) / 2


def _gain_db(inp: np.ndarray, out: np.ndarray, freqs_hz: list[float]) -> np.ndarray:
    """|H| in dB of the LTI path inp → out (H1 estimator |Pxy| / Pxx), at ``freqs_hz``."""
    f, pxx = scipy.signal.welch(inp, FS, nperseg=16384)
    _, pxy = scipy.signal.csd(inp, out, FS, nperseg=16384)
    return np.interp(freqs_hz, f, 20 * np.log10(np.abs(pxy) / pxx))


def _region_db(signal: np.ndarray, reference: np.ndarray, lo_hz: float, hi_hz: float) -> float:
    """Energy of ``signal`` relative to ``reference`` in lo…hi Hz (Welch PSDs), dB."""
    f, p_sig = scipy.signal.welch(signal, FS, nperseg=8192)
    _, p_ref = scipy.signal.welch(reference, FS, nperseg=8192)
    band = (f >= lo_hz) & (f <= hi_hz)
    return float(10 * np.log10(p_sig[band].sum() / p_ref[band].sum()))


# --- the LR4 all-pass --------------------------------------------------------------------------

def test_allpass_sections_are_lp4_plus_hp4_with_unit_magnitude():
    for fs in (FS, 8000.0, 192000.0):
        bands = stereo.band_sections(fs)
        for freq_hz, ours in ((120.0, stereo.bass_sections(120.0, fs)[stereo.AP_BASS]),
                              (500.0, stereo.bass_sections(500.0, fs)[stereo.AP_BASS]),
                              (300.0, bands[stereo.AP_LOW]), (3000.0, bands[stereo.AP_HIGH])):
            freqs = np.geomspace(10.0, 0.49 * fs, 200)
            _, h_ap = scipy.signal.sosfreqz(ours[None], worN=freqs, fs=fs)
            _, h_lp = scipy.signal.sosfreqz(_lr4(freq_hz, "lowpass", fs), worN=freqs, fs=fs)
            _, h_hp = scipy.signal.sosfreqz(_lr4(freq_hz, "highpass", fs), worN=freqs, fs=fs)
            np.testing.assert_allclose(h_ap, h_lp + h_hp, atol=1e-9)
            np.testing.assert_allclose(np.abs(h_ap), 1.0, atol=1e-12)


# --- acceptance: mono bass and width -----------------------------------------------------------

@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_side_below_crossover_removed_and_above_scaled_by_width(width):
    """Uncorrelated L/R noise. The side's gain follows the LR4 high-pass |H| = r⁴/(1 + r⁴),
    r = f/fc, times ``width``: an octave below the crossover that is −24.6 dB (a 4th-order
    slope cannot reach 40 dB there), two octaves below −48.2 dB (≥ 40 dB down); two octaves
    and more above it is ``width`` within 0.05 dB."""
    crossover_hz = 200.0
    x = noise(6.0, FS, channels=2)
    y, _ = stereo.render(x, _params(width=width, bass_mono_hz=crossover_hz), FS)
    (_, s_in), (_, s_out) = _mid_side(x), _mid_side(y)
    width_db = 20 * np.log10(width)
    freqs = [crossover_hz / 4, crossover_hz / 2, 800.0, 2000.0, 8000.0, 16000.0]
    measured = _gain_db(s_in, s_out, freqs) - width_db
    r = np.array(freqs) / crossover_hz
    expected = 20 * np.log10(r**4 / (1 + r**4))
    assert measured[0] <= -40.0
    np.testing.assert_allclose(measured[:2], expected[:2], atol=0.3)
    np.testing.assert_allclose(measured[2:], 0.0, atol=0.05)


def test_width_zero_gives_identical_channels():
    x = music_like(1.0, FS)
    y, meters = stereo.render(x, _params(width=0.0), FS)
    assert np.array_equal(y[0], y[1])
    assert meters["correlation"] == pytest.approx(1.0, abs=1e-9)
    assert meters["width"] == 0.0


def test_mono_bass_off_at_the_table_minimum_is_pure_mid_side_width():
    """At 20 Hz (the table's minimum) there is no crossover: width 1 passes the input through
    bit-exactly, any other width only scales the side, in every face."""
    assert spec("stereo.bass_mono_hz").off_at_minimum and stereo.BASS_MONO_OFF_HZ == 20.0
    x = music_like(1.0, FS)
    y, _ = stereo.render(x, _params(width=1.0, bass_mono_hz=20.0), FS)
    assert np.array_equal(y, x)
    mid, side = _mid_side(x)
    wide, _ = stereo.render(x, _params(width=1.4, bass_mono_hz=20.0), FS)
    expected = np.stack([mid + 1.4 * side, mid - 1.4 * side])
    assert rel_error_db(wide, expected) < -120
    streamer = stereo.Streamer(_params(width=1.4, bass_mono_hz=20.0), FS, channels=2)
    streamed = np.concatenate([streamer.process(x[:, i:i + 1000])[0]
                               for i in range(0, x.shape[1], 1000)], axis=1)
    assert rel_error_db(streamed, expected) < -120
    batch = torch.tensor(np.stack([x, x]), dtype=torch.float64)
    params = {name: torch.tensor([value, value], dtype=torch.float64)
              for name, value in _params(width=1.4).items()}
    params["bass_mono_hz"] = torch.tensor([20.0, 150.0], dtype=torch.float64)
    out, _ = stereo.forward_torch(batch, params, FS)
    assert rel_error_db(out[0].numpy(), expected) < -120
    crossover, _ = stereo.render(x, _params(width=1.4, bass_mono_hz=150.0), FS)
    assert rel_error_db(out[1].numpy(), crossover) < -100


def test_unit_width_no_upmix_is_input_with_mono_bass_and_allpassed_mid():
    """LR4 identities with scipy's filters: M_out = LP4(M) + HP4(M) (the all-pass) and
    S_out = HP4(S) = (LP4 + HP4)(S) − LP4(S): only the side's LR4 low band is removed."""
    crossover_hz = 150.0
    x = music_like(2.0, FS)
    y, _ = stereo.render(x, _params(width=1.0, bass_mono_hz=crossover_hz), FS)
    mid, side = _mid_side(x)
    lp4, hp4 = _lr4(crossover_hz, "lowpass"), _lr4(crossover_hz, "highpass")

    def allpass(v: np.ndarray) -> np.ndarray:
        return scipy.signal.sosfilt(lp4, v) + scipy.signal.sosfilt(hp4, v)

    mid_out, side_out = _mid_side(y)
    assert rel_error_db(mid_out, allpass(mid)) < -100
    assert rel_error_db(side_out, allpass(side) - scipy.signal.sosfilt(lp4, side)) < -100
    expected_lr = np.stack([allpass(mid) + allpass(side), allpass(mid) - allpass(side)])
    removed = np.stack([scipy.signal.sosfilt(lp4, side), -scipy.signal.sosfilt(lp4, side)])
    assert rel_error_db(y, expected_lr - removed) < -100


# --- acceptance: upmix -------------------------------------------------------------------------

def test_mono_input_without_upmix_stays_dual_mono():
    x = noise(1.0, FS, channels=1)
    y, meters = stereo.render(x, _params(width=2.0), FS)
    assert y.shape == (2, x.shape[1])
    assert np.array_equal(y[0], y[1])
    assert meters["correlation"] == pytest.approx(1.0, abs=1e-9)
    assert meters["folddown_loss_db"] == pytest.approx(0.0, abs=1e-9)


REGIONS_HZ = {"upmix_low_width": (30.0, 75.0), "upmix_mid_width": (800.0, 1100.0),
              "upmix_high_width": (10000.0, 16000.0)}


@pytest.mark.parametrize("name", list(REGIONS_HZ))
def test_upmix_adds_side_only_in_its_band(name):
    """Mono noise, one upmix width 0.8: the side carries 0.8² of the input's energy in that
    band (an all-pass of it) and ≥ 25 dB less than the input elsewhere; L and R decorrelate."""
    x = noise(4.0, FS, channels=1)
    y, meters = stereo.render(x, _params(**{name: 0.8}), FS)
    _, side = _mid_side(y)
    for region, (lo_hz, hi_hz) in REGIONS_HZ.items():
        level_db = _region_db(side, x[0], lo_hz, hi_hz)
        if region == name:
            assert level_db == pytest.approx(20 * np.log10(0.8), abs=0.5)
        else:
            assert level_db < -25.0
    assert meters["correlation"] < 0.99


def test_full_upmix_decorrelates_mono_input():
    """All three widths 1: the side is an all-pass of the mid decorrelated from it, so L and
    R are nearly uncorrelated and their levels match (no image shift)."""
    x = noise(4.0, FS, channels=1)
    y, meters = stereo.render(x, _params(upmix_low_width=1.0, upmix_mid_width=1.0,
                                         upmix_high_width=1.0), FS)
    assert abs(np.corrcoef(y[0], y[1])[0, 1]) < 0.1
    assert abs(meters["correlation"]) < 0.1
    left_db, right_db = (10 * np.log10(np.mean(c.astype(np.float64) ** 2)) for c in y)
    assert left_db == pytest.approx(right_db, abs=0.3)


def _third_octave_db(signal: np.ndarray) -> np.ndarray:
    """Energies in 1/3-octave bands centred 31.5 Hz … 16 kHz (base-2 centres), dB."""
    power = np.abs(np.fft.rfft(signal.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(signal.shape[-1], 1 / FS)
    centres = 1000.0 * 2.0 ** (np.arange(-15, 13) / 3)
    return np.array([10 * np.log10(power[(freqs >= c * 2 ** (-1 / 6))
                                         & (freqs < c * 2 ** (1 / 6))].sum()) for c in centres])


@pytest.mark.parametrize("channels", [1, 2])
def test_folddown_equals_input_mid_in_third_octaves(channels):
    """(L + R)/2 against the input's mid, 1/3-octave bands 30 Hz–16 kHz, every band within
    0.1 dB, with width and upmix on. The input ends in 0.5 s of silence so the all-pass's
    ringing stays inside the analysed signal."""
    x = np.concatenate([noise(3.0, FS, channels=channels),
                        np.zeros((channels, int(0.5 * FS)), np.float32)], axis=1)
    y, _ = stereo.render(x, _params(width=1.7, bass_mono_hz=300.0, **UPMIX_ALL), FS)
    mid_in = x.mean(axis=0, dtype=np.float64)
    folddown = (y[0].astype(np.float64) + y[1]) / 2
    difference = _third_octave_db(folddown) - _third_octave_db(mid_in)
    assert np.max(np.abs(difference)) < 0.1


# --- acceptance: meters ------------------------------------------------------------------------

def _numpy_meters(y: np.ndarray) -> dict[str, float]:
    left, right = y.astype(np.float64)
    mid, side = (left + right) / 2, (left - right) / 2
    return {
        "correlation": float(np.corrcoef(left, right)[0, 1]),
        "width": float(np.sqrt(np.mean(side**2) / np.mean(mid**2))),
        "folddown_loss_db": float(10 * np.log10(np.mean(mid**2)
                                                / np.mean((left**2 + right**2) / 2))),
    }


@pytest.mark.parametrize(("channels", "settings"), [
    (2, {"width": 1.5, **UPMIX_ALL}),
    (2, {"width": 0.3, "bass_mono_hz": 400.0}),
    (1, {"upmix_mid_width": 0.7}),
])
def test_meters_equal_numpy_on_the_output(channels, settings):
    x = music_like(1.5, FS)[:channels] * np.array([[1.0], [0.4]], np.float32)[:channels]
    y, meters = stereo.render(x, _params(**settings), FS)
    expected = _numpy_meters(y)
    for name, value in expected.items():
        assert meters[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_meter_anchors_dual_mono_uncorrelated_and_silence():
    _, mono = stereo.render(noise(1.0, FS, channels=1), _params(), FS)
    assert mono["folddown_loss_db"] == pytest.approx(0.0, abs=1e-9)
    _, wide = stereo.render(noise(4.0, FS, channels=2), _params(bass_mono_hz=20.0), FS)
    assert wide["folddown_loss_db"] == pytest.approx(-3.01, abs=0.05)
    assert wide["correlation"] == pytest.approx(0.0, abs=0.03)
    _, silent = stereo.render(np.zeros((2, 1000), np.float32), _params(**UPMIX_ALL), FS)
    assert silent == {"correlation": 0.0, "width": 0.0, "folddown_loss_db": 0.0}


def test_streamer_meters_are_per_block():
    x = music_like(0.5, FS)
    streamer = stereo.Streamer(_params(width=1.3, **UPMIX_ALL), FS, channels=2)
    for start in range(0, x.shape[1], 4096):
        block_out, meters = streamer.process(x[:, start:start + 4096])
        for name, value in _numpy_meters(block_out).items():
            assert meters[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


# --- the decorrelator --------------------------------------------------------------------------

@pytest.mark.parametrize("fs", [8000.0, 44100.0, 192000.0])
def test_decorrelator_is_allpass_and_decorrelated_in_every_band(fs):
    """|D| = 1 at every frequency (impulse response's DFT), and the white-noise correlation of
    D(x) with the mid all-pass AP(x), mean of Re(D·conj(AP)) over each band, is within ±0.1."""
    impulse = np.zeros((1, int(2.0 * fs)))
    impulse[0, 0] = 1.0
    spectrum = np.fft.rfft(stereo.decorrelate(impulse, fs)[0])
    np.testing.assert_allclose(np.abs(spectrum), 1.0, atol=1e-9)
    freqs = np.fft.rfftfreq(impulse.shape[1], 1 / fs)
    _, h_lp = scipy.signal.sosfreqz(_lr4(120.0, "lowpass", fs), worN=freqs, fs=fs)
    _, h_hp = scipy.signal.sosfreqz(_lr4(120.0, "highpass", fs), worN=freqs, fs=fs)
    cross = np.real(spectrum * np.conj(h_lp + h_hp))
    for lo_hz, hi_hz in ((20, 80), (80, 300), (300, 1000), (1000, 3000), (3000, 0.45 * fs)):
        band = (freqs >= lo_hz) & (freqs < hi_hz)
        assert abs(cross[band].mean()) < 0.1, (lo_hz, hi_hz)


def test_decorrelator_gradient_is_its_adjoint():
    from model.dsp import stereo_grad

    x = torch.randn(1, 2, 200, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: stereo_grad.decorrelate(a, 8000.0), (x,))


# --- parity ------------------------------------------------------------------------------------

PARITY = _params(width=1.4, bass_mono_hz=180.0, **UPMIX_ALL)


@pytest.mark.parametrize("block", [1, 7, 512, 4096])
def test_streamer_equals_render(block):
    x = music_like(0.1 if block == 1 else 1.0, FS)
    whole, _ = stereo.render(x, PARITY, FS)
    streamer = stereo.Streamer(PARITY, FS, channels=2)
    assert streamer.latency_samples == 0
    parts = [streamer.process(x[:, i:i + block])[0] for i in range(0, x.shape[1], block)]
    assert rel_error_db(np.concatenate(parts, axis=1), whole) < -80


def test_streamer_mono_reset_and_set_params():
    x = noise(0.5, FS, channels=1)
    whole, _ = stereo.render(x, PARITY, FS)
    streamer = stereo.Streamer(_params(), FS, channels=1)
    streamer.set_params(PARITY)
    first = np.concatenate([streamer.process(x[:, i:i + 512])[0]
                            for i in range(0, x.shape[1], 512)], axis=1)
    streamer.reset()
    second = np.concatenate([streamer.process(x[:, i:i + 333])[0]
                             for i in range(0, x.shape[1], 333)], axis=1)
    assert rel_error_db(first, whole) < -80
    assert rel_error_db(second, whole) < -80


def _torch_params(settings: list[dict[str, float]], requires_grad: bool = False
                  ) -> dict[str, torch.Tensor]:
    return {spec.name: torch.tensor([s[spec.name] for s in settings], dtype=torch.float64,
                                    requires_grad=requires_grad)
            for spec in stage_specs("stereo")}


def test_forward_torch_equals_render_per_example():
    x = music_like(0.5, FS)
    settings = [PARITY, _params(width=0.6, bass_mono_hz=60.0, upmix_high_width=0.5)]
    audio = torch.from_numpy(np.stack([x, x[::-1].copy()])).double()
    out, meters = stereo.forward_torch(audio, _torch_params(settings), FS)
    for i, params in enumerate(settings):
        expected, expected_meters = stereo.render(audio[i].float().numpy(), params, FS)
        assert rel_error_db(out[i].numpy(), expected) < -80
        for name, value in expected_meters.items():
            assert float(meters[name][i]) == pytest.approx(value, rel=1e-4, abs=1e-6)


def test_forward_torch_mono_input():
    x = noise(0.3, FS, channels=1)
    out, _ = stereo.forward_torch(torch.from_numpy(x)[None].double(), _torch_params([PARITY]), FS)
    expected, _ = stereo.render(x, PARITY, FS)
    assert out.shape == (1, 2, x.shape[1])
    assert rel_error_db(out[0].numpy(), expected) < -80


# --- no dead knobs -----------------------------------------------------------------------------

OPERATING_POINT = _params(width=1.2, bass_mono_hz=150.0, upmix_low_width=0.3,
                          upmix_mid_width=0.4, upmix_high_width=0.5)


@pytest.mark.parametrize("spec", stage_specs("stereo"), ids=lambda s: s.name)
def test_every_parameter_changes_render(spec):
    x = music_like(0.5, FS)
    base, _ = stereo.render(x, OPERATING_POINT, FS)
    nudged_value = OPERATING_POINT[spec.name] + 0.05 * (spec.maximum - spec.minimum)
    nudged, _ = stereo.render(x, {**OPERATING_POINT, spec.name: nudged_value}, FS)
    assert rel_error_db(nudged, base) > -60


def test_every_parameter_has_a_finite_nonzero_gradient():
    x = torch.from_numpy(music_like(0.3, FS))[None].double().requires_grad_(True)
    params = _torch_params([OPERATING_POINT], requires_grad=True)
    weights = torch.randn(1, 2, x.shape[-1], dtype=torch.float64,
                          generator=torch.Generator().manual_seed(0))
    out, meters = stereo.forward_torch(x, params, FS)
    ((out * weights).sum() + meters["width"].sum()).backward()
    for name, tensor in params.items():
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().item() > 0, name
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_forward_torch_gradients_match_finite_differences():
    fs = 8000.0
    x = torch.randn(1, 2, 160, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    names = [spec.name for spec in stage_specs("stereo")]
    values = torch.tensor([[OPERATING_POINT[n] for n in names]], dtype=torch.float64)

    def loss(audio: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        out, meters = stereo.forward_torch(audio, dict(zip(names, p.T, strict=True)), fs)
        return (out**2).sum() + meters["correlation"].sum()

    assert torch.autograd.gradcheck(loss, (x.requires_grad_(True), values.requires_grad_(True)),
                                    eps=1e-6, atol=1e-5, rtol=1e-4)


# --- rates, channels, render path --------------------------------------------------------------

@pytest.mark.parametrize("fs", [8000.0, 192000.0])
@pytest.mark.parametrize("channels", [1, 2])
def test_extreme_rates_run_and_stay_finite(fs, channels):
    x = noise(0.5, fs, channels=channels)
    y, meters = stereo.render(x, _params(bass_mono_hz=500.0, **UPMIX_ALL), fs)
    assert y.shape == (2, x.shape[1]) and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and all(np.isfinite(v) for v in meters.values())
    assert np.max(np.abs(y)) < 10 * np.max(np.abs(x))


def test_rejects_more_than_two_channels():
    with pytest.raises(ValueError, match="1 or 2 channels"):
        stereo.render(np.zeros((3, 100), np.float32), _params(), FS)


def test_render_path_does_not_import_torch_or_scipy():
    code = ("import numpy as np; from model.dsp import stereo; from model.params import "
            "defaults; stereo.render(np.zeros((2, 64), np.float32), defaults('stereo'), 48e3)")
    assert heavy_modules_imported(code) == []


def test_upmix_switched_on_mid_stream_starts_from_silence_without_stale_state():
    rate = 44100.0
    x = noise(0.4, rate, channels=1)
    params = dict(defaults("stereo"), upmix_mid_width=0.8)
    fresh = stereo.Streamer(params, rate, channels=1)
    switched = stereo.Streamer(dict(params, upmix_mid_width=0.0), rate, channels=1)
    switched.process(x[:, :8000])
    switched.set_params(params)
    ours, _ = switched.process(x[:, 8000:])
    expected, _ = fresh.process(x[:, 8000:])
    side, side_expected = ours[0] - ours[1], expected[0] - expected[1]
    assert rel_error_db(side, side_expected) < -80
