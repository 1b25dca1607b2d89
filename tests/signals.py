"""Shared test-signal generators. Shapes are (channels, samples), float32 unless said."""

from __future__ import annotations

import numpy as np


def sine(freq_hz: float, duration_s: float, sample_rate_hz: float, level_dbfs: float = -6.0,
         channels: int = 2, phase_rad: float = 0.0) -> np.ndarray:
    """A sine whose peak is ``level_dbfs``."""
    t = np.arange(round(duration_s * sample_rate_hz)) / sample_rate_hz
    x = 10.0 ** (level_dbfs / 20.0) * np.sin(2 * np.pi * freq_hz * t + phase_rad)
    return np.tile(x.astype(np.float32), (channels, 1))


def noise(duration_s: float, sample_rate_hz: float, level_dbfs: float = -20.0,
          channels: int = 2, seed: int = 0) -> np.ndarray:
    """Independent white Gaussian noise per channel with RMS ``level_dbfs``."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate_hz)
    return (10.0 ** (level_dbfs / 20.0) * rng.standard_normal((channels, n))).astype(np.float32)


def square(freq_hz: float, duration_s: float, sample_rate_hz: float, level_dbfs: float = 0.0,
           channels: int = 2) -> np.ndarray:
    """A naive (aliased) full-band square wave of peak ``level_dbfs``."""
    t = np.arange(round(duration_s * sample_rate_hz)) / sample_rate_hz
    x = 10.0 ** (level_dbfs / 20.0) * np.sign(np.sin(2 * np.pi * freq_hz * t + 1e-3))
    return np.tile(x.astype(np.float32), (channels, 1))


def clicks(duration_s: float, sample_rate_hz: float, period_s: float = 0.25,
           level_dbfs: float = 0.0, channels: int = 2) -> np.ndarray:
    """Isolated single-sample impulses of alternating sign on silence."""
    n = round(duration_s * sample_rate_hz)
    x = np.zeros(n, dtype=np.float32)
    step = int(period_s * sample_rate_hz)
    x[step // 2::step] = 10.0 ** (level_dbfs / 20.0)
    x[step // 2::2 * step] *= -1
    return np.tile(x, (channels, 1))


def music_like(duration_s: float, sample_rate_hz: float, seed: int = 0) -> np.ndarray:
    """Stereo pink-ish noise with a beat-like envelope: dynamic, broadband, partly correlated."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate_hz)
    spectrum = rng.standard_normal((3, n // 2 + 1)) + 1j * rng.standard_normal((3, n // 2 + 1))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate_hz)
    spectrum *= 1.0 / np.sqrt(np.maximum(freqs, 20.0))
    common, left, right = np.fft.irfft(spectrum, n)
    t = np.arange(n) / sample_rate_hz
    envelope = 0.35 + 0.65 * np.exp(-((t * 2.0) % 1.0) * 6.0)
    stereo = np.stack([common + 0.5 * left, common + 0.5 * right]) * envelope
    stereo /= np.max(np.abs(stereo))
    return (0.5 * stereo).astype(np.float32)


def rel_error_db(actual: np.ndarray, expected: np.ndarray) -> float:
    """Error energy relative to the expected signal's energy, in dB."""
    err = np.sum((np.asarray(actual, np.float64) - np.asarray(expected, np.float64)) ** 2)
    ref = np.sum(np.asarray(expected, np.float64) ** 2) + 1e-30
    return float(10.0 * np.log10(err / ref + 1e-30))
