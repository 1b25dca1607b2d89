"""Train the proposer and the neural residual: self-supervised pairs through the differentiable
chain.

    python -m training.train [--schedule B] [--steps N] [--residual-steps N] [--resume]
        [--out assets/model/...] [--residual-out assets/model/...] [--init weights.pt]
    torchrun --nproc-per-node 4 -m training.train ...   # several GPUs (DDP)

Each step: the proposer sees analysis excerpts of a degraded ("de-mastered") track, the loudness
target (the original's own integrated loudness), in half the steps a reference (clean excerpts
of the original) and for some examples locks (some of the values the degradation implies,
revealed); its parameters drive ``model.chain.forward_torch`` on a degraded excerpt (warmed on
the audio before it); a trim levels the pre-limiter signal with the target, as loudness
targeting would at export. The trim is differentiated through (BS.1770 loudness with its gates
held): a change of overall level is then worth nothing to the losses, so the proposal cannot
drift by raising every gain together. The losses (training/losses.py) compare with the
original.

Schedules (the planning document's): "A" end to end, every grey-box stage from the first step;
"B" progressive, one more stage per phase (EQ, + compressor, + saturation, + stereo, + limiter),
then all of them at a lower learning rate. The residual stage stays bypassed for those ``steps``.
Both schedules then run a residual phase of ``residual_steps``: the whole chain with the neural
residual (``model.residual_net``, conditioned on the proposal's latent z), the proposer frozen
except its residual head (the amount), the residual network and that head trained with the same
losses. ``--init`` starts from trained proposer weights at the residual phase. Checkpoints
(``--checkpoint-dir``, every ``--checkpoint-every`` steps, atomic) hold the model, the residual
network, optimiser, step and random state:
``--resume`` continues exactly where a run stopped. After the last step the lock coupling of
co-mastering is fitted on the training split (``training.coupling``) and saved with the weights.
The model runs on a GPU when one is present; the chain's kernels run on the CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from model import chain, residual_net, weights
from model.chain import stage_module
from model.loudness import integrated_loudness_torch
from model.params import STAGES, spec
from model.proposer import DEFAULT_WEIGHTS, Proposer, save
from model.proposer import load as load_proposer
from training import coupling
from training.corpus import default_cache_dir
from training.dataset import PairDataset
from training.losses import MasteringLoss
from training.split import load_split, resolve

SAMPLE_RATE_HZ = 44100
GREY_BOX_STAGES = tuple(stage for stage in STAGES if stage != "residual")
PHASES_B = (("eq",), ("eq", "compressor"), ("eq", "compressor", "saturation"),
            ("eq", "compressor", "saturation", "stereo"), GREY_BOX_STAGES)
"""Schedule B's stage sets; a last phase fine-tunes all of them at ``FINE_TUNE_LR_SCALE``."""
FINE_TUNE_LR_SCALE = 0.3
RESIDUAL_LR_SCALE = 5.0
"""The residual phase trains a fresh small network: a higher rate than the proposer's."""
RESIDUAL_HEAD = "heads.residual."
"""Prefix of the proposer parameters trained in the residual phase (its residual head)."""
RESIDUAL_START_AMOUNT = 0.5
"""The residual head's proposal when the residual phase starts. The network's output starts at
zero, so this changes no output; at the table's default (0) the amount and the network would sit
at a saddle, each one's gradient proportional to the other, and the pull towards the defaults
would keep the amount there."""
GRADIENT_CLIP_NORM = 1.0
"""Gradients are clipped to this norm; a step whose gradient is not finite is skipped (and
logged), so one bad example cannot poison the weights."""
REFERENCE_PROBABILITY = 0.5
LOCK_PROBABILITY = 0.3
LOCK_REVEAL_FRACTION = 0.5


@dataclass
class TrainConfig:
    schedule: str = "B"
    steps: int = 1500
    residual_steps: int = 500
    batch_size: int = 4
    learning_rate: float = 2e-4
    seed: int = 0
    excerpt_s: float = 1.0
    preroll_s: float = 0.25
    analysis_excerpts: int = 6
    analysis_s: float = 2.0
    checkpoint_every: int = 100
    validate_every: int = 250
    validation_items: int = 16
    corpus: str = field(default_factory=lambda: str(default_cache_dir()))
    split: str = "training/split.json"
    checkpoint_dir: str = "out/train"
    out: str = str(DEFAULT_WEIGHTS)
    residual_out: str = str(residual_net.DEFAULT_WEIGHTS)
    init: str = ""
    coupling_items_per_track: int = coupling.ITEMS_PER_TRACK

    @property
    def total_steps(self) -> int:
        return self.steps + self.residual_steps

    def phase(self, step: int) -> tuple[tuple[str, ...], float]:
        """The enabled stages and learning-rate scale at ``step`` (the residual phase is the one
        whose stages include "residual")."""
        if step >= self.steps:
            return STAGES, RESIDUAL_LR_SCALE
        if self.schedule == "A":
            return GREY_BOX_STAGES, 1.0
        phase_steps = self.steps / (len(PHASES_B) + 1)
        index = int(step // phase_steps)
        if index < len(PHASES_B):
            return PHASES_B[index], 1.0
        return GREY_BOX_STAGES, FINE_TUNE_LR_SCALE


@dataclass
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @classmethod
    def start(cls) -> Distributed:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        cuda = torch.cuda.is_available()
        if world_size == 1:
            return cls(device=torch.device("cuda" if cuda else "cpu"))
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local_rank)
        return cls(rank=torch.distributed.get_rank(), world_size=world_size,
                    device=torch.device(f"cuda:{local_rank}" if cuda else "cpu"))


BATCH_KEYS = ("analysis", "input", "input_context", "target", "reference", "target_lufs",
              "known_units", "known_mask")


def collate(items: list[dict]) -> dict[str, torch.Tensor]:
    """Stack the examples' tensors that a step uses."""
    return {key: torch.stack([torch.as_tensor(item[key]) for item in items])
            for key in BATCH_KEYS}


def batch_indices(step: int, config: TrainConfig, place: Distributed) -> range:
    """The dataset indices of one process's share of one step: every (step, rank) its own."""
    first = (step * place.world_size + place.rank) * config.batch_size
    return range(first, first + config.batch_size)


def chain_output(batch: dict[str, torch.Tensor], physical: dict, stages: tuple[str, ...],
                 sample_rate_hz: int, latent: torch.Tensor | None = None,
                 residual: torch.nn.Module | None = None) -> torch.Tensor:
    """The chain on the degraded excerpt, warmed on its context, levelled like the target.

    ``latent`` (B, LATENT_DIM) conditions ``residual``, the residual network being trained (used
    when ``stages`` include "residual").

    Shape: (B, 2, context + T) in → (B, 2, T) out; float32 on the CPU.
    """
    audio = torch.cat([batch["input_context"], batch["input"]], dim=-1).float()
    params = {stage: {name: value.cpu() for name, value in physical[stage].items()}
              for stage in STAGES}
    if latent is not None:
        params["residual"]["latent"] = latent.detach().cpu().float()
    enabled = {stage: stage in stages and stage != "limiter" for stage in STAGES}
    networks = {"residual": residual} if residual is not None else None
    pre_limiter, _ = chain.forward_torch(audio, params, sample_rate_hz, enabled, networks)
    context = batch["input_context"].shape[-1]
    ours = integrated_loudness_torch(pre_limiter[..., context:], sample_rate_hz)
    theirs = integrated_loudness_torch(batch["target"].float(), sample_rate_hz)
    usable = torch.isfinite(ours) & torch.isfinite(theirs)
    # Silence measures −inf: no trim there, and −inf kept out of the graph (a masked −inf
    # still sends NaN back through torch.where).
    safe_ours = torch.where(usable, ours, torch.zeros_like(ours))
    trim_db = torch.where(usable, theirs - safe_ours, torch.zeros_like(ours))
    levelled = pre_limiter * (10.0 ** (trim_db / 20.0))[:, None, None]
    if "limiter" in stages:
        levelled, _ = stage_module("limiter").forward_torch(levelled, params["limiter"],
                                                            sample_rate_hz)
    return levelled[..., context:]


def train_step(model: torch.nn.Module, loss_fn: MasteringLoss, batch: dict[str, torch.Tensor],
               stages: tuple[str, ...], generator: torch.Generator, device: torch.device,
               residual: torch.nn.Module | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward through proposer, chain and losses (the caller steps the optimiser)."""
    size = batch["input"].shape[0]
    with_reference = bool(torch.rand(1, generator=generator) < REFERENCE_PROBABILITY)
    lock = (torch.rand(size, 1, generator=generator) < LOCK_PROBABILITY) & \
        (torch.rand(batch["known_mask"].shape, generator=generator) < LOCK_REVEAL_FRACTION) & \
        batch["known_mask"].bool()
    proposal = model(batch["analysis"].to(device), batch["target_lufs"].float().to(device),
                     reference=batch["reference"].to(device) if with_reference else None,
                     lock_units=batch["known_units"].float().to(device),
                     lock_mask=lock.to(device))
    estimate = chain_output(batch, proposal.physical, stages, SAMPLE_RATE_HZ, proposal.latent,
                            residual)
    return loss_fn(estimate, batch["target"].float(), proposal.units.cpu(),
                   batch["known_units"].float(), batch["known_mask"].bool())


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Run (or continue) a training job; returns the path of the written weights."""
    place = Distributed.start()
    torch.manual_seed(config.seed)
    split = load_split(config.split)
    train_files = resolve(split["train"], config.corpus)
    examples = config.total_steps * config.batch_size * place.world_size
    train_set = PairDataset(train_files, seed=config.seed, excerpt_s=config.excerpt_s,
                            preroll_s=config.preroll_s,
                            analysis_excerpts=config.analysis_excerpts,
                            analysis_s=config.analysis_s,
                            items_per_track=math.ceil(examples / len(train_files)))
    validation_set = PairDataset(resolve(split["validation"], config.corpus), seed=config.seed + 1,
                                 excerpt_s=config.excerpt_s, preroll_s=config.preroll_s,
                                 analysis_excerpts=config.analysis_excerpts,
                                 analysis_s=config.analysis_s)
    model = (load_proposer(config.init) if config.init else Proposer()).to(place.device)
    residual = residual_net.ResidualNet().to(place.device)
    loss_fn = MasteringLoss(SAMPLE_RATE_HZ)
    trainable = [*model.parameters(), *residual.parameters()]
    optimiser = torch.optim.AdamW(trainable, lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed + place.rank)
    checkpoint = Path(config.checkpoint_dir) / "last.pt"
    history: list[dict] = []
    start = min(config.steps, config.total_steps) if config.init else 0
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True, map_location=place.device)
        model.load_state_dict(state["model"])
        residual.load_state_dict(state["residual"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        history, start = json.loads(state["history"]), int(state["step"])
    # Steps with and without a reference use different parameters (the "no reference" vector).
    trained, trained_residual = model, residual
    if place.world_size > 1:
        trained, trained_residual = (torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[place.device.index] if place.device.type == "cuda" else None,
            find_unused_parameters=True) for module in (model, residual))
    began = time.monotonic()
    for step in range(start, config.total_steps):
        stages, lr_scale = config.phase(step)
        for group in optimiser.param_groups:
            group["lr"] = config.learning_rate * lr_scale
        freeze_for_phase(model, residual, "residual" in stages)
        if step == config.steps:
            start_residual_head(model)
        batch = collate([train_set[i] for i in batch_indices(step, config, place)])
        model.train()
        loss, terms = train_step(trained, loss_fn, batch, stages, generator, place.device,
                                 trained_residual if "residual" in stages else None)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(trainable, GRADIENT_CLIP_NORM)
        finite = bool(torch.isfinite(norm))
        if finite:
            optimiser.step()
        record = {"step": step + 1, "stages": len(stages), "loss": float(loss.detach()), **terms,
                  "gradient_norm": float(norm), "skipped": not finite,
                  "elapsed_s": time.monotonic() - began}
        if (step + 1) % config.validate_every == 0 or step + 1 == config.total_steps:
            record["validation_loss"] = validate(model, loss_fn, validation_set, config, stages,
                                                 place.device, residual)
        history.append(record)
        if place.rank == 0:
            print(json.dumps(record), flush=True)
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.total_steps:
                weights.write({"model": model.state_dict(), "residual": residual.state_dict(),
                               "optimiser": optimiser.state_dict(),
                               "generator": generator.get_state(), "step": step + 1,
                               "config": json.dumps(asdict(config)),
                               "history": json.dumps(history)}, checkpoint)
    out = Path(config.out)
    if place.rank == 0:
        coupling.fit(model, train_files, place.device, config.coupling_items_per_track,
                     analysis_excerpts=config.analysis_excerpts, analysis_s=config.analysis_s)
        save(model, out)
        print(f"wrote {out}")
        if config.residual_steps > 0:
            residual_net.save(residual, config.residual_out)
            print(f"wrote {config.residual_out}")
        out.with_suffix(".history.json").write_text(json.dumps(
            {"config": asdict(config), "history": history}, indent=1) + "\n")
    if place.world_size > 1:
        torch.distributed.destroy_process_group()
    return out


def freeze_for_phase(model: Proposer, residual: torch.nn.Module, residual_phase: bool) -> None:
    """Grey-box phases train the proposer (the residual network idle, bypassed); the residual
    phase trains the residual network and the proposer's residual head, nothing else."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not residual_phase or name.startswith(RESIDUAL_HEAD))
    residual.requires_grad_(residual_phase)


def start_residual_head(model: Proposer) -> None:
    """Point the residual head's proposal at ``RESIDUAL_START_AMOUNT`` (see there)."""
    row = spec("residual.amount")
    with torch.no_grad():
        model.heads["residual"].out.bias.fill_(
            torch.logit(torch.tensor(row.to_unit(RESIDUAL_START_AMOUNT))).item())


def validate(model: torch.nn.Module, loss_fn: MasteringLoss, dataset: PairDataset,
             config: TrainConfig, stages: tuple[str, ...], device: torch.device,
             residual: torch.nn.Module | None = None) -> float:
    """Mean loss over the first ``validation_items`` validation examples (no reference, no
    locks: the plain proposal)."""
    model.eval()
    losses = []
    with torch.no_grad():
        for first in range(0, config.validation_items, config.batch_size):
            indices = range(first, min(first + config.batch_size, config.validation_items))
            batch = collate([dataset[i] for i in indices])
            proposal = model(batch["analysis"].to(device), batch["target_lufs"].float().to(device))
            estimate = chain_output(batch, proposal.physical, stages, SAMPLE_RATE_HZ,
                                    proposal.latent, residual)
            loss, _ = loss_fn(estimate, batch["target"].float(), proposal.units.cpu(),
                              batch["known_units"].float(), batch["known_mask"].bool())
            losses.append(float(loss))
    return sum(losses) / len(losses)


def _parse(argv: list[str] | None) -> tuple[TrainConfig, bool]:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, value in asdict(defaults).items():
        option = "--" + name.replace("_", "-")
        if name == "schedule":
            parser.add_argument(option, choices=("A", "B"), default=value)
        else:
            parser.add_argument(option, type=type(value), default=value)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    args = vars(parser.parse_args(argv))
    resume = args.pop("resume")
    return TrainConfig(**args), resume


def main(argv: list[str] | None = None) -> int:
    config, resume = _parse(argv)
    if not math.isfinite(config.learning_rate) or config.steps < 1 or config.batch_size < 1 \
            or config.residual_steps < 0:
        print("training: steps and batch size must be ≥ 1, residual steps ≥ 0 and the learning "
              "rate finite", file=sys.stderr)
        return 2
    train(config, resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
