"""Knob: gestures (drag, fine drag, wheel, keys, typing, Esc, double-click), the log mapping,
value formatting and parsing, and what it paints for the overridden state."""

import itertools
import math

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from greymaster_app.gui.knob import Knob, display_name, format_value, parse_value
from greymaster_app.gui.theme import COLORS
from model.errors import ParamsError
from model.params import spec

THRESHOLD = spec("compressor.threshold_db")  # linear, −40 … 0 dB
FREQ = spec("eq.peak1_freq_hz")  # log, 20 … 20000 Hz
NO_MODIFIER = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def make_knob(qtbot):
    def make(row=THRESHOLD, value=None):
        knob = Knob(row)
        qtbot.addWidget(knob)
        knob.resize(knob.sizeHint())
        knob.show()
        if value is not None:
            knob.set_value(value)
        return knob
    return make


def record(knob):
    """Collect every edited(key, value, final) emission."""
    seen = []
    knob.edited.connect(lambda key, value, final: seen.append((key, value, final)))
    return seen


def send_mouse(knob, kind, pos, modifiers=NO_MODIFIER):
    buttons = (Qt.MouseButton.NoButton if kind == QMouseEvent.Type.MouseButtonRelease
               else Qt.MouseButton.LeftButton)
    event = QMouseEvent(kind, QPointF(pos), knob.mapToGlobal(QPointF(pos)),
                        Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove
                        else Qt.MouseButton.NoButton, buttons, modifiers)
    QApplication.sendEvent(knob, event)


def drag(knob, dx_px, dy_px, steps=10, modifiers=NO_MODIFIER):
    """Press in the dial, move by (dx, dy) in equal steps, release."""
    start = QPointF(knob.width() / 2, knob.height() / 2)
    send_mouse(knob, QMouseEvent.Type.MouseButtonPress, start, modifiers)
    for i in range(1, steps + 1):
        send_mouse(knob, QMouseEvent.Type.MouseMove,
                   start + QPointF(dx_px * i / steps, dy_px * i / steps), modifiers)
    send_mouse(knob, QMouseEvent.Type.MouseButtonRelease,
               start + QPointF(dx_px, dy_px), modifiers)


def wheel(knob, notches, modifiers=NO_MODIFIER):
    pos = QPointF(knob.width() / 2, knob.height() / 2)
    event = QWheelEvent(pos, knob.mapToGlobal(pos), QPoint(0, 0), QPoint(0, int(120 * notches)),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(knob, event)


def test_qtbot_drag_up_raises_the_value_monotonically_then_ends_final(qtbot, make_knob):
    knob = make_knob(value=-30.0)
    seen = record(knob)
    centre = QPoint(knob.width() // 2, knob.height() // 2)
    qtbot.mousePress(knob, Qt.MouseButton.LeftButton, pos=centre)
    for dy in range(4, 44, 4):
        qtbot.mouseMove(knob, centre - QPoint(0, dy))
    qtbot.mouseRelease(knob, Qt.MouseButton.LeftButton, pos=centre - QPoint(0, 40))

    values = [value for _, value, _ in seen]
    assert len(seen) >= 2
    assert all(b > a for a, b in itertools.pairwise(values[:-1]))
    assert [final for _, _, final in seen] == [False] * (len(seen) - 1) + [True]
    assert {key for key, _, _ in seen} == {"compressor.threshold_db"}
    # 40 px of a 200 px range on −40 … 0 dB is 8 dB.
    assert values[-1] == pytest.approx(-22.0)
    assert knob.value() == pytest.approx(-22.0)


def test_200_px_cover_the_whole_range_and_clamp(make_knob):
    knob = make_knob(value=-40.0)
    drag(knob, 0, -100)
    assert knob.value() == pytest.approx(-20.0)
    drag(knob, 0, -100)
    assert knob.value() == pytest.approx(0.0)
    drag(knob, 0, -50)
    assert knob.value() == pytest.approx(0.0)
    drag(knob, 0, 400)
    assert knob.value() == pytest.approx(-40.0)


def test_horizontal_drag_to_the_right_raises_the_value(make_knob):
    knob = make_knob(value=-40.0)
    drag(knob, 50, 0)
    assert knob.value() == pytest.approx(-30.0)


def test_shift_drag_is_ten_times_finer(make_knob):
    knob = make_knob(value=-40.0)
    drag(knob, 0, -100, modifiers=SHIFT)
    assert knob.value() == pytest.approx(-40.0 + 0.05 * 40.0)


def test_log_knob_half_range_drag_lands_on_the_geometric_mean(make_knob):
    knob = make_knob(FREQ, value=20.0)
    drag(knob, 0, -100)
    assert knob.value() == pytest.approx(math.sqrt(20.0 * 20000.0), rel=1e-6)  # 632.5 Hz


def test_press_and_release_without_moving_emits_nothing(qtbot, make_knob):
    knob = make_knob()
    with qtbot.assertNotEmitted(knob.edited):
        drag(knob, 0, 0, steps=1)


def test_wheel_steps_one_percent_or_a_tenth_with_shift(make_knob):
    knob = make_knob(value=-18.0)
    seen = record(knob)
    wheel(knob, 1)
    assert seen[-1] == ("compressor.threshold_db", pytest.approx(-17.6), True)
    wheel(knob, -2)
    assert seen[-1][1] == pytest.approx(-18.4)
    wheel(knob, 1, SHIFT)
    assert seen[-1] == ("compressor.threshold_db", pytest.approx(-18.36), True)
    assert len(seen) == 3


def test_wheel_at_the_end_of_the_range_emits_nothing(qtbot, make_knob):
    knob = make_knob(value=0.0)
    with qtbot.assertNotEmitted(knob.edited):
        wheel(knob, 1)
    assert knob.value() == 0.0


def test_up_and_down_keys_step_like_the_wheel(qtbot, make_knob):
    knob = make_knob(value=-18.0)
    seen = record(knob)
    qtbot.keyClick(knob, Qt.Key.Key_Up)
    assert seen[-1] == ("compressor.threshold_db", pytest.approx(-17.6), True)
    qtbot.keyClick(knob, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert seen[-1][1] == pytest.approx(-17.64)


def type_into(qtbot, knob, text, key=Qt.Key.Key_Return):
    field = knob.value_field
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, key)


@pytest.mark.parametrize(("row", "text", "expected"), [
    (FREQ, "1.2k", 1200.0),
    (FREQ, "1.2 kHz", 1200.0),
    (FREQ, "440hz", 440.0),
    (FREQ, "50k", 20000.0),
    (FREQ, "3", 20.0),
    (THRESHOLD, "-12.5", -12.5),
    (THRESHOLD, "-12 dB", -12.0),
    (THRESHOLD, "-99", -40.0),
])
def test_typed_values_commit_on_enter_clamped(qtbot, make_knob, row, text, expected):
    knob = make_knob(row)
    seen = record(knob)
    type_into(qtbot, knob, text)
    assert seen == [(row.key, pytest.approx(expected), True)]
    assert knob.value() == pytest.approx(expected)
    assert knob.value_text() == format_value(row, expected)


def test_text_that_is_no_value_changes_nothing(qtbot, make_knob):
    knob = make_knob(value=-18.0)
    with qtbot.assertNotEmitted(knob.edited):
        type_into(qtbot, knob, "loud")
    assert knob.value() == -18.0
    assert knob.value_text() == "\u221218.0 dB"


def test_escape_reverts_the_typed_text(qtbot, make_knob):
    knob = make_knob(value=-18.0)
    with qtbot.assertNotEmitted(knob.edited):
        type_into(qtbot, knob, "-5", key=Qt.Key.Key_Escape)
    assert knob.value_text() == "\u221218.0 dB"
    assert knob.value() == -18.0


def test_enter_on_untouched_text_keeps_the_unrounded_value(qtbot, make_knob):
    knob = make_knob(spec("eq.low_shelf_q"), value=0.707)
    with qtbot.assertNotEmitted(knob.edited):
        knob.value_field.setFocus()
        qtbot.keyClick(knob.value_field, Qt.Key.Key_Return)
    assert knob.value() == 0.707


def test_double_click_asks_for_the_proposal(qtbot, make_knob):
    knob = make_knob()
    with qtbot.waitSignal(knob.resetRequested) as blocker:
        qtbot.mouseDClick(knob, Qt.MouseButton.LeftButton,
                          pos=QPoint(knob.width() // 2, knob.height() // 2))
    assert blocker.args == ["compressor.threshold_db"]


def test_set_value_shows_the_value_and_emits_nothing(qtbot, make_knob):
    knob = make_knob()
    with qtbot.assertNotEmitted(knob.edited):
        knob.set_value(-7.5)
        knob.set_proposal(-10.0)
        knob.set_overridden(True)
    assert knob.value() == -7.5
    assert knob.value_text() == "\u22127.5 dB"
    assert knob.proposal() == -10.0
    assert knob.is_overridden()
    assert knob.key == "compressor.threshold_db"
    assert knob.spec is THRESHOLD


def count_pixels_near(image, colour, tolerance=40):
    target = QColor(colour)
    count = 0
    for y in range(image.height()):
        for x in range(image.width()):
            pixel = image.pixelColor(x, y)
            if (abs(pixel.red() - target.red()) + abs(pixel.green() - target.green())
                    + abs(pixel.blue() - target.blue())) < tolerance:
                count += 1
    return count


def dial_image(knob):
    """The knob's picture above its value field (the label and the dial)."""
    return knob.grab().toImage().copy(0, 0, knob.width(), knob.value_field.geometry().top())


def test_value_arc_is_drawn_in_the_override_colour_only_when_overridden(make_knob):
    knob = make_knob(value=-10.0)
    knob.set_proposal(-18.0)
    model_image = dial_image(knob)
    knob.set_overridden(True)
    engineer_image = dial_image(knob)
    assert count_pixels_near(model_image, COLORS["accent"]) > 30
    assert count_pixels_near(model_image, COLORS["override"]) == 0
    assert count_pixels_near(engineer_image, COLORS["override"]) > 30


def test_proposal_mark_is_drawn(make_knob):
    knob = make_knob(value=-10.0)
    without_mark = dial_image(knob)
    knob.set_proposal(-30.0)
    assert dial_image(knob) != without_mark
    knob.set_proposal(None)
    assert dial_image(knob) == without_mark


def test_dimmed_knob_is_drawn_faded_and_stays_editable(make_knob):
    knob = make_knob(value=-10.0)
    knob.set_dimmed(True)
    assert knob.is_dimmed()
    assert count_pixels_near(dial_image(knob), COLORS["accent"]) == 0
    seen = record(knob)
    wheel(knob, 1)
    assert seen == [("compressor.threshold_db", pytest.approx(-9.6), True)]


def test_value_arc_of_a_bipolar_range_starts_at_zero(make_knob):
    gain = spec("eq.peak1_gain_db")
    at_zero = dial_image(make_knob(gain, value=0.0))
    boosted = dial_image(make_knob(gain, value=6.0))
    assert count_pixels_near(at_zero, COLORS["accent"]) < 10
    assert count_pixels_near(boosted, COLORS["accent"]) > 30


def test_tooltip_has_description_range_and_double_click_hint(make_knob):
    tip = make_knob().toolTip()
    assert THRESHOLD.description in tip
    assert THRESHOLD.range_text() in tip
    assert "Double-click" in tip


@pytest.mark.parametrize(("key", "value", "text"), [
    ("compressor.threshold_db", -18.0, "\u221218.0 dB"),
    ("compressor.ratio", 2.0, "2.0:1"),
    ("compressor.release_ms", 150.0, "150 ms"),
    ("compressor.attack_ms", 0.1, "0.10 ms"),
    ("eq.peak1_freq_hz", 1200.0, "1.20 kHz"),
    ("eq.peak1_freq_hz", 632.46, "632 Hz"),
    ("eq.peak1_gain_db", -0.04, "0.0 dB"),
    ("limiter.ceiling_dbtp", -1.0, "\u22121.0 dBTP"),
    ("saturation.mix", 0.25, "0.25"),
    ("saturation.bias", -0.05, "\u22120.050 FS"),
    ("stereo.bass_mono_hz", 20.0, "off"),
    ("stereo.bass_mono_hz", 120.0, "120 Hz"),
    ("stereo.upmix_low_width", 0.0, "0.00"),
])
def test_format_value(key, value, text):
    assert format_value(spec(key), value) == text


@pytest.mark.parametrize(("key", "text", "value"), [
    ("compressor.ratio", "4:1", 4.0),
    ("compressor.ratio", "4", 4.0),
    ("eq.peak1_freq_hz", "1.2K", 1200.0),
    ("eq.peak1_freq_hz", " 2.5 khz ", 2500.0),
    ("compressor.attack_ms", ".5 ms", 0.5),
    ("saturation.bias", "+0.02 fs", 0.02),
    ("compressor.threshold_db", "\u221212 dB", -12.0),
    ("stereo.bass_mono_hz", " Off ", 20.0),
    ("stereo.bass_mono_hz", "20 Hz", 20.0),
])
def test_parse_value(key, text, value):
    assert parse_value(spec(key), text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "12 ms", "1..2", "k", "off"])
def test_parse_value_refuses_non_numbers_with_a_hint(text):
    with pytest.raises(ParamsError, match="Threshold"):
        parse_value(THRESHOLD, text)


def test_display_name():
    assert display_name(THRESHOLD) == "Threshold"
    assert display_name(spec("stereo.bass_mono_hz")) == "Bass mono"
    assert display_name(spec("limiter.ceiling_dbtp")) == "Ceiling"
    assert display_name(spec("eq.low_shelf_gain_db"), strip_prefix="low_shelf_") == "Gain"
    assert display_name(spec("eq.low_shelf_q"), strip_prefix="low_shelf_") == "Q"
