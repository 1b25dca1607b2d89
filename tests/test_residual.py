"""The neural residual stage and its network: faces in parity, causality, silence, stereo, the
latent's effect, amount 0 as an exact bypass, and the weights file's errors."""

import copy

import numpy as np
import pytest
import torch

from model import residual_net
from model.dsp import residual
from model.errors import ModelError
from model.params import LATENT_DIM
from tests.signals import music_like, rel_error_db

FS = 44100


@pytest.fixture(scope="module")
def net() -> residual_net.ResidualNet:
    """A network with every weight random (the shipped one's last layer could be near zero)."""
    torch.manual_seed(1)
    model = residual_net.ResidualNet()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.3 * torch.randn_like(parameter))
    return model.eval().requires_grad_(False)


@pytest.fixture
def shipped(net, monkeypatch):
    """The stage's faces running ``net`` as if it were the shipped network."""
    monkeypatch.setattr(residual, "_network", lambda: net)
    return net


@pytest.fixture(scope="module")
def program() -> np.ndarray:
    return music_like(0.5, FS, seed=4) * 0.5


def latent(seed: int) -> tuple[float, ...]:
    return tuple(np.random.default_rng(seed).normal(size=LATENT_DIM).tolist())


def test_the_receptive_field_is_a_few_hundred_samples_and_kept_by_the_streamer(net):
    assert 200 <= net.receptive_field_samples <= residual.HISTORY_SAMPLES + 1


@pytest.mark.parametrize("block", [1, 7, 512, 4096])
def test_streaming_equals_render_equals_torch(shipped, program, block):
    params = {"amount": 0.8, "latent": latent(0)}
    x = program if block > 1 else program[:, :2000]
    rendered, meters = residual.render(x, params, FS)
    assert meters == {}
    streamer = residual.Streamer(params, FS, 2)
    streamed = np.concatenate([streamer.process(x[:, i:i + block])[0]
                               for i in range(0, x.shape[1], block)], axis=1)
    assert rel_error_db(streamed, rendered) < -80
    torch_params = {"amount": torch.tensor([0.8], dtype=torch.float64),
                    "latent": torch.tensor([latent(0)], dtype=torch.float64)}
    ours, _ = residual.forward_torch(torch.from_numpy(x.astype(np.float64))[None], torch_params,
                                     FS)
    assert rel_error_db(ours[0].numpy(), rendered) < -80
    assert rel_error_db(rendered, x) > -40, "the residual should change this signal"


def test_output_is_input_plus_amount_times_the_network(shipped, program):
    x = program[:, :3000]
    with torch.no_grad():
        correction, _ = shipped(torch.from_numpy(x)[None], torch.tensor([latent(2)]))
    for amount in (0.25, 1.0):
        out, _ = residual.render(x, {"amount": amount, "latent": latent(2)}, FS)
        assert rel_error_db(out, x + amount * correction[0].numpy()) < -80


def test_amount_zero_passes_through_bit_for_bit_without_loading_anything(program, monkeypatch):
    def refuse():
        raise AssertionError("the network must not load for amount 0")

    monkeypatch.setattr(residual, "_network", refuse)
    out, _ = residual.render(program, {"amount": 0.0, "latent": latent(1)}, FS)
    np.testing.assert_array_equal(out, program)
    streamer = residual.Streamer({"amount": 0.0}, FS, 2)
    np.testing.assert_array_equal(streamer.process(program)[0], program)


def test_silence_stays_exact_silence(shipped):
    out, _ = residual.render(np.zeros((2, 3000), np.float32), {"amount": 1.0,
                                                               "latent": latent(3)}, FS)
    assert not out.any()


def test_causal_with_a_finite_receptive_field(shipped, program):
    """An impulse affects nothing before it and nothing a receptive field after it."""
    n, at = 4000, 1000
    impulse = np.zeros((2, n), np.float32)
    impulse[:, at] = [0.5, -0.3]
    out, _ = residual.render(impulse, {"amount": 1.0}, FS)
    correction = out - impulse
    assert not correction[:, :at].any()
    assert not correction[:, at + shipped.receptive_field_samples:].any()
    assert np.abs(correction[:, at:at + shipped.receptive_field_samples]).max() > 1e-3
    changed = program[:, :n].copy()
    changed[:, at:] *= -1.0
    before, _ = residual.render(program[:, :n], {"amount": 1.0}, FS)
    after, _ = residual.render(changed, {"amount": 1.0}, FS)
    np.testing.assert_array_equal(before[:, :at], after[:, :at])


def test_stereo_stays_stereo_and_mono_becomes_dual_mono(shipped, program):
    out, _ = residual.render(program, {"amount": 1.0}, FS)
    side_in, side_out = program[0] - program[1], out[0] - out[1]
    assert rel_error_db(side_out, side_in) > -40, "the residual must act on the side too"
    mono, _ = residual.render(program[:1], {"amount": 1.0}, FS)
    dual, _ = residual.render(np.repeat(program[:1], 2, axis=0), {"amount": 1.0}, FS)
    assert mono.shape == (2, program.shape[1])
    np.testing.assert_array_equal(mono, dual)


def test_the_latent_conditions_the_network_and_absent_means_zeros(shipped, program):
    a, _ = residual.render(program, {"amount": 1.0, "latent": latent(5)}, FS)
    b, _ = residual.render(program, {"amount": 1.0, "latent": latent(6)}, FS)
    assert rel_error_db(a, b) > -60
    absent, _ = residual.render(program, {"amount": 1.0}, FS)
    zeros, _ = residual.render(program, {"amount": 1.0, "latent": (0.0,) * LATENT_DIM}, FS)
    np.testing.assert_array_equal(absent, zeros)


@pytest.mark.parametrize("change", ["amount", "latent"])
def test_a_streamer_switched_on_or_reconditioned_mid_stream_equals_the_render(
        shipped, program, change):
    """The input history rebuilds the layers' states exactly (module docstring)."""
    before = {"amount": 0.0 if change == "amount" else 0.5, "latent": latent(7)}
    after = {"amount": 0.5, "latent": latent(8 if change == "latent" else 7)}
    half = 11000
    streamer = residual.Streamer(before, FS, 2)
    for i in range(0, half, 500):
        streamer.process(program[:, i:i + 500])
    streamer.set_params(after)
    tail = np.concatenate([streamer.process(program[:, i:i + 500])[0]
                           for i in range(half, program.shape[1], 500)], axis=1)
    rendered, _ = residual.render(program, after, FS)
    assert rel_error_db(tail, rendered[:, half:]) < -80


def test_a_copied_streamer_continues_alike_and_shares_the_network(shipped, program):
    streamer = residual.Streamer({"amount": 1.0, "latent": latent(9)}, FS, 2)
    streamer.process(program[:, :1000])
    twin = copy.deepcopy(streamer)
    assert twin.net is streamer.net
    a = streamer.process(program[:, 1000:2000])[0]
    np.testing.assert_array_equal(twin.process(program[:, 1000:2000])[0], a)


def test_amount_and_the_network_have_gradients(net, program):
    trainable = copy.deepcopy(net).requires_grad_(True)
    amount = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    z = torch.tensor([latent(1)], dtype=torch.float64)
    out, _ = residual.forward_torch(torch.from_numpy(program.astype(np.float64))[None],
                                    {"amount": amount, "latent": z}, FS, net=trainable)
    out.pow(2).mean().backward()
    assert amount.grad.abs().item() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable.parameters())


def test_an_untrained_network_adds_nothing(program):
    fresh = residual_net.ResidualNet()
    with torch.no_grad():
        correction, _ = fresh(torch.from_numpy(program)[None], torch.randn(1, LATENT_DIM))
    assert not correction.any()


def test_save_and_load_round_trip(net, tmp_path, program):
    path = tmp_path / "r.pt"
    residual_net.save(net, path)
    loaded = residual_net.load(path)
    x, z = torch.from_numpy(program)[None], torch.tensor([latent(1)], dtype=torch.float32)
    torch.testing.assert_close(loaded(x, z)[0], net(x, z)[0], rtol=0, atol=0)


@pytest.mark.parametrize(("content", "message"), [
    (None, "residual network weights not found"),
    (b"not a zip", "cannot read residual network weights"),
    ({"format": 1, "config": {"hidden": 8}, "state_dict": {}}, "does not fit"),
    ({"format": 2}, "is not a GreyMaster residual network weights file"),
])
def test_a_bad_weights_file_is_a_one_line_model_error(tmp_path, content, message):
    path = tmp_path / "r.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(ModelError, match=message) as error:
        residual_net.load(path)
    assert "\n" not in str(error.value)


def test_the_shipped_weights_load_and_do_something(program):
    net = residual_net.load(residual_net.DEFAULT_WEIGHTS)
    assert net.receptive_field_samples - 1 <= residual.HISTORY_SAMPLES
    out, _ = residual.render(program, {"amount": 1.0}, FS)
    assert rel_error_db(out, program) > -60, "the shipped residual is (almost) silent"
