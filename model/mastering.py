"""File-to-file jobs shared by the CLI and the app: master (with loudness targeting) and render.

Every check that can fail on the user's input (output name and folder, format, params) runs before
any audio work, so a mistake costs nothing and leaves no file. Output and report are written
atomically; the master is read back and measured before success is reported.

Both jobs stream, so memory stays bounded whatever the length of the track. A master makes
these passes over the audio (resampled on the way in when another rate is asked for):

1. only when the parameters are proposed from the audio: decode into a float32 temporary file,
   whose excerpts the proposer reads;
2. the stages before the limiter into a float32 temporary file, measuring the input (the
   report's "before") and the loudness the limiter will get;
3. the trim search (``targeting.find_trim_streaming``): each candidate trim streams that file
   through the limiter and a loudness meter, keeping nothing;
4. the limiter at the chosen trim into the output's temporary file (``audio_io.StreamWriter``);
5. that file read back and measured (the report's "after") before it is renamed into place.

Temporary files lie hidden beside the output (``.<name>.*.partial``) and are removed whatever
happens: an error, a full disk, a cancel (``ExportCancelled``). The output path is replaced only
by a complete, checked file.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from model import audio_io, chain, targeting
from model.dsp import truepeak
from model.errors import AudioFileError, ExportCancelled, ExportError
from model.loudness import (
    LoudnessMeter,
    LoudnessReport,
    hop_samples,
    json_number,
    stereo_correlation,
    stereo_sums,
    stereo_width,
)
from model.params import STAGES, ChainParams
from model.units import gain_to_db


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


class StreamingAnalysis:
    """``loudness.analyze`` over a stream: ``process`` each block, then ``report()`` equals
    ``analyze`` of the concatenated blocks (the stereo sums are added block by block, so they
    may differ in the last bits).

    Shape: blocks (channels, n) float32, the same 1 or 2 channels throughout.
    """

    def __init__(self, sample_rate_hz: int, channels: int) -> None:
        self.sample_rate_hz, self.channels = sample_rate_hz, channels
        self.meter = LoudnessMeter(sample_rate_hz, channels)
        self.hop = hop_samples(sample_rate_hz)
        self.momentary_max_lufs = -math.inf
        self.short_term_max_lufs = -math.inf
        self.history = np.zeros((channels, truepeak.TAPS - 1))
        self.true_peak = 0.0
        self.sample_peak = 0.0
        self.sums = np.zeros(7)
        self.frames = 0

    def process(self, block: np.ndarray) -> None:
        """Measure the next block. Shape: (channels, n)."""
        start = 0
        while start < block.shape[1]:
            # Pieces that end on the meter's 100 ms grid: after each, the newest 400 ms and 3 s
            # blocks are the meter's momentary and short-term values, so none is missed.
            position = self.frames + start
            stop = min(start + self.hop - position % self.hop, block.shape[1])
            self.meter.process(block[:, start:stop])
            if (self.frames + stop) % self.hop == 0:
                self.momentary_max_lufs = max(self.momentary_max_lufs, self.meter.momentary_lufs)
                self.short_term_max_lufs = max(self.short_term_max_lufs,
                                               self.meter.short_term_lufs)
            start = stop
        if block.shape[1]:
            envelope = truepeak.peak_envelope(block, self.history)
            self.true_peak = max(self.true_peak, float(envelope.max()))
            self.sample_peak = max(self.sample_peak, float(np.max(np.abs(block))))
            right = block[1] if self.channels == 2 else block[0]
            self.sums += stereo_sums(block[0], right)
        self.frames += block.shape[1]

    def report(self) -> LoudnessReport:
        """The measurements of everything processed so far."""
        flush = np.zeros((self.channels, truepeak.TAPS), np.float32)
        tail_peak = float(truepeak.peak_envelope(flush, self.history.copy()).max())
        true_peak_dbtp = gain_to_db(max(self.true_peak, tail_peak))
        count = self.frames
        sums = tuple(float(value) for value in self.sums)
        mean_square = (sums[2] + sums[3]) / (2 * count) if count else 0.0
        return LoudnessReport(
            integrated_lufs=self.meter.integrated_lufs,
            momentary_max_lufs=self.momentary_max_lufs,
            short_term_max_lufs=self.short_term_max_lufs,
            lra_lu=self.meter.loudness_range_lu,
            sample_peak_dbfs=gain_to_db(self.sample_peak) if count else -math.inf,
            true_peak_dbtp=true_peak_dbtp,
            crest_factor_db=(true_peak_dbtp - 0.5 * gain_to_db(mean_square)
                             if mean_square > 0 else -math.inf),
            correlation=stereo_correlation(sums, count) if count and self.channels == 2 else 1.0,
            width=stereo_width(sums),
            duration_s=count / self.sample_rate_hz,
        )


class _MeterSummary:
    """The report's meter summary of a ``chain.stream`` pass (``add`` is its ``on_meters``): max
    and mean of each per-sample meter over the samples that line up with the input (as
    ``chain.render`` aligns them), and each enabled stage's whole-stream summary meters."""

    def __init__(self, streamer: chain.ChainStreamer) -> None:
        self.streamer = streamer
        self.delays: dict[str, int] = {}
        delay = 0
        for stage in STAGES:
            delay += streamer.stage_latency(stage)
            self.delays[stage] = delay
        self.input_frames: int | None = None
        """Set once the input has ended (before the chain's flush comes out)."""
        self.seen: dict[str, int] = {}
        self.peaks: dict[str, float] = {}
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, meters: dict[str, Any]) -> None:
        for stage, values in meters.items():
            for name, value in values.items():
                if np.ndim(value) != 1:
                    continue
                key = f"{stage}.{name}"
                seen = self.seen.get(key, 0)
                self.seen[key] = seen + len(value)
                first = max(self.delays[stage] - seen, 0)
                stop = len(value) if self.input_frames is None else \
                    min(self.delays[stage] + self.input_frames - seen, len(value))
                part = np.asarray(value[first:max(stop, first)], dtype=np.float64)
                if part.size:
                    self.peaks[key] = max(self.peaks.get(key, -math.inf), float(part.max()))
                    self.totals[key] = self.totals.get(key, 0.0) + float(part.sum())
                    self.counts[key] = self.counts.get(key, 0) + part.size

    def summary(self) -> dict[str, float | None]:
        """Rounded values; None for a meter with no finite value (JSON has no infinity)."""
        out: dict[str, float | None] = {}
        for key, peak in self.peaks.items():
            out[f"{key}.max"] = json_number(peak, 4)
            out[f"{key}.mean"] = json_number(self.totals[key] / self.counts[key], 4)
        for stage in STAGES:
            summary = getattr(self.streamer.streamers[stage], "summary_meters", None)
            if self.streamer.params.enabled[stage] and summary is not None:
                for name, value in summary().items():
                    if math.isfinite(value):
                        out[f"{stage}.{name}"] = round(float(value), 4)
        return out


class _Spool:
    """Float32 audio in a temporary file beside the output: written block by block, then read
    back in blocks (or mapped, for excerpts) as often as needed; ``close`` removes it.

    The file holds frames × channels interleaved float32; nothing stays in memory.
    """

    def __init__(self, output: Path, channels: int) -> None:
        self.output, self.channels = output, channels
        self.frames = 0
        self.path = audio_io.temporary_path(output, ".spool.partial")
        self.handle: BinaryIO | None = self.path.open("wb")

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, block: np.ndarray) -> None:
        """Append (channels, n) samples."""
        data = np.ascontiguousarray(block.T, dtype=np.float32)
        try:
            self.handle.write(data)
        except OSError as exc:
            raise audio_io.write_error(self.output, exc, data.nbytes) from None
        self.frames += block.shape[1]

    def finish(self) -> None:
        """Done writing: flush everything to the file."""
        try:
            self.handle.close()
        except OSError as exc:
            raise audio_io.write_error(self.output, exc) from None
        self.handle = None

    def blocks(self) -> Iterator[np.ndarray]:
        """A pass over the audio. Shape: blocks of (channels, ≤ RENDER_CHUNK_FRAMES) float32."""
        count = chain.RENDER_CHUNK_FRAMES * self.channels
        with self.path.open("rb") as handle:
            while (data := np.fromfile(handle, np.float32, count)).size:
                yield np.ascontiguousarray(data.reshape(-1, self.channels).T)

    def array(self) -> np.ndarray:
        """The whole audio as a read-only view of the file (pages load when touched).
        Shape: (channels, frames)."""
        return np.memmap(self.path, np.float32, "r", shape=(self.frames, self.channels)).T

    def close(self) -> None:
        """Remove the file (again: nothing)."""
        if self.handle is not None:
            with contextlib.suppress(OSError):
                self.handle.close()
            self.handle = None
        self.path.unlink(missing_ok=True)


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


def _open_input(input_path: str | Path,
                sample_rate_hz: int | None) -> tuple[int, int, int, Iterator[np.ndarray]]:
    """The input in blocks, resampled to ``sample_rate_hz`` if given: (rate, channels, expected
    frames (from the header; for progress only), blocks of (channels, n) float32)."""
    rate, channels, blocks = audio_io.open_blocks(input_path, chain.RENDER_CHUNK_FRAMES)
    frames = audio_io.frame_count(input_path)
    if sample_rate_hz in (None, rate):
        return rate, channels, frames, blocks
    return (sample_rate_hz, channels, round(frames * sample_rate_hz / rate),
            audio_io.resample_blocks(blocks, rate, sample_rate_hz, channels))


Proposal = Callable[[np.ndarray, int], ChainParams]
"""Parameters for a track from its audio (C, N) at its rate: the model's proposal."""

ProgressCallback = Callable[[str, float], None]
"""``progress(phase, fraction)``: the phase now running and the whole job's fraction done."""

PHASES = ("load", "propose", "render", "targeting", "export", "verify")
"""The phases a job reports, in order (a job skips those it does not need)."""


class Job:
    """Progress reports and cancel checks of one job.

    ``weights`` gives each phase the job runs its share of the whole; ``advance(phase, done)``
    reports ``done`` (0…1) of that phase as the job's overall fraction, never going backwards,
    and raises ``ExportCancelled`` once ``cancel`` is set.
    """

    def __init__(self, weights: dict[str, float], progress: ProgressCallback | None,
                 cancel: threading.Event | None) -> None:
        total = sum(weights.values())
        self.spans: dict[str, tuple[float, float]] = {}
        start = 0.0
        for phase in PHASES:
            if phase in weights:
                self.spans[phase] = (start / total, (start + weights[phase]) / total)
                start += weights[phase]
        self.progress, self.cancel = progress, cancel
        self.fraction = 0.0

    def advance(self, phase: str, done: float) -> None:
        """Report that ``done`` (0…1) of ``phase`` is finished, then check for a cancel."""
        low, high = self.spans[phase]
        self.fraction = max(self.fraction, low + (high - low) * min(max(done, 0.0), 1.0))
        if self.progress is not None:
            self.progress(phase, self.fraction)
        if self.cancel is not None and self.cancel.is_set():
            raise ExportCancelled()


def master_file(input_path: str | Path, output_path: str | Path, params: ChainParams | Proposal,
                target_lufs: float, ceiling_dbtp: float, format_name: str | None = None,
                sample_rate_hz: int | None = None, *, dither: bool = True,
                progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> JobReport:
    """Master a file: the chain with ``params`` (or with the parameters ``params(audio, rate)``
    proposes for the loaded track), the limiter's ceiling at ``ceiling_dbtp``, and the trim
    before the limiter chosen so the master lands on ``target_lufs``.

    Streams in bounded memory (see the module docstring for the passes).

    Args:
        dither: TPDF dither integer formats (False: plain rounding).
        progress: called with (phase, overall fraction 0…1, never falling) after every block of
            work, from the calling thread; phases from ``PHASES``.
        cancel: when set, the job stops at its next block with ``ExportCancelled``, leaving no
            temporary file and the output path as it was.
    """
    fmt, output = _prepare(input_path, output_path, format_name, sample_rate_hz)
    proposing = not isinstance(params, ChainParams)
    weights = {"load": 1.0 if proposing else 0.1, "render": 6.0, "targeting": 5.0,
               "export": 2.0, "verify": 3.0}
    if proposing:
        weights["propose"] = 2.0
    job = Job(weights, progress, cancel)
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as cleanup:
        start = time.perf_counter()
        job.advance("load", 0.0)
        rate, channels, frames, blocks = _open_input(input_path, sample_rate_hz)
        if proposing:
            decoded = cleanup.enter_context(_Spool(output, channels))
            for block in blocks:
                decoded.write(block)
                job.advance("load", decoded.frames / max(frames, 1))
            decoded.finish()
            frames = decoded.frames
        job.advance("load", 1.0)
        timings["load"] = time.perf_counter() - start
        if proposing:
            start = time.perf_counter()
            params = params(decoded.array(), rate)
            timings["propose"] = time.perf_counter() - start
            job.advance("propose", 1.0)
            blocks = decoded.blocks()

        start = time.perf_counter()
        used = targeting.with_ceiling(params, ceiling_dbtp)
        pre = cleanup.enter_context(_Spool(output, 2))
        before, reference_lufs, pre_meters = _render_pre_limiter(blocks, rate, channels, frames,
                                                                 used, pre, job)
        if proposing:
            decoded.close()
        timings["render"] = time.perf_counter() - start

        start = time.perf_counter()
        result = targeting.find_trim_streaming(
            pre.blocks, pre.frames, rate, used, target_lufs, reference_lufs,
            lambda done: job.advance("targeting", done))
        job.advance("targeting", 1.0)
        timings["targeting"] = time.perf_counter() - start

        headroom = targeting.headroom_gain(ceiling_dbtp, audio_io.quantisation_margin(fmt))
        after, post_meters = _write_master(pre, rate, used, result.trim_db, headroom, fmt,
                                           output, Path(input_path), dither, job, timings)
    return JobReport(Path(input_path), output, rate, fmt.name, used, before, after, result,
                     timings, {**pre_meters, **post_meters})


def _render_pre_limiter(blocks: Iterator[np.ndarray], sample_rate_hz: int, channels: int,
                        frames: int, params: ChainParams, spool: _Spool,
                        job: Job) -> tuple[LoudnessReport, float, dict[str, float]]:
    """The pass over the input: the stages before the limiter into ``spool`` (stereo), while
    measuring the input. Returns the input's report, the integrated loudness of what the
    limiter will get, and the stages' meter summary. ``frames``: expected, for progress."""
    before_limiter = params
    for stage in STAGES:
        if stage not in chain.PRE_LIMITER_STAGES:
            before_limiter = before_limiter.with_enabled(stage, False)
    streamer = chain.ChainStreamer(before_limiter, sample_rate_hz, channels)
    analysis = StreamingAnalysis(sample_rate_hz, channels)
    meters = _MeterSummary(streamer)
    reference = LoudnessMeter(sample_rate_hz, 2)

    def measured() -> Iterator[np.ndarray]:
        for block in blocks:
            analysis.process(block)
            yield block
        meters.input_frames = analysis.frames

    with contextlib.closing(chain.stream(measured(), streamer, meters.add)) as rendered:
        for block in rendered:
            spool.write(block)
            reference.process(block)
            job.advance("render", spool.frames / max(frames, 1))
    spool.finish()
    return analysis.report(), reference.integrated_lufs, meters.summary()


def _write_master(pre: _Spool, sample_rate_hz: int, params: ChainParams, trim_db: float,
                  headroom: float, fmt: audio_io.ExportFormat, output: Path, source: Path,
                  dither: bool, job: Job,
                  timings: dict[str, float]) -> tuple[LoudnessReport, dict[str, float]]:
    """The final pass: the limiter at ``trim_db`` over the pre-limiter audio, scaled by
    ``headroom``, into the output's temporary file, which is read back and measured before it
    is renamed into place. Returns the master's report and the limiter's meter summary."""
    start = time.perf_counter()
    streamer = targeting.limiter_streamer(params, sample_rate_hz, trim_db)
    meters = _MeterSummary(streamer)
    meters.input_frames = pre.frames
    gain = np.float32(headroom)
    after: list[LoudnessReport] = []

    def verify(path: Path) -> None:
        timings["export"] = time.perf_counter() - start
        verifying = time.perf_counter()
        analysis = StreamingAnalysis(sample_rate_hz, 2)
        _read_back(path, output, sample_rate_hz, pre.frames, job, analysis)
        after.append(analysis.report())
        timings["verify"] = time.perf_counter() - verifying

    with audio_io.StreamWriter(output, sample_rate_hz, 2, fmt, source, dither) as writer:
        with contextlib.closing(chain.stream(pre.blocks(), streamer, meters.add)) as rendered:
            for block in rendered:
                writer.write(block * gain)
                job.advance("export", writer.frames / max(pre.frames, 1))
        writer.commit(verify)
    return after[0], meters.summary()


def _read_back(path: Path, output: Path, sample_rate_hz: int, frames: int, job: Job,
               analysis: StreamingAnalysis | None = None) -> None:
    """Read a written file back in blocks (into ``analysis`` if given): ``ExportError`` unless
    it decodes to ``frames`` finite stereo frames at ``sample_rate_hz``."""
    seen = 0
    try:
        rate, channels, blocks = audio_io.open_blocks(path, chain.RENDER_CHUNK_FRAMES)
        for block in blocks:
            if analysis is not None:
                analysis.process(block)
            seen += block.shape[1]
            job.advance("verify", seen / max(frames, 1))
    except AudioFileError:
        rate = channels = -1
    if (rate, channels, seen) != (sample_rate_hz, 2, frames):
        raise ExportError(f"the written file {output} did not read back intact; nothing was "
                          f"written (check the disk)")


def render_file(input_path: str | Path, output_path: str | Path, params: ChainParams,
                format_name: str | None = None, sample_rate_hz: int | None = None, *,
                dither: bool = True, progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> Path:
    """Render a file through the chain with exactly ``params`` (no targeting, no analysis).

    The file streams through (resampled on the way if ``sample_rate_hz`` differs from its
    rate): blocks are decoded, processed and written as they come, so memory stays bounded,
    and the written file is read back and checked before it replaces ``output_path``.
    ``dither``, ``progress`` (phases "load", "render", "verify") and ``cancel`` as for
    ``master_file``.
    """
    fmt, output = _prepare(input_path, output_path, format_name, sample_rate_hz)
    job = Job({"load": 0.1, "render": 5.0, "verify": 1.0}, progress, cancel)
    job.advance("load", 0.0)
    rate, channels, frames, blocks = _open_input(input_path, sample_rate_hz)
    job.advance("load", 1.0)
    streamer = chain.ChainStreamer(params, rate, channels)
    with audio_io.StreamWriter(output, rate, 2, fmt, input_path, dither) as writer:
        with contextlib.closing(chain.stream(blocks, streamer)) as rendered:
            for block in rendered:
                writer.write(block)
                job.advance("render", writer.frames / max(frames, 1))
        return writer.commit(
            lambda path: _read_back(path, output, rate, writer.frames, job))


def json_ready(doc: Any) -> Any:
    """``doc`` with every non-finite float (NaN, ±inf) as None, numpy floats as Python floats, and
    tuples as lists, through nested dicts and lists: what strict JSON can hold."""
    if isinstance(doc, dict):
        return {key: json_ready(value) for key, value in doc.items()}
    if isinstance(doc, list | tuple):
        return [json_ready(value) for value in doc]
    if isinstance(doc, float | np.floating):
        return float(doc) if math.isfinite(doc) else None
    return doc


def write_json(doc: dict[str, Any], path: str | Path) -> Path:
    """Write a JSON document atomically (``audio_io.write_text``). Non-finite numbers are
    written as null (``json_ready``), so a report never fails on a value once its master is
    written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"report folder does not exist: {folder}")
    text = json.dumps(json_ready(doc), indent=2, allow_nan=False) + "\n"
    return audio_io.write_text(text, path)
