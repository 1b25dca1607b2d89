"""Biquad core: RBJ formulas against independent designs, parity of the faces, gradients."""

import numpy as np
import pytest
import scipy.signal
import torch

from model.dsp import biquad
from tests.isolation import heavy_modules_imported
from tests.signals import noise, rel_error_db

FS = 44100.0


def test_lowpass_and_highpass_equal_scipy_butterworth():
    for ours, kind in ((biquad.lowpass(1000.0, FS), "lowpass"),
                       (biquad.highpass(1000.0, FS), "highpass")):
        expected = scipy.signal.butter(2, 1000.0, btype=kind, fs=FS, output="sos")
        np.testing.assert_allclose(ours[None, :], expected, atol=1e-12)


def test_peaking_gain_at_centre_and_unity_far_away():
    sos = biquad.peaking(1000.0, 6.0, 1.0, FS)
    _, h = scipy.signal.sosfreqz(sos[None, :], worN=[20.0, 1000.0, 19000.0], fs=FS)
    db = 20 * np.log10(np.abs(h))
    assert db[1] == pytest.approx(6.0, abs=1e-9)
    assert abs(db[0]) < 0.05 and abs(db[2]) < 0.05


def test_shelves_reach_their_gain_and_midpoint_at_corner():
    for design, far_hz in ((biquad.low_shelf, 10.0), (biquad.high_shelf, 21000.0)):
        sos = design(1000.0, -9.0, biquad.BUTTERWORTH_Q, FS)
        _, h = scipy.signal.sosfreqz(sos[None, :], worN=[far_hz, 1000.0], fs=FS)
        db = 20 * np.log10(np.abs(h))
        assert db[0] == pytest.approx(-9.0, abs=0.1)
        assert db[1] == pytest.approx(-4.5, abs=1e-6)


def test_render_equals_scipy_sosfilt():
    x = noise(0.3, FS, channels=2)
    sos = np.stack([biquad.peaking(60.0, 9.0, 0.7, FS), biquad.highpass(30.0, FS)])
    assert rel_error_db(biquad.render(x, sos), scipy.signal.sosfilt(sos, x, axis=-1)) < -130


@pytest.mark.parametrize("block", [1, 7, 512, 4096])
def test_streamer_equals_render(block):
    x = noise(0.1 if block == 1 else 0.3, FS, channels=2)
    sos = biquad.peaking(200.0, 9.0, 0.7, FS)
    whole = biquad.render(x, sos)
    streamer = biquad.Streamer(sos, channels=2)
    parts = [streamer.process(x[:, i:i + block]) for i in range(0, x.shape[1], block)]
    assert rel_error_db(np.concatenate(parts, axis=1), whole) < -120


def test_torch_face_equals_render_and_numpy_coefficients():
    x = noise(0.2, FS, channels=2)
    sos = biquad.peaking(torch.tensor(3000.0, dtype=torch.float64), -5.0, 2.0, FS)
    np.testing.assert_allclose(sos.numpy(), biquad.peaking(3000.0, -5.0, 2.0, FS), atol=1e-15)
    ours = biquad.filter_torch(torch.from_numpy(x)[None], sos[None]).numpy()[0]
    assert rel_error_db(ours, biquad.render(x, sos.numpy())) < -120


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 300, dtype=torch.float64, requires_grad=True)
    params = torch.tensor([[900.0, 4.0, 1.5], [5000.0, -3.0, 0.8]], dtype=torch.float64,
                          requires_grad=True)

    def loss_fn(audio, p):
        sos = torch.stack([biquad.peaking(p[:, 0], p[:, 1], p[:, 2], FS),
                           biquad.lowpass(p[:, 0] * 4, FS)], dim=1)
        return (biquad.filter_torch(audio, sos) ** 2).sum()

    assert torch.autograd.gradcheck(loss_fn, (x, params), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_render_path_does_not_import_torch_or_scipy():
    code = ("import numpy as np; from model.dsp import biquad; "
            "biquad.render(np.zeros((2, 64), np.float32), biquad.peaking(1e3, 3.0, 1.0, 48e3))")
    assert heavy_modules_imported(code) == []
