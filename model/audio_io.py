"""Reading audio files and writing masters: formats, resampling, dither, atomic writes.

Reading goes through libsndfile (WAV, FLAC, OGG/Vorbis, MP3, AIFF and more). Writing is atomic:
the file is written to a temporary name beside the target, read back and checked, then renamed,
so a failure never leaves a partial file and never touches the input.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import soundfile as sf

from model.errors import AudioFileError, ExportError

WAV_UNKNOWN_SIZE = 0xFFFFFFFF
"""A data chunk size written by a recorder that never came back to fill it in (streamed WAV):
not a sign of truncation."""
MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 192000
MAX_SAMPLE_MAGNITUDE = 1e6
"""Decoded samples beyond this (+120 dBFS) are damage, not audio: float files hold such values
when their bytes are garbage, and no gain staging survives them (the master would be silent)."""


@dataclass(frozen=True)
class ExportFormat:
    """An output format: container, libsndfile subtype and integer bit depth (None for float)."""

    name: str
    container: str
    subtype: str
    bits: int | None
    extensions: tuple[str, ...]


FORMATS: dict[str, ExportFormat] = {
    "wav16": ExportFormat("wav16", "WAV", "PCM_16", 16, (".wav", ".wave")),
    "wav24": ExportFormat("wav24", "WAV", "PCM_24", 24, (".wav", ".wave")),
    "wav32f": ExportFormat("wav32f", "WAV", "FLOAT", None, (".wav", ".wave")),
    "flac24": ExportFormat("flac24", "FLAC", "PCM_24", 24, (".flac",)),
}


@dataclass(frozen=True)
class Track:
    """Decoded audio. ``audio``: float32 (channels, samples), channels 1 or 2."""

    audio: np.ndarray
    sample_rate_hz: int
    path: Path
    source_format: str

    @property
    def channels(self) -> int:
        return int(self.audio.shape[0])

    @property
    def duration_s(self) -> float:
        return self.audio.shape[1] / self.sample_rate_hz


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(f"input file not found: {path}")
    if path.is_dir():
        raise AudioFileError(f"input is a folder, not an audio file: {path}")
    if not os.access(path, os.R_OK):
        raise AudioFileError(f"input file cannot be read (permission denied): {path}")
    if not stat.S_ISREG(path.stat().st_mode):
        raise AudioFileError(f"input {path} is not a regular file (a pipe or a device); save it "
                             f"to a file first")


def _check_wav_complete(path: Path) -> None:
    """A RIFF/WAVE file whose data chunk promises more bytes than the file holds was cut short
    (an interrupted copy or download). libsndfile would quietly read what is there; refuse it."""
    with path.open("rb") as file:
        header = file.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        while chunk := file.read(8):
            if len(chunk) < 8:
                return
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                available = path.stat().st_size - file.tell()
                if 0 < available < size != WAV_UNKNOWN_SIZE:
                    raise AudioFileError(
                        f"{path.name} is truncated: its header promises {size} bytes of audio "
                        f"but the file holds {available} (an interrupted copy?)")
                return
            file.seek(size + size % 2, os.SEEK_CUR)


@contextlib.contextmanager
def _decoder_notes_silenced(path: Path) -> Iterator[None]:
    """libsndfile's MP3 decoder (mpg123) writes notes such as "Hit end of (available) data"
    straight to file descriptor 2; for an MP3, keep them out of the one line a user sees. (Any
    other thread's native output is hidden for that moment too.)"""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        descriptor = -1
    if path.suffix.lower() != ".mp3" or descriptor < 0:
        yield
        return
    saved = os.dup(descriptor)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, descriptor)
        os.close(saved)


@contextlib.contextmanager
def _decoding(path: Path) -> Iterator[None]:
    """libsndfile calls on ``path``, their failures as ``AudioFileError`` for people."""
    try:
        with _decoder_notes_silenced(path):
            yield
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioFileError(
            f"cannot decode {path.name}: not a readable WAV, FLAC, OGG, MP3 or AIFF file "
            f"({_first_line(exc)})") from None
    except OSError as exc:
        raise AudioFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _probe(path: Path) -> Any:
    """The file's header (``soundfile.info``), after the checks that need no decoding."""
    _check_readable(path)
    _check_wav_complete(path)
    with _decoding(path):
        return sf.info(str(path))


def load(path: str | Path) -> Track:
    """Read an audio file; ``AudioFileError`` with a plain message for anything unusable."""
    path = Path(path)
    info = _probe(path)
    with _decoding(path):
        data, sample_rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    audio = np.ascontiguousarray(data.T)
    _check_decoded(audio, int(sample_rate_hz), path)
    return Track(audio, int(sample_rate_hz), path, f"{info.format}/{info.subtype}")


def open_blocks(path: str | Path, frames: int) -> tuple[int, int, Iterator[np.ndarray]]:
    """Open an audio file for reading in blocks: (sample rate, channels, block iterator).

    The blocks are float32 (channels, ≤ frames) and end at the first short read, so a file that
    holds fewer frames than its header announces (a cut MP3) yields what is there, as ``load``
    reads it. Errors are ``AudioFileError``, raised by this call for an unusable file, or while
    iterating if the data turns out damaged part-way.
    """
    path = Path(path)
    info = _probe(path)
    _check_layout(info.channels, max(info.frames, 1), info.samplerate, path)
    return info.samplerate, info.channels, _read_blocks(path, frames)


def _read_blocks(path: Path, frames: int) -> Iterator[np.ndarray]:
    """The blocks of ``open_blocks``. Only the decoding runs silenced (``_decoding``), never the
    caller's work between blocks."""
    with _decoding(path):
        handle = sf.SoundFile(str(path))
    seen = 0
    try:
        while True:
            with _decoding(path):
                data = handle.read(frames, dtype="float32", always_2d=True)
            if data.shape[0]:
                block = np.ascontiguousarray(data.T)
                _check_samples(block, path)
                seen += block.shape[1]
                yield block
            if data.shape[0] < frames:
                break
    finally:
        handle.close()
    if seen == 0:
        raise AudioFileError(f"{path.name} contains no audio samples")


def frame_count(path: str | Path) -> int:
    """Frames per channel that the file's header announces: an estimate, for progress only. A
    cut MP3 holds fewer (``open_blocks`` and ``load`` read what is there); count the decoded
    blocks for anything that must be exact."""
    return int(_probe(Path(path)).frames)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_layout(channels: int, frames: int, sample_rate_hz: int, path: Path) -> None:
    """``AudioFileError`` for a file without samples, with more than 2 channels or at a rate we
    do not process."""
    if frames == 0:
        raise AudioFileError(f"{path.name} contains no audio samples")
    if channels > 2:
        raise AudioFileError(
            f"{path.name} has {channels} channels; GreyMaster masters mono or stereo files "
            f"(export a stereo mix first)")
    if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise AudioFileError(
            f"{path.name} has a sample rate of {sample_rate_hz} Hz; supported rates are "
            f"{MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz")


def _check_decoded(audio: np.ndarray, sample_rate_hz: int, path: Path) -> None:
    _check_layout(audio.shape[0], audio.shape[1], sample_rate_hz, path)
    _check_samples(audio, path)


def _check_samples(audio: np.ndarray, path: Path) -> None:
    """``AudioFileError`` for NaN, infinite or absurdly large samples (beyond
    ``MAX_SAMPLE_MAGNITUDE``): the signs of a damaged float file. Shape: (channels, n)."""
    if audio.size == 0:
        return
    peak = float(np.max(np.abs(audio)))
    if not math.isfinite(peak):
        raise AudioFileError(f"{path.name} contains NaN or infinite samples (a damaged float file)")
    if peak > MAX_SAMPLE_MAGNITUDE:
        raise AudioFileError(
            f"{path.name} contains samples of {peak:.3g} times full scale, beyond +120 dBFS (a "
            f"damaged float file)")


def _check_target_rate(to_hz: int) -> None:
    if not MIN_SAMPLE_RATE_HZ <= to_hz <= MAX_SAMPLE_RATE_HZ:
        raise AudioFileError(
            f"sample rate {to_hz} Hz is not supported "
            f"({MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz)")


def resample_blocks(blocks: Iterable[np.ndarray], from_hz: int, to_hz: int,
                    channels: int) -> Iterator[np.ndarray]:
    """``resample`` over a stream: soxr's streaming resampler (VHQ), whose concatenated output
    equals ``resample`` of the concatenated input. Shape: blocks (channels, n) → (channels, n').
    """
    if from_hz == to_hz:
        yield from blocks
        return
    _check_target_rate(to_hz)
    import soxr

    stream = soxr.ResampleStream(from_hz, to_hz, channels, dtype="float32", quality="VHQ")
    for block in blocks:
        out = stream.resample_chunk(np.ascontiguousarray(block.T, dtype=np.float32))
        if out.shape[0]:
            yield np.ascontiguousarray(out.T)
    tail = stream.resample_chunk(np.zeros((0, channels), np.float32), last=True)
    if tail.shape[0]:
        yield np.ascontiguousarray(tail.T)


def resample(audio: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """High-quality resampling with soxr (VHQ). Shape: (channels, N) → (channels, N·to/from)."""
    if from_hz == to_hz:
        return audio
    _check_target_rate(to_hz)
    import soxr

    out = soxr.resample(audio.T, from_hz, to_hz, quality="VHQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def format_for(path: str | Path, format_name: str | None) -> ExportFormat:
    """The export format named, or the one implied by the extension; errors if they disagree."""
    suffix = Path(path).suffix.lower()
    if format_name is None:
        for candidate in ("wav24", "flac24"):
            if suffix in FORMATS[candidate].extensions:
                return FORMATS[candidate]
        raise ExportError(
            f"cannot tell the output format from '{Path(path).name}': name it .wav or .flac, "
            f"or pass --format ({', '.join(FORMATS)})")
    if format_name not in FORMATS:
        raise ExportError(f"unknown format '{format_name}' (choose {', '.join(FORMATS)})")
    chosen = FORMATS[format_name]
    if suffix not in chosen.extensions:
        raise ExportError(
            f"output name '{Path(path).name}' does not match --format {format_name} "
            f"(use a {chosen.extensions[0]} name)")
    return chosen


def quantisation_margin(fmt: ExportFormat) -> float:
    """Worst-case peak added by rounding plus TPDF dither, as a linear amplitude (0 for float)."""
    if fmt.bits is None:
        return 0.0
    return 4.0 * 2.0 ** (1 - fmt.bits)


@numba.njit(cache=True, nogil=True)
def _quantise(audio: np.ndarray, bits: int, seed: int, dither: bool, out: np.ndarray) -> None:
    """TPDF dither (if ``dither``), rounding and clipping to ``bits`` in one pass; writes
    frames × channels int32 with the sample in the top ``bits`` bits (how libsndfile reads
    int32)."""
    scale = 2.0 ** (bits - 1)
    low, high = -scale, scale - 1.0
    shift = 32 - bits
    state = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)
    to_unit = 1.0 / 9007199254740992.0
    for n in range(audio.shape[1]):
        for c in range(audio.shape[0]):
            uniforms = 0.0
            if dither:
                for sign in (1.0, -1.0):
                    state ^= state >> np.uint64(12)
                    state ^= state << np.uint64(25)
                    state ^= state >> np.uint64(27)
                    draw = (state * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(11)
                    uniforms += sign * (np.float64(draw) * to_unit)
            level = np.floor(np.float64(audio[c, n]) * scale + uniforms + 0.5)
            out[n, c] = np.int32(min(max(level, low), high)) << shift


def quantise(audio: np.ndarray, bits: int, seed: int = 0, dither: bool = True) -> np.ndarray:
    """``bits``-bit integer samples with TPDF dither of ±1 LSB peak (the difference of two
    uniform variables, xorshift64* generator), rounded and clipped; ``dither=False`` only
    rounds (to nearest, halves up) and clips.

    Shape: (channels, samples) float → (samples, channels) int32, the sample in the top bits.
    """
    out = np.empty((audio.shape[1], audio.shape[0]), dtype=np.int32)
    _quantise(audio, bits, seed, dither, out)
    return out


def check_output_path(output: str | Path, input_path: str | Path | None) -> Path:
    """Refuse to overwrite the input and check that the output's folder is writable."""
    output = Path(output)
    if input_path is not None:
        source = Path(input_path)
        same = output.resolve() == source.resolve() or (
            output.exists() and source.exists() and os.path.samefile(output, source))
        if same:
            raise ExportError(f"refusing to overwrite the input file {source}: choose another name")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise ExportError(f"output folder is not writable: {folder}")
    if output.is_dir():
        raise ExportError(f"output is a folder, not a file name: {output}")
    return output


def new_file_mode() -> int:
    """Permissions of a newly created file under the current umask (``mkstemp`` uses 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def temporary_path(output: Path, suffix: str = ".partial") -> Path:
    """A new empty file beside ``output`` (hidden, named after it, ordinary permissions) for
    writing ``output`` atomically; the caller removes or renames it."""
    folder = output.parent if str(output.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=suffix, dir=folder)
    except OSError as exc:
        raise write_error(output, exc) from None
    os.close(fd)
    os.chmod(name, new_file_mode())
    return Path(name)


def write_error(output: Path, exc: BaseException, needed_bytes: int = 0) -> ExportError:
    """The ``ExportError`` for a failed write of ``output`` (or of a temporary file beside it).

    A full disk gets its own message: an ``OSError`` with ``ENOSPC``, or a failure of another
    kind (libsndfile only says "System error.") when the folder has less than ``needed_bytes``
    free.
    """
    folder = output.parent if str(output.parent) else Path(".")
    full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    if not full and needed_bytes > 0:
        with contextlib.suppress(OSError):
            full = shutil.disk_usage(folder).free < needed_bytes
    if full:
        return ExportError(f"could not write {output}: No space left on device (free some "
                           f"space on that disk or choose another folder)")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)
    return ExportError(f"could not write {output}: {reason}")


def write_text(text: str, output: str | Path) -> Path:
    """Write a small text file atomically: a temporary file beside ``output``, flushed to disk,
    then renamed over it; on failure nothing is left and an old ``output`` keeps its content
    (``ExportError`` from ``write_error``)."""
    output = Path(output)
    tmp = temporary_path(output)
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(output, exc, len(text.encode("utf-8"))) from None
    return output


def write(audio: np.ndarray, sample_rate_hz: int, output: str | Path, fmt: ExportFormat,
          input_path: str | Path | None = None, dither: bool = True) -> Path:
    """Write (channels, samples) float audio atomically (``StreamWriter`` with one block).

    Raises ``ExportError`` and leaves nothing behind on failure.
    """
    with StreamWriter(output, sample_rate_hz, audio.shape[0], fmt, input_path,
                      dither) as writer:
        writer.write(audio)
        return writer.commit()


class StreamWriter:
    """Atomic block-by-block writing: blocks go to a temporary file beside the target, which
    ``commit`` checks and renames; leaving the ``with`` block without ``commit`` (an error, a
    cancel) deletes it. Integer formats get TPDF dither unless ``dither`` is False
    (``quantise``).
    """

    def __init__(self, output: str | Path, sample_rate_hz: int, channels: int,
                 fmt: ExportFormat, input_path: str | Path | None = None,
                 dither: bool = True) -> None:
        self.output = check_output_path(output, input_path)
        self.sample_rate_hz, self.channels, self.fmt = sample_rate_hz, channels, fmt
        self.dither = dither
        self.frames = 0
        self.blocks = 0
        self.tmp: Path | None = None
        self.handle: sf.SoundFile | None = None

    def __enter__(self) -> StreamWriter:
        self.tmp = temporary_path(self.output)
        try:
            self.handle = sf.SoundFile(str(self.tmp), "w", self.sample_rate_hz, self.channels,
                                       self.fmt.subtype, format=self.fmt.container)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self.tmp.unlink(missing_ok=True)
            raise write_error(self.output, exc) from None
        return self

    def write(self, block: np.ndarray) -> None:
        """Append (channels, n) float samples."""
        if self.fmt.bits is None:
            data = block.T
        else:
            data = quantise(block, self.fmt.bits, self.blocks, self.dither)
        try:
            self.handle.write(data)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            raise write_error(self.output, exc, data.nbytes) from None
        self.frames += block.shape[1]
        self.blocks += 1

    def commit(self, check: Callable[[Path], None] | None = None) -> Path:
        """Close, check what was written, fsync and rename into place.

        ``check(temporary_path)``, if given, runs on the complete file before the rename: an
        exception from it (a failed check, a cancel) leaves the target untouched.
        """
        try:
            self.handle.close()
            _verify(self.tmp, (self.channels, self.frames), self.sample_rate_hz)
            if check is not None:
                check(self.tmp)
            with open(self.tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(self.tmp, self.output)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            raise write_error(self.output, exc) from None
        return self.output

    def __exit__(self, *exc_info: object) -> None:
        if self.handle is not None and not self.handle.closed:
            self.handle.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _verify(path: Path, shape: tuple[int, ...], sample_rate_hz: int) -> None:
    info = sf.info(str(path))
    if (info.channels, info.frames, info.samplerate) != (shape[0], shape[1], sample_rate_hz):
        raise ExportError(f"the written file {path.name} did not read back intact")
