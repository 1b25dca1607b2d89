"""Level conversions against their definitions."""

import math

import numpy as np
import pytest
import torch

from model.units import db_to_gain, gain_to_db


def test_db_to_gain_follows_the_definition_for_every_array_type():
    assert db_to_gain(-6.0) == pytest.approx(0.501187, rel=1e-6)
    assert db_to_gain(20.0) == pytest.approx(10.0)
    np.testing.assert_allclose(db_to_gain(np.array([0.0, -20.0])), [1.0, 0.1])
    assert torch.allclose(db_to_gain(torch.tensor([0.0, 40.0])), torch.tensor([1.0, 100.0]))


def test_gain_to_db_inverts_and_reads_silence_as_minus_infinity():
    assert gain_to_db(db_to_gain(-13.5)) == pytest.approx(-13.5)
    assert gain_to_db(0.0) == -math.inf
