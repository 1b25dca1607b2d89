"""What the proposer hears: excerpts spread over a track, and their log-mel features.

A track is analysed through ``count`` short excerpts spread evenly from its start to its end,
resampled to ``ANALYSIS_RATE_HZ`` and made stereo. Each excerpt becomes a sequence of frames of
log-mel energies of its mid and of its side signal plus the frame level of each, in dB scaled to
about unit range. The level is absolute (no per-excerpt normalisation), so the proposer can tell a
quiet mix from a loud one.

Torch is imported here: this module belongs to the analysis path, never to the render path.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from model import audio_io

ANALYSIS_RATE_HZ = 44100
"""The rate the proposer analyses audio at; callers resample to it (``analysis_excerpts`` does)."""

N_MELS = 64
N_FFT = 2048
HOP_SAMPLES = 512
MEL_MIN_HZ = 20.0
MEL_MAX_HZ = 20000.0
FLOOR_DB = -100.0
"""Energies below this level read as this level (silence)."""
DB_OFFSET = 40.0
DB_SCALE = 20.0
"""A feature is (dB + DB_OFFSET) / DB_SCALE: −40 dB → 0, −20 dB → 1, −100 dB (floor) → −3."""


def feature_count(n_mels: int = N_MELS) -> int:
    """Features per frame: mel bands of mid and of side, then the level of mid and of side."""
    return 2 * n_mels + 2


def frame_count(samples: int, n_fft: int = N_FFT, hop_samples: int = HOP_SAMPLES) -> int:
    """Frames of an excerpt of ``samples`` (no padding: every frame lies inside the excerpt)."""
    return 1 + (samples - n_fft) // hop_samples


def analysis_excerpts(audio: np.ndarray, sample_rate_hz: int, count: int = 8,
                      seconds: float = 3.0) -> np.ndarray:
    """Excerpts spread evenly across the whole track, stereo, at ``ANALYSIS_RATE_HZ``.

    The first excerpt starts at the track's start, the last ends at its end, the others are evenly
    spaced between (overlapping when the track is shorter than ``count`` excerpts). A track shorter
    than one excerpt gives ``count`` copies of itself, zero-padded at the end. Only the excerpts
    are resampled, so a long track costs no more than a short one.

    Shape:
        audio: (channels, N) with 1 (dual mono) or 2 channels, at ``sample_rate_hz``.
        Returns (count, 2, n) float32 with n = round(seconds · ANALYSIS_RATE_HZ).
    """
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise ValueError(f"audio must be (1 or 2 channels, samples), got shape {audio.shape}")
    if count < 1 or seconds <= 0:
        raise ValueError("count must be at least 1 and seconds positive")
    stereo = np.broadcast_to(audio, (2, audio.shape[1]))
    out_samples = round(seconds * ANALYSIS_RATE_HZ)
    in_samples = min(math.ceil(seconds * sample_rate_hz), stereo.shape[1])
    starts = np.linspace(0, stereo.shape[1] - in_samples, count).round().astype(int)
    excerpts = np.zeros((count, 2, out_samples), dtype=np.float32)
    for i, start in enumerate(starts):
        piece = np.ascontiguousarray(stereo[:, start:start + in_samples], dtype=np.float32)
        piece = audio_io.resample(piece, sample_rate_hz, ANALYSIS_RATE_HZ)[:, :out_samples]
        excerpts[i, :, : piece.shape[1]] = piece
    return excerpts


def mel_filterbank(n_mels: int, n_fft: int, sample_rate_hz: int, min_hz: float,
                   max_hz: float) -> np.ndarray:
    """Triangular filters of peak 1, centres evenly spaced on the HTK mel scale.

    Shape: returns (n_mels, n_fft // 2 + 1) float32.

    References:
        S. Young et al., The HTK Book (3.4), §5.4: mel(f) = 2595 · log10(1 + f / 700).
    """
    mel_lo, mel_hi = (2595.0 * np.log10(1.0 + f / 700.0) for f in (min_hz, max_hz))
    edges_hz = 700.0 * (10.0 ** (np.linspace(mel_lo, mel_hi, n_mels + 2) / 2595.0) - 1.0)
    bins_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz - lower) / (centre - lower)
    falling = (upper - bins_hz) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)


class LogMelFeatures(nn.Module):
    """Log-mel energies of mid and side plus their frame levels, per frame.

    The power spectrum is scaled so that, summed over its bins, it equals the window-weighted mean
    square of the frame (Parseval): a frame level of 10·log10(A²/2) dB for a sine of amplitude A.
    Mid = (L + R) / 2, side = (L − R) / 2. ``weights`` (n_mels + 1, bins) holds each band's filter
    times that scale, then the scale alone (the frame level).

    Shape:
        forward: (batch, 2, n) → (batch, 2·n_mels + 2, frames), frames = ``frame_count(n)``.
    """

    def __init__(self, n_mels: int = N_MELS, n_fft: int = N_FFT,
                 hop_samples: int = HOP_SAMPLES) -> None:
        super().__init__()
        self.n_fft, self.hop_samples = n_fft, hop_samples
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        one_sided = torch.full((n_fft // 2 + 1,), 2.0, dtype=torch.float64)
        one_sided[0] = one_sided[-1] = 1.0
        bin_scale = one_sided / (n_fft * window.square().sum())
        filters = torch.from_numpy(
            mel_filterbank(n_mels, n_fft, ANALYSIS_RATE_HZ, MEL_MIN_HZ, MEL_MAX_HZ))
        weights = torch.cat([filters * bin_scale, bin_scale[None]])
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("weights", weights.float(), persistent=False)

    def forward(self, excerpts: Tensor) -> Tensor:
        mid = 0.5 * (excerpts[:, 0] + excerpts[:, 1])
        side = 0.5 * (excerpts[:, 0] - excerpts[:, 1])
        spectrum = torch.stft(torch.cat([mid, side]), self.n_fft, self.hop_samples,
                              window=self.window, center=False, return_complex=True)
        energies = self.weights @ (spectrum.real.square() + spectrum.imag.square())
        mid_energies, side_energies = energies.chunk(2)
        bands = torch.cat([mid_energies[:, :-1], side_energies[:, :-1],
                           mid_energies[:, -1:], side_energies[:, -1:]], dim=1)
        floor = 10.0 ** (FLOOR_DB / 10.0)
        return (10.0 * torch.log10(bands.clamp_min(floor)) + DB_OFFSET) / DB_SCALE
