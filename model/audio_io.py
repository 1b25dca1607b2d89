"""Reading audio files and writing masters: formats, resampling, dither, atomic writes.

Reading goes through libsndfile (WAV, FLAC, OGG/Vorbis, MP3, AIFF and more). Writing is atomic:
the file is written to a temporary name beside the target, read back and checked, then renamed,
so a failure never leaves a partial file and never touches the input.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from model.errors import AudioFileError, ExportError

READABLE_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff",
                       ".aifc")
MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 192000


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


def load(path: str | Path) -> Track:
    """Read an audio file; ``AudioFileError`` with a plain message for anything unusable."""
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"input file not found: {path}")
    if path.is_dir():
        raise AudioFileError(f"input is a folder, not an audio file: {path}")
    if not os.access(path, os.R_OK):
        raise AudioFileError(f"input file cannot be read (permission denied): {path}")
    try:
        info = sf.info(str(path))
        data, sample_rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioFileError(
            f"cannot decode {path.name}: not a readable WAV, FLAC, OGG, MP3 or AIFF file "
            f"({_first_line(exc)})") from None
    except OSError as exc:
        raise AudioFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    audio = np.ascontiguousarray(data.T)
    _check_decoded(audio, int(sample_rate_hz), path)
    return Track(audio, int(sample_rate_hz), path, f"{info.format}/{info.subtype}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_decoded(audio: np.ndarray, sample_rate_hz: int, path: Path) -> None:
    if audio.shape[1] == 0:
        raise AudioFileError(f"{path.name} contains no audio samples")
    if audio.shape[0] > 2:
        raise AudioFileError(
            f"{path.name} has {audio.shape[0]} channels; GreyMaster masters mono or stereo files "
            f"(export a stereo mix first)")
    if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise AudioFileError(
            f"{path.name} has a sample rate of {sample_rate_hz} Hz; supported rates are "
            f"{MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz")
    if not np.all(np.isfinite(audio)):
        raise AudioFileError(f"{path.name} contains NaN or infinite samples (a damaged float file)")


def resample(audio: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """High-quality resampling with soxr (VHQ). Shape: (channels, N) → (channels, N·to/from)."""
    if from_hz == to_hz:
        return audio
    if not MIN_SAMPLE_RATE_HZ <= to_hz <= MAX_SAMPLE_RATE_HZ:
        raise AudioFileError(
            f"sample rate {to_hz} Hz is not supported "
            f"({MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz)")
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


def dither(audio: np.ndarray, bits: int, seed: int = 0) -> np.ndarray:
    """TPDF dither of ±1 LSB peak for a ``bits``-bit integer target. Shape: (C, N) → (C, N)."""
    lsb = 2.0 ** (1 - bits)
    rng = np.random.default_rng(seed)
    noise = (rng.random(audio.shape, dtype=np.float32) - rng.random(audio.shape, dtype=np.float32))
    return audio + noise * np.float32(lsb)


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


def write(audio: np.ndarray, sample_rate_hz: int, output: str | Path, fmt: ExportFormat,
          input_path: str | Path | None = None) -> Path:
    """Write (channels, samples) float audio atomically: temporary file, read back, rename.

    Integer formats get TPDF dither. Raises ``ExportError`` and leaves nothing behind on failure.
    """
    output = check_output_path(output, input_path)
    data = dither(audio, fmt.bits) if fmt.bits is not None else audio
    if fmt.bits is not None:
        data = np.clip(data, -1.0, 1.0 - 2.0 ** (1 - fmt.bits))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial",
                                    dir=output.parent if str(output.parent) else ".")
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(new_file_mode())
    try:
        sf.write(str(tmp), np.ascontiguousarray(data.T), sample_rate_hz, format=fmt.container,
                 subtype=fmt.subtype)
        _verify(tmp, audio.shape, sample_rate_hz)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, output)
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        raise ExportError(f"could not write {output}: {_first_line(exc)}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return output


def _verify(path: Path, shape: tuple[int, ...], sample_rate_hz: int) -> None:
    info = sf.info(str(path))
    if (info.channels, info.frames, info.samplerate) != (shape[0], shape[1], sample_rate_hz):
        raise ExportError(f"the written file {path.name} did not read back intact")
