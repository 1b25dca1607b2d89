"""The whole-track waveform overview: original above, master below, playhead and loop region.

Each lane draws a min/max envelope of its track: the track is cut into at most ``MAX_COLUMNS``
equal columns of samples and each column shows the lowest and the highest sample of all its
channels (``min_max_envelope``), computed once per ``set_audio`` / ``set_after``.

Mouse: a click seeks (``seekRequested``), a left-drag selects a loop region (``loopChanged``),
dragging the region or its edges moves it (``loopChanged``), a right-click clears it
(``loopCleared``). The ``set_…`` and ``clear_loop`` methods never emit a signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent, MouseDragEvent
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsSceneWheelEvent,
    QVBoxLayout,
    QWidget,
)

from greymaster_app.gui.theme import COLORS, number_font

MAX_COLUMNS = 4000
LANE_MARGIN = 0.08  # free space above and below the lanes, in lane amplitude units
BEFORE_CENTRE = 1.0  # the original's lane spans 0…2 (amplitude ±1 around its centre)
AFTER_CENTRE = -1.0  # the master's lane spans −2…0
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MIN_TICK_SPACING_PX = 70


@dataclass(frozen=True)
class Envelope:
    """Per-column extremes of a track.

    Shape: ``edges_s`` (columns + 1,): column c spans edges_s[c]…edges_s[c + 1] seconds;
    ``minimum``, ``maximum`` (columns,) float32: the extremes of all channels' samples in it.
    """

    edges_s: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray


def min_max_envelope(audio: np.ndarray, sample_rate_hz: float,
                     max_columns: int = MAX_COLUMNS) -> Envelope:
    """The min/max envelope of a track in at most ``max_columns`` columns.

    Columns hold ``ceil(samples / max_columns)`` samples each; the last one holds the rest.

    Shape: audio (channels, samples), samples ≥ 1.
    """
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise ValueError(f"audio must be (channels, samples ≥ 1); got shape {audio.shape}")
    samples = audio.shape[1]
    per_column = math.ceil(samples / max_columns)
    full_columns = samples // per_column
    whole = audio[:, :full_columns * per_column].reshape(audio.shape[0], full_columns,
                                                         per_column)
    minimum, maximum = whole.min(axis=(0, 2)), whole.max(axis=(0, 2))
    if full_columns * per_column < samples:
        rest = audio[:, full_columns * per_column:]
        minimum = np.append(minimum, rest.min())
        maximum = np.append(maximum, rest.max())
    starts = np.arange(minimum.size) * per_column
    edges_s = np.append(starts, samples) / sample_rate_hz
    return Envelope(edges_s, minimum.astype(np.float32), maximum.astype(np.float32))


def format_tick(seconds: float) -> str:
    """A time-axis label in whole seconds, ``m:ss`` (``h:mm:ss`` from an hour on)."""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TimeAxis(pg.AxisItem):
    """A bottom axis in minutes:seconds with steps of 1, 2, 5, 10, 15, 30 s, 1, 2, 5 min, …"""

    def tickSpacing(self, minVal: float, maxVal: float,
                    size: float) -> list[tuple[float, float]]:
        span_s = maxVal - minVal
        if span_s <= 0 or size <= 0:
            return []
        wanted_s = span_s * MIN_TICK_SPACING_PX / size
        major_s = next((step for step in TICK_STEPS_S if step >= wanted_s), TICK_STEPS_S[-1])
        return [(major_s, 0.0)]

    def tickStrings(self, values: list[float], scale: float,
                    spacing: float) -> list[str]:
        return [format_tick(value) for value in values]


class _TimelineViewBox(pg.ViewBox):
    """A ViewBox that turns clicks and left-drags into times instead of panning and zooming.

    Signals:
        clicked(float time_s, bool right_button)
        dragged(float start_s, float end_s, bool finished)
    """

    clicked = Signal(float, bool)
    dragged = Signal(float, float, bool)

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=False, y=False)

    def mouseClickEvent(self, ev: MouseClickEvent) -> None:
        if ev.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            ev.ignore()
            return
        ev.accept()
        self.clicked.emit(self._time_at(ev.scenePos()),
                          ev.button() == Qt.MouseButton.RightButton)

    def mouseDragEvent(self, ev: MouseDragEvent,
                       axis: int | None = None) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self.dragged.emit(self._time_at(ev.buttonDownScenePos()), self._time_at(ev.scenePos()),
                          ev.isFinish())

    def wheelEvent(self, ev: QGraphicsSceneWheelEvent,
                   axis: int | None = None) -> None:
        ev.ignore()

    def _time_at(self, scene_pos: QPointF) -> float:
        return self.mapSceneToView(scene_pos).x()


class WaveformOverview(QWidget):
    """The whole track: the original's envelope in the upper lane, the master's in the lower.

    Signals:
        seekRequested(float position_s): the user clicked at this time.
        loopChanged(float start_s, float end_s): the user made or moved a loop region.
        loopCleared(): the user removed the loop region (right-click).
    """

    seekRequested = Signal(float)
    loopChanged = Signal(float, float)
    loopCleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duration_s = 0.0
        self.before_envelope: Envelope | None = None
        self.after_envelope: Envelope | None = None
        self._sample_rate_hz = 1.0

        self._view = _TimelineViewBox()
        self._axis = TimeAxis("bottom")
        self._plot = pg.PlotWidget(background=COLORS["background"], viewBox=self._view,
                                   axisItems={"bottom": self._axis})
        self._plot.setMinimumHeight(90)
        item = self._plot.getPlotItem()
        item.hideButtons()
        item.hideAxis("left")
        self._axis.setPen(pg.mkPen(COLORS["border"]))
        self._axis.setTextPen(pg.mkPen(COLORS["text_dim"]))
        self._axis.setStyle(tickFont=number_font(7.5), tickLength=-4)
        self._view.setRange(xRange=(0.0, 1.0), yRange=(-2.0 - LANE_MARGIN, 2.0 + LANE_MARGIN),
                            padding=0)
        self._view.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=pg.mkPen(COLORS["border"])))
        self._before_lane = self._lane(COLORS["before"])
        self._after_lane = self._lane(COLORS["after"])
        self._lane_label("Original", BEFORE_CENTRE + 1.0, COLORS["before"])
        self._lane_label("Master", AFTER_CENTRE + 1.0, COLORS["after"])

        loop_brush = QColor(COLORS["text"])
        loop_brush.setAlpha(40)
        hover_brush = QColor(COLORS["text"])
        hover_brush.setAlpha(60)
        self._loop = pg.LinearRegionItem(brush=loop_brush, hoverBrush=hover_brush,
                                         pen=pg.mkPen(COLORS["accent"], width=1.5))
        self._loop.setZValue(5)
        self._loop.hide()
        self._view.addItem(self._loop, ignoreBounds=True)
        self._playhead = pg.InfiniteLine(pos=0.0, angle=90,
                                         pen=pg.mkPen(COLORS["text"], width=1.5))
        self._playhead.setZValue(10)
        self._view.addItem(self._playhead, ignoreBounds=True)

        self._view.clicked.connect(self._on_click)
        self._view.dragged.connect(self._on_drag)
        self._loop.sigRegionChangeFinished.connect(self._on_loop_moved)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._plot)

    @property
    def playhead_s(self) -> float:
        """Where the playhead is drawn, in seconds."""
        return float(self._playhead.value())

    @property
    def loop_s(self) -> tuple[float, float] | None:
        """The loop region shown, (start_s, end_s), or None."""
        if not self._loop.isVisible():
            return None
        start_s, end_s = self._loop.getRegion()
        return float(start_s), float(end_s)

    def set_audio(self, before: np.ndarray, after: np.ndarray | None,
                  sample_rate_hz: int) -> None:
        """Show a new track (the loop is cleared and the playhead goes to 0).

        Shape: before, after (channels, samples) at ``sample_rate_hz``; after None leaves the
        master's lane empty.
        """
        self._sample_rate_hz = float(sample_rate_hz)
        self.before_envelope = min_max_envelope(before, sample_rate_hz)
        self.duration_s = before.shape[1] / sample_rate_hz
        self._show_envelope(self._before_lane, self.before_envelope, BEFORE_CENTRE)
        self.set_after(after)
        self._view.setRange(xRange=(0.0, self.duration_s), padding=0)
        self._loop.setBounds((0.0, self.duration_s))
        self.clear_loop()
        self.set_playhead(0.0)

    def set_after(self, after: np.ndarray | None) -> None:
        """Show a new master (same sample rate as ``set_audio``'s); None empties its lane.

        Shape: after (channels, samples).
        """
        self.after_envelope = None if after is None else \
            min_max_envelope(after, self._sample_rate_hz)
        self._show_envelope(self._after_lane, self.after_envelope, AFTER_CENTRE)

    def set_playhead(self, position_s: float) -> None:
        """Move the playhead to ``position_s`` seconds."""
        self._playhead.setValue(position_s)

    def set_loop(self, start_s: float, end_s: float) -> None:
        """Show the loop region start_s…end_s (seconds)."""
        self._loop.blockSignals(True)
        self._loop.setRegion((start_s, end_s))
        self._loop.blockSignals(False)
        self._loop.show()

    def clear_loop(self) -> None:
        """Hide the loop region."""
        self._loop.hide()

    def _on_click(self, time_s: float, right_button: bool) -> None:
        if self.before_envelope is None:
            return
        if right_button:
            if self._loop.isVisible():
                self.clear_loop()
                self.loopCleared.emit()
            return
        self.seekRequested.emit(self._clamp(time_s))

    def _on_drag(self, start_s: float, end_s: float, finished: bool) -> None:
        if self.before_envelope is None:
            return
        start_s, end_s = sorted((self._clamp(start_s), self._clamp(end_s)))
        self.set_loop(start_s, end_s)
        if finished:
            if end_s > start_s:
                self.loopChanged.emit(start_s, end_s)
            else:
                self.clear_loop()

    def _on_loop_moved(self) -> None:
        start_s, end_s = self._loop.getRegion()
        self.loopChanged.emit(float(start_s), float(end_s))

    def _clamp(self, time_s: float) -> float:
        return min(max(time_s, 0.0), self.duration_s)

    def _lane(self, color: str) -> QGraphicsPathItem:
        """The filled outline of one lane's envelope (empty until there is audio)."""
        lane = QGraphicsPathItem()
        lane.setPen(pg.mkPen(color, width=1))
        fill = QColor(color)
        fill.setAlpha(190)
        lane.setBrush(pg.mkBrush(fill))
        self._view.addItem(lane, ignoreBounds=True)
        return lane

    def _lane_label(self, text: str, top: float, color: str) -> None:
        """A name in the top-left corner of a lane (time 0 is always the left edge)."""
        background = QColor(COLORS["background"])
        background.setAlpha(200)
        label = pg.TextItem(text, color=color, anchor=(0.0, 0.0), fill=pg.mkBrush(background))
        label.setFont(number_font(7.5))
        label.setPos(0.0, top)
        label.setZValue(20)
        self._view.addItem(label, ignoreBounds=True)

    @staticmethod
    def _show_envelope(lane: QGraphicsPathItem, envelope: Envelope | None,
                       centre: float) -> None:
        """Draw an envelope around ``centre`` as one polygon: the maxima left to right, then
        the minima right to left, each column a flat step."""
        if envelope is None:
            lane.setPath(QPainterPath())
            return
        times_s = np.repeat(envelope.edges_s, 2)[1:-1]
        x = np.concatenate((times_s, times_s[::-1]))
        y = centre + np.concatenate((np.repeat(envelope.maximum, 2),
                                     np.repeat(envelope.minimum, 2)[::-1]))
        path = pg.arrayToQPath(x, y.astype(np.float64))
        path.closeSubpath()
        lane.setPath(path)
