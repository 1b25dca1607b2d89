"""Fit the proposer's lock coupling (``model.co_mastering``) on the training split.

The network proposes, with nothing locked, for ``items_per_track`` degraded items of every
training track (``training.dataset.PairDataset``, its own seed); its errors on the known values
give the coupling's second moments, which are stored in the model (``lock_coupling``).
``training.train`` runs this after the last step; run alone, it refits a weights file in place:

    python -m training.coupling --weights assets/model/greymaster-proposer.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from model import co_mastering
from model.proposer import DEFAULT_WEIGHTS, Proposer, load, save
from training.corpus import default_cache_dir
from training.dataset import PairDataset
from training.split import DEFAULT_PATH as DEFAULT_SPLIT
from training.split import load_split, resolve

SEED = 7919
"""The items' seed: other draws than the training steps' (seed 0 and up)."""
ITEMS_PER_TRACK = 4


def network_errors(model: Proposer, dataset: PairDataset,
                   device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """known − proposed for every item, nothing locked, no reference.

    Shape: returns errors (N, P) float32 (0 where unknown) and known (N, P) bool.
    """
    model.eval()
    errors, known = [], []
    with torch.inference_mode():
        for index in range(len(dataset)):
            item = dataset[index]
            proposal = model(item["analysis"][None].to(device),
                             item["target_lufs"][None].to(device))
            mask = item["known_mask"].numpy()
            error = item["known_units"].numpy() - proposal.units[0].cpu().numpy()
            errors.append(np.where(mask, error, 0.0).astype(np.float32))
            known.append(mask)
    return np.stack(errors), np.stack(known)


def fit(model: Proposer, train_files: list[Path], device: torch.device,
        items_per_track: int = ITEMS_PER_TRACK, analysis_excerpts: int = 6,
        analysis_s: float = 2.0) -> None:
    """Set ``model.lock_coupling`` from its errors on ``train_files`` (module docstring), the
    analysis excerpts drawn as in training (``PairDataset``'s defaults, ``TrainConfig``'s)."""
    dataset = PairDataset(train_files, seed=SEED, items_per_track=items_per_track,
                          analysis_excerpts=analysis_excerpts, analysis_s=analysis_s)
    errors, known = network_errors(model, dataset, device)
    coupling = co_mastering.second_moments(errors, known)
    model.lock_coupling.copy_(torch.from_numpy(coupling))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.coupling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--corpus", type=Path, default=default_cache_dir())
    parser.add_argument("--split", type=Path, default=DEFAULT_SPLIT)
    parser.add_argument("--items-per-track", type=int, default=ITEMS_PER_TRACK)
    args = parser.parse_args(argv)

    model = load(args.weights)
    files = resolve(load_split(args.split)["train"], args.corpus)
    fit(model, files, torch.device("cpu"), args.items_per_track)
    save(model, args.weights)
    print(f"wrote the lock coupling of {len(files)} tracks × {args.items_per_track} items "
          f"into {args.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
