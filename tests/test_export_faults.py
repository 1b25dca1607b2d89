"""Export faults (issue 6): a cancel in every phase, a disk that fills up part-way, a read-only
folder, the input as the output, the report of a silent input.

In every case the job ends in one ``ExportError`` / ``ExportCancelled`` line (exit status 2 from
the CLI), no partial or temporary file is left in the output folder, a master that was already
at the output path keeps its content, and the input is unchanged.

The full-disk and read-only cases mount small tmpfs file systems (real ENOSPC and EROFS); where
mounting is not allowed (not root) they are skipped, and a simulated full disk still runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from greymaster_app.cli import main
from model import audio_io, mastering
from model.errors import ExportCancelled, ExportError
from model.params import ChainParams
from tests.signals import music_like

FS = 44100
SECONDS = 5.0
SPOOL_BYTES = int(SECONDS * FS) * 2 * 4
"""The pre-limiter temporary file of a master: stereo float32."""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "in" / "mix.wav"
    path.parent.mkdir()
    sf.write(path, (music_like(SECONDS, FS, seed=9) * 0.3).T, FS, subtype="PCM_24")
    return path


def _old_master(folder: Path) -> tuple[Path, str]:
    """A master already at the output path (a short one, to leave room on a small disk)."""
    path = folder / "master.wav"
    sf.write(path, (music_like(0.2, FS, seed=1) * 0.1).T, FS, subtype="PCM_24")
    return path, _digest(path)


def _assert_untouched(folder: Path, old: Path, old_digest: str, source: Path,
                      source_digest: str) -> None:
    assert [p.name for p in folder.iterdir()] == [old.name]
    assert _digest(old) == old_digest
    assert _digest(source) == source_digest


@contextlib.contextmanager
def _tmpfs(path: Path, size_bytes: int, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` mounted at ``path`` (skips the test where that is not
    allowed)."""
    path.mkdir()
    options = f"size={size_bytes}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def _propose(audio: np.ndarray, rate: int) -> ChainParams:
    return ChainParams()


@pytest.mark.parametrize("phase", mastering.PHASES)
def test_a_cancel_in_any_phase_leaves_nothing(source, tmp_path, phase):
    folder = tmp_path / "out"
    folder.mkdir()
    old, old_digest = _old_master(folder)
    source_digest = _digest(source)
    cancel = threading.Event()
    after_cancel: list[str] = []

    def progress(current: str, fraction: float) -> None:
        if cancel.is_set():
            after_cancel.append(current)
        if current == phase:
            cancel.set()

    with pytest.raises(ExportCancelled, match=r"^export cancelled; nothing was written$"):
        mastering.master_file(source, old, _propose, -14.0, -1.0, progress=progress,
                              cancel=cancel)
    assert cancel.is_set() and after_cancel == []
    _assert_untouched(folder, old, old_digest, source, source_digest)


@pytest.mark.parametrize("job", ["master", "render"])
def test_a_cancel_at_half_way_leaves_nothing(source, tmp_path, job):
    folder = tmp_path / "out"
    folder.mkdir()
    old, old_digest = _old_master(folder)
    source_digest = _digest(source)
    cancel = threading.Event()
    seen: list[float] = []

    def progress(phase: str, fraction: float) -> None:
        seen.append(fraction)
        if fraction >= 0.5:
            cancel.set()

    with pytest.raises(ExportCancelled):
        if job == "master":
            mastering.master_file(source, old, ChainParams(), -14.0, -1.0, "wav16",
                                  progress=progress, cancel=cancel)
        else:
            mastering.render_file(source, old, ChainParams(), "wav16", 48000,
                                  progress=progress, cancel=cancel)
    assert 0.5 <= seen[-1] < 1.0
    _assert_untouched(folder, old, old_digest, source, source_digest)


@pytest.mark.parametrize(("disk_bytes", "proposing", "failing_phase"), [
    (SPOOL_BYTES * 3 // 4, False, "render"),
    (SPOOL_BYTES * 3 // 2, False, "export"),
    (SPOOL_BYTES * 7 // 4, True, "render"),
])
def test_a_disk_that_fills_up_part_way_leaves_nothing(source, tmp_path, disk_bytes, proposing,
                                                      failing_phase):
    source_digest = _digest(source)
    with _tmpfs(tmp_path / "small", disk_bytes) as folder:
        old, old_digest = _old_master(folder)
        phases: list[str] = []
        with pytest.raises(ExportError, match="No space left on device"):
            mastering.master_file(source, old, _propose if proposing else ChainParams(), -14.0,
                                  -1.0, progress=lambda phase, _: phases.append(phase))
        assert phases[-1] == failing_phase and phases.count(failing_phase) > 1
        _assert_untouched(folder, old, old_digest, source, source_digest)


def test_the_cli_reports_a_full_disk_in_one_line_with_status_2(source, tmp_path, capsys):
    source_digest = _digest(source)
    with _tmpfs(tmp_path / "small", SPOOL_BYTES * 3 // 2) as folder:
        old, old_digest = _old_master(folder)
        assert main(["master", str(source), "-o", str(old), "--no-model"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "No space left on device" in err, err
        assert "Traceback" not in err
        _assert_untouched(folder, old, old_digest, source, source_digest)


def test_a_simulated_full_disk_in_the_writer_leaves_nothing(source, tmp_path, monkeypatch):
    """libsndfile reports a full disk as "System error."; the free space tells it apart."""
    folder = tmp_path / "out"
    folder.mkdir()
    old, old_digest = _old_master(folder)
    source_digest = _digest(source)
    real_write = audio_io.sf.SoundFile.write
    written = []

    def write_then_fill(handle, data):
        if len(written) == 2:
            monkeypatch.setattr(audio_io.shutil, "disk_usage",
                                lambda _: audio_io.shutil._ntuple_diskusage(10**9, 10**9, 0))
            raise audio_io.sf.LibsndfileError(2)
        written.append(len(data))
        return real_write(handle, data)

    monkeypatch.setattr(audio_io.sf.SoundFile, "write", write_then_fill)
    with pytest.raises(ExportError, match="No space left on device"):
        mastering.master_file(source, old, ChainParams(), -14.0, -1.0)
    assert len(written) == 2
    _assert_untouched(folder, old, old_digest, source, source_digest)


def test_a_read_only_folder_is_refused_before_any_work(source, tmp_path, capsys):
    source_digest = _digest(source)
    with _tmpfs(tmp_path / "locked", 1 << 20, read_only=True) as folder:
        assert main(["master", str(source), "-o", str(folder / "m.wav"), "--no-model"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not writable" in err, err
        assert list(folder.iterdir()) == []
    assert _digest(source) == source_digest


def test_the_input_is_never_the_output(source, tmp_path):
    source_digest = _digest(source)
    link = tmp_path / "link.wav"
    link.symlink_to(source)
    for output in (source, link, source.parent / "." / source.name):
        with pytest.raises(ExportError, match="refusing to overwrite the input"):
            mastering.master_file(source, output, ChainParams(), -14.0, -1.0)
    assert _digest(source) == source_digest
    assert sorted(p.name for p in source.parent.iterdir()) == [source.name]


def test_the_cli_masters_a_silent_input_with_a_report_of_nulls(tmp_path, capsys):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((FS, 2)), FS, subtype="PCM_16")
    output, report = tmp_path / "s.wav", tmp_path / "s.json"
    status = main(["master", str(silent), "-o", str(output), "--no-model", "--report",
                   str(report)])
    captured = capsys.readouterr()
    assert status == 1 and captured.err == "", captured.err
    assert "the input is silent" in captured.out
    doc = json.loads(report.read_text(), parse_constant=lambda name: pytest.fail(name))
    assert doc["output"] == str(output) and doc["targeting"]["achieved_lufs"] is None
    assert np.max(np.abs(sf.read(output)[0])) <= 2.0**-23, "silence with 24-bit TPDF dither"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.wav", "silent.wav"]
