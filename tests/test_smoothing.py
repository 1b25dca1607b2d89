"""Attack/release smoother: the 63 % time constant, block parity and the analytic backward."""

import numpy as np
import pytest
import torch

from model.dsp import smoothing

FS = 48000.0


@pytest.mark.parametrize("time_ms", [0.5, 10.0, 300.0])
def test_step_reaches_63_percent_at_time_constant(time_ms):
    alpha = smoothing.time_constant_coefficient(time_ms, FS)
    x = np.ones(int(FS * time_ms / 1000 * 5) + 10)
    rise, _ = smoothing.smooth(x, alpha, 0.0)
    crossing = (np.argmax(rise >= 1 - np.exp(-1)) + 1) / FS * 1000
    assert crossing == pytest.approx(time_ms, rel=0.02, abs=1000 / FS)
    fall, _ = smoothing.smooth(np.zeros_like(x), 0.0, alpha, initial=1.0)
    crossing = (np.argmax(fall <= np.exp(-1)) + 1) / FS * 1000
    assert crossing == pytest.approx(time_ms, rel=0.02, abs=1000 / FS)


def test_blocks_equal_whole_signal():
    rng = np.random.default_rng(1)
    x = np.abs(rng.standard_normal(5000))
    whole, _ = smoothing.smooth(x, 0.9, 0.999)
    state, parts = 0.0, []
    for start in range(0, len(x), 7):
        part, state = smoothing.smooth(x[start:start + 7], 0.9, 0.999, state)
        parts.append(part)
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-12)


def test_torch_face_equals_numpy_and_gradcheck():
    torch.manual_seed(0)
    x = torch.rand(2, 200, dtype=torch.float64, requires_grad=True)
    att = torch.tensor([0.5, 0.8], dtype=torch.float64, requires_grad=True)
    rel = torch.tensor([0.95, 0.99], dtype=torch.float64, requires_grad=True)
    y = smoothing.smooth_torch(x, att, rel)
    expected, _ = smoothing.smooth(x[1].detach().numpy(), 0.8, 0.99)
    np.testing.assert_allclose(y[1].detach().numpy(), expected, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a, b, c: smoothing.smooth_torch(a, b, c),
                                    (x, att, rel), eps=1e-7, atol=1e-6)


def test_decay_to_silence_is_flushed_to_zero_not_subnormal():
    out, last = smoothing.smooth(np.zeros(200000), 0.0, 0.99, initial=1.0)
    assert last == 0.0
    nonzero = out[out != 0.0]
    assert np.all(np.abs(nonzero) >= np.finfo(np.float64).tiny)
