"""Training pairs: determinism, shapes, targets and logged degradations against the sources."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from model.loudness import integrated_loudness
from model.params import TABLE
from tests.signals import music_like
from training import degrade, split
from training.dataset import ANALYSIS_RATE_HZ, PairDataset, starts_avoiding

torch.set_num_threads(1)
FS = ANALYSIS_RATE_HZ


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    """A 24 s stereo track at 44.1 kHz and a 22 s mono track at 22.05 kHz."""
    folder = tmp_path_factory.mktemp("corpus")
    stereo, mono = folder / "stereo.wav", folder / "mono.wav"
    sf.write(stereo, music_like(24.0, FS, seed=1).T, FS, subtype="FLOAT")
    sf.write(mono, music_like(22.0, 22050, seed=2)[0], 22050, subtype="FLOAT")
    return [stereo, mono]


@pytest.fixture(scope="module")
def dataset(files) -> PairDataset:
    data = PairDataset(files, seed=7, items_per_track=4)
    data.preload()
    return data


def test_items_are_deterministic_per_index(files, dataset):
    fresh = PairDataset(files, seed=7, items_per_track=4)
    for index in (5, 0):
        a, b = dataset[index], fresh[index]
        assert a["degradation"] == b["degradation"]
        for key, value in a.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, b[key]), key
    assert dataset[0]["degradation"] != dataset[2]["degradation"]
    assert PairDataset(files, seed=8)[0]["degradation"] != dataset[0]["degradation"]


def test_shapes(dataset):
    item = dataset[1]
    excerpt, span, pre = round(1.5 * FS), round(2.0 * FS), round(0.5 * FS)
    expected = {"analysis": (6, 2, span), "input": (2, excerpt), "input_context": (2, pre),
                "target": (2, excerpt), "reference": (6, 2, span), "target_lufs": (),
                "known_units": (len(TABLE),), "known_mask": (len(TABLE),),
                "analysis_offsets": (6,),
                "reference_offsets": (6,)}
    for key, shape in expected.items():
        assert tuple(item[key].shape) == shape, key
    assert item["analysis"].dtype == torch.float32 and item["known_mask"].dtype == torch.bool
    assert len(dataset) == 8


def test_decoded_track_is_the_file_as_float16_with_its_loudness(files, dataset):
    source, _ = sf.read(files[0], dtype="float32", always_2d=True)
    decoded = dataset.track(0)
    np.testing.assert_array_equal(decoded.audio, source.T.astype(np.float16))
    assert decoded.loudness_lufs == integrated_loudness(source.T.copy(), FS)
    mono = dataset.track(1).audio
    assert mono.shape == (2, 22 * FS) and np.array_equal(mono[0], mono[1])


@pytest.mark.parametrize("index", [0, 1, 6])
def test_target_and_references_are_the_decoded_track_at_the_logged_offsets(dataset, index):
    item = dataset[index]
    audio = dataset.track(int(item["track"])).audio.astype(np.float32)
    offset = int(item["offset"])
    np.testing.assert_array_equal(item["target"].numpy(), audio[:, offset:offset + 66150])
    for k, start in enumerate(item["reference_offsets"].tolist()):
        np.testing.assert_array_equal(item["reference"][k].numpy(), audio[:, start:start + 88200])
        assert start + 88200 <= offset or start >= offset + 66150


@pytest.mark.parametrize("index", [0, 3, 5])
def test_logged_degradation_is_the_one_applied(dataset, index):
    item = dataset[index]
    record = degrade.Degradation.from_json(item["degradation"])
    audio = dataset.track(int(item["track"])).audio.astype(np.float32)
    offset, pre = int(item["offset"]), 22050
    again = degrade.apply(audio[:, offset - pre:offset + 66150], FS, record)
    np.testing.assert_array_equal(item["input_context"].numpy(), again[:, :pre])
    np.testing.assert_array_equal(item["input"].numpy(), again[:, pre:])
    start = int(item["analysis_offsets"][2])
    analysis = degrade.apply(audio[:, start - pre:start + 88200], FS, record)[:, pre:]
    np.testing.assert_array_equal(item["analysis"][2].numpy(), analysis)
    units, mask = degrade.inverse_units(record)
    assert np.array_equal(item["known_units"].numpy(), units)
    assert np.array_equal(item["known_mask"].numpy(), mask)


def test_analysis_excerpts_span_the_whole_track(dataset):
    offsets = dataset[0]["analysis_offsets"].numpy()
    total = dataset.track(0).audio.shape[1]
    assert offsets[0] == 22050 and offsets[-1] == total - 88200
    assert np.ptp(np.diff(offsets)) <= 1


@pytest.mark.parametrize("busy", [(0, 100), (450, 520), (900, 1000), (300, 301)])
def test_reference_starts_avoid_the_busy_span(busy):
    starts = starts_avoiding(1000, 100, busy[0], busy[1], 6)
    assert len(set(starts.tolist())) == 6
    assert all(0 <= s <= 900 and (s + 100 <= busy[0] or s >= busy[1]) for s in starts)


def test_train_dataset_from_the_split_file_holds_no_test_track(tmp_path: Path):
    sides = split.load_split()
    for key in (k for side in split.SIDES for k in sides[side]):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"")
    train = PairDataset.from_split("train", tmp_path, seed=0)
    keys = {split.track_key(path, tmp_path) for path in train.files}
    assert keys == set(sides["train"])
    assert not keys & (set(sides["test"]) | set(sides["validation"]))
