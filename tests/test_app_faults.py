"""The app under abuse (issue 6): a minute of frantic knob moves while playing, the output device
vanishing, a failed export, and a crash with unsaved changes (recovered from the autosave).

Each test plays through a real PortAudio stream on the tests' virtual sound card.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QSettings

from greymaster_app.gui import app as gui_app
from greymaster_app.gui.export_dialog import ExportDialog
from greymaster_app.gui.main_window import MainWindow
from greymaster_app.playback.player import PlayState
from model.params import spec
from tests.signals import music_like

RATE_HZ = 44100
TIMEOUT_MS = 120_000
FRANTIC_S = 60.0
KNOBS = ("eq.peak2_gain_db", "compressor.threshold_db", "compressor.ratio",
         "saturation.drive_db", "stereo.width", "limiter.release_ms")


@pytest.fixture(scope="module")
def mix(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "mix.wav"
    sf.write(path, music_like(20.0, RATE_HZ).T, RATE_HZ, subtype="PCM_16")
    return path


def _window(qtbot, folder: Path) -> MainWindow:
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, autosave_folder=folder / "autosave")
    qtbot.addWidget(window)
    window.show()
    return window


def _open(qtbot, window: MainWindow, path: Path) -> None:
    window.open_file(path)
    qtbot.waitUntil(lambda: window.track is not None and not window.busy(), timeout=TIMEOUT_MS)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_minute_of_frantic_knob_moves_while_playing(qtbot, tmp_path, mix, audio_device):
    window = _window(qtbot, tmp_path)
    _open(qtbot, window, mix)
    window._device_chosen(audio_device)
    window.player.set_loop(0.0, 20.0)
    window.toggle_play()
    assert window.player.state == PlayState.PLAYING, window.player.message
    rng = np.random.default_rng(7)
    start = time.monotonic()
    rss_after_warm_up = None
    moves = 0
    while (elapsed := time.monotonic() - start) < FRANTIC_S:
        key = KNOBS[moves % len(KNOBS)]
        row = spec(key)
        value = float(row.from_unit(rng.uniform()))
        window._knob_edited(key, value, final=moves % 20 == 19)
        moves += 1
        qtbot.wait(5)
        if rss_after_warm_up is None and elapsed > 10.0:
            rss_after_warm_up = _rss_bytes()
    growth_mb = (_rss_bytes() - rss_after_warm_up) / 2**20
    stats = window.player.stats
    print(f"frantic: {moves} moves, ring underruns {stats.underruns} of {stats.calls} blocks, "
          f"device underflows {stats.device_underflows}, memory {growth_mb:+.1f} MB")
    assert window.player.state == PlayState.PLAYING, window.player.message
    assert window.error_text() == ""
    assert moves > 10 * FRANTIC_S
    assert growth_mb < 40.0, f"memory grew {growth_mb:.0f} MB in the last 50 s"
    delivered_s = stats.frames_delivered / window.player.sample_rate_hz
    assert delivered_s > 0.95 * FRANTIC_S, f"only {delivered_s:.1f} s of audio in {FRANTIC_S} s"
    assert stats.underruns <= 0.02 * stats.calls, f"{stats.underruns} of {stats.calls} blocks"
    window.close()


VANISHING_DEVICE_APP = textwrap.dedent("""
    import sys, time
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from greymaster_app.gui.main_window import MainWindow
    from greymaster_app.playback import devices
    from tests.virtual_audio import VirtualAudio

    folder, mix = sys.argv[1], sys.argv[2]
    app = QApplication([])

    def wait(condition, seconds):
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)

    with VirtualAudio() as audio:
        devices.refresh()
        window = MainWindow(QSettings(folder + "/s.ini", QSettings.Format.IniFormat))
        window.show()
        window.open_file(mix)
        wait(lambda: window.track is not None and not window.busy(), 120)
        window._device_chosen(audio.device_name)
        window.toggle_play()
        print("playing:", window.player.state.value)
        wait(lambda: False, 0.3)
        audio.stop()
        wait(lambda: "stopped responding" in window.transport.notice(), 10)
        print("state:", window.player.state.value)
        print("notice:", window.transport.notice())
        print("play button:", window.transport._play.isChecked())
        window.close()
""")


def test_the_device_vanishing_pauses_with_a_message_in_the_window(tmp_path, mix):
    """In its own process: PortAudio keeps traces of a vanished server that would disturb the
    stream timings of the tests after it."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([sys.executable, "-c", VANISHING_DEVICE_APP, str(tmp_path), str(mix)],
                         env=env, cwd=Path(__file__).parents[1], timeout=300,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    assert lines["playing"] == "playing"
    assert lines["state"] == "paused"
    assert "stopped responding" in lines["notice"]
    assert lines["play button"] == "False"


def test_a_failed_export_leaves_the_session_and_the_folder_as_they_were(qtbot, tmp_path, mix,
                                                                        monkeypatch):
    window = _window(qtbot, tmp_path)
    _open(qtbot, window, mix)
    window.session.set_value("stereo.width", 1.25)
    params, undo_text = window.session.params, window.session.undo_text
    missing = tmp_path / "no such folder" / "master.wav"
    errors = []

    def run(dialog: ExportDialog) -> int:
        dialog.output_edit.setText(str(missing))
        dialog.start_export()
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT_MS)
        errors.append(dialog.error_text())
        return 0

    monkeypatch.setattr(ExportDialog, "exec", run)
    window.export_action.trigger()
    assert errors and "no such folder" in errors[0]
    assert not missing.parent.exists()
    assert window.session.params == params and window.session.undo_text == undo_text
    window.close()


CRASHING_APP = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from greymaster_app.gui.main_window import MainWindow
    from greymaster_app.session import Session

    folder, mix = Path(sys.argv[1]), sys.argv[2]
    app = QApplication([])
    window = MainWindow(QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat),
                        autosave_folder=folder / "autosave")
    window.show()
    window.open_file(mix)
    deadline = time.monotonic() + 120
    while (window.track is None or window.busy()) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    window.session.set_value("saturation.drive_db", 9.5)
    window.session.set_enabled("stereo", False)
    while Session.find_autosave(folder / "autosave") is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_after_a_crash_the_next_launch_recovers_the_overrides(qtbot, tmp_path, mix):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    crashed = subprocess.run([sys.executable, "-c", CRASHING_APP, str(tmp_path), str(mix)],
                             env=env, cwd=Path(__file__).parents[1], timeout=300,
                             capture_output=True, text=True)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    window = _window(qtbot, tmp_path)
    gui_app._recover(window, tmp_path / "autosave", file_given=False)
    qtbot.waitUntil(lambda: window.track is not None and not window.busy(), timeout=TIMEOUT_MS)
    assert window.session.params.values["saturation"]["drive_db"] == 9.5
    assert window.session.params.enabled["stereo"] is False
    assert window.session.modified and window.session.path is None
    assert "Recovered" in window.notice_label.text()
    window.close()
