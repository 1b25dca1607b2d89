"""The training losses of the planning document, on stereo audio and on parameters.

``MasteringLoss`` sums, with weights:

- multi-resolution STFT distance (auraloss, Steinmetz & Reiss 2020), in its sum-and-difference
  form so that the stereo image counts (mid and side spectra, plus the left/right spectra);
- the same distance after A-weighting (auraloss's ``perceptual_weighting``), so the bands the
  ear is most sensitive to weigh most;
- loudness error |LUFS(estimate) − LUFS(target)| (BS.1770-4, ``integrated_loudness_torch``);
- parameter terms in the table's 0–1 space: L1 to the values a logged degradation implies
  (where it implies any), and a small pull towards the table's defaults (the planning
  document's parameter regularisation: no extreme settings without a reason).

Shapes: audio (batch, 2, samples); units and masks (batch, P) in TABLE order.
"""

from __future__ import annotations

from dataclasses import dataclass

import auraloss
import torch

from model.loudness import integrated_loudness_torch
from model.proposer import default_units

FFT_SIZES = (2048, 1024, 512)
HOP_SIZES = (512, 256, 128)
WINDOW_LENGTHS = (2048, 1024, 512)
LUFS_FLOOR = -70.0
"""Loudness below this (silence) is clamped, so the loss stays finite."""


@dataclass(frozen=True)
class LossWeights:
    stft: float = 1.0
    a_weighted: float = 1.0
    lufs: float = 0.1
    known_params: float = 1.0
    default_pull: float = 0.01


class MasteringLoss(torch.nn.Module):
    """Weighted sum of the terms above; ``forward`` returns (total, {term: value})."""

    def __init__(self, sample_rate_hz: int, weights: LossWeights = LossWeights()) -> None:
        super().__init__()
        self.sample_rate_hz = sample_rate_hz
        self.weights = weights
        resolutions = {"fft_sizes": list(FFT_SIZES), "hop_sizes": list(HOP_SIZES),
                       "win_lengths": list(WINDOW_LENGTHS)}
        self.stft = auraloss.freq.SumAndDifferenceSTFTLoss(**resolutions)
        self.a_weighted = auraloss.freq.MultiResolutionSTFTLoss(
            **resolutions, sample_rate=sample_rate_hz, perceptual_weighting=True)
        self.register_buffer("defaults", default_units())

    def forward(self, estimate: torch.Tensor, target: torch.Tensor, units: torch.Tensor,
                known_units: torch.Tensor, known_mask: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, float]]:
        terms = {
            "stft": self.stft(estimate, target),
            "a_weighted": self.a_weighted(estimate, target),
            "lufs": self.lufs_error(estimate, target).mean(),
            "known_params": masked_l1(units, known_units, known_mask),
            "default_pull": (units - self.defaults).abs().mean(),
        }
        total = sum(getattr(self.weights, name) * value for name, value in terms.items())
        return total, {name: float(value.detach()) for name, value in terms.items()}

    def lufs_error(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """|LUFS(estimate) − LUFS(target)| per example. Shape: (batch,)."""
        ours = integrated_loudness_torch(estimate, self.sample_rate_hz).clamp_min(LUFS_FLOOR)
        theirs = integrated_loudness_torch(target, self.sample_rate_hz).clamp_min(LUFS_FLOOR)
        return (ours - theirs).abs()


def masked_l1(units: torch.Tensor, known_units: torch.Tensor,
              known_mask: torch.Tensor) -> torch.Tensor:
    """Mean |units − known| over the known entries (0 when none is known)."""
    mask = known_mask.to(units.dtype)
    return ((units - known_units).abs() * mask).sum() / mask.sum().clamp_min(1.0)
