"""A rotary knob for one parameter of the table, in the style of an audio plug-in.

The knob works in the parameter's 0–1 units (``ParamSpec.to_unit`` / ``from_unit``), so a
log-scaled frequency moves evenly per octave. Gestures:

- drag up or right: 200 px cover the whole range; Shift or Ctrl held: 10× finer;
- wheel, or Up/Down when focused: 1 % of the range per step (0.1 % with Shift or Ctrl);
- the value field below the knob takes typed numbers ("-18", "-18 dB", "1.2k", "1.2 kHz"),
  clamped to the range; Enter commits, Esc reverts;
- double-click: ask for the model's proposal back (``resetRequested``).

During a drag ``edited(key, value, False)`` is emitted on every move and ``edited(key, value,
True)`` once on release; wheel steps, arrow keys and typed values emit ``final=True`` directly.
``set_value`` only shows a value and emits nothing.
"""

from __future__ import annotations

import math
import re

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QEnterEvent,
    QFocusEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QLineEdit, QSizePolicy, QToolTip, QWidget

from greymaster_app.gui.theme import COLORS, number_font
from model.errors import ParamsError
from model.params import ParamSpec

DRAG_RANGE_PX = 200.0
"""Pointer travel (px) that moves the knob across its whole 0–1 range."""
STEP_UNIT = 0.01
"""One wheel notch or arrow key press, in 0–1 units."""
FINE_FACTOR = 0.1
"""Scale applied to drags and steps while Shift or Ctrl is held."""
ARC_START_DEG = 225.0
"""Angle of the range's minimum (Qt convention: 0° = 3 o'clock, counter-clockwise positive)."""
ARC_SPAN_DEG = 270.0
"""The arc covers 270°, clockwise from the minimum."""
MINUS = "\u2212"
OFF = "off"
"""Shown for, and typed as, the minimum of a parameter whose minimum means off."""
LABEL_POINT_SIZE = 8.0
"""Font size of the name above the knob and the value below (points)."""

_UNIT_TOKENS = {"db", "dbtp", "hz", "ms", "s"}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*(k?)\s*(.*)$")
_LABEL_HEIGHT_PX = 14
_FIELD_HEIGHT_PX = 16
_MIN_WIDTH_PX = 64
_HEIGHT_PX = 90


def display_name(spec: ParamSpec, strip_prefix: str = "") -> str:
    """A short readable name for a parameter: its name without the unit suffix.

    ``threshold_db`` → "Threshold", ``bass_mono_hz`` → "Bass mono", ``low_shelf_q`` with
    ``strip_prefix="low_shelf_"`` → "Q".

    Args:
        spec: the parameter's table row.
        strip_prefix: a leading part of the name to leave out (e.g. an EQ band's prefix).
    """
    name = spec.name.removeprefix(strip_prefix)
    words = name.split("_")
    if len(words) > 1 and words[-1] in _UNIT_TOKENS:
        words = words[:-1]
    if words == ["q"]:
        return "Q"
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _decimals(value: float) -> int:
    """Digits after the point for about three significant digits, at most two."""
    magnitude = abs(value)
    if magnitude >= 100:
        return 0
    return 1 if magnitude >= 10 else 2


def _fixed(value: float, decimals: int) -> str:
    """``value`` with ``decimals`` digits after the point, a true minus sign and no "−0"."""
    text = f"{value:.{decimals}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
    return text.replace("-", MINUS)


def format_value(spec: ParamSpec, value: float) -> str:
    """The value as shown under a knob: "−18.0 dB", "2.0:1", "150 ms", "1.20 kHz", "0.25", or
    "off" at the minimum of a parameter whose minimum switches its function off.

    Args:
        spec: the parameter's table row (its unit picks the format).
        value: physical value.
    """
    if spec.off_at_minimum and value <= spec.minimum:
        return OFF
    unit = spec.unit
    if unit.startswith("dB"):
        return f"{_fixed(value, 1)} {unit}"
    if unit == ":1":
        return f"{_fixed(value, 1)}:1"
    if unit == "Hz" and abs(value) >= 1000:
        khz = value / 1000
        return f"{_fixed(khz, _decimals(khz))} kHz"
    span = spec.maximum - spec.minimum
    decimals = max(_decimals(value), math.ceil(-math.log10(span / 50)))
    return _fixed(value, decimals) + (f" {unit}" if unit else "")


def parse_value(spec: ParamSpec, text: str) -> float:
    """A typed value: a number, optionally with "k" (×1000) and the unit; clamped to the range.

    Args:
        spec: the parameter's table row.
        text: what was typed, e.g. "-18", "−18 dB", "1.2k", "1.2 kHz", "4:1", or "off" (the
            minimum) where the minimum means off.

    Returns:
        The physical value, clamped to ``[spec.minimum, spec.maximum]``.

    Raises:
        ParamsError: the text is not a number (with this parameter's unit).
    """
    cleaned = text.strip().replace(MINUS, "-").lower()
    if spec.off_at_minimum and cleaned == OFF:
        return spec.minimum
    match = _NUMBER.match(cleaned)
    unit = spec.unit.lower()
    if match is None or match.group(3).strip() not in {"", unit}:
        example = format_value(spec, spec.default)
        raise ParamsError(f"'{text}' is not a value for {display_name(spec)}: type a number "
                          f"in {spec.range_text()}, e.g. {example}")
    value = float(match.group(1)) * (1000.0 if match.group(2) else 1.0)
    return min(max(value, spec.minimum), spec.maximum)


class _ValueField(QLineEdit):
    """The knob's editable readout: Esc and losing focus revert, Enter commits."""

    reverted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.reverted.emit()
            self.clearFocus()
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.selectAll()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.reverted.emit()


class Knob(QWidget):
    """A painted rotary knob with a name above and an editable value below (~64 × 90 px).

    Args:
        spec: the parameter's table row: range, scale, unit and tooltip come from it.
        parent: the parent widget.
        label: the name shown above the knob (default: ``display_name(spec)``).

    Signals:
        edited(key, value, final): the engineer moved the knob to ``value`` (physical units);
            ``final`` is False while a drag is in progress and True when the gesture ends.
        resetRequested(key): a double-click asked for the model's proposal back.
    """

    edited = Signal(str, float, bool)
    resetRequested = Signal(str)

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None, *,
                 label: str | None = None) -> None:
        super().__init__(parent)
        self._spec = spec
        self._label = display_name(spec) if label is None else label
        self._value = spec.default
        self._proposal: float | None = None
        self._overridden = False
        self._dimmed = False
        self._hovered = False
        self._drag_unit: float | None = None
        self._drag_last = QPointF()
        self._drag_emitted = False

        self._field = _ValueField(self)
        self._field.setFont(number_font(LABEL_POINT_SIZE))
        self._field.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._field.setFrame(False)
        self._field.returnPressed.connect(self._commit_text)
        self._field.reverted.connect(self._show_value_text)

        label_font = self.font()
        label_font.setPointSizeF(LABEL_POINT_SIZE)
        self.setFont(label_font)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.SizeVerCursor)
        self.setAccessibleName(self._label)
        self.setToolTip(f"{spec.description}\nRange: {spec.range_text()}\n"
                        "Drag or scroll to adjust (Shift: fine)\n"
                        "Double-click: back to the model's proposal")
        self._field.setToolTip(self.toolTip())
        self._update_field_style()
        self._show_value_text()

    # -- public API ---------------------------------------------------------------------------

    @property
    def spec(self) -> ParamSpec:
        """The parameter's table row."""
        return self._spec

    @property
    def key(self) -> str:
        """The parameter's ``stage.name``."""
        return self._spec.key

    def value(self) -> float:
        """The value shown (physical units)."""
        return self._value

    def set_value(self, value: float) -> None:
        """Show ``value`` (physical units); emits nothing."""
        self._value = float(value)
        if not self._field.hasFocus():
            self._show_value_text()
        self.update()

    def proposal(self) -> float | None:
        """The model's proposal marked on the arc, or None."""
        return self._proposal

    def set_proposal(self, value: float | None) -> None:
        """Mark the model's proposal on the arc (None: no mark)."""
        self._proposal = None if value is None else float(value)
        self.update()

    def is_overridden(self) -> bool:
        """Whether the value is drawn as changed by the engineer."""
        return self._overridden

    def set_overridden(self, overridden: bool) -> None:
        """Draw the value as the engineer's (override colour) or the model's (accent)."""
        self._overridden = bool(overridden)
        self._update_field_style()
        self.update()

    def is_dimmed(self) -> bool:
        """Whether the knob is drawn dimmed (its stage is bypassed)."""
        return self._dimmed

    def set_dimmed(self, dimmed: bool) -> None:
        """Draw the knob dimmed, e.g. while its stage is bypassed; it stays editable."""
        self._dimmed = bool(dimmed)
        self._update_field_style()
        self.update()

    def label(self) -> str:
        """The name shown above the knob."""
        return self._label

    def value_text(self) -> str:
        """The text in the value field."""
        return self._field.text()

    @property
    def value_field(self) -> QLineEdit:
        """The editable value readout under the knob."""
        return self._field

    # -- geometry -----------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        label_px = self.fontMetrics().horizontalAdvance(self._label) + 6
        values = (self._spec.minimum, self._spec.maximum, self._spec.default)
        value_px = max(self._field.fontMetrics().horizontalAdvance(format_value(self._spec, v))
                       for v in values) + 12
        return QSize(max(_MIN_WIDTH_PX, label_px, value_px), _HEIGHT_PX)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._field.setGeometry(2, self.height() - _FIELD_HEIGHT_PX, self.width() - 4,
                                _FIELD_HEIGHT_PX)

    def _dial_rect(self) -> QRectF:
        top = float(_LABEL_HEIGHT_PX)
        height = self.height() - _LABEL_HEIGHT_PX - _FIELD_HEIGHT_PX
        side = min(self.width(), height) - 4.0
        return QRectF((self.width() - side) / 2, top + (height - side) / 2, side, side)

    # -- painting -----------------------------------------------------------------------------

    def _unit(self, value: float) -> float:
        return min(max(float(self._spec.to_unit(value)), 0.0), 1.0)

    def _origin_unit(self) -> float:
        """Where the value arc starts: zero for a bipolar range, else the minimum."""
        if self._spec.minimum < 0.0 < self._spec.maximum:
            return self._unit(0.0)
        return 0.0

    @staticmethod
    def _angle_deg(unit: float) -> float:
        return ARC_START_DEG - ARC_SPAN_DEG * unit

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._dimmed:
            painter.setOpacity(0.4)
        label_colour = COLORS["text"] if self._hovered or self.hasFocus() else COLORS["text_dim"]
        painter.setPen(QColor(label_colour))
        label_rect = QRectF(0, 0, self.width(), _LABEL_HEIGHT_PX)
        painter.drawText(label_rect, Qt.AlignmentFlag.AlignCenter, self._label)

        rect = self._dial_rect()
        arc_rect = rect.adjusted(3, 3, -3, -3)
        track_pen = QPen(QColor(COLORS["grid"]), 3.0, Qt.PenStyle.SolidLine,
                         Qt.PenCapStyle.RoundCap)
        painter.setPen(track_pen)
        painter.drawArc(arc_rect, int(ARC_START_DEG * 16), int(-ARC_SPAN_DEG * 16))

        unit = self._unit(self._value)
        origin = self._origin_unit()
        value_colour = QColor(COLORS["override"] if self._overridden else COLORS["accent"])
        painter.setPen(QPen(value_colour, 3.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        start_deg = self._angle_deg(origin)
        span_deg = self._angle_deg(unit) - start_deg
        painter.drawArc(arc_rect, round(start_deg * 16), round(span_deg * 16))

        centre = rect.center()
        radius = arc_rect.width() / 2
        if self._proposal is not None:
            self._draw_tick(painter, centre, radius, self._unit(self._proposal))

        body = radius - 5.0
        painter.setPen(QPen(QColor(COLORS["border"]), 1.0))
        painter.setBrush(QColor(COLORS["panel_alt"]))
        painter.drawEllipse(centre, body, body)
        angle = math.radians(self._angle_deg(unit))
        direction = QPointF(math.cos(angle), -math.sin(angle))
        painter.setPen(QPen(QColor(COLORS["text"]), 2.0, Qt.PenStyle.SolidLine,
                            Qt.PenCapStyle.RoundCap))
        painter.drawLine(centre + direction * (body * 0.35), centre + direction * (body - 2.0))
        if self.hasFocus() and not self._field.hasFocus():
            painter.setPen(QPen(QColor(COLORS["accent"]), 1.0, Qt.PenStyle.DotLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(centre, body + 1.5, body + 1.5)

    def _draw_tick(self, painter: QPainter, centre: QPointF, radius: float, unit: float) -> None:
        """A short radial mark across the arc at the model's proposal."""
        angle = math.radians(self._angle_deg(unit))
        direction = QPointF(math.cos(angle), -math.sin(angle))
        painter.setPen(QPen(QColor(COLORS["text"]), 1.5, Qt.PenStyle.SolidLine,
                            Qt.PenCapStyle.FlatCap))
        painter.drawLine(centre + direction * (radius - 2.5), centre + direction * (radius + 3.0))

    # -- value field --------------------------------------------------------------------------

    def _show_value_text(self) -> None:
        self._field.setText(format_value(self._spec, self._value))
        self._field.setCursorPosition(0)

    def _update_field_style(self) -> None:
        colour = COLORS["override"] if self._overridden else COLORS["text"]
        if self._dimmed:
            colour = COLORS["text_dim"]
        self._field.setStyleSheet(
            f"QLineEdit {{ background: transparent; color: {colour}; border: 1px solid "
            f"transparent; border-radius: 2px; padding: 0px; }}"
            f"QLineEdit:focus {{ background: {COLORS['background']}; "
            f"border-color: {COLORS['accent']}; }}")

    def _commit_text(self) -> None:
        if not self._field.isModified():
            self._field.clearFocus()
            return
        try:
            value = parse_value(self._spec, self._field.text())
        except ParamsError as error:
            QToolTip.showText(self._field.mapToGlobal(self._field.rect().bottomLeft()),
                              str(error), self._field)
            self._show_value_text()
            self._field.selectAll()
            return
        self._field.clearFocus()
        self._change(value, final=True)

    # -- gestures -----------------------------------------------------------------------------

    def _change(self, value: float, final: bool) -> None:
        """Show ``value`` and tell listeners."""
        self._value = float(value)
        self._show_value_text()
        self.update()
        self.edited.emit(self.key, self._value, final)

    @staticmethod
    def _fine(modifiers: Qt.KeyboardModifier) -> bool:
        return bool(modifiers & (Qt.KeyboardModifier.ShiftModifier
                                 | Qt.KeyboardModifier.ControlModifier))

    def _step(self, steps: float, modifiers: Qt.KeyboardModifier) -> None:
        """Move by ``steps`` wheel notches (1 % of the range each, 0.1 % when fine); nothing
        happens at the end of the range."""
        size = STEP_UNIT * (FINE_FACTOR if self._fine(modifiers) else 1.0)
        unit = min(max(self._unit(self._value) + steps * size, 0.0), 1.0)
        if unit == self._unit(self._value):
            return
        self._change(float(self._spec.from_unit(unit)), final=True)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._drag_unit = self._unit(self._value)
        self._drag_last = event.position()
        self._drag_emitted = False

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_unit is None:
            return
        delta = event.position() - self._drag_last
        self._drag_last = event.position()
        scale = FINE_FACTOR if self._fine(event.modifiers()) else 1.0
        moved_px = delta.x() - delta.y()
        unit = min(max(self._drag_unit + moved_px * scale / DRAG_RANGE_PX, 0.0), 1.0)
        if unit == self._drag_unit:
            return
        self._drag_unit = unit
        self._drag_emitted = True
        self._change(float(self._spec.from_unit(unit)), final=False)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._drag_unit is None:
            super().mouseReleaseEvent(event)
            return
        self._drag_unit = None
        if self._drag_emitted:
            self.edited.emit(self.key, self._value, True)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.resetRequested.emit(self.key)

    def wheelEvent(self, event: QWheelEvent) -> None:
        angle = event.angleDelta()
        eighths = angle.y() if angle.y() != 0 else angle.x()
        if eighths == 0:
            return
        self._step(eighths / 120.0, event.modifiers())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Up:
            self._step(1.0, event.modifiers())
        elif event.key() == Qt.Key.Key_Down:
            self._step(-1.0, event.modifiers())
        else:
            super().keyPressEvent(event)

    def enterEvent(self, event: QEnterEvent) -> None:
        self._hovered = True
        self.update()

    def leaveEvent(self, event: QEvent) -> None:
        self._hovered = False
        self.update()
