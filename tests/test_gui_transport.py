"""TransportBar: one signal per user action with the right value; setters emit nothing."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QToolButton

from greymaster_app.gui.transport import TransportBar, format_time

DEVICES = [(3, "pulse (ALSA)"), (7, "USB Audio (ALSA)")]


@pytest.fixture
def bar(qtbot):
    widget = TransportBar()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _button(bar, text):
    for button in bar.findChildren(QToolButton) + bar.findChildren(QPushButton):
        if button.text() == text:
            return button
    raise AssertionError(f"no button labelled {text!r}")


def _all_signals(bar):
    return [bar.playToggled, bar.stopRequested, bar.abToggled, bar.levelMatchToggled,
            bar.deviceChosen]


def test_play_button_toggles_play_and_pause(qtbot, bar):
    with qtbot.waitSignal(bar.playToggled) as blocker:
        qtbot.mouseClick(_button(bar, "▶"), Qt.MouseButton.LeftButton)
    assert blocker.args == [True]
    with qtbot.waitSignal(bar.playToggled) as blocker:
        qtbot.mouseClick(_button(bar, "❚❚"), Qt.MouseButton.LeftButton)
    assert blocker.args == [False]
    _button(bar, "▶")


def test_stop_button(qtbot, bar):
    with qtbot.waitSignal(bar.stopRequested) as blocker:
        qtbot.mouseClick(_button(bar, "■"), Qt.MouseButton.LeftButton)
    assert blocker.args == []


def test_ab_button_switches_between_original_and_master(qtbot, bar):
    with qtbot.waitSignal(bar.abToggled) as blocker:
        qtbot.mouseClick(_button(bar, "A: original"), Qt.MouseButton.LeftButton)
    assert blocker.args == [True]
    with qtbot.waitSignal(bar.abToggled) as blocker:
        qtbot.mouseClick(_button(bar, "B: master"), Qt.MouseButton.LeftButton)
    assert blocker.args == [False]


def test_level_match_button(qtbot, bar):
    button = _button(bar, "Level match")
    with qtbot.waitSignal(bar.levelMatchToggled) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert blocker.args == [True]
    assert button.isChecked()


def test_device_choice_emits_index_or_none(qtbot, bar):
    bar.set_devices(DEVICES, None)
    combo = bar.findChild(QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "System default output", "pulse (ALSA)", "USB Audio (ALSA)"]
    assert combo.currentIndex() == 0
    with qtbot.waitSignal(bar.deviceChosen) as blocker:
        combo.activated.emit(2)  # what QComboBox emits when the user picks row 2
    assert blocker.args == [7]
    with qtbot.waitSignal(bar.deviceChosen) as blocker:
        combo.activated.emit(0)
    assert blocker.args == [None]


def test_set_devices_selects_current_and_falls_back_to_default(bar):
    combo = bar.findChild(QComboBox)
    bar.set_devices(DEVICES, 7)
    assert combo.currentText() == "USB Audio (ALSA)"
    bar.set_devices(DEVICES, 42)
    assert combo.currentText() == "System default output"


def test_setters_emit_nothing_and_show_the_state(qtbot, bar):
    with qtbot.assertNotEmitted(bar.playToggled), qtbot.assertNotEmitted(bar.abToggled), \
            qtbot.assertNotEmitted(bar.levelMatchToggled), \
            qtbot.assertNotEmitted(bar.deviceChosen), qtbot.assertNotEmitted(bar.stopRequested):
        bar.set_playing(True)
        bar.set_listening_to_master(True)
        bar.set_level_match(True)
        bar.set_devices(DEVICES, 3)
        bar.set_position(83.44, 296.0)
        bar.set_enabled(True)
    assert _button(bar, "❚❚").isChecked()
    assert _button(bar, "B: master").isChecked()
    assert _button(bar, "Level match").isChecked()
    assert bar.findChild(QComboBox).currentText() == "pulse (ALSA)"
    assert any(label.text() == "1:23.4 / 4:56.0" for label in bar.findChildren(QLabel))


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0:00.0"), (83.44, "1:23.4"), (59.96, "1:00.0"), (296.0, "4:56.0"),
    (3725.25, "62:05.2"), (-1.0, "0:00.0"), (float("nan"), "0:00.0")])
def test_format_time(seconds, text):
    assert format_time(seconds) == text


def test_notice_shows_and_hides(bar):
    text = "No output device: playback is off; export still works"
    bar.show_notice(text)
    notices = [label for label in bar.findChildren(QLabel) if label.text() == text]
    assert len(notices) == 1 and notices[0].isVisible()
    bar.show_notice("")
    assert not notices[0].isVisible()


def test_disabled_without_a_track_but_device_choice_stays(bar):
    bar.set_position(10.0, 20.0)
    bar.set_enabled(False)
    for text in ("▶", "■", "A: original", "Level match"):
        assert not _button(bar, text).isEnabled()
    assert bar.findChild(QComboBox).isEnabled()
    assert not any(label.text() == "0:10.0 / 0:20.0" for label in bar.findChildren(QLabel))
    bar.set_enabled(True)
    assert _button(bar, "▶").isEnabled()
