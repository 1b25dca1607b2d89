"""Train / validation / test split: by whole track, hash-ranked per package, the committed file."""

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from training import split
from training.corpus import PACKAGES, TRAINING_PACKAGES


def keys_for(counts: dict[str, int]) -> list[str]:
    return [f"{package}/music/track{i:02d}.ogg"
            for package, count in counts.items() for i in range(count)]


def test_sides_partition_the_tracks_and_hold_out_a_tenth_per_package():
    keys = keys_for({"big": 40, "mid": 10, "three": 3, "two": 2, "one": 1})
    sides = split.split_keys(keys)
    assigned = [key for side in split.SIDES for key in sides[side]]
    assert sorted(assigned) == sorted(keys)
    per_side = {side: Counter(k.split("/")[0] for k in sides[side]) for side in split.SIDES}
    assert per_side["test"] == {"big": 4, "mid": 1, "three": 1}
    assert per_side["validation"] == {"big": 4, "mid": 1, "three": 1}
    assert per_side["train"] == {"big": 32, "mid": 8, "three": 1, "two": 2, "one": 1}


def test_test_tracks_are_those_with_the_smallest_key_hashes():
    keys = keys_for({"pkg": 20})
    by_hash = sorted(keys, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    sides = split.split_keys(keys)
    assert sides["test"] == sorted(by_hash[:2])
    assert sides["validation"] == sorted(by_hash[2:4])


def test_split_ignores_input_order():
    keys = keys_for({"a": 17, "b": 9})
    shuffled = list(np.random.default_rng(3).permutation(keys))
    assert split.split_keys(shuffled) == split.split_keys(keys)


def test_corpus_keys_skip_short_tracks_and_are_portable(tmp_path: Path):
    package = tmp_path / "pkg" / "music"
    package.mkdir(parents=True)
    rate_hz = 8000
    for name, seconds in (("short.wav", 19.5), ("long.wav", 20.5)):
        sf.write(package / name, np.zeros((int(seconds * rate_hz), 2)), rate_hz)
    assert split.corpus_keys(tmp_path, ["pkg"]) == ["pkg/music/long.wav"]


def test_resolve_finds_files_and_names_missing_ones(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.ogg").write_bytes(b"")
    assert split.resolve(["pkg/a.ogg"], tmp_path) == [tmp_path / "pkg" / "a.ogg"]
    with pytest.raises(FileNotFoundError, match=r"pkg/b\.ogg"):
        split.resolve(["pkg/a.ogg", "pkg/b.ogg"], tmp_path)


def test_committed_split_follows_the_rule_over_the_fetchable_packages():
    sides = split.load_split()
    keys = [key for side in split.SIDES for key in sides[side]]
    assert len(keys) == len(set(keys))
    packages = Counter(key.split("/")[0] for key in keys)
    assert set(packages) <= set(PACKAGES) | set(TRAINING_PACKAGES)
    assert split.split_keys(keys) == sides
    test_packages = {key.split("/")[0] for key in sides["test"]}
    assert test_packages == {p for p, n in packages.items() if n >= split.MIN_TRACKS_TO_HOLD_OUT}
    doc = json.loads(split.DEFAULT_PATH.read_text())
    assert set(doc) == set(split.SIDES)
