"""WaveformOverview: envelopes equal per-column min/max, mouse gestures map to times."""

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from greymaster_app.gui import waveform
from greymaster_app.gui.waveform import WaveformOverview, min_max_envelope

SAMPLE_RATE_HZ = 8000


def _noise_bursts(seconds: float, seed: int) -> np.ndarray:
    """Stereo noise whose level changes every 0.5 s, channels with different levels."""
    rng = np.random.default_rng(seed)
    samples = round(seconds * SAMPLE_RATE_HZ)
    levels = rng.uniform(0.05, 1.0, (2, math.ceil(samples / 4000)))
    return (rng.standard_normal((2, samples)) * 0.3
            * np.repeat(levels, 4000, axis=1)[:, :samples]).astype(np.float32)


def _expected_envelope(audio, max_columns):
    """Independent oracle: loop over the columns' sample slices."""
    per_column = -(-audio.shape[1] // max_columns)
    starts = range(0, audio.shape[1], per_column)
    minimum = [audio[:, s:s + per_column].min() for s in starts]
    maximum = [audio[:, s:s + per_column].max() for s in starts]
    return per_column, np.array(minimum), np.array(maximum)


@pytest.mark.parametrize("samples", [1, 3999, 4000, 4001, 12345, 80000])
def test_envelope_is_the_min_and_max_of_each_column(samples):
    audio = np.random.default_rng(samples).standard_normal((2, samples)).astype(np.float32)
    envelope = min_max_envelope(audio, SAMPLE_RATE_HZ)
    per_column, minimum, maximum = _expected_envelope(audio, waveform.MAX_COLUMNS)
    assert envelope.minimum.size <= waveform.MAX_COLUMNS
    np.testing.assert_array_equal(envelope.minimum, minimum)
    np.testing.assert_array_equal(envelope.maximum, maximum)
    np.testing.assert_allclose(envelope.edges_s[:-1],
                               np.arange(minimum.size) * per_column / SAMPLE_RATE_HZ)
    assert envelope.edges_s[-1] == pytest.approx(samples / SAMPLE_RATE_HZ)


def test_envelope_of_mono_audio():
    audio = np.sin(np.linspace(0, 40, 10001, dtype=np.float32))[np.newaxis]
    envelope = min_max_envelope(audio, SAMPLE_RATE_HZ, max_columns=10)
    _, minimum, maximum = _expected_envelope(audio, 10)
    np.testing.assert_array_equal(envelope.minimum, minimum)
    np.testing.assert_array_equal(envelope.maximum, maximum)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0:00"), (75.0, "1:15"), (599.6, "10:00"), (3725.0, "1:02:05")])
def test_format_tick(seconds, text):
    assert waveform.format_tick(seconds) == text


@pytest.mark.parametrize(("duration_s", "size_px", "step_s"), [
    (30.0, 700, 5), (200.0, 700, 30), (600.0, 1000, 60), (3.0, 800, 1)])
def test_time_axis_steps_leave_room_for_labels(qtbot, duration_s, size_px, step_s):
    spacing = waveform.TimeAxis("bottom").tickSpacing(0.0, duration_s, size_px)
    assert spacing == [(step_s, 0.0)]
    assert step_s / duration_s * size_px >= waveform.MIN_TICK_SPACING_PX


@pytest.fixture
def overview(qtbot):
    widget = WaveformOverview()
    qtbot.addWidget(widget)
    widget.resize(800, 160)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_set_audio_computes_both_envelopes(overview):
    before, after = _noise_bursts(20.0, 1), _noise_bursts(20.0, 2)
    overview.set_audio(before, after, SAMPLE_RATE_HZ)
    assert overview.duration_s == pytest.approx(20.0)
    for envelope, audio in ((overview.before_envelope, before), (overview.after_envelope, after)):
        _, minimum, maximum = _expected_envelope(audio, waveform.MAX_COLUMNS)
        np.testing.assert_array_equal(envelope.minimum, minimum)
        np.testing.assert_array_equal(envelope.maximum, maximum)
    # The drawn polygons span their lanes: original around +1, master around −1.
    top = overview._before_lane.path().boundingRect()
    assert (top.left(), top.right()) == pytest.approx((0.0, 20.0))
    assert top.top() == pytest.approx(waveform.BEFORE_CENTRE + before.min(), abs=1e-6)
    assert top.bottom() == pytest.approx(waveform.BEFORE_CENTRE + before.max(), abs=1e-6)
    bottom = overview._after_lane.path().boundingRect()
    assert bottom.top() == pytest.approx(waveform.AFTER_CENTRE + after.min(), abs=1e-6)


def test_set_after_replaces_only_the_master(overview):
    before = _noise_bursts(10.0, 3)
    overview.set_audio(before, None, SAMPLE_RATE_HZ)
    assert overview.after_envelope is None
    assert overview._after_lane.path().isEmpty()
    first_before = overview.before_envelope
    after = 0.5 * before
    overview.set_after(after)
    assert overview.before_envelope is first_before
    np.testing.assert_array_equal(overview.after_envelope.maximum,
                                  _expected_envelope(after, waveform.MAX_COLUMNS)[2])
    overview.set_after(None)
    assert overview.after_envelope is None


def _view_pixels(overview):
    """(left, width, middle y) of the plotting area in the plot's viewport pixels (pyqtgraph's
    scene coordinates are the viewport's pixels)."""
    assert overview._plot.mapFromScene(0.0, 0.0) == QPoint(0, 0)
    rect = overview._view.sceneBoundingRect()
    return rect.left(), rect.width(), rect.center().y()


def _pixel_at(overview, time_s):
    left, width, middle = _view_pixels(overview)
    return QPoint(round(left + time_s / overview.duration_s * width), round(middle))


def _pixel_s(overview):
    """The time one pixel spans, plus one for the mouse's whole-pixel position."""
    return 2.0 * overview.duration_s / _view_pixels(overview)[1]


def _time_at(overview, x):
    left, width, _ = _view_pixels(overview)
    return (x - left) / width * overview.duration_s


def test_click_seeks_to_the_time_under_the_mouse(qtbot, overview):
    overview.set_audio(_noise_bursts(30.0, 4), None, SAMPLE_RATE_HZ)
    pixel_s = _pixel_s(overview)
    for time_s in (3.0, 17.5, 29.0):
        point = _pixel_at(overview, time_s)
        with qtbot.waitSignal(overview.seekRequested) as blocker:
            qtbot.mouseClick(overview._plot.viewport(), Qt.MouseButton.LeftButton, pos=point)
        assert blocker.args[0] == pytest.approx(_time_at(overview, point.x()), abs=pixel_s)
        assert blocker.args[0] == pytest.approx(time_s, abs=pixel_s)


def test_nothing_happens_without_audio(qtbot, overview):
    with qtbot.assertNotEmitted(overview.seekRequested):
        qtbot.mouseClick(overview._plot.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(400, 60))


def _drag(overview, start_point, end_point):
    viewport = overview._plot.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start_point)
    steps = 8
    for step in range(1, steps + 1):
        x = start_point.x() + (end_point.x() - start_point.x()) * step // steps
        QTest.mouseMove(viewport, QPoint(x, start_point.y()))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end_point)


def test_drag_selects_a_loop_region(qtbot, overview):
    overview.set_audio(_noise_bursts(30.0, 5), None, SAMPLE_RATE_HZ)
    pixel_s = _pixel_s(overview)
    with qtbot.waitSignal(overview.loopChanged) as blocker, \
            qtbot.assertNotEmitted(overview.seekRequested):
        _drag(overview, _pixel_at(overview, 20.0), _pixel_at(overview, 8.0))  # right to left
    start_s, end_s = blocker.args
    assert start_s == pytest.approx(8.0, abs=pixel_s)
    assert end_s == pytest.approx(20.0, abs=pixel_s)
    assert overview.loop_s == pytest.approx((start_s, end_s))


def test_dragging_the_loop_region_moves_it(qtbot, overview):
    overview.set_audio(_noise_bursts(30.0, 12), None, SAMPLE_RATE_HZ)
    overview.set_loop(5.0, 10.0)
    QApplication.processEvents()  # let the view place the region before the mouse finds it
    pixel_s = _pixel_s(overview)
    with qtbot.waitSignal(overview.loopChanged) as blocker:
        _drag(overview, _pixel_at(overview, 7.5), _pixel_at(overview, 12.5))
    assert blocker.args == pytest.approx([10.0, 15.0], abs=2 * pixel_s)
    assert blocker.args[1] - blocker.args[0] == pytest.approx(5.0)


def test_right_click_clears_the_loop(qtbot, overview):
    overview.set_audio(_noise_bursts(30.0, 6), None, SAMPLE_RATE_HZ)
    overview.set_loop(5.0, 10.0)
    with qtbot.waitSignal(overview.loopCleared), qtbot.assertNotEmitted(overview.seekRequested):
        qtbot.mouseClick(overview._plot.viewport(), Qt.MouseButton.RightButton,
                         pos=_pixel_at(overview, 20.0))
    assert overview.loop_s is None


def test_setters_emit_nothing(qtbot, overview):
    with qtbot.assertNotEmitted(overview.loopChanged), \
            qtbot.assertNotEmitted(overview.loopCleared), \
            qtbot.assertNotEmitted(overview.seekRequested):
        overview.set_audio(_noise_bursts(30.0, 7), _noise_bursts(30.0, 8), SAMPLE_RATE_HZ)
        overview.set_loop(4.0, 9.5)
        overview.set_playhead(12.0)
        overview.clear_loop()
        overview.set_loop(20.0, 25.0)
        overview.set_audio(_noise_bursts(10.0, 9), None, SAMPLE_RATE_HZ)  # loop now past the end
        overview.set_loop(1.0, 2.0)
    assert overview.loop_s == pytest.approx((1.0, 2.0))


def test_playhead_moves(qtbot, overview):
    overview.set_audio(_noise_bursts(30.0, 9), None, SAMPLE_RATE_HZ)
    assert overview.playhead_s == 0.0
    overview.set_playhead(12.25)
    assert overview.playhead_s == 12.25
    # It is drawn there: the line's centre is at the time's pixel (once the view has updated).
    QApplication.processEvents()
    x = overview._playhead.sceneBoundingRect().center().x()
    assert _time_at(overview, x) == pytest.approx(12.25, abs=0.5 * _pixel_s(overview))


def test_new_audio_clears_the_loop_and_rewinds(overview):
    overview.set_audio(_noise_bursts(30.0, 10), None, SAMPLE_RATE_HZ)
    overview.set_loop(3.0, 4.0)
    overview.set_playhead(20.0)
    overview.set_audio(_noise_bursts(12.0, 11), None, SAMPLE_RATE_HZ)
    assert overview.loop_s is None
    assert overview.playhead_s == 0.0
    assert overview.duration_s == pytest.approx(12.0)
