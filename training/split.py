"""The corpus split by whole track into train / validation / test, fixed before anything else.

Each track is named by its key ``"<package>/<path inside the package folder>"`` (portable: no
machine paths). Within each package the tracks are ranked by the SHA-256 of their key; the first
``round(0.1·n)`` (at least 1) go to test, the next ``round(0.1·n)`` (at least 1) to validation,
the rest to train. A package with fewer than ``MIN_TRACKS_TO_HOLD_OUT`` tracks goes wholly to
train. The ranking depends only on the keys, so the split is the same on every machine and a
track keeps its side as long as its package's track list is unchanged. Tracks shorter than
``MIN_DURATION_S`` are left out.

    python -m training.split [--corpus DIR] [--out training/split.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import soundfile as sf

from training.corpus import PACKAGES, TRAINING_PACKAGES, audio_files, default_cache_dir

DEFAULT_PATH = Path(__file__).with_name("split.json")
SIDES: tuple[str, ...] = ("train", "validation", "test")
HELD_OUT_FRACTION = 0.1
"""Share of each package's tracks in test, and again in validation."""
MIN_TRACKS_TO_HOLD_OUT = 3
MIN_DURATION_S = 20.0


def track_key(path: Path, corpus_dir: Path) -> str:
    """``"package/relative/path"`` of a file under ``corpus_dir/package/``."""
    return path.relative_to(corpus_dir).as_posix()


def _rank(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_keys(keys: list[str]) -> dict[str, list[str]]:
    """Assign track keys to the sides, stratified by package (the key's first component).

    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}``, each list sorted.
    """
    by_package: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_package[key.split("/", 1)[0]].append(key)
    sides: dict[str, list[str]] = {side: [] for side in SIDES}
    for package_keys in by_package.values():
        ranked = sorted(package_keys, key=_rank)
        if len(ranked) < MIN_TRACKS_TO_HOLD_OUT:
            sides["train"] += ranked
            continue
        held_out = max(1, round(HELD_OUT_FRACTION * len(ranked)))
        sides["test"] += ranked[:held_out]
        sides["validation"] += ranked[held_out:2 * held_out]
        sides["train"] += ranked[2 * held_out:]
    return {side: sorted(side_keys) for side, side_keys in sides.items()}


def corpus_keys(corpus_dir: Path, packages: list[str]) -> list[str]:
    """Keys of the packages' audio files that last at least ``MIN_DURATION_S``."""
    keys = []
    for package in packages:
        for path in audio_files(corpus_dir / package):
            if sf.info(str(path)).duration >= MIN_DURATION_S:
                keys.append(track_key(path, corpus_dir))
    return keys


def load_split(path: str | Path = DEFAULT_PATH) -> dict[str, list[str]]:
    """The split file: side → track keys."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return {side: list(doc[side]) for side in SIDES}


def resolve(keys: list[str], corpus_dir: str | Path) -> list[Path]:
    """The files of track keys in a corpus folder; ``FileNotFoundError`` naming any missing."""
    paths = [Path(corpus_dir) / key for key in keys]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} split tracks are not in {corpus_dir} (fetch their packages with "
            f"`python -m training.corpus fetch`): {missing[:3]}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.split", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=default_cache_dir())
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    packages = [*PACKAGES, *TRAINING_PACKAGES]
    absent = [p for p in packages if not (args.corpus / p / ".complete").exists()]
    if absent:
        print(f"split: fetch {absent} first (python -m training.corpus fetch)", file=sys.stderr)
        return 2
    split = split_keys(corpus_keys(args.corpus, packages))
    args.out.write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
    counts = ", ".join(f"{len(split[side])} {side}" for side in SIDES)
    print(f"wrote {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
