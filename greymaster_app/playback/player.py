"""The live player: one track through the mastering chain in real time, with A/B and meters.

Three threads (DESIGN.md §5):

* the caller's (the app's GUI, a test): transport, parameters, A/B, reading meters. Every call
  only swaps a reference or an integer; none waits for audio.
* the render worker: runs ``LiveChain`` ahead of the playhead into a ``FrameRing`` (both the
  original, delayed like the chain, and the master), feeds the meters, publishes meter
  snapshots, and watches the device.
* PortAudio's callback: copies frames from the ring into the device buffer, crossfading between
  original and master on an A/B switch and ramping on play, pause and seek. Nothing else.

Positions are frames at the stream's rate (the track's own, or the device's when it cannot open
that one; the track is then resampled once). The public API speaks seconds.
"""

from __future__ import annotations

import enum
import gc
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from greymaster_app.playback import devices
from greymaster_app.playback.delay import DelayLine
from greymaster_app.playback.live_chain import LiveChain
from greymaster_app.playback.meters import PathMeter, PathReading, level_match_gain_db
from greymaster_app.playback.ring import FrameRing
from model.audio_io import resample
from model.chain import as_stereo
from model.params import ChainParams
from model.units import db_to_gain

WORKER_BLOCK_FRAMES = 256
"""The render worker's block: small, so a parameter change reaches the ring quickly."""
RING_CAPACITY_FRAMES = 1 << 14
PLAY_RAMP_S = 0.005
"""Fade in / out on play, pause, seek and stop."""
AB_RAMP_S = 0.010
"""Crossfade between original and master on an A/B switch."""
LOOP_CROSSFADE_S = 0.005
"""Crossfade at a loop's seam, in the input."""
PREROLL_S = 0.5
"""After a seek the chain runs over this much audio before the target, unheard, so that the
compressor and limiter are settled when playback starts."""
MIN_LOOP_S = 0.05
LEVEL_MATCH_WINDOW_S = 10.0
LEVEL_MATCH_LIMIT_DB = 30.0
DEVICE_TIMEOUT_S = 1.0
"""No callback for this long while playing: the device is gone."""
IDLE_POLL_S = 0.001
PREFILL_TIMEOUT_S = 0.25
PAUSED_POLL_S = 0.01
SNAPSHOTS = 64
GIL_SWITCH_INTERVAL_S = 0.001
"""While playing, a thread holding the GIL hands it over after at most this long (Python's
default is 5 ms): the render worker waits less behind the GUI thread."""
CALLBACK_HISTORY = 1 << 15


class PlayState(enum.Enum):
    STOPPED = "stopped"
    PLAYING = "playing"
    PAUSED = "paused"


@dataclass(frozen=True)
class PlaybackMeters:
    """Meters at one point of the output, as the UI shows them."""

    position_s: float
    input: PathReading
    output: PathReading
    compressor_gain_reduction_db: float
    limiter_gain_reduction_db: float
    level_match_db: float
    """Gain applied to the original while listening to A (0 with level matching off)."""
    master_block: np.ndarray
    """The master's samples of the block ending here, read-only (2, ≤ 256): the vectorscope's
    input."""


@dataclass
class CallbackStats:
    """Counters written by the audio callback (read by tests and benchmarks)."""

    calls: int = 0
    frames_delivered: int = 0
    underruns: int = 0
    """Callbacks that found the ring too short while audible: each fades out over the frames
    in hand and stays silent until the margin is back (``Player._margin_in_hand``)."""
    device_underflows: int = 0
    durations_s: np.ndarray = field(default_factory=lambda: np.zeros(CALLBACK_HISTORY))

    def recent_durations_s(self) -> np.ndarray:
        return self.durations_s[: min(self.calls, CALLBACK_HISTORY)].copy()


class Recording:
    """What the callback handed to PortAudio, frame by frame, with each frame's position
    (−1 for silence): a tap for tests, benchmarks and 'record what you hear'."""

    def __init__(self, max_frames: int) -> None:
        self.audio = np.zeros((max_frames, 2), dtype=np.float32)
        self.position = np.full(max_frames, -1, dtype=np.int64)
        self.frames = 0
        self.first_frame_delivered = -1

    def add(self, audio: np.ndarray, position: np.ndarray | None, delivered: int) -> None:
        if self.first_frame_delivered < 0:
            self.first_frame_delivered = delivered
        n = min(audio.shape[0], self.audio.shape[0] - self.frames)
        self.audio[self.frames: self.frames + n] = audio[:n]
        if position is not None:
            self.position[self.frames: self.frames + n] = position[:n]
        self.frames += n


class Player:
    """Plays ``audio`` (channels, frames) at ``sample_rate_hz`` through the chain.

    Mono plays as dual mono. ``play`` opens the output device; everything else works without
    one. Call ``close`` when done (or use ``with``).
    """

    def __init__(self, audio: np.ndarray, sample_rate_hz: int, params: ChainParams,
                 trim_db: float = 0.0, *, device: int | str | None = None,
                 blocksize_frames: int = 512,
                 ahead_frames: int = 2 * WORKER_BLOCK_FRAMES) -> None:
        if audio.ndim != 2 or audio.shape[0] not in (1, 2) or audio.shape[1] == 0:
            raise ValueError("the player takes mono or stereo audio of at least one frame")
        self._track = as_stereo(np.ascontiguousarray(audio, dtype=np.float32))
        self._track_rate_hz = int(sample_rate_hz)
        self.device = device
        self.blocksize_frames = int(blocksize_frames)
        self.ahead_frames = int(ahead_frames)
        self._chain_setting = (params, float(trim_db))
        self._level_match = False
        self._loop_s: tuple[float, float] | None = None
        self._ab_target = 1.0
        self._state = PlayState.STOPPED
        self._message = ""
        self._stream: Any = None
        self.device_label = ""
        """The open output, as a device menu names it ('' when none is open)."""
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._quit = False
        self.stats = CallbackStats()
        self.recording: Recording | None = None
        self._rate_hz = 0
        self._engine_audio = self._track
        self._position_frames = 0
        self._start_engine(self._track_rate_hz, 0)

    # --- public API (any thread) ---------------------------------------------------------

    @property
    def state(self) -> PlayState:
        return self._state

    @property
    def message(self) -> str:
        """Why playback stopped or could not start ('' when all is well)."""
        return self._message

    @property
    def sample_rate_hz(self) -> int:
        """The rate the chain and the stream run at."""
        return self._rate_hz

    @property
    def duration_s(self) -> float:
        return self._engine_audio.shape[1] / self._rate_hz

    @property
    def position_s(self) -> float:
        """The playhead: the last frame handed to the device."""
        return self._position_frames / self._rate_hz

    @property
    def latency_samples(self) -> int:
        """The chain's (constant) latency, compensated in both A and B."""
        return self._chain.latency_samples

    def set_params(self, params: ChainParams, trim_db: float) -> None:
        """New chain settings; heard within ~30 ms, ramped."""
        self._chain_setting = (params, float(trim_db))
        self._chain.set_params(params, float(trim_db))

    def set_listening_to_master(self, master: bool) -> None:
        """A/B: True plays the master (B), False the original (A); crossfaded at the callback."""
        self._ab_target = 1.0 if master else 0.0

    @property
    def listening_to_master(self) -> bool:
        return self._ab_target == 1.0

    def set_level_match(self, on: bool) -> None:
        """Play the original as loud as the master (gated loudness of the last 10 s)."""
        self._level_match = bool(on)

    def set_loop(self, start_s: float, end_s: float) -> None:
        """Loop ``start_s … end_s`` (clamped to the track; at least 50 ms)."""
        start = min(max(0.0, start_s), self.duration_s)
        end = min(max(0.0, end_s), self.duration_s)
        if end - start < MIN_LOOP_S:
            raise ValueError(f"a loop must be at least {MIN_LOOP_S * 1000:g} ms long")
        self._loop_s = (start, end)

    def clear_loop(self) -> None:
        self._loop_s = None

    @property
    def loop_s(self) -> tuple[float, float] | None:
        return self._loop_s

    def seek(self, position_s: float) -> None:
        """Jump to ``position_s`` (clamped); playing continues from there after a short fade."""
        frames = round(min(max(0.0, position_s), self.duration_s) * self._rate_hz)
        self._seek_to(frames)

    def play(self) -> bool:
        """Start or resume. Opens the device if needed; False (and ``message``) when it cannot."""
        with self._lock:
            if self._state == PlayState.PLAYING:
                return True
            if self._reached_end():
                self._seek_to(self._loop_start_frames())
            if self._stream is None and not self._open_stream():
                return False
            _prepare_interpreter_for_playback()
            self._message = ""
            self._playing = True
            self._state = PlayState.PLAYING
            return True

    def pause(self) -> None:
        with self._lock:
            self._playing = False
            if self._state == PlayState.PLAYING:
                self._state = PlayState.PAUSED
        gc.unfreeze()

    def stop(self) -> None:
        """Stop, release the device and go back to the start (or the loop's start)."""
        with self._lock:
            self._playing = False
            self._state = PlayState.STOPPED
            self._close_stream(fade=True)
            self._seek_to(self._loop_start_frames())
        gc.unfreeze()

    def select_device(self, device: int | str | None) -> None:
        """Play on another output (None: the system default). Playback pauses if it was on."""
        with self._lock:
            self._playing = False
            if self._state == PlayState.PLAYING:
                self._state = PlayState.PAUSED
            self._close_stream(fade=True)
            self.device = device

    def meters(self) -> PlaybackMeters | None:
        """The newest meter snapshot at or before the playhead (None before any)."""
        consumed = self._ring.read
        newest = self._snapshot_count
        for k in range(newest - 1, max(newest - SNAPSHOTS, 0) - 1, -1):
            entry = self._snapshots[k % SNAPSHOTS]
            if entry is not None and entry[0] <= consumed:
                return entry[1]
        return None

    def start_recording(self, max_frames: int) -> Recording:
        """Record what the callback delivers from now on (see ``Recording``)."""
        self.recording = Recording(max_frames)
        return self.recording

    def close(self) -> None:
        """Stop playback and the worker; the player cannot be used afterwards."""
        with self._lock:
            self._playing = False
            self._close_stream(fade=False)
            self._stop_worker()
        gc.unfreeze()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- engine set-up (caller's thread, worker stopped) ---------------------------------------

    def _start_engine(self, rate_hz: int, position_frames: int) -> None:
        """(Re)build everything that depends on the rate, and start the worker."""
        self._stop_worker()
        if rate_hz != self._track_rate_hz:
            self._engine_audio = resample(self._track, self._track_rate_hz, rate_hz)
        else:
            self._engine_audio = self._track
        self._rate_hz = rate_hz
        params, trim_db = self._chain_setting
        self._chain = LiveChain(params, rate_hz, trim_db)
        self._original_delay = DelayLine(self._chain.latency_samples, 2)
        self._position_delay = DelayLine(self._chain.latency_samples, 1, np.int64, fill=-1)
        self._input_meter = PathMeter(rate_hz)
        self._output_meter = PathMeter(rate_hz)
        self._ring = FrameRing(RING_CAPACITY_FRAMES)
        self._snapshots: list[tuple[int, PlaybackMeters] | None] = [None] * SNAPSHOTS
        self._snapshot_count = 0
        self._match_gain = 1.0
        self._play_ramp_step = 1.0 / max(1, round(PLAY_RAMP_S * rate_hz))
        self._ab_ramp_step = 1.0 / max(1, round(AB_RAMP_S * rate_hz))
        self._ramp_index = np.arange(1, RING_CAPACITY_FRAMES + 1, dtype=np.float32)
        self._scratch = np.zeros((RING_CAPACITY_FRAMES, 2), dtype=np.float32)
        self._gain = 0.0
        self._ab = self._ab_target
        self._playing = False
        self._generation = 0
        self._seek_request = (0, position_frames)
        self._end_generation = -1
        self._position_frames = position_frames
        self._last_callback_s = time.monotonic()
        self._start_extra_frames = (0, 0)
        self._quit = False
        self._worker = threading.Thread(target=self._work, name="greymaster-render", daemon=True)
        self._worker.start()

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._quit = True
            self._worker.join()
            self._worker = None

    def _seek_to(self, frames: int) -> None:
        generation = self._generation + 1
        self._seek_request = (generation, frames)
        self._generation = generation
        self._position_frames = frames

    def _loop_start_frames(self) -> int:
        return round(self._loop_s[0] * self._rate_hz) if self._loop_s else 0

    def _reached_end(self) -> bool:
        return self._end_generation == self._generation and self._ring.available_frames == 0

    # --- the device ------------------------------------------------------------------------

    def _open_stream(self) -> bool:
        """Open and start the output stream; on failure set ``message`` and return False."""
        try:
            if self._message:
                devices.refresh()
            device = devices.find_output_device(self.device)
            rate_hz = devices.stream_rate_hz(device, self._track_rate_hz)
            if rate_hz != self._rate_hz:
                self._start_engine(rate_hz, round(self.position_s * rate_hz))
            sd = devices.portaudio()
            self._last_callback_s = time.monotonic()
            stream = sd.OutputStream(device=device.index, samplerate=rate_hz,
                                     channels=devices.CHANNELS, dtype=devices.SAMPLE_FORMAT,
                                     blocksize=self.blocksize_frames, callback=self._callback)
            self._prefill(int(stream.latency * rate_hz))
            stream.start()
        except devices.OutputDeviceError as error:
            self._fail(str(error))
            return False
        except Exception as error:  # PortAudio reports device trouble in many ways
            self._fail(f"The audio output could not be opened: {error}")
            return False
        self._stream = stream
        self.device_label = device.label
        return True

    def _prefill(self, device_buffer_frames: int) -> None:
        """PortAudio fills the device's whole buffer at start, in a burst of callbacks: render
        that much ahead first (waiting at most ``PREFILL_TIMEOUT_S``)."""
        extra = device_buffer_frames + WORKER_BLOCK_FRAMES
        self._start_extra_frames = (self.stats.frames_delivered + extra, extra)
        deadline = time.monotonic() + PREFILL_TIMEOUT_S
        while self._ring.available_frames < self._fill_target() and \
                time.monotonic() < deadline:
            time.sleep(IDLE_POLL_S)

    def _fill_target(self) -> int:
        """How far ahead of the callback the worker renders: one device block and
        ``ahead_frames`` (two of its own blocks by default), plus the device's buffer while a
        stream starts. More ahead rides out longer stalls of the worker (a busy GUI thread
        holding the GIL) at the price of later parameter changes."""
        until_frames, extra = self._start_extra_frames
        if self.stats.frames_delivered >= until_frames:
            extra = 0
        return self.blocksize_frames + self.ahead_frames + extra

    def _fail(self, message: str) -> None:
        self._message = message
        self._playing = False
        if self._state == PlayState.PLAYING:
            self._state = PlayState.PAUSED

    def _close_stream(self, fade: bool) -> None:
        stream, self._stream = self._stream, None
        self.device_label = ""
        if stream is None:
            return
        if fade:
            deadline = time.monotonic() + 4 * PLAY_RAMP_S + 2 * self.blocksize_frames / \
                self._rate_hz
            while self._gain > 0.0 and time.monotonic() < deadline:
                time.sleep(0.002)
        closer = threading.Thread(target=_abort_quietly, args=(stream,), daemon=True)
        closer.start()
        closer.join(timeout=2.0)

    def _device_lost(self) -> None:
        """Called by the worker when callbacks stop arriving while playing. It never waits
        for the lock: the caller's thread may hold it while it waits for the worker."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._stream is not None and self._state == PlayState.PLAYING:
                self._fail("The audio output stopped responding (was it disconnected?). "
                           "Playback is paused; press play to try again.")
                self._close_stream(fade=False)
        finally:
            self._lock.release()

    # --- the audio callback (PortAudio's thread: copies only) -------------------------------

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        started = time.perf_counter()
        self._last_callback_s = time.monotonic()
        stats = self.stats
        if status.output_underflow:
            stats.device_underflows += 1
        ring = self._ring
        capacity = ring.capacity_frames
        generation = self._generation
        done = 0
        last_position = -1
        starved = False
        while done < frames and ring.available_frames > 0:
            slot = ring.read % capacity
            stale = bool(ring.generation[slot] != generation)
            target = 1.0 if self._playing and not stale else 0.0
            run = min(frames - done, ring.available_frames, capacity - slot)
            if self._gain == 0.0 and target == 0.0:
                if not stale:
                    break
                marks = ring.generation[slot: slot + run] != generation
                ring.consume(int(np.argmin(marks)) if not marks.all() else run)
                continue
            if self._gain == 0.0 and not self._margin_in_hand(generation):
                break
            step = self._play_ramp_step
            if target == 1.0 and ring.available_frames < frames - done and \
                    self._end_generation != generation:
                starved, target = True, 0.0
                step = max(step, self._gain / ring.available_frames)
            if stale or target == 0.0:
                run = min(run, math.ceil(self._gain / step))
            self._mix(outdata[done: done + run], slot, run, target, step)
            if not stale:
                last_position = int(ring.position[slot + run - 1])
            ring.consume(run)
            done += run
        if done < frames:
            outdata[done:] = 0.0
            starved |= self._gain > 0.0 and self._end_generation != generation
            self._gain = 0.0
        stats.underruns += starved
        if last_position >= 0:
            self._position_frames = last_position + 1
        if self.recording is not None:
            positions = np.full(frames, -1, dtype=np.int64)
            if done:
                first = ring.read - done
                for start, length in ring.spans(first, done):
                    offset = (start - first) % capacity
                    positions[offset: offset + length] = ring.position[start: start + length]
            self.recording.add(outdata, positions, stats.frames_delivered)
        stats.frames_delivered += frames
        stats.durations_s[stats.calls % CALLBACK_HISTORY] = time.perf_counter() - started
        stats.calls += 1

    def _margin_in_hand(self, generation: int) -> bool:
        """Whether silent playback may fade in: the ring holds a device block plus
        ``ahead_frames`` (or everything up to the end of the track). Fading in on less (a
        worker slow to start, or behind after a stall) would run dry within a block or two:
        a click and a stutter instead of a few milliseconds more of silence."""
        return (self._ring.available_frames >= self.blocksize_frames + self.ahead_frames
                or self._end_generation == generation)

    def _mix(self, out: np.ndarray, slot: int, run: int, target: float, step: float) -> None:
        """out = play gain × (original + w · (master − original)), both ramped (the play gain
        by ``step`` per frame)."""
        ring = self._ring
        master = ring.master[slot: slot + run]
        original = ring.original[slot: slot + run]
        steady = self._gain == target and self._ab == self._ab_target
        if steady and self._ab in (0.0, 1.0):
            np.multiply(master if self._ab == 1.0 else original, np.float32(self._gain), out=out)
            return
        weight = self._ramp(self._scratch[:run, :1], self._ab, self._ab_target,
                            self._ab_ramp_step)
        np.subtract(master, original, out=out)
        np.multiply(out, weight, out=out)
        np.add(out, original, out=out)
        self._ab = float(weight[-1, 0])
        gain = self._ramp(self._scratch[:run, 1:], self._gain, target, step)
        np.multiply(out, gain, out=out)
        self._gain = float(gain[-1, 0])

    def _ramp(self, out: np.ndarray, start: float, target: float, step: float) -> np.ndarray:
        """``start`` moving to ``target`` by ``step`` per frame, then holding. Shape: (run, 1)."""
        signed = step if target > start else -step if target < start else 0.0
        np.multiply(self._ramp_index[: out.shape[0], None], np.float32(signed), out=out)
        np.add(out, np.float32(start), out=out)
        return np.clip(out, min(start, target), max(start, target), out=out)

    # --- the render worker -----------------------------------------------------------------

    def _work(self) -> None:
        """The worker's loop; an unexpected error stops playback with a message instead of
        leaving the callback starved in silence."""
        try:
            self._work_until_quit()
        except Exception as error:  # a bug, not a user's mistake: say it, keep the app alive
            self._fail(f"Playback stopped by an internal error: {error!r}")

    def _work_until_quit(self) -> None:
        seen_generation = -1
        while not self._quit:
            generation, target_frames = self._seek_request
            if generation != seen_generation:
                seen_generation = generation
                self._restart(target_frames)
            elif self._needs_audio(generation):
                self._render_block(generation)
                continue
            if self._state == PlayState.PLAYING and self._stream is not None and \
                    time.monotonic() - self._last_callback_s > DEVICE_TIMEOUT_S:
                self._device_lost()
            if self._state == PlayState.PLAYING and self._reached_end():
                self._playing = False
                self._state = PlayState.STOPPED
            time.sleep(IDLE_POLL_S if self._state == PlayState.PLAYING else PAUSED_POLL_S)

    def _needs_audio(self, generation: int) -> bool:
        return (self._end_generation != generation
                and self._ring.free_frames >= WORKER_BLOCK_FRAMES
                and self._ring.available_frames < self._fill_target())

    def _restart(self, target_frames: int) -> None:
        """Reset the chain and run it, unheard, over the pre-roll before ``target_frames``."""
        self._chain.reset()
        self._original_delay.reset()
        self._position_delay.reset()
        n_frames = self._engine_audio.shape[1]
        self._next_input = max(0, target_frames - int(PREROLL_S * self._rate_hz))
        self._hide_before = target_frames
        self._end_reached_input = False
        while self._next_input < target_frames:
            n = min(WORKER_BLOCK_FRAMES, target_frames - self._next_input)
            block, _ = self._input_block(n, n_frames)
            self._chain.process(block)
            self._original_delay.process(block)
            self._position_delay.process(np.full((1, n), -1, dtype=np.int64))

    def _input_block(self, n: int, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``n`` input frames and their positions, looping with a crossfaded seam."""
        raw = self._next_input + np.arange(n, dtype=np.int64)
        positions = raw
        seam = None
        loop = self._loop_s
        if loop is not None:
            start = round(loop[0] * self._rate_hz)
            end = round(loop[1] * self._rate_hz)
            if self._next_input < end and raw[-1] >= end:
                since_seam = (raw - end) % (end - start)
                positions = np.where(raw >= end, start + since_seam, raw)
                seam = np.where(raw >= end, since_seam, -1)
        self._next_input = int(positions[-1]) + 1
        block = self._read_track(positions, n_frames)
        if seam is not None:
            fade = max(1, int(LOOP_CROSSFADE_S * self._rate_hz))
            in_fade = (seam >= 0) & (seam < fade)
            if in_fade.any():
                weight = (seam[in_fade] + 0.5) / fade
                tail = self._read_track(end + seam[in_fade], n_frames)
                block[:, in_fade] = block[:, in_fade] * weight + tail * (1.0 - weight)
        return block, positions

    def _read_track(self, positions: np.ndarray, n_frames: int) -> np.ndarray:
        block = self._engine_audio.take(positions, axis=1, mode="clip")
        block[:, positions >= n_frames] = 0.0
        return block

    def _render_block(self, generation: int) -> None:
        n_frames = self._engine_audio.shape[1]
        block, positions = self._input_block(WORKER_BLOCK_FRAMES, n_frames)
        master, chain_meters = self._chain.process(block)
        original = self._original_delay.process(block)
        out_positions = self._position_delay.process(positions[None, :])[0]
        keep = (out_positions >= 0) & (out_positions < n_frames)
        if out_positions[-1] >= n_frames:
            self._end_generation = generation
        if not keep.any():
            return
        if not keep.all():
            master, original, out_positions = master[:, keep], original[:, keep], \
                out_positions[keep]
        self._input_meter.process(original)
        self._output_meter.process(master)
        heard_original = self._match(original)
        self._ring.write(heard_original, master, out_positions, generation)
        self._publish(out_positions[-1], chain_meters, master)

    def _match(self, original: np.ndarray) -> np.ndarray:
        """The original at its level, or ramped to the master's loudness."""
        target = 1.0
        if self._level_match:
            difference = level_match_gain_db(self._input_meter, self._output_meter,
                                             LEVEL_MATCH_WINDOW_S)
            if difference is None:
                target = self._match_gain
            else:
                limit = LEVEL_MATCH_LIMIT_DB
                target = db_to_gain(min(max(difference, -limit), limit))
        previous, self._match_gain = self._match_gain, target
        if previous == target == 1.0:
            return original
        ramp = np.linspace(previous, target, original.shape[1] + 1, dtype=np.float32)[1:]
        return original * ramp

    def _publish(self, position_frames: int, chain_meters: dict[str, Any],
                 master: np.ndarray) -> None:
        def block_max(stage: str) -> float:
            values = chain_meters.get(stage, {}).get("gain_reduction_db")
            return float(np.max(values)) if values is not None and np.size(values) else 0.0

        snapshot = PlaybackMeters(
            position_s=(position_frames + 1) / self._rate_hz,
            input=self._input_meter.reading(),
            output=self._output_meter.reading(),
            compressor_gain_reduction_db=block_max("compressor"),
            limiter_gain_reduction_db=block_max("limiter"),
            level_match_db=20.0 * math.log10(self._match_gain),
            master_block=_read_only(master))
        self._snapshots[self._snapshot_count % SNAPSHOTS] = (self._ring.written, snapshot)
        self._snapshot_count += 1


def _prepare_interpreter_for_playback() -> None:
    """Keep the interpreter from stalling the render worker (process-wide, on every play):

    * the GIL switch interval is lowered to ``GIL_SWITCH_INTERVAL_S``;
    * the objects alive now (the app, the track, torch) are moved out of the cyclic garbage
      collector's reach (``gc.freeze``), so that a full collection during playback scans only
      what was made since. Unfrozen, the app's ~330,000 tracked objects make one full
      collection hold the GIL for about 100 ms, longer than the worker renders ahead.
      ``pause``, ``stop`` and ``close`` unfreeze them, so that cyclic garbage among them is
      still collected.
    """
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
    gc.freeze()


def _read_only(block: np.ndarray) -> np.ndarray:
    copy = np.array(block, dtype=np.float32)
    copy.flags.writeable = False
    return copy


def _abort_quietly(stream: Any) -> None:
    """Abort and close a stream whose device may be gone (PortAudio may raise or block)."""
    try:
        stream.abort()
        stream.close()
    except Exception:  # the device is gone or the stream already failed: nothing to save
        pass
