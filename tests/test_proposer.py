"""The parameter proposer: shapes, ranges, defaults, locks, conditioning, weights files, speed."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from model import proposer
from model.errors import GreyMasterError, ParamsError
from model.features import ANALYSIS_RATE_HZ
from model.params import STAGES, TABLE, ChainParams, spec, stage_specs
from tests.signals import noise, sine

torch.set_num_threads(1)

BATCH, EXCERPTS, SAMPLES = 2, 2, 8192


@pytest.fixture(scope="module")
def model() -> proposer.Proposer:
    torch.manual_seed(0)
    return proposer.Proposer().eval()


@pytest.fixture(scope="module")
def analysis() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    scale = torch.tensor([0.3, 0.03])[:, None, None, None]
    return scale * torch.randn(BATCH, EXCERPTS, 2, SAMPLES, generator=generator)


def _column(key: str) -> int:
    return [row.key for row in TABLE].index(key)


def _lufs(value: float) -> torch.Tensor:
    return torch.full((BATCH,), value)


def test_shapes_and_the_table_layout(model, analysis):
    out = model(analysis, _lufs(-14.0))
    assert out.units.shape == (BATCH, len(TABLE))
    assert out.latent.shape == (BATCH, proposer.LATENT_DIM)
    assert list(out.physical) == list(STAGES)
    for stage in STAGES:
        assert list(out.physical[stage]) == [row.name for row in stage_specs(stage)]
        assert all(value.shape == (BATCH,) for value in out.physical[stage].values())


@torch.no_grad()
def test_physical_values_are_the_tables_own_mapping_of_the_units(model, analysis):
    out = model(analysis, _lufs(-14.0))
    for column, row in enumerate(TABLE):
        expected = [row.from_unit(float(u)) for u in out.units[:, column].double()]
        np.testing.assert_allclose(out.physical[row.stage][row.name], expected, rtol=1e-5,
                                   atol=1e-6 * (row.maximum - row.minimum))


def test_every_proposed_value_stays_in_its_range_even_when_pushed_to_the_ends(analysis):
    torch.manual_seed(2)
    model = proposer.Proposer().eval()
    with torch.no_grad():
        for head in model.heads.values():
            head.out.weight.normal_(0.0, 50.0)
    out = model(analysis * 10, _lufs(-6.0))
    assert (out.units >= 0).all() and (out.units <= 1).all()
    assert ((out.units < 0.01) | (out.units > 0.99)).any(), "the push did not reach the ends"
    for row in TABLE:
        value = out.physical[row.stage][row.name]
        assert (value >= row.minimum).all() and (value <= row.maximum).all(), row.key
    params = proposer.propose(model, analysis[0, 0].numpy(), ANALYSIS_RATE_HZ, -6.0)
    assert isinstance(params, ChainParams)


def test_an_untrained_model_proposes_about_the_tables_defaults(model, analysis):
    out = model(analysis, _lufs(-14.0))
    for column, row in enumerate(TABLE):
        default_unit = min(max(row.to_unit(row.default), 0.01), 0.99)
        assert out.units[:, column].sub(default_unit).abs().max() < 0.01, row.key


@torch.no_grad()
def test_locked_outputs_are_exactly_the_locked_values(model, analysis):
    mask = torch.zeros(BATCH, len(TABLE), dtype=torch.bool)
    mask[:, [_column("compressor.ratio"), _column("eq.peak2_gain_db")]] = True
    mask[1, _column("limiter.release_ms")] = True
    units = torch.rand(BATCH, len(TABLE), generator=torch.Generator().manual_seed(3))
    out = model(analysis, _lufs(-14.0), lock_units=units, lock_mask=mask)
    assert torch.equal(out.units[mask], units[mask])
    ratio = spec("compressor.ratio")
    np.testing.assert_allclose(out.physical["compressor"]["ratio"],
                               ratio.from_unit(units[:, _column("compressor.ratio")].double()),
                               rtol=1e-6)


def test_locks_feed_the_other_outputs_and_unlocked_lock_values_are_ignored(model, analysis):
    locked = _column("compressor.threshold_db")
    mask = torch.zeros(BATCH, len(TABLE), dtype=torch.bool)
    mask[:, locked] = True
    units = torch.full((BATCH, len(TABLE)), 0.5, requires_grad=True)
    out = model(analysis, _lufs(-14.0), lock_units=units, lock_mask=mask)
    others = torch.ones(len(TABLE), dtype=torch.bool)
    others[locked] = False
    out.units[:, others].sum().backward()
    assert (units.grad[:, locked].abs() > 0).all()
    assert (units.grad[:, others] == 0).all()

    with torch.no_grad():
        moved = units.detach().clone()
        moved[:, locked] = 0.9
        changed = model(analysis, _lufs(-14.0), lock_units=moved, lock_mask=mask).units
        assert (changed[:, others] - out.units[:, others]).abs().max() > 1e-6
        moved_unlocked = units.detach().clone()
        moved_unlocked[:, others] = 0.1
        same = model(analysis, _lufs(-14.0), lock_units=moved_unlocked, lock_mask=mask).units
        assert torch.equal(same, out.units)


def test_the_loudness_target_changes_the_proposal(model, analysis):
    target = torch.full((BATCH,), -14.0, requires_grad=True)
    streaming = model(analysis, target)
    streaming.units.sum().backward()
    assert (target.grad.abs() > 0).all()
    club = model(analysis, _lufs(-9.0))
    assert (club.units - streaming.units).abs().amax(dim=1).min() > 1e-6


def test_a_reference_changes_the_proposal_and_which_reference_matters(model, analysis):
    without = model(analysis, _lufs(-14.0)).units
    bright = model(analysis, _lufs(-14.0), reference=analysis).units
    quiet = model(analysis, _lufs(-14.0), reference=analysis * 0.1).units
    assert (bright - without).abs().amax(dim=1).min() > 1e-6
    assert (bright - quiet).abs().amax(dim=1).min() > 1e-6


def test_the_input_track_changes_the_proposal(model, analysis):
    out = model(analysis, _lufs(-14.0)).units
    assert (out[0] - out[1]).abs().max() > 1e-6


def test_save_and_load_round_trip_is_exact(model, analysis, tmp_path):
    path = tmp_path / "proposer.pt"
    proposer.save(model, path)
    loaded = proposer.load(path)
    assert loaded.config == model.config
    assert not loaded.training
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert list(state) == list(loaded_state)
    assert all(torch.equal(state[key], loaded_state[key]) for key in state)
    assert torch.equal(loaded(analysis, _lufs(-11.0)).units, model(analysis, _lufs(-11.0)).units)


def test_an_interrupted_save_leaves_the_old_weights_whole(model, tmp_path, monkeypatch):
    path = tmp_path / "proposer.pt"
    proposer.save(model, path)
    before = path.read_bytes()

    def write_half_then_fail(doc, target):
        Path(target).write_bytes(b"PK half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        proposer.save(model, path)
    assert path.read_bytes() == before
    assert sorted(tmp_path.iterdir()) == [path]
    assert proposer.load(path).config == model.config


class _Payload:
    """Any class: an unpickler that allowed it could run code from the file."""


def test_a_pickled_object_is_refused(model, tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": proposer.FILE_FORMAT, "config": model.config, "extra": _Payload(),
                "state_dict": model.state_dict()}, path)
    with pytest.raises(proposer.ModelError, match="cannot read"):
        proposer.load(path)


def _save_raw(path, model, **changes):
    doc = {"format": proposer.FILE_FORMAT, "config": dict(model.config),
           "parameters": proposer._table_signature(), "state_dict": model.state_dict()}
    doc.update(changes)
    torch.save(doc, path)
    return path


@pytest.mark.parametrize("case", ["missing", "garbage", "truncated", "not a dict", "format",
                                  "table", "unknown config", "missing config",
                                  "shape mismatch"])
def test_a_bad_weights_file_is_a_model_error(model, tmp_path, case):
    path = tmp_path / "weights.pt"
    if case == "garbage":
        path.write_bytes(b"not a torch file at all")
    elif case == "truncated":
        _save_raw(path, model)
        path.write_bytes(path.read_bytes()[:5000])
    elif case == "not a dict":
        torch.save([1, 2, 3], path)
    elif case == "format":
        _save_raw(path, model, format=99)
    elif case == "table":
        _save_raw(path, model, parameters=proposer._table_signature()[:-1])
    elif case == "unknown config":
        _save_raw(path, model, config={**model.config, "layers": 3})
    elif case == "missing config":
        config = dict(model.config)
        del config["hidden"]
        _save_raw(path, model, config=config)
    elif case == "shape mismatch":
        _save_raw(path, model, config={**model.config, "channels": 32})
    with pytest.raises(proposer.ModelError) as error:
        proposer.load(path)
    assert isinstance(error.value, GreyMasterError)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_propose_honours_locks_exactly_in_physical_units(model):
    audio = noise(2.0, 48000, seed=4)
    locks = {"compressor.ratio": 2.5, "stereo.width": 1.3, "limiter.lookahead_ms": 0}
    params = proposer.propose(model, audio, 48000, -14.0, locks=locks)
    for key, value in locks.items():
        stage, name = key.split(".")
        assert params.values[stage][name] == value
    assert all(params.enabled.values())


def test_propose_hands_on_the_tracks_latent_for_the_residual(model):
    from model.features import analysis_excerpts

    audio = noise(3.0, 44100, seed=8)
    params = proposer.propose(model, audio, 44100, -14.0)
    with torch.no_grad():
        z = model.encoder(torch.from_numpy(analysis_excerpts(audio, 44100))[None])[0]
    assert params.latent is not None and len(params.latent) == proposer.LATENT_DIM
    np.testing.assert_allclose(params.latent, z.numpy(), rtol=1e-5, atol=1e-6)


def test_the_shipped_weights_propose_the_whole_table():
    shipped = proposer.load(proposer.DEFAULT_WEIGHTS)
    params = proposer.propose(shipped, noise(3.0, 44100, seed=9), 44100, -14.0)
    assert set(params.values) == set(STAGES) and params.latent is not None


@pytest.mark.parametrize("locks, message", [
    ({"compressor.volume": 1.0}, "unknown parameter"),
    ({"compressor.ratio": 50.0}, "outside its range"),
    ({"compressor.ratio": "2"}, "needs a number"),
    ({"compressor.ratio": True}, "needs a number"),
])
def test_bad_locks_are_params_errors(model, locks, message):
    with pytest.raises(ParamsError, match=message):
        proposer.propose(model, noise(1.0, 44100), 44100, -14.0, locks=locks)


def test_propose_with_a_reference_at_another_rate(model):
    audio = noise(4.0, 44100, seed=5)
    plain = proposer.propose(model, audio, 44100, -14.0)
    referenced = proposer.propose(model, audio, 44100, -14.0,
                                  reference=sine(440.0, 5.0, 32000, channels=1),
                                  reference_fs=32000)
    assert plain.to_json() != referenced.to_json()


def test_a_five_minute_song_is_analysed_quickly(model):
    audio = noise(300.0, 48000, level_dbfs=-18.0, seed=6)
    proposer.propose(model, audio[:, :48000 * 10], 48000, -14.0)
    start = time.perf_counter()
    proposer.propose(model, audio, 48000, -14.0)
    elapsed_s = time.perf_counter() - start
    print(f"\npropose on a 5-minute 48 kHz stereo track: {elapsed_s:.3f} s; "
          f"{proposer.parameter_count(model)} parameters")
    assert elapsed_s < 5.0
