"""Evaluation metrics against independent definitions: auraloss itself for the STFT distances, a
closed form for scaled copies, the SNR of a known noise, a brute-force correlation, BS.1770's
sine levels and the true peak of a sine between its samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.params import TABLE, ChainParams
from tests.signals import noise, sine
from training import metrics

torch = pytest.importorskip("torch")
auraloss = pytest.importorskip("auraloss")

FS = 44100


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _auraloss(estimate: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    from training.losses import FFT_SIZES, HOP_SIZES, WINDOW_LENGTHS

    resolutions = {"fft_sizes": list(FFT_SIZES), "hop_sizes": list(HOP_SIZES),
                   "win_lengths": list(WINDOW_LENGTHS)}
    x = torch.from_numpy(estimate)[None]
    y = torch.from_numpy(target)[None]
    with torch.no_grad():
        channels = auraloss.freq.MultiResolutionSTFTLoss(**resolutions)(x, y)
        sum_difference = auraloss.freq.SumAndDifferenceSTFTLoss(**resolutions)(x, y)
    return float(channels), float(sum_difference)


def _lowpassed(audio: np.ndarray) -> np.ndarray:
    """A different but related signal: a 3-tap moving average plus a little of its side."""
    smooth = (audio + np.roll(audio, 1, axis=1) + np.roll(audio, 2, axis=1)) / 3.0
    return (smooth + 0.2 * (smooth[::-1] - smooth)).astype(np.float32)


@pytest.mark.parametrize("batch_samples", [1 << 21, 1 << 13])
def test_mr_stft_equals_auraloss_on_the_whole_signal(monkeypatch, batch_samples):
    """Accumulated over frame batches (small ones too), the value is auraloss's single pass."""
    monkeypatch.setattr(metrics, "BATCH_SAMPLES", batch_samples)
    target = noise(1.5, FS, -20.0, seed=1)
    estimate = _lowpassed(target) + noise(1.5, FS, -40.0, seed=2)
    ours = metrics.mr_stft_distance(estimate, target, FS)
    channels, sum_difference = _auraloss(estimate, target)
    assert ours["mr_stft"] == pytest.approx(channels, rel=1e-4)
    assert ours["sum_difference_stft"] == pytest.approx(sum_difference, rel=1e-4)


def test_mr_stft_is_zero_for_a_copy_and_one_plus_log2_for_twice_the_level():
    """Estimate = 2·target: every magnitude doubles, so spectral convergence ‖2Y − Y‖/‖Y‖ = 1 and
    the log term is ln 2 in every bin, at every resolution, for L/R and for L+R and L−R."""
    target = noise(1.0, FS, -20.0, seed=3)
    copy = metrics.mr_stft_distance(target.copy(), target, FS)
    assert copy == {"mr_stft": 0.0, "sum_difference_stft": 0.0}
    doubled = metrics.mr_stft_distance(2.0 * target, target, FS)
    assert doubled["mr_stft"] == pytest.approx(1.0 + math.log(2.0), rel=1e-5)
    assert doubled["sum_difference_stft"] == pytest.approx(1.0 + math.log(2.0), rel=1e-5)


def test_mr_stft_is_positive_for_different_signals_and_mono_has_no_sum_difference():
    target = noise(1.0, FS, -20.0, channels=1, seed=4)
    result = metrics.mr_stft_distance(noise(1.0, FS, -20.0, channels=1, seed=5), target, FS)
    assert result["mr_stft"] > 0.5
    assert result["sum_difference_stft"] is None


def test_mr_stft_refuses_other_rates_and_mismatched_shapes():
    audio = noise(1.0, 48000, seed=6)
    with pytest.raises(ValueError, match="44100"):
        metrics.mr_stft_distance(audio, audio, 48000)
    with pytest.raises(ValueError, match="shape"):
        metrics.mr_stft_distance(audio[:, :-1], audio, FS)


def test_best_lag_matches_a_brute_force_correlation(monkeypatch):
    monkeypatch.setattr(metrics, "CORRELATION_BLOCK_SAMPLES", 512)
    rng = np.random.default_rng(7)
    target = rng.standard_normal((2, 3000))
    for true_lag in (-37, 0, 23):
        estimate = np.roll(target, true_lag, axis=1) + 0.8 * rng.standard_normal((2, 3000))
        max_lag = 50
        padded = np.pad(estimate, ((0, 0), (max_lag, max_lag)))
        brute = [np.sum(target * padded[:, max_lag + lag:max_lag + lag + 3000])
                 for lag in range(-max_lag, max_lag + 1)]
        expected = int(np.argmax(brute)) - max_lag
        assert expected == true_lag
        assert metrics.best_lag_samples(estimate, target, max_lag) == expected


def _padded_noise(seed: int) -> np.ndarray:
    """Noise with 30 ms of silence at both ends, so shifts up to 30 ms lose nothing."""
    pad = round(0.03 * FS)
    return np.pad(noise(4.0, FS, -20.0, seed=seed), ((0, 0), (pad, pad)))


def test_snr_of_a_known_noise_after_loudness_matching():
    """x + n with n 20 dB below x (white, independent): the loudness gain is
    g = 1/sqrt(1.01), the error (1 − g)·x − g·n, so SNR = −10·log10((1 − g)² + 0.01·g²)."""
    x = _padded_noise(8)
    n = 0.1 * noise(x.shape[1] / FS, FS, -20.0, seed=9)
    g = 1.0 / math.sqrt(1.01)
    expected_db = -10.0 * math.log10((1.0 - g) ** 2 + 0.01 * g ** 2)
    assert metrics.snr_db(x + n, x, FS) == pytest.approx(expected_db, abs=0.1)
    assert metrics.snr_db(np.roll(x + n, 300, axis=1), x, FS) == pytest.approx(expected_db,
                                                                               abs=0.1)


def test_snr_undoes_level_and_shifts_within_10_ms_only():
    """A scaled, shifted copy is near-perfect (the gain is a loudness match, exact to about
    1e-3 dB as the 400 ms blocks see the shifted signal, so about 70 dB); beyond ±10 ms the
    alignment gives up and the SNR collapses."""
    x = _padded_noise(10)
    assert metrics.snr_db(0.3 * np.roll(x, -400, axis=1), x, FS) > 60.0
    assert metrics.snr_db(0.3 * np.roll(x, 600, axis=1), x, FS) < 1.0
    assert metrics.snr_db(x.copy(), x, FS) == math.inf


def test_lufs_error_of_bs1770_reference_sines():
    """BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads −3.01 LKFS; in both, 0.00 LKFS."""
    one_channel = sine(997.0, 5.0, 48000, 0.0, channels=1)
    assert metrics.lufs_error(one_channel, 48000, -3.01) == pytest.approx(0.0, abs=0.02)
    assert metrics.lufs_error(sine(997.0, 5.0, 48000, 0.0), 48000, -1.0) == pytest.approx(
        1.0, abs=0.02)


def test_true_peak_compliance_sees_the_peak_between_samples():
    """A sine at fs/4 sampled at ±45°: every sample is at 1/√2 (−3.01 dBFS), its true peak is
    the amplitude (0 dBTP). Under a −1 dBTP ceiling the samples pass, the signal does not."""
    x = sine(FS / 4.0, 1.0, FS, 0.0, phase_rad=math.pi / 4.0)
    assert np.max(np.abs(x)) == pytest.approx(1.0 / math.sqrt(2.0), rel=1e-6)
    assert metrics.true_peak_dbtp(x) == pytest.approx(0.0, abs=0.3)
    assert not metrics.true_peak_compliant(x, -1.0)
    assert metrics.true_peak_compliant(x * np.float32(10.0 ** (-1.5 / 20.0)), -1.0)


def test_unit_vector_of_the_defaults():
    units = metrics.unit_vector(ChainParams())
    keys = [row.key for row in TABLE]
    assert units.shape == (len(TABLE),)
    assert units[keys.index("eq.low_shelf_gain_db")] == pytest.approx(0.5)  # 0 in −12 … 12
    assert units[keys.index("compressor.ratio")] == pytest.approx(math.log(2) / math.log(20))
    assert units[keys.index("saturation.hardness")] == 0.0


def test_param_recovery_error_over_known_entries_only():
    keys = [row.key for row in TABLE]
    rng = np.random.default_rng(11)
    known = rng.uniform(size=len(TABLE))
    predicted = rng.uniform(size=len(TABLE))  # unknown entries: far off, must not count
    mask = np.zeros(len(TABLE), dtype=bool)
    for key, error in (("eq.low_shelf_gain_db", 0.1), ("eq.peak2_q", -0.3),
                       ("compressor.ratio", 0.25), ("stereo.width", 0.0)):
        i = keys.index(key)
        predicted[i] = known[i] + error
        mask[i] = True
    result = metrics.param_recovery_error(predicted, known, mask)
    assert result["all"] == pytest.approx((0.1 + 0.3 + 0.25 + 0.0) / 4)
    assert result["eq"] == pytest.approx(0.2)
    assert result["compressor"] == pytest.approx(0.25)
    assert result["stereo"] == pytest.approx(0.0)
    assert result["saturation"] is None and result["limiter"] is None
