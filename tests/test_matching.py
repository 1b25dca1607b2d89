"""Spectral matching: long-term spectra, the EQ and width fit, and how ``propose`` uses it in
reference mode.

Oracles: the chain's own EQ applied to noise with a known setting (its inverse is the answer),
numpy mid/side width scaling, and the EQ's magnitude response (``eq.response_db``).
"""

import numpy as np
import pytest
import torch

from model import matching, proposer
from model.dsp import eq
from model.params import ChainParams
from training import degrade

FS = 44100


def _pink_stereo(seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo noise with a 1/f spectrum and a side 8 dB below the mid. Shape: (2, N) float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    spectrum = rng.standard_normal((2, n // 2 + 1)) + 1j * rng.standard_normal((2, n // 2 + 1))
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / FS), 20.0))
    mid, side = np.fft.irfft(spectrum, n)
    side *= 10 ** (-8 / 20) * np.std(mid) / np.std(side)
    audio = np.stack([mid + side, mid - side])
    return (0.1 * audio / np.abs(audio).max()).astype(np.float32)


SETTING = {"low_shelf_freq_hz": 150.0, "low_shelf_gain_db": 4.0, "low_shelf_q": 0.7,
           "peak2_freq_hz": 600.0, "peak2_gain_db": -5.0, "peak2_q": 1.5,
           "high_shelf_freq_hz": 5000.0, "high_shelf_gain_db": -4.0, "high_shelf_q": 0.7}


def _degraded(audio: np.ndarray, width: float) -> np.ndarray:
    params = ChainParams()
    for name, value in SETTING.items():
        params = params.replace(f"eq.{name}", value)
    coloured, _ = eq.render(audio, params.stage("eq"), FS)
    return degrade.scale_width(coloured, width)


def test_long_term_spectrum_reads_a_known_gain_and_width():
    audio = _pink_stereo(8.0)
    plain = matching.long_term_spectrum(audio, FS)
    louder = matching.long_term_spectrum(2.0 * audio, FS)
    wider = matching.long_term_spectrum(degrade.scale_width(audio, 1.5), FS)
    assert plain.mid_db.shape == plain.side_db.shape == matching.band_centres_hz().shape
    np.testing.assert_allclose(louder.mid_db - plain.mid_db, 20 * np.log10(2.0), atol=1e-6)
    np.testing.assert_allclose(wider.mid_db, plain.mid_db, atol=1e-6)
    np.testing.assert_allclose(wider.side_db - plain.side_db, 20 * np.log10(1.5), atol=1e-6)
    mono = matching.long_term_spectrum(audio[:1], FS)
    assert np.all(mono.side_db < -100)


def test_fit_recovers_the_inverse_of_a_known_eq_and_width():
    original = _pink_stereo(10.0)
    degraded = _degraded(original, width=0.7)
    fitted = matching.fit(ChainParams(), matching.long_term_spectrum(degraded, FS),
                          matching.long_term_spectrum(original, FS), FS)
    freqs = np.geomspace(40.0, 12000.0, 60)
    inverse = -eq.response_db({**ChainParams().stage("eq"), **SETTING}, freqs, FS)
    error = eq.response_db(fitted.stage("eq"), freqs, FS) - inverse
    assert np.max(np.abs(error - error.mean())) < 1.0
    assert fitted.values["stereo"]["width"] == pytest.approx(1 / 0.7, rel=0.03)
    assert fitted.stage("compressor") == ChainParams().stage("compressor")


def test_fit_keeps_locked_values_and_fits_around_them():
    original = _pink_stereo(10.0)
    degraded = _degraded(original, width=0.7)
    start = ChainParams().replace("eq.low_shelf_gain_db", -4.0).replace("stereo.width", 1.2)
    locked = {"eq.low_shelf_gain_db", "stereo.width"}
    fitted = matching.fit(start, matching.long_term_spectrum(degraded, FS),
                          matching.long_term_spectrum(original, FS), FS, locked=locked)
    assert fitted.values["eq"]["low_shelf_gain_db"] == -4.0
    assert fitted.values["stereo"]["width"] == 1.2
    assert fitted.values["eq"]["high_shelf_gain_db"] > 2.0


def test_matching_a_track_to_itself_changes_nothing_audible():
    audio = _pink_stereo(6.0)
    spectrum = matching.long_term_spectrum(audio, FS)
    fitted = matching.fit(ChainParams(), spectrum, spectrum, FS)
    freqs = np.geomspace(30.0, 16000.0, 50)
    assert np.max(np.abs(eq.response_db(fitted.stage("eq"), freqs, FS))) < 0.1
    assert fitted.values["stereo"]["width"] == pytest.approx(1.0, abs=0.01)


def test_propose_fits_to_the_reference_and_refine_off_gives_the_networks_own():
    torch.manual_seed(0)
    model = proposer.Proposer(channels=8, blocks=1, hidden=16, film_hidden=8)
    original = _pink_stereo(10.0)
    degraded = _degraded(original, width=0.7)
    plain = proposer.propose(model, degraded, FS, -14.0, reference=original, refine=False)
    fitted = proposer.propose(model, degraded, FS, -14.0, reference=original)
    assert fitted.values["stereo"]["width"] == pytest.approx(1 / 0.7, rel=0.03)
    assert plain.values["stereo"]["width"] != fitted.values["stereo"]["width"]
    assert fitted.stage("compressor") == plain.stage("compressor")
    locks = {"eq.high_shelf_gain_db": 1.5}
    assert proposer.propose(model, degraded, FS, -14.0, reference=original, locks=locks
                            ).values["eq"]["high_shelf_gain_db"] == 1.5
    assert proposer.propose(model, degraded, FS, -14.0) == \
        proposer.propose(model, degraded, FS, -14.0, refine=False)
