"""File-to-file jobs shared by the CLI and the app: master (with loudness targeting) and render.

Every check that can fail on the user's input (output name and folder, format, params) runs before
any audio work, so a mistake costs nothing and leaves no file. Output and report are written
atomically; the master is read back and measured before success is reported.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model import audio_io, chain, targeting
from model.errors import ExportError
from model.params import ChainParams


@dataclass
class JobReport:
    """What a job did: the JSON report's content (``to_json``) and the rendered audio."""

    input_path: Path
    output_path: Path
    sample_rate_hz: int
    format_name: str
    params: ChainParams
    before: Any
    after: Any
    targeting: targeting.TargetingResult | None
    timings_s: dict[str, float] = field(default_factory=dict)
    meters: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "input": str(self.input_path),
            "output": str(self.output_path),
            "sample_rate_hz": self.sample_rate_hz,
            "format": self.format_name,
            "params": self.params.to_json(),
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "meters": self.meters,
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
        }
        if self.targeting is not None:
            doc["targeting"] = self.targeting.to_json()
        return doc


def _meter_summary(meters: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for stage, values in meters.items():
        for name, value in values.items():
            array = np.asarray(value, dtype=np.float64)
            if array.ndim > 0:
                summary[f"{stage}.{name}.max"] = round(float(np.max(array)), 4)
                summary[f"{stage}.{name}.mean"] = round(float(np.mean(array)), 4)
            elif np.isfinite(array):
                summary[f"{stage}.{name}"] = round(float(array), 4)
    return summary


def _prepare(input_path: str | Path, output_path: str | Path, format_name: str | None,
             sample_rate_hz: int | None) -> tuple[audio_io.ExportFormat, Path]:
    fmt = audio_io.format_for(output_path, format_name)
    output = audio_io.check_output_path(output_path, input_path)
    if sample_rate_hz is not None and not (
            audio_io.MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= audio_io.MAX_SAMPLE_RATE_HZ):
        raise ExportError(
            f"--sample-rate {sample_rate_hz} is outside {audio_io.MIN_SAMPLE_RATE_HZ}–"
            f"{audio_io.MAX_SAMPLE_RATE_HZ} Hz")
    return fmt, output


def _load(input_path: str | Path, sample_rate_hz: int | None,
          timings: dict[str, float]) -> tuple[np.ndarray, int, Path]:
    """Decode (and resample) the input while another thread loads the DSP kernels."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        warming = pool.submit(chain.warm_up)
        track = audio_io.load(input_path)
        warming.result()
    rate = sample_rate_hz or track.sample_rate_hz
    audio = audio_io.resample(track.audio, track.sample_rate_hz, rate)
    timings["load"] = time.perf_counter() - start
    return audio, rate, track.path


Proposal = Callable[[np.ndarray, int], ChainParams]
"""Parameters for a track from its audio (C, N) at its rate: the model's proposal."""


def master_file(input_path: str | Path, output_path: str | Path, params: ChainParams | Proposal,
                target_lufs: float, ceiling_dbtp: float, format_name: str | None = None,
                sample_rate_hz: int | None = None) -> JobReport:
    """Master a file: the chain with ``params`` (or with the parameters ``params(audio, rate)``
    proposes for the loaded track), the limiter's ceiling at ``ceiling_dbtp``, and the trim
    before the limiter chosen so the master lands on ``target_lufs``."""
    from model.loudness import analyze

    fmt, output = _prepare(input_path, output_path, format_name, sample_rate_hz)
    timings: dict[str, float] = {}
    audio, rate, source = _load(input_path, sample_rate_hz, timings)
    if not isinstance(params, ChainParams):
        start = time.perf_counter()
        params = params(audio, rate)
        timings["propose"] = time.perf_counter() - start
    start = time.perf_counter()
    before = analyze(audio, rate)
    timings["analyse_input"] = time.perf_counter() - start

    start = time.perf_counter()
    used = targeting.with_ceiling(params, ceiling_dbtp)
    pre = chain.render_stages(audio, rate, used, chain.PRE_LIMITER_STAGES)
    timings["render"] = time.perf_counter() - start
    start = time.perf_counter()
    result, post = targeting.find_trim(pre.audio, rate, used, target_lufs)
    timings["targeting"] = time.perf_counter() - start

    start = time.perf_counter()
    headroom = targeting.headroom_gain(ceiling_dbtp, audio_io.quantisation_margin(fmt))
    audio_io.write(post.audio * np.float32(headroom), rate, output, fmt, input_path=source)
    timings["export"] = time.perf_counter() - start
    start = time.perf_counter()
    after = analyze(audio_io.load(output).audio, rate)
    timings["analyse_output"] = time.perf_counter() - start
    meters = _meter_summary({**pre.meters, **post.meters})
    return JobReport(source, output, rate, fmt.name, used, before, after, result, timings, meters)


def render_file(input_path: str | Path, output_path: str | Path, params: ChainParams,
                format_name: str | None = None, sample_rate_hz: int | None = None) -> Path:
    """Render a file through the chain with exactly ``params`` (no targeting, no analysis).

    At the input's own rate the file streams through: blocks are decoded, processed and
    written as they come, so memory stays bounded and decoding overlaps processing.
    """
    fmt, output = _prepare(input_path, output_path, format_name, sample_rate_hz)
    rate, channels, blocks = audio_io.open_blocks(input_path, chain.RENDER_CHUNK_FRAMES)
    if sample_rate_hz not in (None, rate):
        audio, rate, source = _load(input_path, sample_rate_hz, {})
        rendered = chain.render(audio, rate, params)
        return audio_io.write(rendered.audio, rate, output, fmt, input_path=source)
    streamer = chain.ChainStreamer(params, rate, channels)
    with audio_io.StreamWriter(output, rate, 2, fmt, input_path=input_path) as writer:
        for block in chain.stream(blocks, streamer):
            writer.write(block)
        return writer.commit()


def write_json(doc: dict[str, Any], path: str | Path) -> Path:
    """Write a JSON document atomically (temporary file, then rename)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"report folder does not exist: {folder}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    try:
        os.chmod(tmp, audio_io.new_file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, allow_nan=False)
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"could not write {path}: {exc.strerror or exc}") from None
    return path
