"""GreyMaster's speed and loudness benchmarks, side by side with pedalboard in one run.

    python -m benchmarks.run [--corpus DIR] [--repeats N]

Writes benchmarks/results/engine.json and prints a Markdown table (the README's). Timings are
medians of interleaved repeats (this machine is noisy); ratios are ours / anchor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pedalboard_chain import board
from benchmarks.report import find_main_track, machine, write_results
from model import audio_io, chain, targeting
from model.dsp.truepeak import true_peak_dbtp
from model.loudness import integrated_loudness
from model.params import ChainParams
from training.corpus import audio_files, default_cache_dir

TARGETS_LUFS = (-14.0, -9.0, -23.0)
CEILING_DBTP = -1.0
BLOCK_FRAMES = 512


def _median_times(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Interleaved repeats of each function; median wall time in seconds."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_render(audio: np.ndarray, rate: int, repeats: int) -> dict[str, float]:
    """Full-chain whole-track render: ours vs pedalboard's nearest chain."""
    params = ChainParams()
    anchor = board(params.values)
    chain.render(audio[:, :rate], rate, params)  # JIT warm-up
    anchor(audio[:, :rate], rate)
    times = _median_times({"ours": lambda: chain.render(audio, rate, params),
                           "pedalboard": lambda: anchor(audio, rate)}, repeats)
    return {"ours_s": times["ours"], "pedalboard_s": times["pedalboard"],
            "ratio": times["ours"] / times["pedalboard"]}


def bench_streaming(audio: np.ndarray, rate: int) -> dict[str, float]:
    """The whole chain in 512-frame blocks over the whole track: real-time factor."""
    streamer = chain.ChainStreamer(ChainParams(), rate, audio.shape[0])
    blocks = [np.ascontiguousarray(audio[:, i:i + BLOCK_FRAMES])
              for i in range(0, audio.shape[1] - BLOCK_FRAMES + 1, BLOCK_FRAMES)]
    for block in blocks[:50]:
        streamer.process(block)
    streamer.reset()
    per_block = []
    start = time.perf_counter()
    for block in blocks:
        t0 = time.perf_counter()
        streamer.process(block)
        per_block.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    duration = len(blocks) * BLOCK_FRAMES / rate
    return {"audio_s": duration, "elapsed_s": elapsed, "realtime_factor": duration / elapsed,
            "block_median_ms": 1000 * statistics.median(per_block),
            "block_p99_ms": 1000 * float(np.percentile(per_block, 99)),
            "block_budget_ms": 1000 * BLOCK_FRAMES / rate}


def _run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_processes(track: Path, repeats: int) -> dict[str, float]:
    """Whole processes as a user waits for them: `greymaster master`, and `greymaster render`
    against a pedalboard load-process-write script (same input, 24-bit WAV out)."""
    exe = str(Path(sys.executable).with_name("greymaster"))
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "params.json"
        params.write_text(json.dumps(ChainParams().to_json()))
        out = str(Path(tmp) / "out.wav")
        commands = {
            "master": [exe, "master", str(track), "-o", out],
            "render": [exe, "render", str(track), "-o", out, "--params", str(params)],
            "pedalboard_script": [sys.executable, str(Path(__file__).with_name(
                "pedalboard_chain.py")), str(track), out],
        }
        for command in commands.values():
            _run(command)  # warm caches (numba, page cache) once
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, command in commands.items():
                times[name].append(_run(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"master_s": medians["master"], "render_s": medians["render"],
            "pedalboard_script_s": medians["pedalboard_script"],
            "render_ratio": medians["render"] / medians["pedalboard_script"]}


def _pedalboard_to_target(audio: np.ndarray, rate: int, target_lufs: float) -> np.ndarray:
    """The anchor's loudness targeting: our own trim search (same tolerance and gain range)
    over a gain before pedalboard's BrickwallLimiter(true_peak=True), measured with the same
    meter, so that only the limiters differ."""
    import pedalboard as pb

    def measure(gain_db: float) -> tuple[float, np.ndarray]:
        out = pb.Pedalboard([pb.Gain(gain_db), pb.BrickwallLimiter(
            CEILING_DBTP, 30.0, 2.0, true_peak=True)])(audio, rate)
        return integrated_loudness(out, rate), out

    first = target_lufs - integrated_loudness(audio, rate)
    return targeting.search_trim(measure, target_lufs, first)[2]


def bench_targeting(tracks: list[Path]) -> list[dict[str, float | str]]:
    """Loudness error and true-peak compliance of whole tracks at each target: ours vs
    pedalboard."""
    rows: list[dict[str, float | str]] = []
    params = ChainParams()
    for path in tracks:
        track = audio_io.load(path)
        audio = chain.as_stereo(track.audio)
        rate = track.sample_rate_hz
        for target in TARGETS_LUFS:
            used = targeting.with_ceiling(params, CEILING_DBTP)
            pre = chain.render_stages(audio, rate, used, chain.PRE_LIMITER_STAGES)
            _, ours = targeting.find_trim(pre.audio, rate, used, target)
            theirs = _pedalboard_to_target(pre.audio, rate, target)
            rows.append({
                "track": path.name, "target_lufs": target,
                "ours_lufs": integrated_loudness(ours.audio, rate),
                "ours_true_peak_dbtp": true_peak_dbtp(ours.audio),
                "pedalboard_lufs": integrated_loudness(theirs, rate),
                "pedalboard_true_peak_dbtp": true_peak_dbtp(theirs),
            })
    return rows


def _table(results: dict) -> str:
    render, stream, proc = results["render"], results["streaming"], results["processes"]
    lines = [
        "| benchmark | GreyMaster | anchor | ratio / goal |",
        "|---|---|---|---|",
        f"| full-chain render, {results['track_s']:.0f} s stereo 44.1 kHz | "
        f"{render['ours_s']:.3f} s | pedalboard {render['pedalboard_s']:.3f} s | "
        f"{render['ratio']:.2f}× (≤ 1.0×, aim 0.5×) |",
        f"| streaming, {BLOCK_FRAMES}-frame blocks, whole chain | "
        f"{stream['realtime_factor']:.0f}× real time (median block "
        f"{stream['block_median_ms']:.3f} ms) | budget {stream['block_budget_ms']:.1f} ms/block | "
        f"≥ 20× |",
        f"| `greymaster master` end to end | {proc['master_s']:.2f} s | — | < 5 s |",
        f"| `greymaster render` whole process | {proc['render_s']:.2f} s | pedalboard script "
        f"{proc['pedalboard_script_s']:.2f} s | {proc['render_ratio']:.2f}× (≤ 1.0×) |",
    ]
    lines += ["", "| track | target LUFS | ours LUFS | ours dBTP | pedalboard LUFS | "
              "pedalboard dBTP |", "|---|---|---|---|---|---|"]
    for row in results["targeting"]:
        lines.append(f"| {row['track']} | {row['target_lufs']:g} | {row['ours_lufs']:.2f} | "
                     f"{row['ours_true_peak_dbtp']:.2f} | {row['pedalboard_lufs']:.2f} | "
                     f"{row['pedalboard_true_peak_dbtp']:.2f} |")
    rows = results["targeting"]
    worst = []
    for who in ("ours", "pedalboard"):
        error = max(abs(r[f"{who}_lufs"] - r["target_lufs"]) for r in rows)
        peak = max(r[f"{who}_true_peak_dbtp"] for r in rows)
        worst += [f"±{error:.2f} LU", f"{peak:.2f}"]
    lines.append(f"| **worst of {len(rows)}** (ceiling {CEILING_DBTP:g} dBTP) | | "
                 + " | ".join(worst) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=default_cache_dir())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--targeting-tracks", type=int, default=4)
    args = parser.parse_args(argv)
    files = audio_files(args.corpus)
    main_track = find_main_track(files, args.corpus)
    if main_track is None:
        return 2
    track = audio_io.load(main_track)
    audio, rate = track.audio, track.sample_rate_hz
    others = [p for p in files if p.suffix == ".ogg" and p != main_track]
    step = max(1, len(others) // max(1, args.targeting_tracks - 1))
    targeting_tracks = [main_track, *others[::step][: args.targeting_tracks - 1]]
    results = {
        "machine": machine(),
        "track": main_track.name, "track_s": track.duration_s,
        "render": bench_render(audio, rate, args.repeats),
        "streaming": bench_streaming(audio, rate),
        "processes": bench_processes(main_track, max(3, args.repeats // 2 + 1)),
        "targeting": bench_targeting(targeting_tracks),
    }
    out = write_results("engine", results)
    print(_table(results))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
