"""The fault suite of the command line: every kind of file and audio people have, through
`greymaster master` and `greymaster analyze`.

Each case ends either in a master (exit 0, or 1 when the loudness target is out of reach) that
is finite, stereo, as long as the input and under the ceiling, or in one line on stderr with
exit status 2 and no output file. The input is never changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from greymaster_app.cli import main
from model.dsp.truepeak import true_peak_dbtp
from tests.signals import music_like

FS = 44100
CEILING_DBTP = -1.0


def _music(seconds: float = 2.0, rate: int = FS) -> np.ndarray:
    """Frames × 2 float64."""
    return (music_like(seconds, rate, seed=5) * 0.5).T.astype(np.float64)


def _write(path: Path, audio: np.ndarray, rate: int = FS, subtype: str = "PCM_24") -> None:
    sf.write(path, audio, rate, subtype=subtype)


def _cut(source: Callable[[Path], None], keep: float) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        source(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
    return make


def _corrupt(path: Path) -> None:
    _write(path, _music())
    data = bytearray(path.read_bytes())
    data[4000:9000] = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _with_sample(value: float) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        audio = _music()
        audio[1234, 1] = value
        _write(path, audio, subtype="FLOAT")
    return make


REFUSED: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "empty file": ("empty.wav", lambda p: p.write_bytes(b""), "cannot decode"),
    "no samples": ("none.wav", lambda p: _write(p, np.zeros((0, 2))), "no audio samples"),
    "truncated WAV": ("cut.wav", _cut(lambda p: _write(p, _music()), 0.4), "truncated"),
    "truncated FLAC": ("cut.flac", _cut(lambda p: _write(p, _music()), 0.4), "cannot decode"),
    "corrupted FLAC": ("bad.flac", _corrupt, "cannot decode"),
    "text named .wav": ("notes.wav", lambda p: p.write_text("la la la\n" * 50), "cannot decode"),
    "image named .flac": ("cover.flac", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(999)),
                          "cannot decode"),
    "unsupported format": ("song.xyz", lambda p: p.write_bytes(b"\x00" * 500), "cannot decode"),
    "3 channels": ("lcr.wav", lambda p: _write(p, np.tile(_music()[:, :1], (1, 3))),
                   "3 channels"),
    "6 channels": ("surround.wav", lambda p: _write(p, np.tile(_music()[:, :1], (1, 6))),
                   "6 channels"),
    "NaN sample": ("nan.wav", _with_sample(np.nan), "NaN or infinite"),
    "infinite sample": ("inf.wav", _with_sample(np.inf), "NaN or infinite"),
    "rate too low": ("slow.wav", lambda p: _write(p, _music(2.0, 4000), 4000), "sample rate"),
}

MASTERED: dict[str, tuple[str, Callable[[Path], None]]] = {
    "one sample": ("one.wav", lambda p: _write(p, np.full((1, 2), 0.2))),
    "mono": ("mono.wav", lambda p: _write(p, _music()[:, :1])),
    "8 kHz": ("8k.wav", lambda p: _write(p, _music(2.0, 8000), 8000)),
    "192 kHz": ("192k.wav", lambda p: _write(p, _music(1.0, 192000), 192000)),
    "8-bit": ("u8.wav", lambda p: _write(p, _music(), subtype="PCM_U8")),
    "16-bit": ("s16.wav", lambda p: _write(p, _music(), subtype="PCM_16")),
    "32-bit integer": ("s32.wav", lambda p: _write(p, _music(), subtype="PCM_32")),
    "32-bit float": ("f32.wav", lambda p: _write(p, _music(), subtype="FLOAT")),
    "64-bit float": ("f64.wav", lambda p: _write(p, _music(), subtype="DOUBLE")),
    "FLAC": ("song.flac", lambda p: _write(p, _music(), subtype="PCM_16")),
    "OGG": ("song.ogg", lambda p: sf.write(p, _music(), FS, format="OGG", subtype="VORBIS")),
    "DC offset": ("dc.wav", lambda p: _write(p, _music() * 0.5 + 0.4)),
    "digital silence": ("silence.wav", lambda p: _write(p, np.zeros((FS, 2)))),
    "full-scale clipping": ("clipped.wav", lambda p: _write(p, np.clip(_music() * 30, -1, 1),
                                                             subtype="FLOAT")),
    "unicode and spaces": ("Mïx fïnal – ünïcødé 01.wav", lambda p: _write(p, _music())),
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", list(REFUSED))
def test_unusable_files_are_one_line_errors(case, tmp_path, capsys):
    name, make, message = REFUSED[case]
    source = tmp_path / name
    make(source)
    before = _digest(source)
    out = tmp_path / "out" / "master.wav"
    out.parent.mkdir()
    for argv in (["master", str(source), "-o", str(out), "--no-model"],
                 ["analyze", str(source), "--no-model"]):
        assert main(argv) == 2, case
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert list(out.parent.iterdir()) == []
    assert _digest(source) == before


@pytest.mark.parametrize("case", list(MASTERED))
def test_unusual_but_valid_audio_is_mastered(case, tmp_path):
    name, make = MASTERED[case]
    source = tmp_path / name
    make(source)
    before = _digest(source)
    info = sf.info(source)
    out = tmp_path / "out" / "master.wav"
    out.parent.mkdir()
    assert main(["master", str(source), "-o", str(out), "--no-model"]) in (0, 1), case
    audio, rate = sf.read(out, dtype="float64")
    assert rate == info.samplerate and audio.shape == (info.frames, 2)
    assert np.isfinite(audio).all()
    if info.frames > 1000:
        assert true_peak_dbtp(audio.T) <= CEILING_DBTP + 1e-6
    assert [p.name for p in out.parent.iterdir()] == ["master.wav"]
    assert _digest(source) == before


def test_missing_and_unreadable_paths_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "master.wav"
    assert main(["master", str(tmp_path / "nope.wav"), "-o", str(out), "--no-model"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["master", str(tmp_path), "-o", str(out), "--no-model"]) == 2
    assert "folder" in capsys.readouterr().err
    locked = tmp_path / "locked.wav"
    _write(locked, _music())
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: a file without permissions is still readable")
        assert main(["master", str(locked), "-o", str(out), "--no-model"]) == 2
        assert "permission denied" in capsys.readouterr().err
    finally:
        locked.chmod(0o644)
    assert not out.exists()
