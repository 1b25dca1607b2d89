"""True peak: the BS.1770-4 filter's specification, known inter-sample overs, block parity."""

import numpy as np
import pytest
import scipy.signal
import torch

from model.dsp import truepeak


def test_interpolator_meets_the_standards_response():
    h = truepeak.PHASES.T.reshape(-1)
    freqs, response = scipy.signal.freqz(h, worN=8192, fs=4.0)
    db = 20 * np.log10(np.abs(response) / 4 + 1e-12)
    assert np.all(np.abs(db[freqs <= 0.42]) < 0.2)
    assert np.all(db[freqs >= 0.6] < -39.8)


def test_quarter_rate_sine_at_45_degrees_reads_3_db_over():
    # fs/4 sine with samples at ±0.7071·A: the waveform peaks at A between samples.
    n = np.arange(4800)
    x = np.sin(np.pi / 2 * n + np.pi / 4)[None, :].astype(np.float32)
    assert np.max(np.abs(x)) == pytest.approx(np.sqrt(0.5), abs=1e-6)
    assert truepeak.true_peak_dbtp(x) == pytest.approx(0.0, abs=0.15)


def test_low_frequency_sine_true_peak_equals_sample_peak():
    t = np.arange(48000) / 48000.0
    x = (0.5 * np.sin(2 * np.pi * 997 * t))[None, :]
    assert truepeak.true_peak_dbtp(x) == pytest.approx(20 * np.log10(0.5), abs=0.02)


def test_blocks_equal_whole_and_torch_equals_numpy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3000)).astype(np.float32)
    whole = truepeak.peak_envelope(x)
    history = np.zeros((2, truepeak.TAPS - 1))
    parts = [truepeak.peak_envelope(x[:, i:i + 7], history) for i in range(0, 3000, 7)]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-12)
    ours = truepeak.true_peak_torch(torch.from_numpy(x.astype(np.float64))[None]).numpy()[0]
    np.testing.assert_allclose(ours, truepeak.true_peak(x), rtol=1e-9)
