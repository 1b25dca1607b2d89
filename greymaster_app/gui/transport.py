"""The transport bar: play/pause, stop, A/B, level match, output device, position and a notice.

The bar only shows what it is told and reports what the user does: the ``set_…`` methods never
emit a signal, and each signal fires once per user action.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from greymaster_app.gui.theme import COLORS, number_font

PLAY_TEXT = "▶"
PAUSE_TEXT = "❚❚"
STOP_TEXT = "■"
ORIGINAL_TEXT = "A: original"
MASTER_TEXT = "B: master"
SYSTEM_DEFAULT_TEXT = "System default output"
NO_POSITION_TEXT = "–:––.– / –:––.–"


def format_time(seconds: float) -> str:
    """A time as minutes:seconds with tenths, e.g. 83.44 → ``1:23.4`` (negative or NaN → 0).

    Rounding happens on the tenths first, so 59.96 s reads ``1:00.0``, never ``0:60.0``.
    """
    tenths = round(seconds * 10.0) if math.isfinite(seconds) and seconds > 0.0 else 0
    minutes, tenths_in_minute = divmod(tenths, 600)
    whole_seconds, tenth = divmod(tenths_in_minute, 10)
    return f"{minutes}:{whole_seconds:02d}.{tenth}"


class TransportBar(QWidget):
    """Playback controls in one row.

    Signals:
        playToggled(bool play): the play/pause button was pressed; True = play.
        stopRequested(): the stop button was pressed.
        abToggled(bool listening_to_master): the A/B button was pressed; True = B (master).
        levelMatchToggled(bool on): the level-match button was pressed.
        deviceChosen(object device): an output was picked: its PortAudio index, or None for the
            system default.
    """

    playToggled = Signal(bool)
    stopRequested = Signal()
    abToggled = Signal(bool)
    levelMatchToggled = Signal(bool)
    deviceChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._play = QToolButton(checkable=True, toolTip="Play / pause")
        self._stop = QToolButton(text=STOP_TEXT, toolTip="Stop and return to the start")
        for button in (self._play, self._stop):
            button.setFixedWidth(34)
        self._position = QLabel(NO_POSITION_TEXT, toolTip="Position / duration")
        self._position.setFont(number_font())
        self._position.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._position.setMinimumWidth(self._position.fontMetrics().horizontalAdvance(
            "00:00.0 / 00:00.0") + 8)
        self._ab = QPushButton(checkable=True, toolTip=(
            "Listen to the original (A) or the master (B)"))
        self._ab.setMinimumWidth(self._ab.fontMetrics().horizontalAdvance(ORIGINAL_TEXT) + 28)
        self._level_match = QPushButton("Level match", checkable=True, toolTip=(
            "Play the original as loud as the master, so A/B compares sound, not loudness"))
        self._device = QComboBox(toolTip="Audio output device")
        self._device.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._device.setMinimumContentsLength(16)
        self._notice = QLabel()
        self._notice.setStyleSheet(f"color: {COLORS['meter_hot']};")
        self._notice.hide()

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        for widget in (self._play, self._stop, self._position):
            layout.addWidget(widget)
        layout.addSpacing(12)
        layout.addWidget(self._ab)
        layout.addWidget(self._level_match)
        layout.addSpacing(12)
        layout.addWidget(self._notice)
        layout.addStretch(1)
        layout.addWidget(self._device)

        self._play.toggled.connect(self._show_play_state)
        self._ab.toggled.connect(self._show_ab_state)
        self._play.clicked.connect(self.playToggled)
        self._stop.clicked.connect(lambda: self.stopRequested.emit())
        self._ab.clicked.connect(self.abToggled)
        self._level_match.clicked.connect(self.levelMatchToggled)
        self._device.activated.connect(self._on_device_activated)
        self._show_play_state(False)
        self._show_ab_state(False)
        self.set_devices([], None)

    def set_devices(self, devices: list[tuple[int, str]], current: int | None) -> None:
        """List the outputs to choose from (after "System default output") and select one.

        Args:
            devices: (PortAudio index, label) of each output device.
            current: index of the selected device; None (or an index not listed) selects the
                system default.
        """
        self._device.clear()
        self._device.addItem(SYSTEM_DEFAULT_TEXT, None)
        for index, label in devices:
            self._device.addItem(label, index)
        self._device.setCurrentIndex(max(0, self._device.findData(current)))

    def set_playing(self, playing: bool) -> None:
        """Show the play button as playing (❚❚ to pause) or paused (▶ to play)."""
        self._play.setChecked(playing)

    def set_listening_to_master(self, listening_to_master: bool) -> None:
        """Show B (master) when True, A (original) when False."""
        self._ab.setChecked(listening_to_master)

    def set_level_match(self, on: bool) -> None:
        """Show level matching on or off."""
        self._level_match.setChecked(on)

    def set_position(self, position_s: float, duration_s: float) -> None:
        """Show the playhead and the track's length, e.g. ``1:23.4 / 4:56.0``."""
        self._position.setText(f"{format_time(position_s)} / {format_time(duration_s)}")

    def notice(self) -> str:
        """The notice shown ("" when hidden)."""
        return self._notice.text() if self._notice.isVisibleTo(self) else ""

    def show_notice(self, text: str) -> None:
        """Show a short notice beside the controls (e.g. no output device); empty hides it."""
        self._notice.setText(text)
        self._notice.setToolTip(text)
        self._notice.setVisible(bool(text))

    def set_enabled(self, enabled: bool) -> None:
        """Enable the playback controls (a track is loaded) or disable them (none is); the
        device choice stays available. Disabling also blanks the position."""
        for widget in (self._play, self._stop, self._ab, self._level_match):
            widget.setEnabled(enabled)
        if not enabled:
            self._position.setText(NO_POSITION_TEXT)

    def _show_play_state(self, playing: bool) -> None:
        self._play.setText(PAUSE_TEXT if playing else PLAY_TEXT)

    def _show_ab_state(self, listening_to_master: bool) -> None:
        self._ab.setText(MASTER_TEXT if listening_to_master else ORIGINAL_TEXT)
        if not listening_to_master:
            self._ab.setStyleSheet(f"QPushButton {{ color: {COLORS['before']}; }}")
        else:
            self._ab.setStyleSheet("")

    def _on_device_activated(self, row: int) -> None:
        self.deviceChosen.emit(self._device.itemData(row))
