"""Stage pictures: the EQ's response, the compressor's and the saturator's static curves, a
gain-reduction meter and a stereo vectorscope.

Each widget shows values given to it (``show_params``, ``push``, …) and never pulls from the
engine. Curves come from the model's own functions (``eq.response_db``,
``compressor.static_curve_db``, ``saturation.transfer_curve``); the widgets only sample them and
map them to the screen. Plot items are created once; an update only replaces their data.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from greymaster_app.gui.theme import COLORS, number_font
from model.dsp import compressor, eq, saturation
from model.params import spec, stage_specs

SMALL_POINT_SIZE = 8
"""Point size of axis labels and readouts inside the pictures."""


def _color(role: str, alpha: int = 255) -> QColor:
    """A theme colour with an opacity (0–255)."""
    color = QColor(COLORS[role])
    color.setAlpha(alpha)
    return color


def _dashed_pen(role: str, width: float = 1.0) -> QPen:
    pen = pg.mkPen(COLORS[role], width=width)
    pen.setStyle(Qt.PenStyle.DashLine)
    return pen


PLOT_PADDING = 0.05
"""Margin around a plot's data range (fraction), so the labels at its ends fit."""


def _plot(x_range: tuple[float, float], y_range: tuple[float, float]) -> pg.PlotWidget:
    """A dark, fixed-range plot with a grid and small axis labels, no mouse pan or zoom."""
    plot = pg.PlotWidget(background=COLORS["background"])
    item = plot.getPlotItem()
    item.setMouseEnabled(x=False, y=False)
    item.setMenuEnabled(False)
    item.hideButtons()
    font = QFont()
    font.setPointSize(SMALL_POINT_SIZE)
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(COLORS["grid"]))
        axis.setTextPen(pg.mkPen(COLORS["text_dim"]))
        axis.setStyle(tickFont=font, tickLength=0)
        axis.setGrid(200)
        axis.setZValue(-1)                      # grid lines behind the data
    item.setXRange(*x_range, padding=PLOT_PADDING)
    item.setYRange(*y_range, padding=PLOT_PADDING)
    return plot


def _ticks(values: list[float], label: Callable[[float], str]) -> list[list[tuple[float, str]]]:
    """Major ticks for ``AxisItem.setTicks``: every value with its label."""
    return [[(value, label(value)) for value in values]]


# ---------------------------------------------------------------------------------------------
# EQ
# ---------------------------------------------------------------------------------------------

EQ_FREQ_RANGE_HZ = (20.0, 20000.0)
EQ_GAIN_RANGE_DB = (-15.0, 15.0)
EQ_CURVE_POINTS = 400
EQ_Q_UNITS_PER_WHEEL_STEP = 0.025
"""A wheel notch over a handle moves the band's Q by this much of its knob range (0–1)."""

_FREQ_TICKS_HZ = [20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4]
BANDS: tuple[str, ...] = tuple(band for band, _ in eq.BANDS)
"""The EQ's bands in cascade order, one handle each."""


def band_colors(count: int) -> list[QColor]:
    """``count`` distinct, equally bright colours spread around the hue circle, offset from the
    theme's accent hue (the response curve's colour) by half a step (one per EQ band)."""
    accent_hue = QColor(COLORS["accent"]).hueF()
    return [QColor.fromHslF((accent_hue + (k + 0.5) / count) % 1.0, 0.7, 0.62)
            for k in range(count)]


def _band_title(band: str) -> str:
    """The table's name for a band: its descriptions read "<name>: …"."""
    return spec(f"eq.{band}_freq_hz").description.split(":")[0]


def _frequency_label(freq_hz: float) -> str:
    return f"{freq_hz / 1e3:g}k" if freq_hz >= 1e3 else f"{freq_hz:g}"


class _Handle(pg.GraphicsObject):
    """A round handle of constant pixel size at a point of a ViewBox; reports drags and wheel
    steps to its owner, which moves it."""

    RADIUS_PX = 6.0

    def __init__(self, band: str, color: QColor, on_drag: Callable[[_Handle, object], None],
                 on_wheel: Callable[[_Handle, float], None],
                 on_hover: Callable[[_Handle, bool], None]) -> None:
        super().__init__()
        self.band = band
        self.color = color
        self.on_drag = on_drag
        self.on_wheel = on_wheel
        self.on_hover = on_hover
        self.hovered = False
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(10)
        self.setAcceptHoverEvents(True)

    def boundingRect(self) -> QRectF:
        r = self.RADIUS_PX + 2.0
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, *args: object) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        outline = _color("text") if self.hovered else _color("background")
        painter.setPen(QPen(outline, 1.5))
        painter.setBrush(QBrush(self.color))
        r = self.RADIUS_PX + (1.0 if self.hovered else 0.0)
        painter.drawEllipse(QPointF(0.0, 0.0), r, r)

    def hoverEvent(self, ev: object) -> None:
        hovered = not ev.isExit() and ev.acceptDrags(Qt.MouseButton.LeftButton)
        if hovered != self.hovered:
            self.hovered = hovered
            self.update()
            self.on_hover(self, hovered)

    def mouseDragEvent(self, ev: object) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self.on_drag(self, ev)

    def wheelEvent(self, ev: object) -> None:
        ev.accept()
        self.on_wheel(self, ev.delta() / 120.0)


class EqCurve(QWidget):
    """The EQ's magnitude response over 20 Hz–20 kHz (log axis, ±15 dB), a faint area per band,
    and one draggable handle per band at (frequency, gain).

    Dragging a handle moves the band's frequency (x) and gain (y) within the table's ranges;
    the wheel over a handle changes its Q. Each change is emitted as ``edited`` and drawn at
    once; the owner confirms with ``show_params``.

    Attributes:
        response: the cascade's curve; its data are (log10 frequency, dB).
        band_areas: band → that band's own response (the other gains at 0 dB).
        handles: band → its handle; ``pos()`` is (log10 frequency, gain dB).
    """

    edited = Signal(str, float, bool)
    """(key "eq.<band>_<name>", physical value, final)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.freqs_hz = np.geomspace(*EQ_FREQ_RANGE_HZ, EQ_CURVE_POINTS)
        self.values: dict[str, float] = {s.name: s.default for s in stage_specs("eq")}
        self.sample_rate_hz = 48000.0           # until show_params; flat at any rate before
        self._gesture_start: dict[str, float] = {}
        self._drag_offset = QPointF()

        self.plot = _plot(tuple(math.log10(f) for f in EQ_FREQ_RANGE_HZ), EQ_GAIN_RANGE_DB)
        item = self.plot.getPlotItem()
        item.getAxis("bottom").setTicks(
            _ticks([math.log10(f) for f in _FREQ_TICKS_HZ],
                   lambda x: _frequency_label(10.0 ** x)))
        item.getAxis("left").setTicks(_ticks([-12.0, -6.0, 0.0, 6.0, 12.0],
                                             lambda v: f"{v:+g}" if v else "0"))
        x_log = np.log10(self.freqs_hz)
        colors = band_colors(len(BANDS))
        self.band_areas: dict[str, pg.PlotDataItem] = {}
        self.handles: dict[str, _Handle] = {}
        for band, color in zip(BANDS, colors, strict=True):
            fill = QColor(color)
            fill.setAlpha(48)
            area = pg.PlotDataItem(x_log, np.zeros_like(x_log), pen=None, fillLevel=0.0,
                                   brush=fill, connect="finite")
            item.addItem(area)
            self.band_areas[band] = area
            handle = _Handle(band, color, self._drag, self._wheel, self._hover)
            item.addItem(handle)
            self.handles[band] = handle
        self.response = pg.PlotDataItem(x_log, np.zeros_like(x_log),
                                        pen=pg.mkPen(COLORS["after"], width=2), connect="finite",
                                        antialias=True)
        self.response.setZValue(5)
        item.addItem(self.response)
        self.readout = pg.TextItem(color=COLORS["text"], anchor=(0.0, 0.0))
        self.readout.setFont(number_font(SMALL_POINT_SIZE))
        self.readout.setPos(math.log10(EQ_FREQ_RANGE_HZ[0]) + 0.03, EQ_GAIN_RANGE_DB[1] - 0.5)
        self.readout.setZValue(20)
        item.addItem(self.readout)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.setMinimumSize(320, 180)
        self._redraw()

    def show_params(self, eq_values: Mapping[str, float], sample_rate_hz: float) -> None:
        """Show a new set of EQ values.

        Args:
            eq_values: every EQ parameter name (e.g. ``peak1_gain_db``) → physical value.
            sample_rate_hz: the rate the EQ runs at (the response above 0.45·fs depends on it).
        """
        self.values = {s.name: float(eq_values[s.name]) for s in stage_specs("eq")}
        self.sample_rate_hz = float(sample_rate_hz)
        self._redraw()

    def _redraw(self) -> None:
        below_nyquist = self.freqs_hz < 0.5 * self.sample_rate_hz
        total_db = eq.response_db(self.values, self.freqs_hz, self.sample_rate_hz)
        self.response.setData(np.log10(self.freqs_hz), np.where(below_nyquist, total_db, np.nan))
        # One evaluation for all bands: band b's gains vector keeps only its own gain.
        solo = dict(self.values)
        for k, band in enumerate(BANDS):
            gains_db = np.zeros(len(BANDS))
            gains_db[k] = self.values[f"{band}_gain_db"]
            solo[f"{band}_gain_db"] = gains_db
        per_band_db = eq.response_db(solo, self.freqs_hz, self.sample_rate_hz)
        for band, band_db in zip(BANDS, per_band_db, strict=True):
            self.band_areas[band].setData(np.log10(self.freqs_hz),
                                          np.where(below_nyquist, band_db, np.nan))
            self.handles[band].setPos(math.log10(self.values[f"{band}_freq_hz"]),
                                      self.values[f"{band}_gain_db"])

    def _apply(self, targets: Mapping[str, float]) -> dict[str, float]:
        """Store values (EQ names → physical values) clamped to the table's ranges and redraw.
        Returns the values that changed."""
        changed = {}
        for name, value in targets.items():
            table = spec(f"eq.{name}")
            value = min(max(float(value), table.minimum), table.maximum)
            if value != self.values[name]:
                self.values[name] = changed[name] = value
        if changed:
            self._redraw()
        return changed

    def _drag(self, handle: _Handle, ev: object) -> None:
        band = handle.band
        names = (f"{band}_freq_hz", f"{band}_gain_db")
        view_box = self.plot.getPlotItem().getViewBox()
        if ev.isStart():
            self._gesture_start = {name: self.values[name] for name in names}
            self._drag_offset = handle.pos() - view_box.mapSceneToView(ev.buttonDownScenePos())
        point = view_box.mapSceneToView(ev.scenePos()) + self._drag_offset
        for name, value in self._apply({names[0]: 10.0 ** point.x(), names[1]: point.y()}).items():
            self.edited.emit(f"eq.{name}", value, False)
        if ev.isFinish():
            for name in names:
                if self.values[name] != self._gesture_start[name]:
                    self.edited.emit(f"eq.{name}", self.values[name], True)
        self._show_readout(band)

    def _wheel(self, handle: _Handle, steps: float) -> None:
        q_spec = spec(f"eq.{handle.band}_q")
        unit = q_spec.to_unit(self.values[q_spec.name]) + EQ_Q_UNITS_PER_WHEEL_STEP * steps
        q = float(q_spec.from_unit(min(max(unit, 0.0), 1.0)))
        for name, value in self._apply({q_spec.name: q}).items():
            self.edited.emit(f"eq.{name}", value, True)
        self._show_readout(handle.band)

    def _hover(self, handle: _Handle, hovered: bool) -> None:
        if hovered:
            self._show_readout(handle.band)
        else:
            self.readout.setText("")

    def _show_readout(self, band: str) -> None:
        freq_hz = self.values[f"{band}_freq_hz"]
        freq_text = f"{freq_hz / 1e3:.2f} kHz" if freq_hz >= 1e3 else f"{freq_hz:.0f} Hz"
        gain_db, q = self.values[f"{band}_gain_db"], self.values[f"{band}_q"]
        self.readout.setText(f"{_band_title(band)}  {freq_text}  {gain_db:+.1f} dB  Q {q:.2f}")


# ---------------------------------------------------------------------------------------------
# Compressor
# ---------------------------------------------------------------------------------------------

COMPRESSOR_INPUT_RANGE_DB = (-60.0, 0.0)
COMPRESSOR_CURVE_POINTS = 241
OPERATING_POINT_MIN_DB = 0.05
"""Gain reduction below this shows no operating point (the input level is then unknown)."""


class CompressorCurve(QWidget):
    """The compressor's static curve: output level (with makeup) over input level, in dB, with
    the 1:1 diagonal, the threshold and the current operating point.

    Attributes:
        curve: the static curve's item, data (input dB, output dB).
        operating_point: a one-point scatter item, hidden when there is no gain reduction.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lo_db, hi_db = COMPRESSOR_INPUT_RANGE_DB
        self.levels_db = np.linspace(lo_db, hi_db, COMPRESSOR_CURVE_POINTS)
        self.output_db = self.levels_db.copy()
        self.threshold_db = 0.0
        self.makeup_db = 0.0
        self.plot = _plot(COMPRESSOR_INPUT_RANGE_DB, COMPRESSOR_INPUT_RANGE_DB)
        item = self.plot.getPlotItem()
        level_ticks = _ticks([-60.0, -48.0, -36.0, -24.0, -12.0, 0.0, 12.0, 24.0],
                             lambda v: f"{v:g}")
        item.getAxis("bottom").setTicks(level_ticks)
        item.getAxis("left").setTicks(level_ticks)
        item.addItem(pg.PlotDataItem([lo_db, hi_db], [lo_db, hi_db], pen=_dashed_pen("text_dim")))
        self.threshold_line = pg.InfiniteLine(angle=90, pen=_dashed_pen("override"))
        item.addItem(self.threshold_line)
        self.curve = pg.PlotDataItem(self.levels_db, self.output_db,
                                     pen=pg.mkPen(COLORS["after"], width=2), antialias=True)
        item.addItem(self.curve)
        self.operating_point = pg.ScatterPlotItem(size=9, pen=pg.mkPen(COLORS["background"]),
                                                  brush=pg.mkBrush(COLORS["text"]))
        self.operating_point.setZValue(10)
        self.operating_point.setVisible(False)
        item.addItem(self.operating_point)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.setMinimumSize(180, 180)
        self.show_params({name: spec(f"compressor.{name}").default
                          for name in ("threshold_db", "ratio", "knee_db", "makeup_db")})

    def show_params(self, values: Mapping[str, float]) -> None:
        """Show the curve for new compressor values (threshold_db, ratio, knee_db, makeup_db;
        other names are ignored)."""
        self.makeup_db = float(values["makeup_db"])
        self.threshold_db = float(values["threshold_db"])
        self.output_db = np.asarray(compressor.static_curve_db(
            self.levels_db, self.threshold_db, float(values["ratio"]),
            float(values["knee_db"]))) + self.makeup_db
        self.curve.setData(self.levels_db, self.output_db)
        self.threshold_line.setValue(self.threshold_db)
        top_db = max(0.0, 6.0 * math.ceil(float(self.output_db.max()) / 6.0))
        self.plot.getPlotItem().setYRange(COMPRESSOR_INPUT_RANGE_DB[0], top_db,
                                          padding=PLOT_PADDING)
        self.operating_point.setVisible(False)

    def show_operating_point(self, gain_reduction_db: float) -> None:
        """Put the dot where the static curve's gain reduction equals ``gain_reduction_db``
        (positive dB); hide it when there is (almost) none or when it lies beyond 0 dB input."""
        reduction_db = self.levels_db + self.makeup_db - self.output_db
        compressing = np.flatnonzero(reduction_db > 0.0)
        if (gain_reduction_db < OPERATING_POINT_MIN_DB or compressing.size == 0
                or gain_reduction_db > reduction_db[-1]):
            self.operating_point.setVisible(False)
            return
        # From the last level without reduction on, the reduction strictly increases.
        start = max(int(compressing[0]) - 1, 0)
        level_db = float(np.interp(gain_reduction_db, reduction_db[start:],
                                   self.levels_db[start:]))
        output_db = float(np.interp(level_db, self.levels_db, self.output_db))
        self.operating_point.setData([level_db], [output_db])
        self.operating_point.setVisible(True)


# ---------------------------------------------------------------------------------------------
# Gain-reduction meter
# ---------------------------------------------------------------------------------------------

GR_RANGE_DB = 24.0
GR_HISTORY_S = 10.0
GR_HISTORY_MAX_POINTS = 2048
"""The history keeps at most this many pushes (a bound whatever the push rate)."""
GR_PEAK_HOLD_S = 2.0
GR_BAR_SPAN_S = (0.3, 1.2)
"""Where the "now" bar sits on the time axis, right of the history's end at 0 s."""


class GainReductionMeter(QWidget):
    """Gain reduction over the last 10 s (a scrolling plot growing down from 0 dB), the value
    now (a bar right of the history, with a peak-hold line over the last 2 s) and a readout.

    Fed by ``push``; the history scrolls with the pushed times. Used for the compressor and the
    limiter.

    Attributes:
        history: the plot item, data (time relative to the last push in s, −gain reduction dB).
        bar: the "now" bar, from 0 down to −gain reduction dB.
        peak_line: the peak-hold line at −(the largest reduction of the last 2 s) dB.
    """

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._times_s: deque[float] = deque(maxlen=GR_HISTORY_MAX_POINTS)
        self._reductions_db: deque[float] = deque(maxlen=GR_HISTORY_MAX_POINTS)
        self.title = QLabel(title)
        self.title.setStyleSheet(f"color: {COLORS['text_dim']};")
        self.readout = QLabel()
        self.readout.setFont(number_font())
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.plot = _plot((-GR_HISTORY_S, GR_BAR_SPAN_S[1]), (-GR_RANGE_DB, 0.0))
        item = self.plot.getPlotItem()
        item.getAxis("bottom").setTicks(_ticks([-10.0, -8.0, -6.0, -4.0, -2.0, 0.0],
                                               lambda v: f"{v:g} s"))
        item.getAxis("left").setTicks(_ticks([0.0, -3.0, -6.0, -12.0, -18.0, -24.0],
                                             lambda v: f"{v:g}"))
        self.history = pg.PlotDataItem([], [], pen=pg.mkPen(COLORS["override"], width=1.5),
                                       fillLevel=0.0, brush=_color("override", 50),
                                       antialias=True)
        item.addItem(self.history)
        bar_left, bar_right = GR_BAR_SPAN_S
        item.addItem(pg.BarGraphItem(x0=[bar_left], x1=[bar_right], y0=[0.0],
                                     y1=[-GR_RANGE_DB], pen=None, brush=_color("panel_alt")))
        self.bar = pg.BarGraphItem(x0=[bar_left], x1=[bar_right], y0=[0.0], y1=[0.0], pen=None,
                                   brush=_color("override"))
        item.addItem(self.bar)
        self.peak_line = pg.PlotDataItem([bar_left, bar_right], [0.0, 0.0],
                                         pen=pg.mkPen(COLORS["text"], width=2))
        item.addItem(self.peak_line)

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.readout)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        self.setMinimumSize(200, 120)
        self._show(0.0, 0.0)

    def push(self, gain_reduction_db: float, time_s: float) -> None:
        """Add the gain reduction (positive dB) at a time (s, any clock that only goes forward).
        A time earlier than the last one (a seek, a restart) starts a new history."""
        if self._times_s and time_s < self._times_s[-1]:
            self.clear()
        self._times_s.append(float(time_s))
        self._reductions_db.append(max(float(gain_reduction_db), 0.0))
        while self._times_s[0] < time_s - GR_HISTORY_S:
            self._times_s.popleft()
            self._reductions_db.popleft()
        times_s = np.fromiter(self._times_s, dtype=np.float64)
        reductions_db = np.fromiter(self._reductions_db, dtype=np.float64)
        self.history.setData(times_s - time_s, -reductions_db)
        held = times_s >= time_s - GR_PEAK_HOLD_S
        self._show(float(reductions_db[-1]), float(reductions_db[held].max()))

    def clear(self) -> None:
        """Forget the history (e.g. when playback stops)."""
        self._times_s.clear()
        self._reductions_db.clear()
        self.history.setData([], [])
        self._show(0.0, 0.0)

    def history_length(self) -> int:
        """Number of pushes kept."""
        return len(self._times_s)

    def _show(self, gain_reduction_db: float, peak_db: float) -> None:
        self.bar.setOpts(y1=[-min(gain_reduction_db, GR_RANGE_DB)])
        self.peak_line.setData(list(GR_BAR_SPAN_S), [-peak_db, -peak_db])
        self.peak_line.setVisible(peak_db > 0.0)
        self.readout.setText(f"{-gain_reduction_db:.1f} dB" if gain_reduction_db >= 0.05
                             else "0.0 dB")


# ---------------------------------------------------------------------------------------------
# Saturation
# ---------------------------------------------------------------------------------------------

SATURATION_INPUT_RANGE = (-1.5, 1.5)
SATURATION_CURVE_POINTS = 301


class SaturationCurve(QWidget):
    """The waveshaper's static transfer curve (``saturation.transfer_curve``) for inputs
    −1.5…+1.5 full scale, with the dry diagonal.

    Attributes:
        curve: the transfer curve's item, data (input, output).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inputs = np.linspace(*SATURATION_INPUT_RANGE, SATURATION_CURVE_POINTS)
        self.plot = _plot(SATURATION_INPUT_RANGE, SATURATION_INPUT_RANGE)
        item = self.plot.getPlotItem()
        ticks = _ticks([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], lambda v: f"{v:g}")
        item.getAxis("bottom").setTicks(ticks)
        item.getAxis("left").setTicks(ticks)
        item.addItem(pg.PlotDataItem(list(SATURATION_INPUT_RANGE), list(SATURATION_INPUT_RANGE),
                                     pen=_dashed_pen("text_dim")))
        self.curve = pg.PlotDataItem(self.inputs, self.inputs,
                                     pen=pg.mkPen(COLORS["after"], width=2), antialias=True)
        item.addItem(self.curve)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.setMinimumSize(180, 180)
        self.show_params({name: spec(f"saturation.{name}").default
                          for name in ("drive_db", "hardness", "mix", "bias")})

    def show_params(self, values: Mapping[str, float]) -> None:
        """Show the curve for new saturation values (drive_db, hardness, mix, bias)."""
        self.curve.setData(self.inputs, saturation.transfer_curve(self.inputs, values))


# ---------------------------------------------------------------------------------------------
# Stereo
# ---------------------------------------------------------------------------------------------

SCOPE_FRAMES = 2048
SCOPE_AGE_GROUPS = 4
"""The kept frames are drawn in this many groups, older groups fainter."""
SCOPE_RANGE = 1.0


def scope_points(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Goniometer coordinates of stereo frames: side across, mid up, rotated 45° from L/R.

    x = (R − L)/√2 (a left-panned source leans left, as on a broadcast goniometer), y = (L + R)/√2.

    Shape: block (2, n) → x (n,), y (n,).
    """
    left, right = np.asarray(block[0], np.float64), np.asarray(block[1], np.float64)
    return (right - left) / math.sqrt(2.0), (left + right) / math.sqrt(2.0)


class _CorrelationBar(QWidget):
    """A horizontal −1…+1 bar; the indicator grows from 0 towards the value, green when
    positive, red when negative."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.correlation = 1.0
        self.setFixedHeight(10)
        self.setMinimumWidth(80)

    def set_correlation(self, correlation: float) -> None:
        self.correlation = min(max(correlation, -1.0), 1.0)
        self.update()

    def x_of(self, correlation: float) -> float:
        """The pixel column of a correlation value."""
        return (correlation + 1.0) / 2.0 * (self.width() - 1)

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), _color("panel_alt"))
        centre = self.x_of(0.0)
        value = self.x_of(self.correlation)
        role = "meter_ok" if self.correlation >= 0.0 else "warning"
        painter.fillRect(QRectF(min(centre, value), 1.0, abs(value - centre), self.height() - 2),
                         _color(role))
        painter.setPen(_color("text_dim"))
        painter.drawLine(QPointF(centre, 0.0), QPointF(centre, self.height()))
        painter.end()


class StereoScope(QWidget):
    """Vectorscope (goniometer) of the last ``SCOPE_FRAMES`` stereo frames as a trace, older
    parts fainter, with a correlation bar and correlation / width readouts.

    Attributes:
        traces: the trace's parts, newest first, data from ``scope_points``.
        correlation_bar: the −1…+1 bar.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._frames = np.zeros((2, SCOPE_FRAMES), dtype=np.float32)
        self._count = 0
        limits = (-SCOPE_RANGE, SCOPE_RANGE)
        self.plot = _plot(limits, limits)
        item = self.plot.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setAspectLocked(True)
        item.getViewBox().setBackgroundColor(COLORS["background"])
        for angle in (90.0, 45.0, 135.0, 0.0):
            item.addItem(pg.InfiniteLine(pos=(0.0, 0.0), angle=angle,
                                         pen=pg.mkPen(COLORS["grid"])))
        for text, x, y in (("M", 0.0, 0.97), ("L", -0.7, 0.7), ("R", 0.7, 0.7),
                           ("+S", 0.95, 0.0), ("−S", -0.95, 0.0)):
            label = pg.TextItem(text, color=COLORS["text_dim"], anchor=(0.5, 0.5))
            label.setFont(number_font(SMALL_POINT_SIZE))
            label.setPos(x, y)
            item.addItem(label)
        self.traces: list[pg.PlotCurveItem] = []
        for age in range(SCOPE_AGE_GROUPS):
            alpha = int(230 * (1.0 - age / SCOPE_AGE_GROUPS) ** 2) + 20
            trace = pg.PlotCurveItem(pen=pg.mkPen(_color("after", alpha), width=1))
            trace.setZValue(SCOPE_AGE_GROUPS - age)
            item.addItem(trace)
            self.traces.append(trace)
        self.correlation_bar = _CorrelationBar()
        self.correlation_readout = QLabel()
        self.width_readout = QLabel()
        for label in (self.correlation_readout, self.width_readout):
            label.setFont(number_font(SMALL_POINT_SIZE))
        scale = QHBoxLayout()
        for text in ("−1", None, "+1"):
            if text is None:
                scale.addWidget(self.correlation_bar, 1)
                continue
            label = QLabel(text)
            label.setFont(number_font(SMALL_POINT_SIZE))
            label.setStyleSheet(f"color: {COLORS['text_dim']};")
            scale.addWidget(label)
        readouts = QHBoxLayout()
        readouts.addWidget(self.correlation_readout)
        readouts.addStretch(1)
        readouts.addWidget(self.width_readout)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.plot, 1)
        layout.addLayout(scale)
        layout.addLayout(readouts)
        self.setMinimumSize(180, 220)
        self.show_reading(1.0, 0.0)

    def push_samples(self, block: np.ndarray) -> None:
        """Add stereo frames; only the last ``SCOPE_FRAMES`` are kept and drawn.

        Shape: block (2, n) float32.
        """
        block = np.asarray(block, dtype=np.float32)[:, -SCOPE_FRAMES:]
        n = block.shape[1]
        self._frames = np.roll(self._frames, -n, axis=1)
        self._frames[:, SCOPE_FRAMES - n:] = block
        self._count = min(self._count + n, SCOPE_FRAMES)
        x, y = scope_points(self._frames[:, SCOPE_FRAMES - self._count:])
        group = SCOPE_FRAMES // SCOPE_AGE_GROUPS
        for age, trace in enumerate(self.traces):
            stop = max(x.shape[0] - age * group, 0)
            start = max(stop - group - 1, 0)            # one shared frame joins the groups
            trace.setData(x[start:stop], y[start:stop])

    def show_reading(self, correlation: float, width: float) -> None:
        """Show the meters' stereo correlation (−1…+1) and width (RMS(S)/RMS(M), 0…∞)."""
        self.correlation_bar.set_correlation(correlation)
        self.correlation_readout.setText(f"Corr {correlation:+.2f}")
        width_text = f"{width:.2f}" if math.isfinite(width) else "∞"
        self.width_readout.setText(f"Width {width_text}")
