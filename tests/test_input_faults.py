"""Input faults not covered by tests/test_faults.py and tests/test_audio_io.py (issue 6): more
damaged and disguised files, OGG and MP3 faults, more sample rates and levels, every valid case
through `greymaster analyze` as well as `master`, analyse of missing paths, unicode output names,
input from a pipe, and model weights that carry code.

Each case ends either in exit status 0 (or 1 for `master` when the loudness target is out of
reach) with nothing on stderr and a sane result, or in exit status 2 with exactly one line on
stderr, no traceback and no output file. The input file is never changed (hash before and
after). MP3 cases run the command in a subprocess: the MP3 decoder writes notes straight to file
descriptor 2, which `greymaster` silences there, and only a real process shows what a user sees.

Cases tried: 19 unusable files × 2 commands (38), 19 valid files × 2 commands (38), the 15 valid
files of tests/test_faults.py through `analyze` (15), 3 missing or unusable paths through
`analyze` (3), unicode output and report names (1), 2 weights files carrying code × 2 commands
(4), absurd float samples × 2 commands and either side of the limit on sample size (4), and a
pipe as input (1): 104 in all (``CASES_TRIED``). Four of them failed before model/audio_io.py
read blocks up to the first short read with the MP3 decoder silenced, refused samples beyond
+120 dBFS and refused inputs that are not regular files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from greymaster_app.cli import main
from model.dsp.truepeak import true_peak_dbtp
from tests.signals import music_like
from tests.test_faults import MASTERED

FS = 44100
CEILING_DBTP = -1.0
PEAK_TOLERANCE_DB = 1e-6
"""The limiter promises the ceiling; the export's headroom covers dither (tests/test_faults.py
allows the same)."""

Maker = Callable[[Path], None]


def music(seconds: float = 1.0, rate: int = FS) -> np.ndarray:
    """Frames × 2 float64, peaks at −12 dBFS."""
    return (music_like(seconds, rate, seed=11) * 0.5).T.astype(np.float64)


def writer(audio: Callable[[], np.ndarray], rate: int = FS, **options: str) -> Maker:
    """Writes ``audio()`` with soundfile (format from the name unless given)."""
    def make(path: Path) -> None:
        sf.write(path, audio(), rate, **options)
    return make


def cut(make: Maker, keep: float) -> Maker:
    """The file ``make`` writes, cut to a fraction of its bytes."""
    def make_cut(path: Path) -> None:
        make(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
    return make_cut


def keep_bytes(make: Maker, count: int) -> Maker:
    """The first ``count`` bytes of the file ``make`` writes."""
    def make_head(path: Path) -> None:
        make(path)
        path.write_bytes(path.read_bytes()[:count])
    return make_head


def scrambled(make: Maker, start: int, stop: int) -> Maker:
    """The file ``make`` writes with bytes [start, stop) replaced by random ones."""
    def make_scrambled(path: Path) -> None:
        make(path)
        data = bytearray(path.read_bytes())
        data[start:stop] = np.random.default_rng(1).integers(0, 256, stop - start,
                                                             dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
    return make_scrambled


def content(data: bytes) -> Maker:
    def make(path: Path) -> None:
        path.write_bytes(data)
    return make


def with_value_at(audio: Callable[[], np.ndarray], value: float) -> Callable[[], np.ndarray]:
    def make() -> np.ndarray:
        x = audio()
        x[100, 0] = value
        return x
    return make


WAV16 = writer(music, subtype="PCM_16")
WAV_FLOAT = writer(music, subtype="FLOAT")
OGG = writer(music, format="OGG", subtype="VORBIS")
MP3 = writer(music, format="MP3", subtype="MPEG_LAYER_III")
TEXT = b"la la la\n" * 50

REFUSED: dict[str, tuple[str, Maker, str]] = {
    "WAV with a scrambled header": ("head.wav", scrambled(WAV16, 12, 36), "cannot decode"),
    "WAV header and no data": ("bare.wav", keep_bytes(WAV16, 44), "no audio samples"),
    "float WAV with scrambled data": ("noise.wav", scrambled(WAV_FLOAT, 4000, 9000),
                                      "NaN or infinite"),
    "64-bit float WAV with a NaN": ("nan64.wav", writer(with_value_at(music, math.nan),
                                                        subtype="DOUBLE"), "NaN or infinite"),
    "64-bit float WAV beyond float32": ("huge64.wav", writer(lambda: music() * 1e300,
                                                             subtype="DOUBLE"),
                                        "NaN or infinite"),
    "PNG named .wav": ("cover.wav", content(b"\x89PNG\r\n\x1a\n" + bytes(999)), "cannot decode"),
    "ZIP named .wav": ("archive.wav", content(b"PK\x03\x04" + bytes(500)), "cannot decode"),
    "384 kHz": ("fast.wav", writer(lambda: music(0.1, 384000), 384000), "sample rate"),
    "truncated OGG": ("cut.ogg", cut(OGG, 0.4), "cut.ogg"),
    "scrambled OGG": ("bad.ogg", scrambled(OGG, 3000, 6000), "cannot decode"),
    "empty OGG": ("empty.ogg", content(b""), "cannot decode"),
    "OGG without samples": ("none.ogg", writer(lambda: np.zeros((0, 2)), format="OGG",
                                               subtype="VORBIS"), "no audio samples"),
    "text named .ogg": ("notes.ogg", content(TEXT), "cannot decode"),
    "truncated MP3 (1 %)": ("cut.mp3", cut(MP3, 0.01), "cannot decode"),
    "scrambled MP3": ("bad.mp3", scrambled(MP3, 3000, 6000), "cannot decode"),
    "empty MP3": ("empty.mp3", content(b""), "cannot decode"),
    "text named .mp3": ("notes.mp3", content(TEXT), "cannot decode"),
    "JPEG named .mp3": ("photo.mp3", content(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000)),
                        "cannot decode"),
    "device as input": ("null.wav", lambda path: path.symlink_to(os.devnull),
                        "not a regular file"),
}

MASTERED_HERE: dict[str, tuple[str, Maker]] = {
    "MP3": ("song.mp3", MP3),
    "truncated MP3 (40 %): what is there": ("cut.mp3", cut(MP3, 0.4)),
    "one-sample MP3": ("one.mp3", writer(lambda: np.full((1, 2), 0.2), format="MP3",
                                         subtype="MPEG_LAYER_III")),
    "AIFF": ("song.aiff", writer(music, format="AIFF", subtype="PCM_24")),
    "one-sample FLAC": ("one.flac", writer(lambda: np.full((1, 2), 0.2))),
    "one-sample mono at 8 kHz": ("one8k.wav", writer(lambda: np.full((1, 1), 0.2), 8000)),
    "mono digital silence": ("quiet.wav", writer(lambda: np.zeros((FS, 1)))),
    "DC alone": ("dc.wav", writer(lambda: np.full((FS, 2), 0.5))),
    "one click in silence": ("click.wav", writer(with_value_at(lambda: np.zeros((FS, 2)), 1.0))),
    "16-bit clipped at full scale": ("clip16.wav", writer(lambda: np.clip(music() * 30, -1, 1),
                                                         subtype="PCM_16")),
    "float at +24 dBFS": ("hot.wav", writer(lambda: music() * 32.0, subtype="FLOAT")),
    "float at −600 dBFS": ("tiny.wav", writer(lambda: music() * 1e-30, subtype="FLOAT")),
    "16-bit WAV with scrambled data": ("noise.wav", scrambled(WAV16, 4000, 9000)),
    **{f"{rate} Hz": (f"r{rate}.wav", writer(lambda rate=rate: music(0.5, rate), rate))
       for rate in (11025, 22050, 32000, 88200, 96000, 176400)},
}

CASES_TRIED = (2 * len(REFUSED) + 2 * len(MASTERED_HERE) + len(MASTERED) + 3 + 1 + 2 * 2
               + 2 * 2 + 1)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def run(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`greymaster argv` → (exit status, stdout, stderr). MP3 inputs run in a subprocess (see
    the module docstring); the rest in this process, file descriptors captured."""
    if any(arg.endswith(".mp3") for arg in argv):
        done = subprocess.run([sys.executable, "-m", "greymaster_app.cli", *argv],
                              capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr
    status = main(argv)
    out, err = capfd.readouterr()
    return status, out, err


def assert_one_line_error(status: int, out: str, err: str, message: str) -> None:
    assert status == 2, (status, err)
    assert err.count("\n") == 1 and err.startswith("greymaster: error: "), err
    assert message in err and "Traceback" not in err, err
    assert out == ""


def assert_sane_master(source: Path, output: Path) -> None:
    """Finite, stereo, as long as the decoded input and at its rate, under the ceiling."""
    decoded, source_rate = sf.read(source, dtype="float32", always_2d=True)
    audio, rate = sf.read(output, dtype="float64", always_2d=True)
    assert rate == source_rate and audio.shape == (decoded.shape[0], 2)
    assert np.isfinite(audio).all()
    assert true_peak_dbtp(audio.T) <= CEILING_DBTP + PEAK_TOLERANCE_DB


def assert_sane_analysis(source: Path, out: str) -> None:
    """The JSON analysis names the file's rate and channels; levels are numbers or null."""
    info = sf.info(source)
    doc = json.loads(out)
    assert doc["sample_rate_hz"] == info.samplerate and doc["channels"] == info.channels
    for name in ("integrated_lufs", "true_peak_dbtp", "sample_peak_dbfs", "lra_lu"):
        assert doc[name] is None or math.isfinite(doc[name]), name


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(input folder, empty output folder)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path / "in", tmp_path / "out"


@pytest.mark.parametrize("case", list(REFUSED))
def test_unusable_files_are_one_line_errors(case, folders, capfd):
    name, make, message = REFUSED[case]
    source = folders[0] / name
    make(source)
    before = digest(source)
    output = folders[1] / "master.wav"
    for argv in (["master", str(source), "-o", str(output), "--no-model"],
                 ["analyze", str(source), "--no-model", "--json"]):
        assert_one_line_error(*run(argv, capfd), message)
    assert list(folders[1].iterdir()) == []
    assert digest(source) == before


@pytest.mark.parametrize("case", list(MASTERED_HERE))
def test_unusual_valid_files_are_mastered_and_analysed(case, folders, capfd):
    name, make = MASTERED_HERE[case]
    source = folders[0] / name
    make(source)
    before = digest(source)
    output = folders[1] / "master.wav"
    status, _, err = run(["master", str(source), "-o", str(output), "--no-model"], capfd)
    assert status in (0, 1) and err == "", err
    assert_sane_master(source, output)
    assert [p.name for p in folders[1].iterdir()] == ["master.wav"]
    status, out, err = run(["analyze", str(source), "--no-model", "--json"], capfd)
    assert status == 0 and err == "", err
    assert_sane_analysis(source, out)
    assert digest(source) == before


@pytest.mark.parametrize("case", list(MASTERED))
def test_the_fault_suites_valid_files_are_analysed(case, folders, capfd):
    name, make = MASTERED[case]
    source = folders[0] / name
    make(source)
    before = digest(source)
    status, out, err = run(["analyze", str(source), "--no-model", "--json"], capfd)
    assert status == 0 and err == "", err
    assert_sane_analysis(source, out)
    assert digest(source) == before


def test_analyze_of_a_missing_path_and_of_a_folder(tmp_path, capfd):
    assert_one_line_error(*run(["analyze", str(tmp_path / "nope.wav"), "--no-model"], capfd),
                          "not found")
    assert_one_line_error(*run(["analyze", str(tmp_path), "--no-model"], capfd), "folder")


def test_analyze_of_an_unreadable_file(tmp_path, capfd):
    locked = tmp_path / "locked.wav"
    writer(music)(locked)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: a file without permissions is still readable")
        assert_one_line_error(*run(["analyze", str(locked), "--no-model"], capfd),
                              "permission denied")
    finally:
        locked.chmod(0o644)


def test_unicode_and_spaces_in_output_and_report_names(folders, capfd):
    source = folders[0] / "mix.wav"
    writer(music)(source)
    output = folders[1] / "Mäster – fïnal 01.wav"
    report = folders[1] / "Rapport d’écoute.json"
    status, out, err = run(["master", str(source), "-o", str(output), "--no-model",
                            "--report", str(report)], capfd)
    assert status in (0, 1) and err == "", err
    assert output.name in out
    assert_sane_master(source, output)
    assert json.loads(report.read_text(encoding="utf-8"))["output"] == str(output)
    assert sorted(p.name for p in folders[1].iterdir()) == sorted([output.name, report.name])


# --- model weights that carry code ---------------------------------------------------------------


class _CreatesFile:
    """Unpickling this calls open(path, "w"): the file appears if any code in the file runs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.path), "w")


def write_weights_with_code(path: Path, marker: Path, container: str) -> None:
    """A weights file whose loading by plain unpickling creates ``marker``, in torch's zip
    container or its legacy (pre-1.6) one."""
    doc = {"format": 1, "config": {}, "payload": _CreatesFile(marker)}
    torch.save(doc, path, _use_new_zipfile_serialization=container == "zip")


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_weights_that_carry_code_are_refused_and_the_code_never_runs(container, folders, capfd):
    probe, probe_marker = folders[0] / "probe.pt", folders[0] / "probe-ran"
    write_weights_with_code(probe, probe_marker, container)
    torch.load(probe, weights_only=False)["payload"].close()
    assert probe_marker.exists(), "the payload must work for this test to mean anything"

    source = folders[0] / "mix.wav"
    writer(music)(source)
    evil, marker = folders[0] / "EVIL.pt", folders[0] / "code-ran"
    write_weights_with_code(evil, marker, container)
    output = folders[1] / "master.wav"
    for argv in (["analyze", str(source), "--weights", str(evil)],
                 ["master", str(source), "-o", str(output), "--weights", str(evil)]):
        assert_one_line_error(*run(argv, capfd), "cannot read model weights")
        assert not marker.exists()
    assert list(folders[1].iterdir()) == []


# --- absurd sample values and pipes (refused) ---------------------------------------------------


def test_float_samples_of_absurd_size_are_refused(folders, capfd):
    source = folders[0] / "absurd.wav"
    writer(lambda: music() * 1e30, subtype="FLOAT")(source)
    peak = float(np.max(np.abs(music() * 1e30)))
    output, report = folders[1] / "master.wav", folders[1] / "report.json"
    for argv in (["master", str(source), "-o", str(output), "--no-model", "--report", str(report)],
                 ["analyze", str(source), "--no-model", "--json"]):
        assert_one_line_error(*run(argv, capfd),
                              f"absurd.wav contains samples of {peak:.3g} times full scale")
    assert list(folders[1].iterdir()) == []


@pytest.mark.parametrize(("peak", "refused"), [(0.99e6, False), (1.01e6, True)])
def test_the_limit_on_sample_size_is_120_dbfs(peak, refused, folders, capfd):
    source = folders[0] / "loud.wav"
    writer(with_value_at(lambda: np.zeros((FS, 2)), peak), subtype="FLOAT")(source)
    output = folders[1] / "master.wav"
    status, out, err = run(["master", str(source), "-o", str(output), "--no-model"], capfd)
    if refused:
        assert_one_line_error(status, out, err, "beyond +120 dBFS")
    else:
        assert status in (0, 1) and err == "", err
        assert_sane_master(source, output)


def test_input_from_a_pipe_is_refused(folders, capfd):
    source = folders[0] / "mix.wav"
    writer(music, subtype="PCM_16")(source)
    read_end, write_end = os.pipe()

    def feed() -> None:
        data = source.read_bytes()
        try:
            while data:
                data = data[os.write(write_end, data):]
        except BrokenPipeError:
            pass
        finally:
            os.close(write_end)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        status, out, err = run(["analyze", f"/dev/fd/{read_end}", "--no-model", "--json"],
                               capfd)
    finally:
        os.close(read_end)
        feeder.join()
    assert_one_line_error(status, out, err, "is not a regular file (a pipe or a device)")


READ_IN_BLOCKS = """
import os, sys
from model import audio_io
rate, channels, blocks = audio_io.open_blocks(sys.argv[1], 4096)
frames = 0
for block in blocks:
    frames += block.shape[1]
    os.write(2, b"between blocks\\n")
print(frames)
"""


def test_blocks_of_a_damaged_mp3_are_what_load_reads_and_only_the_decoder_is_silenced(tmp_path):
    """Damage 20 kB into a 3 s MP3 makes the decoder write notes while it reads and then end
    early: ``open_blocks`` reads what ``load`` reads, its decoder's notes are hidden, and what
    the caller writes to stderr between blocks is not."""
    source = tmp_path / "resync.mp3"
    scrambled(writer(lambda: music(3.0), format="MP3", subtype="MPEG_LAYER_III"),
              20000, 20400)(source)
    done = subprocess.run([sys.executable, "-c", READ_IN_BLOCKS, str(source)],
                          capture_output=True, text=True, check=True,
                          cwd=Path(__file__).parents[1])
    decoded = subprocess.run(
        [sys.executable, "-c", "import sys, soundfile\n"
         "print(soundfile.read(sys.argv[1], always_2d=True)[0].shape[0])", str(source)],
        capture_output=True, text=True, check=True)
    assert "Illegal Audio-MPEG-Header" in decoded.stderr, "the damage must make notes"
    frames = int(done.stdout)
    assert frames == int(decoded.stdout) < 3 * FS
    assert done.stderr == "between blocks\n" * math.ceil(frames / 4096)


def test_the_docstring_states_the_number_of_cases():
    assert f"{CASES_TRIED} in all" in __doc__
