"""The ring buffer between the render worker and the audio callback (DESIGN.md §5).

One producer (the render worker) and one consumer (the audio callback), no locks: each side
writes only its own counter, and a counter is advanced only after the frames it covers are
written (producer) or read (consumer). Python's GIL makes the integer stores atomic.

Every frame carries two planes, so that A/B switches at the callback, sample-aligned and
instantly: ``original`` (the input, delayed like the chain and optionally level-matched) and
``master`` (the chain's output). Beside them, per frame: the track position it plays (frames at
the stream's rate) and the seek generation it was rendered for (stale frames are skipped).
"""

from __future__ import annotations

import numpy as np

CHANNELS = 2


class FrameRing:
    """Preallocated single-producer single-consumer ring of stereo frames.

    Shape: planes ``original`` and ``master`` are float32 (capacity, 2), frame-major, so that a
    run of frames copies straight into PortAudio's (frames, channels) output buffer;
    ``position`` int64 (capacity,); ``generation`` int64 (capacity,).
    ``written`` / ``read`` count frames since creation; frame k lives at slot k % capacity.
    """

    def __init__(self, capacity_frames: int) -> None:
        if capacity_frames < 1:
            raise ValueError("the ring needs room for at least one frame")
        self.capacity_frames = capacity_frames
        self.original = np.zeros((capacity_frames, CHANNELS), dtype=np.float32)
        self.master = np.zeros((capacity_frames, CHANNELS), dtype=np.float32)
        self.position = np.zeros(capacity_frames, dtype=np.int64)
        self.generation = np.zeros(capacity_frames, dtype=np.int64)
        self.written = 0
        self.read = 0

    @property
    def available_frames(self) -> int:
        """Frames written and not yet read."""
        return self.written - self.read

    @property
    def free_frames(self) -> int:
        return self.capacity_frames - self.available_frames

    def spans(self, first: int, count: int) -> list[tuple[int, int]]:
        """The (start slot, length) runs holding frames ``first … first + count − 1``: one run,
        or two where they wrap around the end."""
        start = first % self.capacity_frames
        head = min(count, self.capacity_frames - start)
        return [(start, head)] if head == count else [(start, head), (0, count - head)]

    def write(self, original: np.ndarray, master: np.ndarray, position: np.ndarray,
              generation: int) -> None:
        """Producer: append frames. Shape: ``original``/``master`` (2, n), ``position`` (n,).

        Raises ValueError when they do not fit (the producer checks ``free_frames`` first).
        """
        n = master.shape[1]
        if n > self.free_frames:
            raise ValueError(f"{n} frames do not fit in {self.free_frames} free")
        done = 0
        for start, length in self.spans(self.written, n):
            part = slice(done, done + length)
            self.original[start:start + length] = original[:, part].T
            self.master[start:start + length] = master[:, part].T
            self.position[start:start + length] = position[part]
            self.generation[start:start + length] = generation
            done += length
        self.written += n

    def consume(self, count: int) -> None:
        """Consumer: release ``count`` frames it has read."""
        if count > self.available_frames:
            raise ValueError(f"cannot release {count} of {self.available_frames} frames")
        self.read += count
