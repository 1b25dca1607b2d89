"""The chain: table contract (no dead knobs), faces in parity, bypass, rates, meters, targeting."""

import math

import numpy as np
import pyloudnorm
import pytest
import torch

from model import chain, targeting
from model.dsp.truepeak import true_peak, true_peak_dbtp
from model.params import STAGES, TABLE, ChainParams, stage_specs
from tests.signals import music_like, rel_error_db

FS = 44100


def working_params() -> ChainParams:
    """Every stage audibly active, so that each knob has something to act on."""
    p = ChainParams()
    for band in ("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf"):
        p = p.replace(f"eq.{band}_gain_db", 6.0)
    for key, value in {"compressor.threshold_db": -30.0, "compressor.ratio": 4.0,
                       "saturation.drive_db": 12.0, "saturation.mix": 0.5,
                       "saturation.bias": 0.05, "stereo.width": 1.5,
                       "stereo.upmix_low_width": 0.3, "stereo.upmix_mid_width": 0.3,
                       "stereo.upmix_high_width": 0.3, "residual.amount": 0.5,
                       "limiter.threshold_db": -9.0}.items():
        p = p.replace(key, value)
    return p


def stage_by_stage(audio: np.ndarray, params: ChainParams, trim_db: float = 0.0):
    """The chain as each stage's own whole-track renderer runs it, one after the other."""
    pre = chain.render_stages(audio, FS, params, chain.PRE_LIMITER_STAGES)
    post = chain.render_limiter(pre.audio, FS, params, trim_db)
    return post.audio, {**pre.meters, **post.meters}


@pytest.fixture(scope="module")
def program():
    return music_like(1.5, FS, seed=7)


def test_every_stage_module_takes_exactly_the_table_parameters(program):
    params = working_params()
    for stage in STAGES:
        module = chain.stage_module(stage)
        names = {row.name for row in stage_specs(stage)}
        module.render(program[:, :4096], params.stage(stage), FS)
        with pytest.raises((KeyError, TypeError, ValueError)):
            module.render(program[:, :4096], {n: params.stage(stage)[n]
                                              for n in sorted(names)[1:]}, FS)


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.key)
def test_no_dead_knobs_in_the_rendered_chain(program, row):
    base = working_params()
    low = chain.render(program, FS, base.replace(row.key, row.from_unit(0.3))).audio
    high = chain.render(program, FS, base.replace(row.key, row.from_unit(0.7))).audio
    assert rel_error_db(low, high) > -60.0, f"{row.key} hardly changes the output"


def test_every_knob_has_a_gradient_through_the_torch_chain(program):
    base = working_params()
    params = {stage: {name: torch.tensor([value], dtype=torch.float64, requires_grad=True)
                      for name, value in base.stage(stage).items()} for stage in STAGES}
    audio = torch.from_numpy(program[:, : FS // 2].astype(np.float64))[None]
    out, _ = chain.forward_torch(audio, params, FS)
    out.pow(2).mean().backward()
    for stage in STAGES:
        for name, tensor in params[stage].items():
            if name == "lookahead_ms":
                continue  # whole samples of delay: changes the output, has no gradient
            grad = tensor.grad
            assert grad is not None and torch.isfinite(grad).all(), f"{stage}.{name}"
            assert grad.abs().item() > 0.0, f"{stage}.{name} has zero gradient"


def test_torch_chain_equals_render(program):
    base = working_params()
    params = {stage: {name: torch.tensor([value], dtype=torch.float64)
                      for name, value in base.stage(stage).items()} for stage in STAGES}
    audio = torch.from_numpy(program.astype(np.float64))[None]
    ours, _ = chain.forward_torch(audio, params, FS)
    assert rel_error_db(ours[0].numpy(), chain.render(program, FS, base).audio) < -80


@pytest.mark.parametrize("channels", [1, 2])
def test_chunked_pipelined_render_equals_stage_by_stage_render(channels):
    params = working_params()
    x = music_like(4.0, FS, seed=5)[:channels]
    ours = chain.render(x, FS, params, trim_db=3.0)
    expected, meters = stage_by_stage(x, params, trim_db=3.0)
    assert ours.audio.shape == expected.shape
    assert rel_error_db(ours.audio, expected) < -80
    for stage in ("compressor", "limiter"):
        np.testing.assert_allclose(ours.meters[stage]["gain_reduction_db"],
                                   meters[stage]["gain_reduction_db"], atol=1e-3)
    for name, value in meters["stereo"].items():
        assert ours.meters["stereo"][name] == pytest.approx(value, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("block", [7, 512, 4096])
def test_streaming_equals_render_delayed_by_the_latency(program, block):
    params = working_params()
    x = program if block > 7 else program[:, : FS // 4]
    whole, _ = stage_by_stage(x, params)
    streamer = chain.ChainStreamer(params, FS, channels=2)
    latency = streamer.latency_samples
    padded = np.concatenate([x, np.zeros((2, latency + block), np.float32)], axis=1)
    parts = [streamer.process(padded[:, i:i + block])[0] for i in range(0, padded.shape[1], block)]
    streamed = np.concatenate(parts, axis=1)[:, latency:latency + x.shape[1]]
    assert rel_error_db(streamed, whole) < -80


def test_all_stages_bypassed_passes_the_input_through(program):
    params = ChainParams()
    for stage in STAGES:
        params = params.with_enabled(stage, False)
    out = chain.render(program[:1], FS, params).audio
    assert out.shape == (2, program.shape[1])
    np.testing.assert_array_equal(out, np.repeat(program[:1], 2, axis=0))


TRANSPARENT = {
    "eq": {f"eq.{band}_gain_db": 0.0 for band in ("low_shelf", "peak1", "peak2", "peak3",
                                                   "peak4", "high_shelf")},
    "compressor": {"compressor.ratio": 1.0, "compressor.makeup_db": 0.0},
    "saturation": {"saturation.mix": 0.0},
    "residual": {"residual.amount": 0.0},
}


@pytest.mark.parametrize("stage", sorted(TRANSPARENT))
def test_bypassing_a_stage_equals_its_transparent_settings(program, stage):
    params = working_params()
    transparent = params
    for key, value in TRANSPARENT[stage].items():
        transparent = transparent.replace(key, value)
    bypassed = chain.render(program, FS, params.with_enabled(stage, False))
    assert rel_error_db(bypassed.audio, chain.render(program, FS, transparent).audio) < -80
    assert stage not in bypassed.meters


@pytest.mark.parametrize("stage", STAGES)
def test_bypassing_any_stage_changes_the_working_chain(program, stage):
    params = working_params()
    bypassed = chain.render(program, FS, params.with_enabled(stage, False)).audio
    assert rel_error_db(bypassed, chain.render(program, FS, params).audio) > -60


@pytest.mark.parametrize("rate", [8000, 22050, 48000, 96000, 192000])
@pytest.mark.parametrize("channels", [1, 2])
def test_any_rate_mono_or_stereo_in_stereo_out_under_the_ceiling(rate, channels):
    x = music_like(0.5, rate, seed=rate)[:channels] * 2.0
    out = chain.render(x, rate, working_params())
    assert out.audio.shape == (2, x.shape[1]) and out.audio.dtype == np.float32
    assert np.all(np.isfinite(out.audio))
    assert np.max(true_peak(out.audio)) <= 10 ** (-1.0 / 20) * (1 + 1e-6)


def test_meters_come_back_beside_the_audio(program):
    result = chain.render(program, FS, working_params())
    for stage in ("compressor", "limiter"):
        gr = np.asarray(result.meters[stage]["gain_reduction_db"])
        assert gr.shape == (program.shape[1],) and np.all(gr >= 0) and gr.max() > 0.5
    assert -1.0 <= float(result.meters["stereo"]["correlation"]) <= 1.0
    assert "folddown_loss_db" in result.meters["stereo"]


@pytest.mark.parametrize("target", [-23.0, -14.0, -9.0])
def test_targeting_lands_within_a_tenth_of_a_lu_under_the_ceiling(target):
    x = music_like(12.0, FS, seed=3) * 0.3
    params = targeting.with_ceiling(ChainParams(), -1.0)
    pre = chain.render_stages(x, FS, params, chain.PRE_LIMITER_STAGES)
    result, final = targeting.find_trim(pre.audio, FS, params, target)
    measured = pyloudnorm.Meter(FS).integrated_loudness(final.audio.T.astype(np.float64))
    assert measured == pytest.approx(target, abs=0.1)
    assert result.reached and abs(result.error_lu) <= 0.1
    assert true_peak_dbtp(final.audio) <= -1.0 + 1e-5


def test_silence_cannot_be_targeted_and_says_so():
    x = np.zeros((2, FS * 2), np.float32)
    params = ChainParams()
    result, final = targeting.find_trim(x, FS, params, -14.0)
    assert not result.reached and "silent" in result.message()
    assert np.all(final.audio == 0.0)


def test_unreachable_target_says_how_far_off():
    x = music_like(6.0, FS, seed=4) * 10 ** (-40 / 20)
    params = ChainParams()
    pre = chain.render_stages(x, FS, params, chain.PRE_LIMITER_STAGES)
    result, _ = targeting.find_trim(pre.audio, FS, params, -9.0)
    assert not result.reached and result.error_lu < -1.0
    assert "LU short" in result.message()
    assert math.isfinite(result.achieved_lufs)
