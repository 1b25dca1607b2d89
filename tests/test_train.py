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

from model import proposer
from model.params import STAGES
from tests.signals import music_like
from training.train import PHASES_B, Distributed, TrainConfig, batch_indices, main, train

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


def _config(corpus: tuple[Path, Path], folder: Path, steps: int) -> TrainConfig:
    root, split = corpus
    return TrainConfig(schedule="A", steps=steps, batch_size=1, excerpt_s=0.5, preroll_s=0.1,
                       analysis_excerpts=2, analysis_s=1.0, checkpoint_every=1,
                       validate_every=2, validation_items=1, corpus=str(root), split=str(split),
                       checkpoint_dir=str(folder / "checkpoints"), out=str(folder / "w.pt"))


def test_a_resumed_run_continues_exactly(tiny_corpus, tmp_path):
    torch.set_num_threads(1)
    straight = train(_config(tiny_corpus, tmp_path / "straight", steps=3))
    first = _config(tiny_corpus, tmp_path / "resumed", steps=2)
    train(first)
    resumed = train(replace(first, steps=3), resume=True)
    a, b = proposer.load(straight).state_dict(), proposer.load(resumed).state_dict()
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6, msg=name)
    history = json.loads(Path(resumed).with_suffix(".history.json").read_text())["history"]
    assert [row["step"] for row in history] == [1, 2, 3]
    assert all(np.isfinite(row["loss"]) for row in history)
    assert "validation_loss" in history[1]


def test_the_weights_load_offline_and_propose_in_range(tiny_corpus, tmp_path):
    weights = train(_config(tiny_corpus, tmp_path, steps=1))
    model = proposer.load(weights)
    params = proposer.propose(model, music_like(5.0, FS), FS, -14.0)
    assert set(params.values) == set(STAGES)


def test_schedule_b_adds_one_stage_per_phase_then_fine_tunes():
    config = TrainConfig(schedule="B", steps=600)
    phases = [config.phase(step) for step in range(600)]
    stage_sets = list(dict.fromkeys(stages for stages, _ in phases))
    assert stage_sets == list(PHASES_B)
    assert phases[0] == (("eq",), 1.0)
    assert phases[-1][0] == STAGES and phases[-1][1] < 1.0
    assert TrainConfig(schedule="A").phase(0) == (STAGES, 1.0)


def test_each_process_and_step_gets_its_own_examples():
    config = TrainConfig(batch_size=3)
    seen = [i for step in range(4) for rank in range(2)
            for i in batch_indices(step, config, Distributed(rank=rank, world_size=2))]
    assert sorted(seen) == list(range(24))


def test_bad_options_are_one_line_errors(capsys):
    assert main(["--steps", "0"]) == 2
    assert "steps" in capsys.readouterr().err


def test_torchrun_trains_with_two_processes(tiny_corpus, tmp_path):
    """DistributedDataParallel over two CPU processes (gloo), as on several GPUs."""
    root, split = tiny_corpus
    options = {"schedule": "A", "steps": 1, "batch-size": 1, "excerpt-s": 0.5,
               "preroll-s": 0.1, "analysis-excerpts": 2, "analysis-s": 1.0,
               "checkpoint-every": 1, "validate-every": 1, "validation-items": 1,
               "corpus": root, "split": split, "checkpoint-dir": tmp_path / "checkpoints",
               "out": tmp_path / "w.pt"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "-m", "training.train", *[f"--{k}={v}" for k, v in options.items()]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("wrote") == 1
    assert set(proposer.load(tmp_path / "w.pt").state_dict()) == \
        set(proposer.Proposer().state_dict())
