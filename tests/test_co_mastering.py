"""Co-mastering's lock coupling (model/co_mastering.py) and its place in the proposer."""

from __future__ import annotations

import numpy as np
import torch

from model import co_mastering, proposer
from model.params import TABLE

P = len(TABLE)
KEYS = [row.key for row in TABLE]
LOW, HIGH, OTHER = (KEYS.index(key) for key in
                    ("eq.low_shelf_gain_db", "eq.high_shelf_gain_db", "stereo.width"))


def _tilt_coupling(items: int = 4000) -> torch.Tensor:
    """Errors where knob HIGH is minus knob LOW (a tilt), knob OTHER independent of both, and
    the rest never known."""
    rng = np.random.default_rng(0)
    errors = np.zeros((items, P), dtype=np.float32)
    known = np.zeros((items, P), dtype=bool)
    tilt = rng.normal(0.0, 0.1, items)
    errors[:, LOW], errors[:, HIGH] = tilt, -tilt
    errors[:, OTHER] = rng.normal(0.0, 0.1, items)
    known[:, [LOW, HIGH, OTHER]] = True
    known[::2, OTHER] = False
    return torch.from_numpy(co_mastering.second_moments(errors, known))


def test_second_moments_use_only_the_items_that_know_both():
    errors = np.array([[1.0, 2.0], [3.0, 0.0]], dtype=np.float32)
    known = np.array([[True, True], [True, False]])
    moments = co_mastering.second_moments(errors, known)
    np.testing.assert_allclose(moments, [[(1 + 9) / 2, 2.0], [2.0, 4.0]])
    assert co_mastering.second_moments(errors, np.zeros_like(known)).sum() == 0.0


def test_locking_one_side_of_a_tilt_moves_the_other_and_nothing_else():
    coupling = _tilt_coupling()
    proposed = torch.full((1, P), 0.5)
    locks = torch.zeros(1, P)
    locks[0, LOW] = 0.7
    mask = torch.zeros(1, P, dtype=torch.bool)
    mask[0, LOW] = True
    moved = co_mastering.condition(proposed, locks, mask, coupling)
    expected_shift = -0.2 / (1.0 + co_mastering.RIDGE)
    assert abs(float(moved[0, HIGH]) - (0.5 + expected_shift)) < 0.01
    assert abs(float(moved[0, OTHER]) - 0.5) < 0.01
    untouched = torch.ones(P, dtype=torch.bool)
    untouched[[LOW, HIGH, OTHER]] = False
    assert torch.equal(moved[0, untouched], proposed[0, untouched])


def test_without_locks_or_coupling_nothing_moves():
    proposed = torch.rand(3, P)
    locks = torch.rand(3, P)
    mask = torch.rand(3, P) < 0.5
    nothing = torch.zeros(3, P, dtype=torch.bool)
    assert torch.equal(co_mastering.condition(proposed, locks, nothing, _tilt_coupling()),
                       proposed)
    assert torch.equal(co_mastering.condition(proposed, locks, mask, torch.zeros(P, P)),
                       proposed)


def test_the_coupling_travels_with_the_weights_and_moves_the_proposal(tmp_path):
    torch.manual_seed(0)
    model = proposer.Proposer(n_mels=16, channels=8, blocks=2, latent_dim=16, hidden=16,
                              film_hidden=8)
    model.lock_coupling.copy_(_tilt_coupling())
    path = tmp_path / "proposer.pt"
    proposer.save(model, path)
    loaded = proposer.load(path)
    assert torch.equal(loaded.lock_coupling, model.lock_coupling)
    analysis = torch.randn(1, 2, 2, 8192) * 0.1
    target = torch.tensor([-14.0])
    locks = torch.ones(1, P)
    mask = torch.zeros(1, P, dtype=torch.bool)
    mask[0, LOW] = True
    with torch.inference_mode():
        plain = loaded(analysis, target).units
        locked = loaded(analysis, target, None, locks, mask).units
    assert float(locked[0, LOW]) == 1.0
    assert float(locked[0, HIGH]) < float(plain[0, HIGH]) - 0.3
