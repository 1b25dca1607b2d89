"""The worker → callback ring: frames come out in order, across the wrap, with their tags."""

import numpy as np
import pytest

from greymaster_app.playback.ring import FrameRing


def _frames(first: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = np.arange(first, first + n)
    original = np.stack([index, -index]).astype(np.float32)
    return original, 0.5 * original, index.astype(np.int64)


def test_frames_come_out_in_order_across_the_wrap():
    ring = FrameRing(10)
    read_back = []
    written = 0
    expected_generation = []
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, ring.free_frames + 1)) if ring.free_frames else 0
        if n:
            ring.write(*_frames(written, n), generation=written // 7)
            expected_generation += [written // 7] * n
            written += n
        take = int(rng.integers(0, ring.available_frames + 1))
        for start, length in ring.spans(ring.read, take):
            read_back.append((ring.original[start:start + length].copy(),
                              ring.master[start:start + length].copy(),
                              ring.position[start:start + length].copy(),
                              ring.generation[start:start + length].copy()))
        ring.consume(take)
    original = np.concatenate([r[0] for r in read_back])
    master = np.concatenate([r[1] for r in read_back])
    position = np.concatenate([r[2] for r in read_back])
    generation = np.concatenate([r[3] for r in read_back])
    expected = np.arange(position.size)
    np.testing.assert_array_equal(position, expected)
    np.testing.assert_array_equal(original, np.stack([expected, -expected], axis=1))
    np.testing.assert_array_equal(master, 0.5 * original)
    np.testing.assert_array_equal(generation, expected_generation[: position.size])
    assert position.size > 100


def test_spans_split_only_at_the_end():
    ring = FrameRing(8)
    assert ring.spans(3, 4) == [(3, 4)]
    assert ring.spans(6, 5) == [(6, 2), (0, 3)]
    assert ring.spans(16, 8) == [(0, 8)]


def test_overfilling_and_overreading_are_refused():
    ring = FrameRing(4)
    ring.write(*_frames(0, 3), generation=0)
    with pytest.raises(ValueError):
        ring.write(*_frames(3, 2), generation=0)
    with pytest.raises(ValueError):
        ring.consume(4)
    assert ring.available_frames == 3 and ring.free_frames == 1
