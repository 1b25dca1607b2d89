"""Loudness meters (In / Out) and the before/after spectrum.

Both widgets only show what they are given (``show_readings``, ``show_spectra``); they never
pull from the engine. The readings come from ``greymaster_app.playback.meters.PathReading``
(input = original, output = master).

Spectrum display rules (``SpectrumView``), applied to each path on every ``show_spectra``:

1. Across frequency: fractional-octave smoothing onto a fixed log-spaced grid. Each display
   frequency f shows the mean power of the linearly interpolated per-bin power spectrum over the
   band f·2^(±1/(2·SMOOTHING_OCTAVE_FRACTION)), in dB (``octave_smoothed_db``). A band narrower
   than a bin reads the interpolated value; a sine's peak spreads over its band and reads lower
   than on the raw bins, broadband levels read the same.
2. Over time: the displayed dB value rises at once and falls exponentially, keeping
   ``FALL_RETENTION`` of the gap per update: shown = max(new, R·shown + (1 − R)·new). At the
   GUI's ~30 ms refresh that is a fall time constant of about 0.19 s.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from greymaster_app.gui.theme import COLORS, number_font
from greymaster_app.playback.meters import PathReading

LOUDNESS_SCALE_DB = (-40.0, 0.0)
TRUE_PEAK_SCALE_DB = (-30.0, 0.0)
PATHS = ("in", "out")
PATH_TITLES = {"in": "In", "out": "Out"}
ROWS = (  # (row key, title, unit)
    ("momentary", "Momentary", "LUFS"),
    ("short_term", "Short-term", "LUFS"),
    ("integrated", "Integrated", "LUFS"),
    ("true_peak", "True peak max", "dBTP"),
    ("loudness_range", "LRA", "LU"),
)
NO_VALUE_TEXT = "—"
MINUS_INFINITY_TEXT = "−∞"

SPECTRUM_RANGE_HZ = (20.0, 20000.0)
SPECTRUM_RANGE_DB = (-90.0, 0.0)
DISPLAY_POINTS_PER_OCTAVE = 24
SMOOTHING_OCTAVE_FRACTION = 6
FALL_RETENTION = 0.85
SPECTRUM_TICKS_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)

BAR_WIDTH_PX = 14
_BAR_PADDING_PX = 6  # space above 0 dB and below the scale's bottom, shared by bars and scales


def format_level(value: float | None) -> str:
    """A level in dB / LUFS with one decimal and a true minus sign; −inf → "−∞"; None or NaN
    (nothing to show) → "—"."""
    if value is None or math.isnan(value):
        return NO_VALUE_TEXT
    if value == -math.inf:
        return MINUS_INFINITY_TEXT
    return f"{value:.1f}".replace("-", "−")


def format_range(value: float | None) -> str:
    """A loudness range in LU with one decimal; None or a non-finite value → "—"."""
    if value is None or not math.isfinite(value):
        return NO_VALUE_TEXT
    return f"{value:.1f}"


def _bar_y(value_db: float, scale_db: tuple[float, float], height_px: float) -> float:
    """The y pixel of a level on a vertical scale (top = scale maximum), clamped to the scale."""
    low, high = scale_db
    fraction = (min(max(value_db, low), high) - low) / (high - low)
    return _BAR_PADDING_PX + (1.0 - fraction) * (height_px - 2 * _BAR_PADDING_PX)


class LevelBar(QWidget):
    """One vertical bar meter on a fixed dB scale, with an optional held maximum and a marker.

    The marker line (a target or a ceiling) and the part of the bar above it are drawn in
    ``over_color``; so is the held maximum when it is above the marker.
    """

    def __init__(self, scale_db: tuple[float, float], color: str, over_color: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scale_db = scale_db
        self._color = QColor(color)
        self._over_color = QColor(over_color)
        self.level_db = -math.inf
        self.hold_db: float | None = None
        self.marker_db: float | None = None
        self.setFixedWidth(BAR_WIDTH_PX)
        self.setMinimumHeight(120)

    def set_level(self, level_db: float, hold_db: float | None = None) -> None:
        """Show a level (−inf or below the scale: empty) and optionally a held maximum."""
        self.level_db = level_db
        self.hold_db = hold_db
        self.update()

    def set_marker(self, marker_db: float | None) -> None:
        """Draw a line at ``marker_db`` and colour the bar above it; None removes it."""
        self.marker_db = marker_db
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        width, height = self.width(), self.height()
        top, bottom = _bar_y(self.scale_db[1], self.scale_db, height), \
            _bar_y(self.scale_db[0], self.scale_db, height)
        painter.fillRect(QRectF(0, top, width, bottom - top), QColor(COLORS["panel_alt"]))
        if not math.isnan(self.level_db) and self.level_db > self.scale_db[0]:
            level_y = _bar_y(self.level_db, self.scale_db, height)
            split_y = top if self.marker_db is None else \
                _bar_y(self.marker_db, self.scale_db, height)
            normal_top = max(level_y, split_y)
            painter.fillRect(QRectF(1, normal_top, width - 2, bottom - normal_top), self._color)
            if level_y < split_y:
                painter.fillRect(QRectF(1, level_y, width - 2, split_y - level_y),
                                 self._over_color)
        if self.hold_db is not None and math.isfinite(self.hold_db) \
                and self.hold_db > self.scale_db[0]:
            over = self.marker_db is not None and self.hold_db > self.marker_db
            hold_y = _bar_y(self.hold_db, self.scale_db, height)
            painter.fillRect(QRectF(1, hold_y - 1, width - 2, 2),
                             self._over_color if over else QColor(COLORS["text"]))
        if self.marker_db is not None:
            marker_y = _bar_y(self.marker_db, self.scale_db, height)
            painter.setPen(QPen(self._over_color, 1))
            painter.drawLine(0, round(marker_y), width, round(marker_y))
        painter.end()


class LevelScale(QWidget):
    """Tick labels for ``LevelBar``s of the same height and scale."""

    def __init__(self, scale_db: tuple[float, float], label_step_db: float,
                 align_right: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scale_db = scale_db
        self._step_db = label_step_db
        self._align_right = align_right
        self.setFont(number_font(7.5))
        self.setFixedWidth(self.fontMetrics().horizontalAdvance("−40") + 4)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(QColor(COLORS["text_dim"]))
        metrics = self.fontMetrics()
        low, high = self.scale_db
        alignment = (Qt.AlignmentFlag.AlignRight if self._align_right
                     else Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter
        for value_db in np.arange(high, low - 1e-9, -self._step_db):
            y = _bar_y(float(value_db), self.scale_db, self.height())
            rect = QRectF(0, y - metrics.height() / 2, self.width() - 2, metrics.height())
            painter.drawText(rect, alignment, f"{value_db:.0f}".replace("-", "−"))
        painter.end()


class LoudnessMeters(QWidget):
    """Loudness and true peak of the original (In) and the master (Out), as bars and numbers.

    Bars: momentary loudness (−40…0 LUFS) with the target line, and true peak (−30…0 dBTP) with
    its held maximum and the ceiling line, for each path. Numbers: momentary, short-term and
    integrated loudness, the held true-peak maximum and the loudness range. The output's
    true-peak maximum turns ``COLORS["warning"]`` when it is above the ceiling.

    Child objects are named for tests and style sheets: value labels ``"<path>.<row>"`` and bars
    ``"<path>.loudness_bar"`` / ``"<path>.true_peak_bar"``, path in ``PATHS``, row in ``ROWS``.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._target: tuple[float, float] | None = None
        self._output: PathReading | None = None
        path_colors = {"in": COLORS["before"], "out": COLORS["after"]}
        self._loudness_bars = {path: LevelBar(LOUDNESS_SCALE_DB, path_colors[path],
                                              COLORS["meter_hot"]) for path in PATHS}
        self._peak_bars = {path: LevelBar(TRUE_PEAK_SCALE_DB, path_colors[path],
                                          COLORS["warning"]) for path in PATHS}
        for path in PATHS:
            self._loudness_bars[path].setObjectName(f"{path}.loudness_bar")
            self._peak_bars[path].setObjectName(f"{path}.true_peak_bar")
        self._values = {(path, row): self._number_label(f"{path}.{row}")
                        for path in PATHS for row, _, _ in ROWS}
        self._target_label = QLabel()
        self._target_label.setStyleSheet(f"color: {COLORS['text_dim']};")
        self._target_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        bars = QHBoxLayout()
        bars.addStretch(1)
        bars.addLayout(self._bar_grid())
        bars.addStretch(1)
        layout.addLayout(bars, 1)
        layout.addLayout(self._number_grid())
        layout.addWidget(self._target_label)
        self.reset()

    def show_readings(self, input_reading: PathReading | None,
                      output_reading: PathReading | None) -> None:
        """Show the latest readings of the original (input) and the master (output); None shows
        that path as empty ("—"). (Not ``show``: that is QWidget's.)"""
        for path, reading in (("in", input_reading), ("out", output_reading)):
            self._show_path(path, reading)
        self._output = output_reading
        self._colour_output_peak()

    def set_target(self, lufs: float, ceiling_dbtp: float) -> None:
        """Draw the loudness target on the loudness bars and the ceiling on the true-peak bars."""
        self._target = (lufs, ceiling_dbtp)
        for path in PATHS:
            self._loudness_bars[path].set_marker(lufs)
        self._peak_bars["out"].set_marker(ceiling_dbtp)
        self._target_label.setText(f"Target {format_level(lufs)} LUFS · "
                                   f"ceiling {format_level(ceiling_dbtp)} dBTP")
        self._colour_output_peak()

    def reset(self) -> None:
        """Show both paths as empty (no track, or a new one); the target stays."""
        self.show_readings(None, None)

    def _show_path(self, path: str, reading: PathReading | None) -> None:
        if reading is None:
            self._loudness_bars[path].set_level(-math.inf)
            self._peak_bars[path].set_level(-math.inf)
            for row, _, _ in ROWS:
                self._values[(path, row)].setText(NO_VALUE_TEXT)
            return
        self._loudness_bars[path].set_level(reading.momentary_lufs)
        self._peak_bars[path].set_level(reading.true_peak_dbtp, reading.true_peak_max_dbtp)
        texts = {
            "momentary": format_level(reading.momentary_lufs),
            "short_term": format_level(reading.short_term_lufs),
            "integrated": format_level(reading.integrated_lufs),
            "true_peak": format_level(reading.true_peak_max_dbtp),
            "loudness_range": format_range(reading.loudness_range_lu),
        }
        for row, text in texts.items():
            self._values[(path, row)].setText(text)

    def _colour_output_peak(self) -> None:
        over = (self._output is not None and self._target is not None
                and self._output.true_peak_max_dbtp > self._target[1])
        style = f"color: {COLORS['warning'] if over else COLORS['text']};"
        label = self._values[("out", "true_peak")]
        if label.styleSheet() != style:  # re-styling is slow; readings come every ~30 ms
            label.setStyleSheet(style)

    def _number_label(self, name: str) -> QLabel:
        label = QLabel(NO_VALUE_TEXT, objectName=name)
        label.setFont(number_font())
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        label.setMinimumWidth(label.fontMetrics().horizontalAdvance("−888.8"))
        return label

    def _bar_grid(self) -> QGridLayout:
        """Loudness scale | In, Out loudness bars | In, Out true-peak bars | true-peak scale."""
        grid = QGridLayout()
        grid.setHorizontalSpacing(3)
        grid.setVerticalSpacing(2)
        grid.addWidget(self._dim_label("LUFS (M)"), 0, 0, 1, 3, Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(self._dim_label("dBTP"), 0, 4, 1, 3, Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(LevelScale(LOUDNESS_SCALE_DB, 10.0, align_right=True), 1, 0)
        grid.addWidget(LevelScale(TRUE_PEAK_SCALE_DB, 6.0, align_right=False), 1, 6)
        for offset, path in enumerate(PATHS):
            grid.addWidget(self._loudness_bars[path], 1, 1 + offset)
            grid.addWidget(self._peak_bars[path], 1, 4 + offset)
            for column in (1 + offset, 4 + offset):
                grid.addWidget(self._dim_label(PATH_TITLES[path], small=True), 2, column,
                               Qt.AlignmentFlag.AlignCenter)
        grid.setColumnMinimumWidth(3, 10)
        grid.setRowStretch(1, 1)
        return grid

    def _number_grid(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(1)
        for column, path in enumerate(PATHS, start=1):
            grid.addWidget(self._dim_label(PATH_TITLES[path]), 0, column,
                           Qt.AlignmentFlag.AlignRight)
        for row_index, (row, title, unit) in enumerate(ROWS, start=1):
            grid.addWidget(QLabel(title), row_index, 0)
            for column, path in enumerate(PATHS, start=1):
                grid.addWidget(self._values[(path, row)], row_index, column)
            grid.addWidget(self._dim_label(unit), row_index, 3)
        grid.setColumnStretch(0, 1)
        return grid

    @staticmethod
    def _dim_label(text: str, small: bool = False) -> QLabel:
        label = QLabel(text)
        label.setStyleSheet(f"color: {COLORS['text_dim']};")
        if small:
            font = label.font()
            font.setPointSizeF(7.5)
            label.setFont(font)
        return label


def log_frequency_grid(low_hz: float, high_hz: float, points_per_octave: int) -> np.ndarray:
    """Frequencies from ``low_hz`` up to at most ``high_hz``, ``points_per_octave`` per octave.

    Shape: (points,), points = floor(points_per_octave · log2(high/low)) + 1.
    """
    count = math.floor(points_per_octave * math.log2(high_hz / low_hz) + 1e-9) + 1
    return low_hz * 2.0 ** (np.arange(count) / points_per_octave)


def octave_smoothed_db(frequencies_hz: np.ndarray, spectrum_db: np.ndarray,
                       display_frequencies_hz: np.ndarray, octave_fraction: float) -> np.ndarray:
    """Fractional-octave smoothing of a spectrum onto display frequencies.

    Each display frequency f reads the mean, over the band f·2^(±1/(2·octave_fraction)) (clipped
    to the bins' span), of the power spectrum 10^(dB/10) interpolated linearly between bins, in
    dB. The mean is exact: the integral of the piecewise-linear power over the band divided by
    the band's width.

    Shape: frequencies_hz, spectrum_db (bins,) with increasing frequencies, bins ≥ 2;
    display_frequencies_hz (points,) inside [frequencies_hz[0], frequencies_hz[-1]]; returns
    (points,) float64.
    """
    power = 10.0 ** (np.asarray(spectrum_db, dtype=np.float64) / 10.0)
    frequencies_hz = np.asarray(frequencies_hz, dtype=np.float64)
    half_band = 2.0 ** (0.5 / octave_fraction)
    low_hz = np.clip(display_frequencies_hz / half_band, frequencies_hz[0], frequencies_hz[-1])
    high_hz = np.clip(display_frequencies_hz * half_band, frequencies_hz[0], frequencies_hz[-1])
    cumulative = np.concatenate(
        ([0.0], np.cumsum(0.5 * (power[1:] + power[:-1]) * np.diff(frequencies_hz))))

    def integral_to(edge_hz: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(frequencies_hz, edge_hz, side="right") - 1,
                    0, frequencies_hz.size - 2)
        offset = edge_hz - frequencies_hz[k]
        slope = (power[k + 1] - power[k]) / (frequencies_hz[k + 1] - frequencies_hz[k])
        return cumulative[k] + power[k] * offset + 0.5 * slope * offset * offset

    mean_power = (integral_to(high_hz) - integral_to(low_hz)) / (high_hz - low_hz)
    return 10.0 * np.log10(np.maximum(mean_power, 1e-30))


class SpectrumView(QWidget):
    """Spectra of the original (before) and the master (after) on a log-frequency axis.

    20 Hz–20 kHz (up to the Nyquist frequency), −90…0 dB; the display rules are in the module
    docstring. ``display_frequencies_hz``, ``before_db`` and ``after_db`` hold what is drawn
    (None before the first ``show_spectra`` and after ``reset``).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.display_frequencies_hz: np.ndarray | None = None
        self.before_db: np.ndarray | None = None
        self.after_db: np.ndarray | None = None
        self._bin_frequencies_hz: np.ndarray | None = None

        self._plot = pg.PlotWidget(background=COLORS["background"])
        self._plot.setMinimumSize(240, 120)
        item = self._plot.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        view = item.getViewBox()
        view.setMouseEnabled(x=False, y=False)
        view.setRange(xRange=np.log10(SPECTRUM_RANGE_HZ), yRange=SPECTRUM_RANGE_DB, padding=0)
        self._style_axes(item)
        self._before_curve = self._curve(COLORS["before"], width=1.0, fill_alpha=80)
        self._after_curve = self._curve(COLORS["after"], width=1.6)
        legend = pg.LegendItem(offset=(-8, 6), labelTextColor=COLORS["text"],
                               labelTextSize="8pt", brush=pg.mkBrush(COLORS["panel"]),
                               pen=pg.mkPen(COLORS["border"]))
        legend.setParentItem(view)
        legend.addItem(self._before_curve, "Before (original)")
        legend.addItem(self._after_curve, "After (master)")
        item.addItem(self._before_curve)
        item.addItem(self._after_curve)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._plot)

    def show_spectra(self, frequencies_hz: np.ndarray, input_db: np.ndarray,
                     output_db: np.ndarray) -> None:
        """Show the latest spectra (see the module docstring for smoothing). (Not ``show``: that
        is QWidget's.)

        Shape: frequencies_hz, input_db, output_db (bins,), as ``PathReading.spectrum_db`` at
        ``PathMeter.spectrum_frequencies_hz``.
        """
        if self._bin_frequencies_hz is None or not np.array_equal(frequencies_hz,
                                                                  self._bin_frequencies_hz):
            self.reset()
            self._bin_frequencies_hz = np.array(frequencies_hz, dtype=np.float64)
            high_hz = min(SPECTRUM_RANGE_HZ[1], float(frequencies_hz[-1]))
            self.display_frequencies_hz = log_frequency_grid(
                SPECTRUM_RANGE_HZ[0], high_hz, DISPLAY_POINTS_PER_OCTAVE)
        self.before_db = self._smoothed(input_db, self.before_db)
        self.after_db = self._smoothed(output_db, self.after_db)
        x = np.log10(self.display_frequencies_hz)
        self._before_curve.setData(x, self.before_db)
        self._after_curve.setData(x, self.after_db)

    def reset(self) -> None:
        """Clear both curves and forget the smoothing history."""
        self.display_frequencies_hz = None
        self.before_db = None
        self.after_db = None
        self._bin_frequencies_hz = None
        self._before_curve.setData([], [])
        self._after_curve.setData([], [])

    def _smoothed(self, spectrum_db: np.ndarray, shown_db: np.ndarray | None) -> np.ndarray:
        new_db = octave_smoothed_db(self._bin_frequencies_hz, spectrum_db,
                                    self.display_frequencies_hz, SMOOTHING_OCTAVE_FRACTION)
        if shown_db is None:
            return new_db
        return np.maximum(new_db, FALL_RETENTION * shown_db + (1.0 - FALL_RETENTION) * new_db)

    @staticmethod
    def _curve(color: str, width: float, fill_alpha: int | None = None) -> pg.PlotDataItem:
        """A curve in ``color``, filled down to the floor with that alpha (0–255) if given."""
        if fill_alpha is None:
            return pg.PlotDataItem(pen=pg.mkPen(color, width=width), antialias=True)
        fill = QColor(color)
        fill.setAlpha(fill_alpha)
        return pg.PlotDataItem(pen=pg.mkPen(color, width=width), fillLevel=SPECTRUM_RANGE_DB[0],
                               brush=pg.mkBrush(fill), antialias=True)

    @staticmethod
    def _style_axes(item: pg.PlotItem) -> None:
        grid_pen = pg.mkPen(COLORS["grid"])
        for name in ("bottom", "left"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(COLORS["border"]))
            axis.setTextPen(pg.mkPen(COLORS["text_dim"]))
            axis.setStyle(tickFont=number_font(7.5), tickLength=0)
        ticks = [(math.log10(f), f"{f // 1000}k" if f >= 1000 else str(f))
                 for f in SPECTRUM_TICKS_HZ[1:-1]]  # the range's ends would be cut in half
        item.getAxis("bottom").setTicks([ticks, []])
        item.getAxis("left").setTicks([[(db, f"{db}") for db in range(-75, 0, 15)], []])
        item.getAxis("left").setWidth(28)
        for db in range(-75, 0, 15):
            item.addItem(pg.InfiniteLine(pos=db, angle=0, pen=grid_pen), ignoreBounds=True)
        for frequency_hz in SPECTRUM_TICKS_HZ[1:-1]:
            item.addItem(pg.InfiniteLine(pos=math.log10(frequency_hz), angle=90, pen=grid_pen),
                         ignoreBounds=True)
