"""Live playback under load: a real PortAudio stream on a clocked virtual device, a parameter
sweeping all the time, at several device block sizes.

    python -m benchmarks.playback [--corpus DIR] [--seconds 60]

For each block size, and at 512 frames once more with the neural residual on (amount
``RESIDUAL_AMOUNT``): the audio callback's duration (median, p99, max), the render worker's
CPU load (its thread's CPU time over wall time, from /proc), and underruns (the ring running dry
while audible, plus PortAudio's own underflow flags). Writes benchmarks/results/playback.json
and prints a Markdown table (the README's). Goals (issue 4): zero underruns at 512 frames, the
worker under 25 % of one core, the callback well under 1 ms.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.report import find_main_track, machine, write_results
from greymaster_app.playback import devices
from greymaster_app.playback.player import Player
from model import audio_io
from model.params import ChainParams
from tests.virtual_audio import VirtualAudio
from training.corpus import audio_files, default_cache_dir

BLOCK_SIZES = (256, 512, 1024)
RESIDUAL_AMOUNT = 0.5
RESIDUAL_BLOCK_FRAMES = 512
SWEEP_KEY = "eq.peak2_gain_db"
SWEEP_PERIOD_S = 2.0
SWEEP_INTERVAL_S = 0.01
"""A knob dragged by a hand: a new value every 10 ms, −12 … +12 dB and back every 2 s."""


def _thread_cpu_s(native_id: int) -> float:
    """CPU time of one thread of this process (Linux schedstat, nanoseconds on CPU)."""
    with open(f"/proc/self/task/{native_id}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e9


def _worker_native_id() -> int:
    for thread in threading.enumerate():
        if thread.name == "greymaster-render" and thread.native_id is not None:
            return thread.native_id
    raise RuntimeError("the render worker is not running")


def _mastering_params(residual_amount: float) -> ChainParams:
    params = ChainParams()
    for key, value in {"compressor.threshold_db": -24.0, "compressor.ratio": 3.0,
                       "stereo.upmix_mid_width": 0.3, "limiter.threshold_db": -4.0,
                       "residual.amount": residual_amount}.items():
        params = params.replace(key, value)
    return params


def bench_block_size(audio: np.ndarray, rate: int, device: str, blocksize: int,
                     seconds: float, residual_amount: float = 0.0) -> dict[str, float]:
    """Play ``seconds`` with the sweep running; the figures of one block size."""
    params = _mastering_params(residual_amount)
    with Player(audio, rate, params, device=device, blocksize_frames=blocksize) as player:
        player.set_level_match(True)
        if not player.play():
            raise RuntimeError(player.message)
        worker = _worker_native_id()
        calls_before = player.stats.calls
        cpu_before, wall_before = _thread_cpu_s(worker), time.monotonic()
        while time.monotonic() - wall_before < seconds:
            phase = ((time.monotonic() - wall_before) / SWEEP_PERIOD_S) % 1.0
            gain_db = -12.0 + 24.0 * (1.0 - abs(2.0 * phase - 1.0))
            player.set_params(params.replace(SWEEP_KEY, gain_db), 0.0)
            time.sleep(SWEEP_INTERVAL_S)
        cpu, wall = _thread_cpu_s(worker) - cpu_before, time.monotonic() - wall_before
        stats = player.stats
        durations_ms = 1e3 * stats.recent_durations_s()[calls_before:]
    return {
        "blocksize_frames": blocksize,
        "residual_amount": residual_amount,
        "seconds": wall,
        "callbacks": int(durations_ms.size),
        "callback_median_ms": float(np.median(durations_ms)),
        "callback_p99_ms": float(np.percentile(durations_ms, 99)),
        "callback_max_ms": float(np.max(durations_ms)),
        "callback_budget_ms": 1e3 * blocksize / rate,
        "worker_load_percent": 100.0 * cpu / wall,
        "underruns": stats.underruns,
        "device_underflows": stats.device_underflows,
    }


def _table(rows: list[dict[str, float]]) -> str:
    lines = ["| block | callback median / p99 / max | worker load (one core) | underruns "
             "(ring / device) | goal |", "|---|---|---|---|---|"]
    for row in rows:
        residual = ", residual on" if row["residual_amount"] > 0.0 else ""
        lines.append(
            f"| {row['blocksize_frames']} frames ({row['callback_budget_ms']:.1f} ms){residual} | "
            f"{row['callback_median_ms']:.3f} / {row['callback_p99_ms']:.3f} / "
            f"{row['callback_max_ms']:.3f} ms | {row['worker_load_percent']:.1f} % | "
            f"{row['underruns']} / {row['device_underflows']} in {row['seconds']:.0f} s | "
            "callback ≪ 1 ms, worker < 25 %" + (", 0 underruns |" if row["blocksize_frames"]
                                               == 512 else " |"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.playback", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=default_cache_dir())
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    track_path = find_main_track(audio_files(args.corpus), args.corpus)
    if track_path is None:
        return 2
    track = audio_io.load(track_path)
    with VirtualAudio() as audio_device:
        devices.refresh()
        cases = [(blocksize, 0.0) for blocksize in BLOCK_SIZES]
        cases.append((RESIDUAL_BLOCK_FRAMES, RESIDUAL_AMOUNT))
        rows = [bench_block_size(track.audio, track.sample_rate_hz, audio_device.device_name,
                                 blocksize, args.seconds, amount) for blocksize, amount in cases]
    results = {"machine": machine(),
               "track": track_path.name, "sweep": f"{SWEEP_KEY} every {SWEEP_INTERVAL_S} s",
               "rows": rows}
    out = write_results("playback", results)
    print(_table(rows))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
