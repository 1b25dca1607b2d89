"""The training loop's smoke step (CI never trains for real): a few steps on seconds of audio,
checkpoints, and a resumed run that continues exactly where the first stopped."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from model import proposer, residual_net
from model.params import STAGES
from tests.signals import music_like
from training.train import (
    GREY_BOX_STAGES,
    PHASES_B,
    RESIDUAL_HEAD,
    Distributed,
    TrainConfig,
    batch_indices,
    freeze_for_phase,
    main,
    train,
)

FS = 44100


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> tuple[Path, Path]:
    """Three 21-second 'recordings' in one package, and a split over them."""
    root = tmp_path_factory.mktemp("corpus")
    keys = []
    for k in range(3):
        path = root / "pkg" / f"track{k}.wav"
        path.parent.mkdir(exist_ok=True)
        soundfile.write(path, music_like(21.0, FS, seed=k).T, FS, subtype="FLOAT")
        keys.append(f"pkg/track{k}.wav")
    split = root / "split.json"
    split.write_text(json.dumps({"train": keys[:2], "validation": keys[2:], "test": []}))
    return root, split


def _config(corpus: tuple[Path, Path], folder: Path, steps: int,
            residual_steps: int = 0) -> TrainConfig:
    root, split = corpus
    return TrainConfig(schedule="A", steps=steps, residual_steps=residual_steps, batch_size=1,
                       excerpt_s=0.5, preroll_s=0.1, analysis_excerpts=2, analysis_s=1.0,
                       coupling_items_per_track=2,
                       checkpoint_every=1, validate_every=2, validation_items=1,
                       corpus=str(root), split=str(split),
                       checkpoint_dir=str(folder / "checkpoints"), out=str(folder / "w.pt"),
                       residual_out=str(folder / "r.pt"))


def _same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6, msg=name)


def test_a_resumed_run_continues_exactly(tiny_corpus, tmp_path):
    """Resumed in the residual phase, one grey-box step then two residual steps."""
    torch.set_num_threads(1)
    straight = train(_config(tiny_corpus, tmp_path / "straight", steps=1, residual_steps=2))
    first = _config(tiny_corpus, tmp_path / "resumed", steps=1, residual_steps=1)
    train(first)
    resumed = train(replace(first, residual_steps=2), resume=True)
    _same_state(proposer.load(straight).state_dict(), proposer.load(resumed).state_dict())
    _same_state(residual_net.load(tmp_path / "straight" / "r.pt").state_dict(),
                residual_net.load(tmp_path / "resumed" / "r.pt").state_dict())
    history = json.loads(Path(resumed).with_suffix(".history.json").read_text())["history"]
    assert [row["step"] for row in history] == [1, 2, 3]
    assert [row["stages"] for row in history] == [len(STAGES) - 1, len(STAGES), len(STAGES)]
    assert all(np.isfinite(row["loss"]) for row in history)
    assert "validation_loss" in history[1]


def test_the_residual_phase_trains_the_network_and_the_residual_head_only(tiny_corpus,
                                                                          tmp_path):
    torch.set_num_threads(1)
    start = _config(tiny_corpus, tmp_path / "start", steps=1)
    train(start)
    before = proposer.load(start.out).state_dict()
    config = replace(_config(tiny_corpus, tmp_path / "after", steps=1, residual_steps=2),
                     init=start.out)
    after = proposer.load(train(config)).state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith(RESIDUAL_HEAD) for name in changed)
    history = json.loads((tmp_path / "after" / "w.history.json").read_text())["history"]
    assert [row["step"] for row in history] == [2, 3]
    assert "validation_loss" in history[-1], "the run ends with a validation"
    trained = residual_net.load(config.residual_out)
    assert trained.out.weight.abs().sum() > 0, "the residual network's output layer moved"
    assert after["heads.residual.out.bias"].item() == pytest.approx(0.0, abs=0.05), \
        "the residual phase starts the amount at 0.5 (logit 0), then trains it"


def test_freezing_follows_the_phase():
    model, residual = proposer.Proposer(), residual_net.ResidualNet()
    freeze_for_phase(model, residual, residual_phase=True)
    assert all(p.requires_grad == name.startswith(RESIDUAL_HEAD)
               for name, p in model.named_parameters())
    assert all(p.requires_grad for p in residual.parameters())
    freeze_for_phase(model, residual, residual_phase=False)
    assert all(p.requires_grad for p in model.parameters())
    assert not any(p.requires_grad for p in residual.parameters())


def test_the_weights_load_offline_and_propose_in_range(tiny_corpus, tmp_path):
    weights = train(_config(tiny_corpus, tmp_path, steps=1, residual_steps=1))
    model = proposer.load(weights)
    params = proposer.propose(model, music_like(5.0, FS), FS, -14.0)
    assert set(params.values) == set(STAGES)
    assert model.lock_coupling.abs().sum() > 0.0, "the lock coupling was not fitted"


def test_schedule_b_adds_one_stage_per_phase_then_fine_tunes_then_the_residual():
    config = TrainConfig(schedule="B", steps=600, residual_steps=100)
    phases = [config.phase(step) for step in range(config.total_steps)]
    stage_sets = list(dict.fromkeys(stages for stages, _ in phases))
    assert stage_sets == [*PHASES_B, STAGES]
    assert phases[0] == (("eq",), 1.0)
    assert "residual" not in GREY_BOX_STAGES and len(GREY_BOX_STAGES) == len(STAGES) - 1
    assert phases[599][0] == GREY_BOX_STAGES and phases[599][1] < 1.0
    assert all(stages == STAGES for stages, _ in phases[600:])
    schedule_a = TrainConfig(schedule="A", steps=600, residual_steps=100)
    assert schedule_a.phase(0) == (GREY_BOX_STAGES, 1.0)
    assert schedule_a.phase(600)[0] == STAGES


def test_each_process_and_step_gets_its_own_examples():
    config = TrainConfig(batch_size=3)
    seen = [i for step in range(4) for rank in range(2)
            for i in batch_indices(step, config, Distributed(rank=rank, world_size=2))]
    assert sorted(seen) == list(range(24))


def test_bad_options_are_one_line_errors(capsys):
    assert main(["--steps", "0"]) == 2
    assert "steps" in capsys.readouterr().err
    assert main(["--residual-steps", "-1"]) == 2
    assert "residual steps" in capsys.readouterr().err


def test_torchrun_trains_with_two_processes(tiny_corpus, tmp_path):
    """DistributedDataParallel over two CPU processes (gloo), as on several GPUs."""
    root, split = tiny_corpus
    options = {"schedule": "A", "steps": 1, "residual-steps": 1, "batch-size": 1, "excerpt-s": 0.5,
               "preroll-s": 0.1, "analysis-excerpts": 2, "analysis-s": 1.0,
               "checkpoint-every": 1, "validate-every": 1, "validation-items": 1,
               "corpus": root, "split": split, "checkpoint-dir": tmp_path / "checkpoints",
               "out": tmp_path / "w.pt", "residual-out": tmp_path / "r.pt"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "-m", "training.train", *[f"--{k}={v}" for k, v in options.items()]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("wrote") == 2
    assert set(proposer.load(tmp_path / "w.pt").state_dict()) == \
        set(proposer.Proposer().state_dict())
