"""The app's main window, headless (pytest-qt, offscreen): load, knobs, undo, A/B, export, errors.

Oracles: the proposal is recomputed with the model directly, the preview with the chain and the
loudness search directly, the exported file is measured with pyloudnorm and the true-peak meter.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

from greymaster_app.analysis import Analyser, preview
from greymaster_app.gui.export_dialog import ExportDialog
from greymaster_app.gui.main_window import MainWindow
from greymaster_app.session import Session
from model import audio_io
from model.dsp import truepeak
from model.params import STAGES
from tests.signals import music_like

RATE_HZ = 44100
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    return Analyser()


@pytest.fixture(scope="module")
def mix(tmp_path_factory) -> Path:
    """Eight seconds of a quiet, music-like stereo mix."""
    path = tmp_path_factory.mktemp("mix") / "my mix ü.wav"
    audio = music_like(8.0, RATE_HZ)
    audio *= 10 ** (-24.0 / 20) / np.sqrt(np.mean(audio**2))
    sf.write(path, audio.T, RATE_HZ, subtype="PCM_24")
    return path


@pytest.fixture()
def window(qtbot, tmp_path, analyser) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, autosave_folder=tmp_path / "autosave", analyser=analyser)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def _open(qtbot, window: MainWindow, path: Path) -> None:
    window.open_file(path)
    qtbot.waitUntil(lambda: not window.busy() and window.track is not None
                    and window.track.path == Path(path).resolve(), timeout=TIMEOUT_MS)


def _settle(qtbot, window: MainWindow) -> None:
    """Wait until the debounced preview has run for the current parameters."""
    qtbot.waitUntil(lambda: not window._preview_timer.isActive() and not window.busy(),
                    timeout=TIMEOUT_MS)


def _drag(qtbot, widget, dy_px: int) -> None:
    centre = widget.rect().center()
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=centre)
    for step in range(1, 6):
        qtbot.mouseMove(widget, QPoint(centre.x(), centre.y() - dy_px * step // 5))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton,
                       pos=QPoint(centre.x(), centre.y() - dy_px))


def test_loading_shows_the_models_proposal_on_every_knob(qtbot, window, mix, analyser):
    _open(qtbot, window, mix)
    expected = analyser.propose(audio_io.load(mix), -14.0)
    for stage in STAGES:
        for knob in window.stages.panel(stage).knobs():
            row_stage, name = knob.key.split(".")
            want = expected.values[row_stage][name]
            if knob.key == "limiter.ceiling_dbtp":
                want = -1.0
            assert knob.value() == pytest.approx(want, rel=1e-6, abs=1e-9), knob.key
            assert not knob.is_overridden(), knob.key
    assert window.error_text() == ""
    assert "my mix ü.wav" in window.windowTitle()


def test_dragging_a_knob_changes_the_engine_and_the_rendered_master(qtbot, window, mix):
    _open(qtbot, window, mix)
    before = window.preview_result.master.copy()
    window.stages.setCurrentIndex(STAGES.index("compressor"))
    knob = window.stages.panel("compressor").knob("compressor.threshold_db")
    proposed = knob.value()
    _drag(qtbot, knob, -60)
    assert knob.value() < proposed and knob.is_overridden()
    params = window.session.params
    assert params.values["compressor"]["threshold_db"] == pytest.approx(knob.value())
    assert window.session.undo_text.startswith("Undo") or window.session.can_undo
    _settle(qtbot, window)
    oracle = preview(window.track, params, -14.0, -1.0)
    np.testing.assert_allclose(window.preview_result.master, oracle.master, atol=1e-6)
    assert np.max(np.abs(window.preview_result.master - before)) > 1e-3
    assert window.player.latency_samples >= 0


def test_double_click_restores_the_proposal(qtbot, window, mix):
    _open(qtbot, window, mix)
    knob = window.stages.panel("stereo").knob("stereo.width")
    proposed = knob.value()
    window.stages.setCurrentIndex(STAGES.index("stereo"))
    _drag(qtbot, knob, 80)
    assert knob.value() != pytest.approx(proposed)
    qtbot.mouseDClick(knob, Qt.MouseButton.LeftButton, pos=knob.rect().center())
    assert knob.value() == pytest.approx(proposed)
    assert not window.session.is_overridden("stereo.width")


def test_bypass_switches_a_stage_off_in_the_engine(qtbot, window, mix):
    _open(qtbot, window, mix)
    panel = window.stages.panel("saturation")
    window.stages.setCurrentIndex(STAGES.index("saturation"))
    qtbot.mouseClick(panel.bypass_button, Qt.MouseButton.LeftButton)
    assert window.session.params.enabled["saturation"] is False
    assert "(off)" in window.stages.tabText(STAGES.index("saturation"))
    _settle(qtbot, window)
    oracle = preview(window.track, window.session.params, -14.0, -1.0)
    np.testing.assert_allclose(window.preview_result.master, oracle.master, atol=1e-6)


def test_undo_and_redo_from_the_keyboard(qtbot, window, mix):
    _open(qtbot, window, mix)
    window.stages.setCurrentIndex(STAGES.index("compressor"))
    knob = window.stages.panel("compressor").knob("compressor.ratio")
    proposed = knob.value()
    _drag(qtbot, knob, 50)
    changed = knob.value()
    assert changed > proposed and window.session.modified
    assert window.isWindowModified()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert knob.value() == pytest.approx(proposed)
    assert not window.session.is_overridden("compressor.ratio")
    qtbot.keyClick(window, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert knob.value() == pytest.approx(changed)


def test_a_b_switches_what_the_player_plays(qtbot, window, mix):
    _open(qtbot, window, mix)
    ab_button = window.transport._ab
    assert window.player.listening_to_master and ab_button.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert not window.player.listening_to_master and not ab_button.isChecked()
    qtbot.mouseClick(ab_button, Qt.MouseButton.LeftButton)
    assert window.player.listening_to_master and ab_button.isChecked()


def test_re_propose_keeps_the_engineers_changes_locked(qtbot, window, mix, analyser):
    _open(qtbot, window, mix)
    window.session.set_value("compressor.ratio", 4.0)
    window.repropose()
    qtbot.waitUntil(lambda: not window.busy(), timeout=TIMEOUT_MS)
    expected = analyser.propose(window.track, -14.0, locks={"compressor.ratio": 4.0})
    params = window.session.params
    assert params.values["compressor"]["ratio"] == 4.0
    assert params.values["eq"] == pytest.approx(expected.values["eq"])


def test_a_new_target_lands_the_preview_on_it(qtbot, window, mix):
    _open(qtbot, window, mix)
    window.target_controls.set_target(-9.0, -1.0)
    window.target_controls.targetChosen.emit(-9.0, -1.0)
    assert window.session.target_lufs == -9.0
    _settle(qtbot, window)
    assert window.preview_result.targeting.achieved_lufs == pytest.approx(-9.0, abs=0.1)


def test_export_from_the_window_keeps_its_promise(qtbot, window, mix, tmp_path, monkeypatch):
    _open(qtbot, window, mix)
    window.session.set_value("eq.peak2_gain_db", 3.0)
    out = tmp_path / "master.wav"
    dialogs = []

    def run(dialog: ExportDialog) -> int:
        dialogs.append(dialog)
        dialog.output_edit.setText(str(out))
        dialog.start_export()
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT_MS)
        return 0

    monkeypatch.setattr(ExportDialog, "exec", run)
    window.export_action.trigger()
    assert dialogs and dialogs[0].error_text() == ""
    assert dialogs[0].params == window.session.params
    audio, rate = sf.read(out, always_2d=True)
    assert rate == RATE_HZ
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-14.0, abs=0.1)
    assert truepeak.true_peak_dbtp(audio.T.astype(np.float32)) <= -1.0 + 1e-3
    assert out.with_name(out.name + ".json").is_file()


def test_a_bad_file_shows_an_error_and_keeps_the_session(qtbot, window, mix, tmp_path):
    _open(qtbot, window, mix)
    window.session.set_value("stereo.width", 1.3)
    params = window.session.params
    bad = tmp_path / "not audio.wav"
    bad.write_text("this is a text file, not a WAV")
    digest = hashlib.sha256(bad.read_bytes()).hexdigest()
    window.open_file(bad)
    qtbot.waitUntil(lambda: window.error_text() != "", timeout=TIMEOUT_MS)
    assert "not audio.wav" in window.error_text()
    assert window.track.path == mix.resolve()
    assert window.session.params == params
    assert hashlib.sha256(bad.read_bytes()).hexdigest() == digest


def test_a_session_saves_and_reopens_with_its_overrides(qtbot, window, mix, tmp_path):
    _open(qtbot, window, mix)
    window.session.set_value("limiter.release_ms", 55.0)
    window.session.set_enabled("stereo", False)
    path = tmp_path / "song.gmsession"
    window.save_session_to(path)
    assert not window.session.modified
    window.open_file(mix)
    qtbot.waitUntil(lambda: not window.busy(), timeout=TIMEOUT_MS)
    assert not window.session.is_overridden("limiter.release_ms")
    window.open_session(path)
    qtbot.waitUntil(lambda: not window.busy() and window.session.path == path,
                    timeout=TIMEOUT_MS)
    assert window.session.params.values["limiter"]["release_ms"] == 55.0
    assert window.session.params.enabled["stereo"] is False
    assert window.stages.panel("limiter").knob("limiter.release_ms").value() == 55.0


def test_the_autosave_brings_back_the_overrides_after_a_crash(qtbot, window, mix, tmp_path):
    _open(qtbot, window, mix)
    window.session.set_value("saturation.drive_db", 9.0)
    qtbot.waitUntil(lambda: Session.find_autosave(tmp_path / "autosave") is not None,
                    timeout=TIMEOUT_MS)
    recovered = Session.recover(Session.find_autosave(tmp_path / "autosave"))
    assert recovered.params.values["saturation"]["drive_db"] == 9.0
    assert recovered.modified


def test_without_a_device_play_says_why_and_the_session_goes_on(qtbot, window, mix):
    _open(qtbot, window, mix)
    window._device_chosen("no such interface")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.player.message and window.transport.notice() == window.player.message
    assert "no such interface" in window.player.message or "device" in window.player.message
    window.session.set_value("stereo.width", 1.2)
    assert window.stages.panel("stereo").knob("stereo.width").value() == 1.2


def test_space_plays_and_pauses_on_a_device(qtbot, window, mix, audio_device):
    _open(qtbot, window, mix)
    window._device_chosen(audio_device)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.player.position_s > 0.3, timeout=10_000)
    qtbot.waitUntil(lambda: window.last_meters is not None, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.player.state.value == "paused", timeout=5_000)


def test_drop_a_file_and_find_it_in_recent_files(qtbot, window, mix):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(mix))])
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.track is not None and not window.busy(), timeout=TIMEOUT_MS)
    assert window.track.path == mix.resolve()
    recent = [action.text() for action in window.recent_menu.actions()]
    assert recent == [str(mix.resolve())]


def test_a_preset_loads_onto_the_knobs_as_one_undo_step(qtbot, window, mix, tmp_path):
    _open(qtbot, window, mix)
    preset = window.session.params.replace("compressor.ratio", 6.0).replace(
        "eq.high_shelf_gain_db", -2.5)
    path = tmp_path / "preset.json"
    path.write_text(json.dumps(preset.to_json()))
    window.session.load_preset(path)
    assert window.stages.panel("compressor").knob("compressor.ratio").value() == 6.0
    assert window.stages.panel("eq").knob("eq.high_shelf_gain_db").is_overridden()
    window.session_undo()
    assert not window.session.is_overridden("compressor.ratio")


def test_a_reference_shapes_the_proposal_and_is_kept_in_the_session(qtbot, window, mix,
                                                                     analyser, tmp_path):
    reference_path = tmp_path / "reference.wav"
    loud = music_like(6.0, RATE_HZ, seed=3)
    sf.write(reference_path, (loud / np.max(np.abs(loud)) * 0.9).T, RATE_HZ)
    _open(qtbot, window, mix)
    window.set_reference(reference_path)
    qtbot.waitUntil(lambda: not window.busy(), timeout=TIMEOUT_MS)
    expected = analyser.propose(window.track, -14.0, audio_io.load(reference_path))
    assert window.session.proposal.values["compressor"] == pytest.approx(
        expected.values["compressor"])
    assert window.session.reference_path == reference_path.resolve()
    assert "reference.wav" in window.reference_label.text()
    path = tmp_path / "with reference.gmsession"
    window.save_session_to(path)
    assert Session.open(path).reference_path == reference_path.resolve()
