"""Parametric EQ: rendered response against the cookbook, transparency, faces in parity, knobs."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from model.dsp import eq
from model.params import defaults, stage_specs
from tests.isolation import heavy_modules_imported
from tests.signals import music_like, noise, rel_error_db

FS = 44100

BANDS = ("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf")


def settings(*bands: tuple[float, float, float]) -> dict[str, float]:
    """EQ params from (freq_hz, gain_db, q) per band, in cascade order."""
    params = {}
    for band, (freq_hz, gain_db, q) in zip(BANDS, bands, strict=True):
        params |= {f"{band}_freq_hz": freq_hz, f"{band}_gain_db": gain_db, f"{band}_q": q}
    return params


SETTINGS = {
    "all_bands_mixed": settings((80.0, 4.0, 0.707), (150.0, -3.0, 1.4), (700.0, 5.0, 0.5),
                                (2500.0, -7.0, 3.0), (9000.0, 2.5, 1.0), (12000.0, -4.0, 1.2)),
    "extreme_boost": settings((1000.0, 12.0, 2.0), (40.0, 12.0, 10.0), (300.0, 12.0, 0.1),
                              (5000.0, 12.0, 10.0), (19000.0, 12.0, 4.0), (1000.0, 12.0, 0.3)),
    "extreme_cut": settings((20.0, -12.0, 0.3), (60.0, -12.0, 0.1), (1000.0, -12.0, 10.0),
                            (11000.0, -12.0, 0.1), (16000.0, -12.0, 10.0), (19000.0, -12.0, 2.0)),
    "narrow_and_wide": settings((300.0, 6.0, 0.3), (25.0, -9.0, 10.0), (200.0, 8.0, 0.1),
                                (4000.0, -10.0, 10.0), (7000.0, 6.0, 0.1), (4000.0, 3.0, 2.0)),
}

WORKING = settings((120.0, 6.0, 0.8), (250.0, -5.0, 1.5), (900.0, 4.0, 1.0),
                   (3000.0, -6.0, 2.0), (7000.0, 5.0, 1.2), (10000.0, -4.0, 0.9))
"""Every band audibly active: the operating point for the knob and parity tests."""


def cookbook_ba(kind: str, freq_hz: float, gain_db: float, q: float,
                sample_rate_hz: float) -> tuple[list[float], list[float]]:
    """RBJ cookbook (b, a) of one band, unnormalised, written out from the cookbook text."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * freq_hz / sample_rate_hz
    cos_w0 = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * q)
    if kind == "peaking":
        return ([1 + alpha * amp, -2 * cos_w0, 1 - alpha * amp],
                [1 + alpha / amp, -2 * cos_w0, 1 - alpha / amp])
    root = 2.0 * math.sqrt(amp) * alpha
    if kind == "low_shelf":
        return ([amp * ((amp + 1) - (amp - 1) * cos_w0 + root),
                 2 * amp * ((amp - 1) - (amp + 1) * cos_w0),
                 amp * ((amp + 1) - (amp - 1) * cos_w0 - root)],
                [(amp + 1) + (amp - 1) * cos_w0 + root,
                 -2 * ((amp - 1) + (amp + 1) * cos_w0),
                 (amp + 1) + (amp - 1) * cos_w0 - root])
    return ([amp * ((amp + 1) + (amp - 1) * cos_w0 + root),
             -2 * amp * ((amp - 1) + (amp + 1) * cos_w0),
             amp * ((amp + 1) + (amp - 1) * cos_w0 - root)],
            [(amp + 1) - (amp - 1) * cos_w0 + root,
             2 * ((amp - 1) - (amp + 1) * cos_w0),
             (amp + 1) - (amp - 1) * cos_w0 - root])


def cookbook_response_db(params: dict[str, float], freqs_hz: np.ndarray,
                         sample_rate_hz: float) -> np.ndarray:
    """|Π_b (b0 + b1 z⁻¹ + b2 z⁻²) / (a0 + a1 z⁻¹ + a2 z⁻²)| in dB at z = e^jω."""
    z1 = np.exp(-2j * np.pi * freqs_hz / sample_rate_hz)
    h = np.ones_like(z1)
    for band in BANDS:
        kind = "peaking" if band.startswith("peak") else band
        b, a = cookbook_ba(kind, params[f"{band}_freq_hz"], params[f"{band}_gain_db"],
                           params[f"{band}_q"], sample_rate_hz)
        h *= (b[0] + b[1] * z1 + b[2] * z1 ** 2) / (a[0] + a[1] * z1 + a[2] * z1 ** 2)
    return 20.0 * np.log10(np.abs(h))


@pytest.mark.parametrize("sample_rate_hz", [44100, 48000, 96000])
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_rendered_response_matches_cookbook_within_0_1_db(name, sample_rate_hz):
    params = SETTINGS[name]
    n = 2 ** 18  # ≥ 2.7 s: the slowest band (25 Hz, Q 10) has decayed by > 140 dB
    impulse = np.zeros((1, n), dtype=np.float32)
    impulse[0, 0] = 1.0
    rendered, _ = eq.render(impulse, params, sample_rate_hz)
    assert np.max(np.abs(rendered[0, -1000:])) < 1e-6, "impulse response has not decayed"
    freqs_hz = np.fft.rfftfreq(n, 1.0 / sample_rate_hz)
    band = (freqs_hz >= 20.0) & (freqs_hz <= 20000.0)
    measured_db = 20.0 * np.log10(np.abs(np.fft.rfft(rendered[0].astype(np.float64))))
    expected_db = cookbook_response_db(params, freqs_hz[band], sample_rate_hz)
    assert np.max(np.abs(measured_db[band] - expected_db)) < 0.1


@pytest.mark.parametrize("sample_rate_hz", [8000, 44100, 192000])
def test_all_gains_zero_is_transparent(sample_rate_hz):
    params = settings((20.0, 0.0, 2.0), (20.0, 0.0, 10.0), (500.0, 0.0, 0.1),
                      (3000.0, 0.0, 10.0), (20000.0, 0.0, 1.0), (20000.0, 0.0, 0.3))
    x = noise(0.5, sample_rate_hz, level_dbfs=-10.0)
    out, meters = eq.render(x, params, sample_rate_hz)
    assert rel_error_db(out, x) < -100
    assert meters == {}


def test_response_db_matches_cookbook():
    freqs_hz = np.geomspace(20.0, 20000.0, 500)
    for params in SETTINGS.values():
        np.testing.assert_allclose(eq.response_db(params, freqs_hz, 48000),
                                   cookbook_response_db(params, freqs_hz, 48000), atol=1e-9)


def test_sections_numpy_and_torch_agree_and_batch():
    params = SETTINGS["all_bands_mixed"]
    sos = eq.sections(params, FS)
    assert isinstance(sos, np.ndarray) and sos.shape == (6, 6)
    batch = {name: torch.tensor([value, defaults("eq")[name]], dtype=torch.float64)
             for name, value in params.items()}
    sos_torch = eq.sections(batch, FS)
    assert isinstance(sos_torch, torch.Tensor) and sos_torch.shape == (2, 6, 6)
    np.testing.assert_allclose(sos_torch[0].numpy(), sos, atol=1e-15)
    np.testing.assert_allclose(sos_torch[1].numpy(), eq.sections(defaults("eq"), FS), atol=1e-15)


def test_render_rejects_missing_or_unknown_names():
    x = noise(0.01, FS)
    with pytest.raises(KeyError):
        eq.render(x, {k: v for k, v in WORKING.items() if k != "peak2_q"}, FS)
    with pytest.raises(KeyError):
        eq.render(x, {**WORKING, "enabled": True}, FS)


@pytest.mark.parametrize("block", [1, 7, 512, 4096])
def test_streamer_equals_render(block):
    x = music_like(0.1 if block == 1 else 1.0, FS, seed=3)
    whole, _ = eq.render(x, WORKING, FS)
    streamer = eq.Streamer(WORKING, FS, channels=2)
    assert streamer.latency_samples == 0
    parts = [streamer.process(x[:, i:i + block])[0] for i in range(0, x.shape[1], block)]
    assert rel_error_db(np.concatenate(parts, axis=1), whole) < -80
    streamer.reset()
    assert rel_error_db(streamer.process(x)[0], whole) < -80


def test_streamer_set_params_keeps_state():
    x = music_like(0.5, FS, seed=4)
    half = x.shape[1] // 2
    other = SETTINGS["all_bands_mixed"]
    streamer = eq.Streamer(WORKING, FS, channels=2)
    first, _ = streamer.process(x[:, :half])
    streamer.set_params(other)
    second, _ = streamer.process(x[:, half:])
    sos_a, sos_b = eq.sections(WORKING, FS), eq.sections(other, FS)
    zi = np.zeros((6, 2, 2))
    expected_first, zf = scipy.signal.sosfilt(sos_a, x[:, :half], axis=-1, zi=zi)
    expected_second, _ = scipy.signal.sosfilt(sos_b, x[:, half:], axis=-1, zi=zf)
    assert rel_error_db(first, expected_first) < -100
    assert rel_error_db(second, expected_second) < -100


def test_forward_torch_equals_render_per_example():
    x = music_like(0.3, FS, seed=5)
    examples = [WORKING, SETTINGS["extreme_boost"]]
    params = {name: torch.tensor([p[name] for p in examples], dtype=torch.float64)
              for name in WORKING}
    audio = torch.from_numpy(np.stack([x, x[::-1].copy()]).astype(np.float64))
    out, meters = eq.forward_torch(audio, params, FS)
    assert out.shape == audio.shape and meters == {}
    assert rel_error_db(out[0].numpy(), eq.render(x, examples[0], FS)[0]) < -80
    assert rel_error_db(out[1].numpy(), eq.render(x[::-1].copy(), examples[1], FS)[0]) < -80


@pytest.mark.parametrize("spec", stage_specs("eq"), ids=lambda s: s.name)
def test_no_dead_knobs_in_render(spec):
    x = music_like(0.5, FS, seed=6)
    nudged = dict(WORKING)
    nudged[spec.name] += 1.0 if spec.scale == "linear" else 0.1 * nudged[spec.name]
    base, _ = eq.render(x, WORKING, FS)
    moved, _ = eq.render(x, nudged, FS)
    assert rel_error_db(moved, base) > -60, f"{spec.name} hardly changes the output"


def test_every_knob_has_a_finite_nonzero_gradient():
    x = music_like(0.2, FS, seed=7)
    params = {name: torch.tensor([value], dtype=torch.float64, requires_grad=True)
              for name, value in WORKING.items()}
    audio = torch.from_numpy(x.astype(np.float64))[None].requires_grad_(True)
    out, _ = eq.forward_torch(audio, params, FS)
    out.pow(2).mean().backward()
    assert torch.isfinite(audio.grad).all() and audio.grad.abs().sum() > 0
    for name, tensor in params.items():
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all(), name
        assert tensor.grad.abs().item() > 0.0, f"{name} has zero gradient"


@pytest.mark.parametrize("sample_rate_hz", [8000, 192000])
@pytest.mark.parametrize("channels", [1, 2])
def test_extreme_rates_and_mono(sample_rate_hz, channels):
    x = noise(0.3, sample_rate_hz, channels=channels)
    out, _ = eq.render(x, SETTINGS["extreme_boost"], sample_rate_hz)
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) > 0
    streamed, _ = eq.Streamer(SETTINGS["extreme_boost"], sample_rate_hz, channels).process(x)
    assert rel_error_db(streamed, out) < -80


def test_render_path_does_not_import_torch_or_scipy():
    code = ("import numpy as np; from model.dsp import eq; from model.params import defaults; "
            "eq.render(np.zeros((2, 64), np.float32), defaults('eq'), 48000); "
            "eq.Streamer(defaults('eq'), 48000, 2).process(np.zeros((2, 64), np.float32))")
    assert heavy_modules_imported(code) == []
