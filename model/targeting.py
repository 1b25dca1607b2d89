"""Loudness targeting: the trim gain in front of the limiter that lands a master on a LUFS target.

The stages before the limiter do not depend on the trim, so they are rendered once; the search
then re-runs only the limiter (with the requested true-peak ceiling) and measures integrated
loudness. Loudness rises monotonically with the trim, so a secant search on the loudness error,
bracketed by the allowed gain range, converges in a few renders. When the target cannot be met
within the allowed gain (the limiter would have to squash too hard, or the mix is too quiet even at
full gain) the result says how far off it is.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from model import chain
from model.errors import ParamsError
from model.loudness import LoudnessMeter, integrated_loudness, json_number
from model.params import STAGES, ChainParams, spec
from model.units import db_to_gain

TOLERANCE_LU = 0.05
"""Stop when the master is this close to the target (the promise is ±0.1 LU)."""

MAX_TRIM_DB = 30.0
MIN_TRIM_DB = -40.0
MAX_RENDERS = 12
T = TypeVar("T")
TARGET_RANGE_LUFS = (-40.0, -5.0)


@dataclass(frozen=True)
class TargetPreset:
    """A named delivery target: integrated loudness and true-peak ceiling."""

    key: str
    title: str
    lufs: float
    ceiling_dbtp: float


TARGET_PRESETS: tuple[TargetPreset, ...] = (
    TargetPreset("streaming", "Streaming (−14 LUFS / −1 dBTP)", -14.0, -1.0),
    TargetPreset("apple", "Apple Music (−16 LUFS / −1 dBTP)", -16.0, -1.0),
    TargetPreset("loud", "Loud (−9 LUFS / −1 dBTP)", -9.0, -1.0),
    TargetPreset("broadcast", "EBU R128 broadcast (−23 LUFS / −1 dBTP)", -23.0, -1.0),
)
"""Delivery targets offered by the app; any other pair within range is a custom target."""


def check_target(target_lufs: float, ceiling_dbtp: float) -> None:
    """``ParamsError`` unless the target and ceiling are values a master can be made to."""
    low, high = TARGET_RANGE_LUFS
    if not low <= target_lufs <= high:
        raise ParamsError(f"--target-lufs {target_lufs:g} is outside {low:g} … {high:g} LUFS")
    ceiling = spec("limiter.ceiling_dbtp")
    if not ceiling.minimum <= ceiling_dbtp <= ceiling.maximum:
        raise ParamsError(f"--ceiling-dbtp {ceiling_dbtp:g} is outside {ceiling.range_text()}")


@dataclass(frozen=True)
class TargetingResult:
    """Outcome of loudness targeting (JSON-friendly through ``to_json``)."""

    target_lufs: float
    ceiling_dbtp: float
    trim_db: float
    achieved_lufs: float
    renders: int

    @property
    def error_lu(self) -> float:
        """Achieved minus target loudness (negative: the master is quieter than asked)."""
        return self.achieved_lufs - self.target_lufs

    @property
    def reached(self) -> bool:
        return abs(self.error_lu) <= 0.1

    def message(self) -> str:
        """One line for people: on target, or how far off and why."""
        if not math.isfinite(self.achieved_lufs):
            return ("the input is silent or quieter than the −70 LUFS gate: there is no "
                    "loudness to target")
        if self.reached:
            return f"on target: {self.achieved_lufs:.2f} LUFS (target {self.target_lufs:g})"
        if self.error_lu < 0:
            return (f"target {self.target_lufs:g} LUFS not reached within +{MAX_TRIM_DB:g} dB of "
                    f"gain at a {self.ceiling_dbtp:g} dBTP ceiling: {self.achieved_lufs:.2f} LUFS, "
                    f"{-self.error_lu:.2f} LU short")
        return (f"target {self.target_lufs:g} LUFS not reached within {MIN_TRIM_DB:g} dB of gain: "
                f"{self.achieved_lufs:.2f} LUFS, {self.error_lu:.2f} LU too loud")

    def to_json(self) -> dict[str, float | bool | int | str | None]:
        """The result for a JSON report; achieved_lufs and error_lu are None for a silent
        master (its loudness is −inf, which JSON cannot hold)."""
        return {"target_lufs": self.target_lufs, "ceiling_dbtp": self.ceiling_dbtp,
                "trim_db": round(self.trim_db, 4),
                "achieved_lufs": json_number(self.achieved_lufs, 4),
                "error_lu": json_number(self.error_lu, 4), "reached": self.reached,
                "renders": self.renders, "message": self.message()}


def with_ceiling(params: ChainParams, ceiling_dbtp: float) -> ChainParams:
    """The params with the limiter's ceiling set to ``ceiling_dbtp``."""
    return params.replace("limiter.ceiling_dbtp", ceiling_dbtp)


def headroom_gain(ceiling_dbtp: float, margin: float) -> float:
    """Gain (< 1) that leaves a linear ``margin`` under the ceiling for dither and rounding in
    integer exports; −0.0012 dB for 16 bits at −1 dBTP, far below a loudness tolerance."""
    ceiling = db_to_gain(ceiling_dbtp)
    return (ceiling - margin) / ceiling


def find_trim(pre_limiter: np.ndarray, sample_rate_hz: int, params: ChainParams,
              target_lufs: float) -> tuple[TargetingResult, chain.RenderResult]:
    """Search the trim (dB, before the limiter) that lands the master on ``target_lufs``.

    Shape: pre_limiter (C, N) float32, the output of the stages before the limiter.
    Returns the result and the final render at the chosen trim.
    """
    ceiling = params.values["limiter"]["ceiling_dbtp"]
    reference = integrated_loudness(chain.as_stereo(pre_limiter), sample_rate_hz)
    if not math.isfinite(reference):
        final = chain.render_limiter(pre_limiter, sample_rate_hz, params, 0.0)
        return TargetingResult(target_lufs, ceiling, 0.0, -math.inf, 1), final

    def measure(trim_db: float) -> tuple[float, chain.RenderResult]:
        result = chain.render_limiter(pre_limiter, sample_rate_hz, params, trim_db)
        return integrated_loudness(result.audio, sample_rate_hz), result

    trim, loudness, result, renders = search_trim(
        measure, target_lufs, _first_trim(params, target_lufs, reference))
    return TargetingResult(target_lufs, ceiling, trim, loudness, renders), result


def _first_trim(params: ChainParams, target_lufs: float, reference_lufs: float) -> float:
    """The search's first guess: the trim that would land the limiter's input on the target,
    less the limiter's drive (its input gain)."""
    drive_db = -params.values["limiter"]["threshold_db"] if params.enabled["limiter"] else 0.0
    return target_lufs - reference_lufs - drive_db


BlockSource = Callable[[], Iterator[np.ndarray]]
"""Each call starts a new pass over the same audio: blocks of (channels, n) float32."""

SEARCH_PROGRESS_BASE = 0.55
"""``find_trim_streaming`` reports 1 − base^renders as its fraction done: the number of renders
is not known in advance (usually 2 to 5, at most ``MAX_RENDERS``)."""


def limiter_streamer(params: ChainParams, sample_rate_hz: int,
                     trim_db: float) -> chain.ChainStreamer:
    """The trim and the limiter (if enabled) alone, every other stage bypassed: the streaming
    face of ``chain.render_limiter``. Stereo (or mono, made stereo) in, stereo out."""
    alone = params
    for stage in STAGES:
        if stage != "limiter":
            alone = alone.with_enabled(stage, False)
    return chain.ChainStreamer(alone, sample_rate_hz, 2, trim_db)


def streamed_loudness(blocks: Iterable[np.ndarray], sample_rate_hz: int,
                      on_block: Callable[[int], None] | None = None) -> float:
    """Integrated loudness (LUFS) of a stream, equal to ``integrated_loudness`` of the
    concatenated blocks; ``on_block(frames_so_far)`` after each block.

    Shape: blocks (channels, n), the same 1 or 2 channels throughout.
    """
    meter: LoudnessMeter | None = None
    frames = 0
    for block in blocks:
        if meter is None:
            meter = LoudnessMeter(sample_rate_hz, block.shape[0])
        meter.process(block)
        frames += block.shape[1]
        if on_block is not None:
            on_block(frames)
    return -math.inf if meter is None else meter.integrated_lufs


def find_trim_streaming(pre_limiter: BlockSource, frames: int, sample_rate_hz: int,
                        params: ChainParams, target_lufs: float, reference_lufs: float,
                        on_progress: Callable[[float], None] | None = None) -> TargetingResult:
    """``find_trim`` over a stream, in bounded memory: each candidate trim streams the
    pre-limiter audio through the limiter and a loudness meter, keeping nothing.

    Args:
        pre_limiter: passes over the output of the stages before the limiter (``frames`` long).
        reference_lufs: integrated loudness of that audio made stereo (the first guess's base).
        on_progress: called after every block with the search's fraction done (0…1, rising;
            see ``SEARCH_PROGRESS_BASE``); it may raise to stop the search.
    Returns the result; the caller renders the master at its ``trim_db`` (``limiter_streamer``),
    which gives exactly the measured loudness.
    """
    ceiling = params.values["limiter"]["ceiling_dbtp"]
    if not math.isfinite(reference_lufs):
        return TargetingResult(target_lufs, ceiling, 0.0, -math.inf, 0)
    renders = 0

    def report(frames_done: int) -> None:
        if on_progress is not None:
            on_progress(1.0 - SEARCH_PROGRESS_BASE ** (renders + frames_done / max(frames, 1)))

    def measure(trim_db: float) -> tuple[float, None]:
        nonlocal renders
        streamer = limiter_streamer(params, sample_rate_hz, trim_db)
        with contextlib.closing(chain.stream(pre_limiter(), streamer)) as blocks:
            loudness = streamed_loudness(blocks, sample_rate_hz, report)
        renders += 1
        return loudness, None

    trim, loudness, _, count = search_trim(measure, target_lufs,
                                           _first_trim(params, target_lufs, reference_lufs))
    return TargetingResult(target_lufs, ceiling, trim, loudness, count)


def search_trim(measure: Callable[[float], tuple[float, T]], target_lufs: float,
                first_trim_db: float) -> tuple[float, float, T, int]:
    """Bracketed secant search on a monotonic loudness(trim) within the allowed trim range.

    ``measure(trim_db)`` renders at that trim and returns (integrated LUFS, render). Returns the
    trim, loudness and render closest to the target, and how many renders it took.
    """
    trim = float(np.clip(first_trim_db, MIN_TRIM_DB, MAX_TRIM_DB))
    loudness, result = measure(trim)
    history = [(trim, loudness, result)]
    low, high = MIN_TRIM_DB, MAX_TRIM_DB
    while abs(loudness - target_lufs) > TOLERANCE_LU and len(history) < MAX_RENDERS:
        if loudness < target_lufs:
            low = trim
        else:
            high = trim
        if low >= MAX_TRIM_DB or high <= MIN_TRIM_DB:
            break
        trim = _next_trim(history, target_lufs, low, high)
        loudness, result = measure(trim)
        history.append((trim, loudness, result))
    best_trim, best_loudness, best_result = min(history, key=lambda h: abs(h[1] - target_lufs))
    return best_trim, best_loudness, best_result, len(history)


def _next_trim(history: list[tuple[float, float, Any]], target_lufs: float, low: float,
               high: float) -> float:
    """Secant step on loudness(trim), kept inside the bracket [low, high] (bisect if it leaves)."""
    trim, loudness, _ = history[-1]
    if len(history) == 1:
        slope = 1.0
    else:
        previous_trim, previous_loudness, _ = history[-2]
        slope = (loudness - previous_loudness) / (trim - previous_trim or 1e-9)
        slope = min(max(slope, 0.05), 1.5)
    candidate = trim + (target_lufs - loudness) / slope
    if not low < candidate < high:
        candidate = 0.5 * (low + high)
    return float(np.clip(candidate, MIN_TRIM_DB, MAX_TRIM_DB))
