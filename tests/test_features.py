"""Analysis excerpts and log-mel features, checked against their definitions."""

import numpy as np
import pytest
import torch

from model import features
from model.features import ANALYSIS_RATE_HZ, DB_OFFSET, DB_SCALE, FLOOR_DB, N_FFT, N_MELS
from tests.signals import noise, sine

torch.set_num_threads(1)


def _db(feature: torch.Tensor) -> np.ndarray:
    return feature.numpy() * DB_SCALE - DB_OFFSET


def _hann(n: int) -> np.ndarray:
    """Periodic Hann window from its definition."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def test_frame_level_is_the_window_weighted_mean_square():
    audio = noise(0.5, ANALYSIS_RATE_HZ, level_dbfs=-20.0, seed=3)
    out = features.LogMelFeatures()(torch.from_numpy(audio)[None])[0]
    frames = features.frame_count(audio.shape[1])
    assert out.shape == (features.feature_count(), frames)
    window = _hann(N_FFT)
    for signal, row in ((0.5 * (audio[0] + audio[1]), -2), (0.5 * (audio[0] - audio[1]), -1)):
        starts = np.arange(frames) * features.HOP_SAMPLES
        segments = np.stack([signal[s:s + N_FFT] for s in starts]).astype(np.float64)
        expected_db = 10 * np.log10((segments ** 2 * window ** 2).sum(1) / (window ** 2).sum())
        np.testing.assert_allclose(_db(out[row]), expected_db, atol=1e-3)


def test_a_sine_reads_its_level_in_its_mel_band_and_nothing_in_the_side():
    amplitude, freq_hz = 0.5, 1000.0
    audio = sine(freq_hz, 0.5, ANALYSIS_RATE_HZ, level_dbfs=20 * np.log10(amplitude))
    out = features.LogMelFeatures()(torch.from_numpy(audio)[None])[0]
    np.testing.assert_allclose(_db(out[-2]), 10 * np.log10(amplitude ** 2 / 2), atol=0.05)
    np.testing.assert_allclose(_db(out[-1]), FLOOR_DB, atol=1e-3)
    np.testing.assert_allclose(_db(out[N_MELS:2 * N_MELS]), FLOOR_DB, atol=1e-3)
    mel = 2595 * np.log10(1 + np.array([features.MEL_MIN_HZ, features.MEL_MAX_HZ]) / 700)
    centres_hz = 700 * (10 ** (np.linspace(*mel, N_MELS + 2)[1:-1] / 2595) - 1)
    nearest = int(np.argmin(np.abs(centres_hz - freq_hz)))
    assert (out[:N_MELS].argmax(dim=0) == nearest).all()


def test_every_mel_band_has_bins_and_peaks_near_one():
    bank = features.mel_filterbank(N_MELS, N_FFT, ANALYSIS_RATE_HZ, 20.0, 20000.0)
    assert bank.shape == (N_MELS, N_FFT // 2 + 1)
    assert ((bank > 0).sum(axis=1) >= 2).all()
    assert (bank.max(axis=1) > 0.5).all() and bank.max() <= 1.0


def test_excerpts_start_at_the_start_end_at_the_end_and_are_evenly_spaced():
    rate = ANALYSIS_RATE_HZ
    audio = noise(20.0, rate, seed=1)
    out = features.analysis_excerpts(audio, rate, count=5, seconds=2.0)
    n = round(2.0 * rate)
    assert out.shape == (5, 2, n) and out.dtype == np.float32
    starts = np.linspace(0, audio.shape[1] - n, 5).round().astype(int)
    for excerpt, start in zip(out, starts, strict=True):
        np.testing.assert_array_equal(excerpt, audio[:, start:start + n])


def test_mono_becomes_dual_mono_and_a_short_track_is_zero_padded():
    rate = ANALYSIS_RATE_HZ
    audio = noise(0.5, rate, channels=1, seed=2)
    out = features.analysis_excerpts(audio, rate, count=3, seconds=1.0)
    assert out.shape == (3, 2, rate)
    padded = np.concatenate([audio[0], np.zeros(rate - audio.shape[1], np.float32)])
    for excerpt in out:
        np.testing.assert_array_equal(excerpt, np.stack([padded, padded]))


def test_excerpts_are_resampled_to_the_analysis_rate():
    rate, freq_hz, seconds = 48000, 1000.0, 1.0
    audio = sine(freq_hz, 10.0, rate, level_dbfs=-6.0)
    out = features.analysis_excerpts(audio, rate, count=3, seconds=seconds)
    starts_s = np.linspace(0, audio.shape[1] - round(seconds * rate), 3).round() / rate
    t_s = np.arange(out.shape[2]) / ANALYSIS_RATE_HZ
    inner = slice(1000, -1000)
    for excerpt, start_s in zip(out, starts_s, strict=True):
        expected = 10 ** (-6 / 20) * np.sin(2 * np.pi * freq_hz * (start_s + t_s))
        np.testing.assert_allclose(excerpt[0, inner], expected[inner], atol=1e-3)


@pytest.mark.parametrize("shape", [(3, 1000), (1000,)])
def test_excerpts_refuse_other_shapes(shape):
    with pytest.raises(ValueError, match="channels"):
        features.analysis_excerpts(np.zeros(shape, np.float32), ANALYSIS_RATE_HZ)
