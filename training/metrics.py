"""Evaluation metrics: how close a master comes to its target, and whether it meets delivery.

- ``mr_stft_distance``: multi-resolution STFT distance (auraloss's definition), left/right and
  sum/difference, over a whole song.
- ``snr_db``: signal-to-noise ratio to the target after loudness matching and alignment.
- ``lufs_error``, ``true_peak_dbtp``, ``true_peak_compliant``: delivery (BS.1770-4 meters).
- ``param_recovery_error``: distance of proposed parameters to those that undo a degradation.

Audio is (channels, samples) float; the STFT distances and SNR take estimate and target of the
same shape.

References:
    C. J. Steinmetz, J. D. Reiss, "auraloss: Audio focused loss functions in PyTorch", DMRN+15,
    2020 (``auraloss.freq.MultiResolutionSTFTLoss``, ``SumAndDifferenceSTFTLoss``).
    R. Yamamoto, E. Song, J.-M. Kim, "Parallel WaveGAN", ICASSP 2020 (the multi-resolution STFT
    loss: spectral convergence plus log-magnitude L1).
    ITU-R BS.1770-4 (10/2015): integrated loudness and true peak.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from model.dsp.truepeak import true_peak_dbtp
from model.features import ANALYSIS_RATE_HZ
from model.loudness import integrated_loudness
from model.params import STAGES, TABLE, ChainParams
from model.units import db_to_gain
from training.losses import FFT_SIZES, HOP_SIZES, WINDOW_LENGTHS

MAGNITUDE_FLOOR = 1e-4
"""The smallest STFT magnitude: auraloss takes sqrt(max(|z|², 1e-8)) (``STFTLoss.eps``)."""
BATCH_SAMPLES = 1 << 21
"""STFT frames are processed in batches of at most this many windowed samples per channel."""
MAX_LAG_S = 0.010
"""``snr_db`` aligns the estimate to the target by the best integer lag within ± this."""
CORRELATION_BLOCK_SAMPLES = 1 << 16
COMPLIANCE_TOLERANCE_DB = 0.001
"""``true_peak_compliant`` allows this much over the ceiling: float32 rounding (a limiter's
output sits at its ceiling to about 1e-6 relative, 1e-5 dB), far below a meter's 0.1 dB."""


class _SpectralSums:
    """Running sums of one auraloss STFT term: spectral convergence ‖|Y| − |X|‖_F / ‖|Y|‖_F and
    the mean of |log|X| − log|Y|| over all bins of all frames."""

    def __init__(self) -> None:
        self.difference_energy = 0.0
        self.target_energy = 0.0
        self.log_l1 = 0.0
        self.bins = 0

    def add(self, estimate_spectrum: np.ndarray, target_spectrum: np.ndarray) -> None:
        x = _magnitude(estimate_spectrum).ravel()
        y = _magnitude(target_spectrum).ravel()
        difference = y - x
        self.difference_energy += float(np.dot(difference, difference))
        self.target_energy += float(np.dot(y, y))
        log_ratio = np.log(x / y, out=difference)
        self.log_l1 += float(np.sum(np.abs(log_ratio, out=log_ratio), dtype=np.float64))
        self.bins += x.size

    def value(self) -> float:
        convergence = math.sqrt(self.difference_energy) / math.sqrt(self.target_energy)
        return convergence + self.log_l1 / self.bins


def _magnitude(spectrum: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(spectrum), np.float32(MAGNITUDE_FLOOR))


def _framed(audio: np.ndarray, fft_size: int, hop_samples: int) -> np.ndarray:
    """torch.stft's frames (centre=True: reflect-padded by fft_size/2), as a strided view.

    Shape: (C, N) → (C, 1 + N // hop_samples, fft_size).
    """
    half = fft_size // 2
    if audio.shape[1] <= half:
        raise ValueError(f"audio of {audio.shape[1]} samples is too short for an STFT of "
                         f"{fft_size} (needs more than {half})")
    padded = np.pad(audio, ((0, 0), (half, half)), mode="reflect")
    return sliding_window_view(padded, fft_size, axis=-1)[:, ::hop_samples]


def _window(fft_size: int, window_length: int) -> np.ndarray:
    """torch.hann_window(window_length) (periodic), zero-padded to the centre of fft_size."""
    n = np.arange(window_length)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / window_length)
    left = (fft_size - window_length) // 2
    return np.pad(hann, (left, fft_size - window_length - left)).astype(np.float32)


def mr_stft_distance(estimate: np.ndarray, target: np.ndarray,
                     sample_rate_hz: int) -> dict[str, float | None]:
    """Multi-resolution STFT distance of a whole song to its target (lower is closer; 0 when
    identical; not symmetric: spectral convergence is relative to the target).

    Definition (auraloss 0.4, default weights): for each resolution (FFT size, hop, Hann window
    of the training loss: ``training.losses.FFT_SIZES`` / ``HOP_SIZES`` / ``WINDOW_LENGTHS``),
    |X|, |Y| are the STFT magnitudes max(|·|, 1e-4) of estimate and target; the term is
    ‖|Y| − |X|‖_F / ‖|Y|‖_F + mean |log|X| − log|Y||, both over every bin of every frame of every
    signal; the distance is the mean of the terms over the resolutions.

    - ``mr_stft``: ``auraloss.freq.MultiResolutionSTFTLoss`` with the channels as the signals.
    - ``sum_difference_stft``: ``auraloss.freq.SumAndDifferenceSTFTLoss``: the mean of the above
      on the single signals L+R and L−R (stereo only; for a dual-mono target L−R is silent and
      the distance is dominated by any side signal of the estimate).

    Whole songs do not fit auraloss's single pass in memory, so the frames are processed in
    batches and the sums above accumulated over all of them: the result is auraloss's value on
    the whole song (same frames, same padding), not an average of chunk values.

    Shape: estimate, target (channels, N) at ``ANALYSIS_RATE_HZ``: the resolutions are in
    samples, so other rates are refused (resample first) to keep distances comparable.
    Returns: {"mr_stft": float, "sum_difference_stft": float, or None for mono}.
    """
    if sample_rate_hz != ANALYSIS_RATE_HZ:
        raise ValueError(f"mr_stft_distance works at {ANALYSIS_RATE_HZ} Hz, not {sample_rate_hz} "
                         f"Hz: resample with model.audio_io.resample first")
    if estimate.shape != target.shape:
        raise ValueError(f"estimate {estimate.shape} and target {target.shape} differ in shape")
    stereo = estimate.shape[0] == 2
    channels, sums, differences = [], [], []
    for fft_size, hop, window_length in zip(FFT_SIZES, HOP_SIZES, WINDOW_LENGTHS, strict=True):
        window = _window(fft_size, window_length)
        frames_x = _framed(np.asarray(estimate, dtype=np.float32), fft_size, hop)
        frames_y = _framed(np.asarray(target, dtype=np.float32), fft_size, hop)
        per_channel, per_sum, per_difference = _SpectralSums(), _SpectralSums(), _SpectralSums()
        batch = max(1, BATCH_SAMPLES // fft_size)
        for start in range(0, frames_x.shape[1], batch):
            x = scipy.fft.rfft(frames_x[:, start:start + batch] * window, axis=-1)
            y = scipy.fft.rfft(frames_y[:, start:start + batch] * window, axis=-1)
            per_channel.add(x, y)
            if stereo:
                per_sum.add(x[0] + x[1], y[0] + y[1])
                per_difference.add(x[0] - x[1], y[0] - y[1])
        channels.append(per_channel.value())
        if stereo:
            sums.append(per_sum.value())
            differences.append(per_difference.value())
    sum_difference = 0.5 * (float(np.mean(sums)) + float(np.mean(differences))) if stereo \
        else None
    return {"mr_stft": float(np.mean(channels)), "sum_difference_stft": sum_difference}


def best_lag_samples(estimate: np.ndarray, target: np.ndarray, max_lag_samples: int) -> int:
    """The lag ℓ in [−max, max] maximising the cross-correlation Σ_c Σ_n target[c, n] ·
    estimate[c, n + ℓ] (estimate zero outside its samples); ℓ > 0: the estimate is late.

    Computed block by block with FFTs (each block of the target against the estimate's samples
    it can meet), so whole songs cost O(N log block).

    Shape: estimate, target (channels, N).
    """
    lags = 2 * max_lag_samples + 1
    padded = np.pad(np.asarray(estimate, dtype=np.float64), ((0, 0), (max_lag_samples,) * 2))
    target = np.asarray(target, dtype=np.float64)
    size = 1 << math.ceil(math.log2(CORRELATION_BLOCK_SAMPLES + lags))
    correlation = np.zeros(lags)
    for start in range(0, target.shape[1], CORRELATION_BLOCK_SAMPLES):
        block = target[:, start:start + CORRELATION_BLOCK_SAMPLES]
        segment = padded[:, start:start + block.shape[1] + lags - 1]
        spectrum = np.conj(scipy.fft.rfft(block, size)) * scipy.fft.rfft(segment, size)
        correlation += scipy.fft.irfft(spectrum.sum(axis=0), size)[:lags]
    return int(np.argmax(correlation)) - max_lag_samples


def snr_db(estimate: np.ndarray, target: np.ndarray, sample_rate_hz: int) -> float:
    """Signal-to-noise ratio of an estimate to its target, after loudness matching and alignment.

    The estimate is scaled by g = 10^((L_target − L_estimate)/20) (integrated loudness, BS.1770-4)
    and shifted by ``best_lag_samples`` within ±``MAX_LAG_S``; over the samples where both
    exist, SNR = 10·log10(Σ target² / Σ (target − g·estimate)²) over all channels
    (+inf when identical; −inf when the target is silent).

    Shape: estimate, target (channels, N) at ``sample_rate_hz``.
    """
    if estimate.shape != target.shape:
        raise ValueError(f"estimate {estimate.shape} and target {target.shape} differ in shape")
    estimate_lufs = integrated_loudness(estimate, sample_rate_hz)
    target_lufs = integrated_loudness(target, sample_rate_hz)
    if not math.isfinite(estimate_lufs) or not math.isfinite(target_lufs):
        raise ValueError("snr_db needs audio above the −70 LUFS gate in estimate and target")
    gain = db_to_gain(target_lufs - estimate_lufs)
    lag = best_lag_samples(estimate, target, round(MAX_LAG_S * sample_rate_hz))
    n = target.shape[1]
    aligned_target = np.asarray(target[:, max(0, -lag):n - max(0, lag)], dtype=np.float64)
    aligned_estimate = gain * np.asarray(estimate[:, max(0, lag):n - max(0, -lag)],
                                         dtype=np.float64)
    signal = float(np.sum(aligned_target ** 2))
    noise = float(np.sum((aligned_target - aligned_estimate) ** 2))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(signal / noise) if signal > 0.0 else -math.inf


def lufs_error(estimate: np.ndarray, sample_rate_hz: int, target_lufs: float) -> float:
    """Integrated loudness of the estimate minus the target, in LU (negative: too quiet).

    Shape: estimate (channels, N).
    """
    return integrated_loudness(estimate, sample_rate_hz) - target_lufs


def true_peak_compliant(audio: np.ndarray, ceiling_dbtp: float) -> bool:
    """Whether the true peak (BS.1770-4, 4× oversampled, ``true_peak_dbtp``) stays at or under
    the ceiling, within ``COMPLIANCE_TOLERANCE_DB``. Shape: audio (channels, N)."""
    return true_peak_dbtp(audio) <= ceiling_dbtp + COMPLIANCE_TOLERANCE_DB


def unit_vector(params: ChainParams) -> np.ndarray:
    """The parameters as unit values (``ChainParams.units``). Shape: (P,)."""
    return np.array(params.units())


def param_recovery_error(predicted_units: np.ndarray, known_units: np.ndarray,
                         known_mask: np.ndarray) -> dict[str, float | None]:
    """Mean absolute error in unit space over the known entries, overall and per stage.

    Shape: predicted_units, known_units (P,) in TABLE order; known_mask (P,) bool.
    Returns: {"all": MAE, "<stage>": MAE over that stage's known entries}; None where no entry
    is known.
    """
    error = np.abs(np.asarray(predicted_units, dtype=np.float64)
                   - np.asarray(known_units, dtype=np.float64))
    mask = np.asarray(known_mask, dtype=bool)
    stages = np.array([row.stage for row in TABLE])
    selections = {"all": mask} | {stage: mask & (stages == stage) for stage in STAGES}
    return {name: float(np.mean(error[selected])) if selected.any() else None
            for name, selected in selections.items()}
