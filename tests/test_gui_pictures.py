"""Stage pictures: each plots what its model function says (checked against the definitions at
points), the EQ handles turn real mouse gestures into in-range edits, the meters keep bounded
histories, and the vectorscope puts mono on the vertical axis."""

import math
import sys

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from greymaster_app.gui import pictures
from greymaster_app.gui.theme import COLORS
from model.dsp import eq, saturation
from model.params import defaults, spec

FS = 48000.0


def _shown(qtbot, widget, width=640, height=320):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _eq_values(**changes: float) -> dict[str, float]:
    return {**defaults("eq"), **changes}


# --- EqCurve ---------------------------------------------------------------------------------

def test_eq_curve_plots_the_cascade_response_at_its_frequencies(qtbot):
    curve = _shown(qtbot, pictures.EqCurve())
    values = _eq_values(low_shelf_gain_db=4.0, peak2_gain_db=-6.0, peak2_q=3.0,
                        high_shelf_gain_db=-2.0)
    curve.show_params(values, FS)
    x_log, plotted_db = curve.response.getData()
    freqs_hz = 10.0 ** x_log
    assert freqs_hz[0] == pytest.approx(20.0) and freqs_hz[-1] == pytest.approx(20000.0)
    np.testing.assert_allclose(plotted_db, eq.response_db(values, freqs_hz, FS), atol=1e-9)


def test_eq_curve_shows_a_peak_of_its_gain_at_its_centre_and_flat_elsewhere(qtbot):
    # RBJ peaking: |H| at the centre frequency is exactly the band's gain.
    curve = _shown(qtbot, pictures.EqCurve())
    curve.show_params(_eq_values(peak2_freq_hz=1000.0, peak2_gain_db=6.0), FS)
    x_log, plotted_db = curve.response.getData()
    assert np.interp(3.0, x_log, plotted_db) == pytest.approx(6.0, abs=0.05)
    assert abs(plotted_db[0]) < 0.01 and abs(np.interp(4.0, x_log, plotted_db)) < 0.05
    area_x, area_db = curve.band_areas["peak2"].getData()
    assert np.interp(3.0, area_x, area_db) == pytest.approx(6.0, abs=0.05)
    assert np.max(np.abs(curve.band_areas["peak1"].getData()[1])) < 1e-9
    handle = curve.handles["peak2"].pos()
    assert (handle.x(), handle.y()) == pytest.approx((3.0, 6.0))


def test_eq_curve_leaves_out_frequencies_above_nyquist(qtbot):
    curve = _shown(qtbot, pictures.EqCurve())
    curve.show_params(_eq_values(), 32000.0)
    x_log, plotted_db = curve.response.getData()
    assert np.all(np.isnan(plotted_db[10.0 ** x_log >= 16000.0]))
    assert np.all(np.isfinite(plotted_db[10.0 ** x_log < 16000.0]))


def _mouse(widget, kind, pos: QPointF, button, buttons) -> None:
    event = QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(pos.toPoint())), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _viewport_pos(curve, x: float, y: float) -> QPointF:
    """Viewport pixel of a point in the EQ's view coordinates (log10 Hz, dB)."""
    scene = curve.plot.getPlotItem().getViewBox().mapViewToScene(QPointF(x, y))
    return QPointF(curve.plot.mapFromScene(scene))


def _drag(curve, band: str, to_view: tuple[float, float], steps: int = 5) -> None:
    handle = curve.handles[band].pos()
    start = _viewport_pos(curve, handle.x(), handle.y())
    end = _viewport_pos(curve, *to_view)
    viewport = curve.plot.viewport()
    left = Qt.MouseButton.LeftButton
    _mouse(viewport, QMouseEvent.Type.MouseButtonPress, start, left, left)
    for k in range(1, steps + 1):
        _mouse(viewport, QMouseEvent.Type.MouseMove, start + (end - start) * (k / steps),
               Qt.MouseButton.NoButton, left)
    _mouse(viewport, QMouseEvent.Type.MouseButtonRelease, end, left, Qt.MouseButton.NoButton)


def test_dragging_a_handle_edits_its_frequency_and_gain(qtbot):
    curve = _shown(qtbot, pictures.EqCurve())
    curve.show_params(_eq_values(), FS)
    edits = []
    curve.edited.connect(lambda key, value, final: edits.append((key, value, final)))
    _drag(curve, "peak2", (math.log10(2000.0), 6.0))
    during = [edit for edit in edits if not edit[2]]
    final = {key: value for key, value, is_final in edits if is_final}
    assert during and {key for key, _, _ in during} == {"eq.peak2_freq_hz", "eq.peak2_gain_db"}
    assert set(final) == {"eq.peak2_freq_hz", "eq.peak2_gain_db"}
    pixel_freq = 10.0 ** (3.0 / curve.plot.getPlotItem().getViewBox().width())  # 1 px in x
    assert final["eq.peak2_freq_hz"] == pytest.approx(2000.0, rel=2 * (pixel_freq - 1))
    assert final["eq.peak2_gain_db"] == pytest.approx(6.0, abs=0.3)
    assert edits[-1][2] and edits[-2][2]                  # the gesture ends with the finals
    x_log, plotted_db = curve.response.getData()          # the curve follows the handle
    assert np.interp(math.log10(final["eq.peak2_freq_hz"]), x_log, plotted_db) == (
        pytest.approx(final["eq.peak2_gain_db"], abs=0.05))


def test_dragging_past_the_edges_clamps_to_the_table_ranges(qtbot):
    curve = _shown(qtbot, pictures.EqCurve())
    curve.show_params(_eq_values(), FS)
    edits = []
    curve.edited.connect(lambda key, value, final: edits.append((key, value, final)))
    _drag(curve, "low_shelf", (math.log10(19000.0), -14.9))    # shelf tops out at 1 kHz
    for key, value, _ in edits:
        table = spec(key)
        assert table.minimum <= value <= table.maximum
    final = {key: value for key, value, is_final in edits if is_final}
    assert final["eq.low_shelf_freq_hz"] == spec("eq.low_shelf_freq_hz").maximum
    assert final["eq.low_shelf_gain_db"] == spec("eq.low_shelf_gain_db").minimum
    handle = curve.handles["low_shelf"].pos()
    assert (handle.x(), handle.y()) == pytest.approx((3.0, -12.0))


def test_a_click_without_moving_edits_nothing(qtbot):
    curve = _shown(qtbot, pictures.EqCurve())
    edits = []
    curve.edited.connect(lambda *edit: edits.append(edit))
    handle = curve.handles["peak1"].pos()
    at = _viewport_pos(curve, handle.x(), handle.y())
    left = Qt.MouseButton.LeftButton
    _mouse(curve.plot.viewport(), QMouseEvent.Type.MouseButtonPress, at, left, left)
    _mouse(curve.plot.viewport(), QMouseEvent.Type.MouseButtonRelease, at, left,
           Qt.MouseButton.NoButton)
    assert edits == []


def _wheel(curve, band: str, notches: int) -> None:
    handle = curve.handles[band].pos()
    at = _viewport_pos(curve, handle.x(), handle.y())
    viewport = curve.plot.viewport()
    event = QWheelEvent(at, QPointF(viewport.mapToGlobal(at.toPoint())), QPoint(),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


def test_wheel_over_a_handle_changes_its_q_within_range(qtbot):
    curve = _shown(qtbot, pictures.EqCurve())
    curve.show_params(_eq_values(peak3_gain_db=3.0), FS)
    edits = []
    curve.edited.connect(lambda key, value, final: edits.append((key, value, final)))
    _wheel(curve, "peak3", 2)
    assert [(key, final) for key, _, final in edits] == [("eq.peak3_q", True)]
    q_spec = spec("eq.peak3_q")
    expected_unit = q_spec.to_unit(1.0) + 2 * pictures.EQ_Q_UNITS_PER_WHEEL_STEP
    assert edits[0][1] == pytest.approx(q_spec.from_unit(expected_unit))
    _wheel(curve, "peak3", -200)
    assert edits[-1][1] == pytest.approx(q_spec.minimum, rel=1e-12)
    assert q_spec.minimum <= edits[-1][1] <= q_spec.maximum


# --- CompressorCurve ---------------------------------------------------------------------------

def _knee_curve_db(x: float, threshold_db: float, ratio: float, knee_db: float) -> float:
    """Giannoulis, Massberg & Reiss (2012), eq. 4, written out independently."""
    if 2 * (x - threshold_db) < -knee_db:
        return x
    if 2 * abs(x - threshold_db) <= knee_db:
        return x + (1 / ratio - 1) * (x - threshold_db + knee_db / 2) ** 2 / (2 * knee_db)
    return threshold_db + (x - threshold_db) / ratio


COMPRESSOR = {"threshold_db": -24.0, "ratio": 4.0, "knee_db": 6.0, "makeup_db": 6.0,
              "attack_ms": 10.0, "release_ms": 100.0}


def test_compressor_curve_is_the_static_curve_plus_makeup(qtbot):
    picture = _shown(qtbot, pictures.CompressorCurve(), 300, 300)
    picture.show_params(COMPRESSOR)
    levels_db, output_db = picture.curve.getData()
    assert levels_db[0] == -60.0 and levels_db[-1] == 0.0
    for x in (-60.0, -30.0, -26.0, -24.0, -22.5, -21.0, -10.0, 0.0):
        expected = _knee_curve_db(x, -24.0, 4.0, 6.0) + 6.0
        assert np.interp(x, levels_db, output_db) == pytest.approx(expected, abs=1e-9)
    assert picture.threshold_line.value() == -24.0


def test_compressor_curve_range_grows_with_makeup(qtbot):
    picture = _shown(qtbot, pictures.CompressorCurve(), 300, 300)
    picture.show_params({**COMPRESSOR, "threshold_db": 0.0, "ratio": 1.0, "makeup_db": 20.0})
    _, top_db = picture.plot.getPlotItem().getViewBox().viewRange()[1]
    assert top_db >= 20.0


@pytest.mark.parametrize("gain_reduction_db", [0.3, 2.0, 9.0, 15.0])
def test_operating_point_lies_on_the_curve_at_that_gain_reduction(qtbot, gain_reduction_db):
    picture = _shown(qtbot, pictures.CompressorCurve(), 300, 300)
    picture.show_params(COMPRESSOR)
    picture.show_operating_point(gain_reduction_db)
    assert picture.operating_point.isVisible()
    (x,), (y,) = picture.operating_point.getData()
    assert y == pytest.approx(_knee_curve_db(x, -24.0, 4.0, 6.0) + 6.0, abs=0.02)
    assert x + 6.0 - y == pytest.approx(gain_reduction_db, abs=0.02)


def test_operating_point_is_hidden_without_gain_reduction(qtbot):
    picture = _shown(qtbot, pictures.CompressorCurve(), 300, 300)
    picture.show_params(COMPRESSOR)
    picture.show_operating_point(3.0)
    picture.show_operating_point(0.0)
    assert not picture.operating_point.isVisible()
    picture.show_params({**COMPRESSOR, "ratio": 1.0})
    picture.show_operating_point(3.0)
    assert not picture.operating_point.isVisible()
    picture.show_params(COMPRESSOR)                      # at most 18 dB at 0 dBFS
    picture.show_operating_point(30.0)
    assert not picture.operating_point.isVisible()


# --- GainReductionMeter ------------------------------------------------------------------------

def test_gain_reduction_history_keeps_the_last_ten_seconds(qtbot):
    meter = _shown(qtbot, pictures.GainReductionMeter("Compressor"), 360, 200)
    times_s = np.arange(0.0, 60.0, 1 / 30)
    for t in times_s:
        meter.push(3.0 + math.sin(t), t)
    assert meter.history_length() == np.count_nonzero(times_s >= times_s[-1] - 10.0)
    x, y = meter.history.getData()
    assert x[0] >= -10.0 and x[-1] == 0.0
    assert y[-1] == pytest.approx(-(3.0 + math.sin(times_s[-1])))
    held = times_s >= times_s[-1] - pictures.GR_PEAK_HOLD_S
    peak = max(3.0 + math.sin(t) for t in times_s[held])
    assert meter.peak_line.getData()[1] == pytest.approx([-peak, -peak])
    assert meter.bar.opts["y1"][0] == pytest.approx(y[-1])
    assert meter.readout.text() == f"{y[-1]:.1f} dB"


def test_gain_reduction_history_is_bounded_at_any_push_rate(qtbot):
    meter = pictures.GainReductionMeter("Limiter")
    qtbot.addWidget(meter)
    for k in range(5000):
        meter.push(1.0, k * 1e-4)
    assert meter.history_length() == pictures.GR_HISTORY_MAX_POINTS


def test_gain_reduction_meter_restarts_when_time_goes_back(qtbot):
    meter = pictures.GainReductionMeter("Limiter")
    qtbot.addWidget(meter)
    for t in (5.0, 5.1, 5.2):
        meter.push(6.0, t)
    meter.push(1.0, 0.0)
    assert meter.history_length() == 1
    assert meter.peak_line.getData()[1] == pytest.approx([-1.0, -1.0])


# --- SaturationCurve ---------------------------------------------------------------------------

def test_saturation_curve_plots_the_transfer_curve(qtbot):
    picture = _shown(qtbot, pictures.SaturationCurve(), 300, 300)
    values = {"drive_db": 9.0, "hardness": 0.4, "mix": 0.8, "bias": 0.05}
    picture.show_params(values)
    x, y = picture.curve.getData()
    assert x[0] == -1.5 and x[-1] == 1.5
    np.testing.assert_allclose(y, saturation.transfer_curve(x, values))


def test_saturation_curve_of_a_hard_clipper_is_flat_beyond_its_ceiling(qtbot):
    picture = _shown(qtbot, pictures.SaturationCurve(), 300, 300)
    picture.show_params({"drive_db": 12.0, "hardness": 1.0, "mix": 1.0, "bias": 0.0})
    x, y = picture.curve.getData()
    gain = 10.0 ** (12.0 / 20.0)
    np.testing.assert_allclose(y, np.clip(gain * x, -1.0, 1.0) / gain, atol=1e-12)


# --- StereoScope -------------------------------------------------------------------------------

def _scope_points(scope) -> tuple[np.ndarray, np.ndarray]:
    """The trace's frames in time order (each older part ends on the next part's first frame)."""
    parts = [trace.getData() for trace in reversed(scope.traces)]
    parts = [(x, y) for x, y in parts if x is not None and len(x)]
    x = np.concatenate([px[:-1] for px, _ in parts[:-1]] + [parts[-1][0]])
    y = np.concatenate([py[:-1] for _, py in parts[:-1]] + [parts[-1][1]])
    return x, y


def test_scope_draws_mono_as_a_vertical_line(qtbot):
    scope = _shown(qtbot, pictures.StereoScope(), 300, 360)
    mono = np.sin(np.linspace(0.0, 20.0, 1000)).astype(np.float32) * 0.5
    scope.push_samples(np.stack([mono, mono]))
    x, y = _scope_points(scope)
    assert x.shape == (1000,)
    np.testing.assert_allclose(x, 0.0, atol=1e-7)
    np.testing.assert_allclose(y, math.sqrt(2.0) * mono, atol=1e-6)


def test_scope_puts_left_up_left_and_antiphase_across(qtbot):
    scope = _shown(qtbot, pictures.StereoScope(), 300, 360)
    left = np.full(100, 0.5, dtype=np.float32)
    scope.push_samples(np.stack([left, np.zeros_like(left)]))
    x, y = _scope_points(scope)
    assert np.all(x < 0) and np.allclose(-x, y)
    scope.push_samples(np.stack([left, -left]))
    x, y = scope.traces[0].getData()                     # the newest frames
    np.testing.assert_allclose(y[-100:], 0.0, atol=1e-7)
    np.testing.assert_allclose(np.abs(x[-100:]), math.sqrt(2.0) * 0.5, rtol=1e-6)


def test_scope_keeps_only_the_last_frames(qtbot):
    scope = pictures.StereoScope()
    qtbot.addWidget(scope)
    for start in range(0, 5000, 700):
        ramp = np.arange(start, start + 700, dtype=np.float32) / 1e4
        scope.push_samples(np.stack([ramp, ramp]))
    _, y = _scope_points(scope)
    assert y.shape == (pictures.SCOPE_FRAMES,)
    newest = np.arange(5600 - pictures.SCOPE_FRAMES, 5600) / 1e4 * math.sqrt(2.0)
    np.testing.assert_allclose(y, newest, rtol=1e-6)


@pytest.mark.parametrize(("correlation", "role"), [(0.6, "meter_ok"), (-0.5, "warning")])
def test_correlation_bar_fills_from_centre_to_the_value(qtbot, correlation, role):
    scope = _shown(qtbot, pictures.StereoScope(), 300, 360)
    scope.show_reading(correlation, 0.4)
    assert scope.correlation_readout.text() == f"Corr {correlation:+.2f}"
    assert scope.width_readout.text() == "Width 0.40"
    bar = scope.correlation_bar
    image = bar.grab().toImage()
    row = bar.height() // 2
    inside = bar.x_of(correlation / 2)                     # halfway between 0 and the value
    outside = bar.x_of(-correlation / 2)                   # the other side of the centre
    assert image.pixelColor(round(inside), row) == QColor(COLORS[role])
    assert image.pixelColor(round(outside), row) == QColor(COLORS["panel_alt"])


def test_infinite_width_reads_as_infinity(qtbot):
    scope = pictures.StereoScope()
    qtbot.addWidget(scope)
    scope.show_reading(-1.0, math.inf)
    assert scope.width_readout.text() == "Width ∞"


def test_many_updates_keep_the_interpreters_bools_alive(qtbot):
    """Each plot update emits Qt signals. PySide6 6.12.0 on Python 3.11 drops a reference to
    True on every ``Signal.emit``: after a few hundred meter updates the interpreter aborts
    ("bool_dealloc: deallocating True or False"). The pictures must survive a long session."""
    meter = pictures.GainReductionMeter("Compressor")
    qtbot.addWidget(meter)
    before = sys.getrefcount(True)
    for k in range(100):
        meter.push(2.0, k / 30)
    assert sys.getrefcount(True) > before - 50
