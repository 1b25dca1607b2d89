"""Training losses: each term measures what its name says, and carries a gradient."""

import numpy as np
import pytest
import torch

from model.loudness import integrated_loudness
from model.params import TABLE
from model.proposer import default_units
from tests.signals import music_like
from training.losses import LossWeights, MasteringLoss, masked_l1

FS = 44100


@pytest.fixture(scope="module")
def loss_fn() -> MasteringLoss:
    torch.set_num_threads(1)
    return MasteringLoss(FS)


def _audio(seed: int = 0, seconds: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(music_like(seconds, FS, seed=seed))[None]


def _units(value: float = 0.5) -> torch.Tensor:
    return torch.full((1, len(TABLE)), value)


def test_identical_audio_and_known_params_cost_only_the_default_pull(loss_fn):
    x = _audio()
    units = default_units()[None]
    total, terms = loss_fn(x, x, units, units, torch.ones_like(units, dtype=torch.bool))
    assert terms["stft"] == pytest.approx(0.0, abs=1e-6)
    assert terms["a_weighted"] == pytest.approx(0.0, abs=1e-6)
    assert terms["lufs"] == pytest.approx(0.0, abs=1e-6)
    assert terms["known_params"] == 0.0 and terms["default_pull"] == 0.0
    assert float(total) == pytest.approx(0.0, abs=1e-5)


def test_lufs_term_is_the_loudness_difference(loss_fn):
    x = _audio()
    quieter = x * 10 ** (-6 / 20)
    _, terms = loss_fn(quieter, x, _units(), _units(), torch.zeros(1, len(TABLE), dtype=bool))
    expected = integrated_loudness(x[0].numpy(), FS) - integrated_loudness(quieter[0].numpy(), FS)
    assert terms["lufs"] == pytest.approx(expected, abs=1e-3)
    assert terms["lufs"] == pytest.approx(6.0, abs=0.01)


def test_spectral_terms_grow_with_the_difference(loss_fn):
    x = _audio(0)
    slightly = x + 0.01 * _audio(1)
    very = x + 0.3 * _audio(1)
    mask = torch.zeros(1, len(TABLE), dtype=bool)
    small = loss_fn(slightly, x, _units(), _units(), mask)[1]
    large = loss_fn(very, x, _units(), _units(), mask)[1]
    assert 0 < small["stft"] < large["stft"]
    assert 0 < small["a_weighted"] < large["a_weighted"]


def test_side_only_change_is_seen_by_the_stereo_stft_term(loss_fn):
    x = _audio()
    mid, side = (x[:, :1] + x[:, 1:]) / 2, (x[:, :1] - x[:, 1:]) / 2
    wider = torch.cat([mid + 1.5 * side, mid - 1.5 * side], dim=1)
    _, terms = loss_fn(wider, x, _units(), _units(), torch.zeros(1, len(TABLE), dtype=bool))
    assert terms["stft"] > 0.05


def test_masked_l1_counts_only_known_entries():
    units = torch.tensor([[0.2, 0.9, 0.5]])
    known = torch.tensor([[0.4, 0.0, 0.5]])
    mask = torch.tensor([[True, False, True]])
    assert float(masked_l1(units, known, mask)) == pytest.approx(0.1)
    assert float(masked_l1(units, known, torch.zeros_like(mask))) == 0.0


def test_every_term_has_a_gradient(loss_fn):
    x = _audio()
    estimate = (0.5 * x).requires_grad_(True)
    units = _units(0.3).requires_grad_(True)
    weights = LossWeights()
    total, terms = loss_fn(estimate, x, units, _units(0.6), torch.ones(1, len(TABLE), dtype=bool))
    total.backward()
    assert estimate.grad is not None and torch.isfinite(estimate.grad).all()
    assert float(estimate.grad.abs().sum()) > 0
    assert units.grad is not None and float(units.grad.abs().sum()) > 0
    expected = sum(getattr(weights, name) * value for name, value in terms.items())
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(float(total.detach()))
