"""LoudnessMeters and SpectrumView: the numbers, colours and curves they show."""

import math

import numpy as np
import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel

from greymaster_app.gui import meters
from greymaster_app.gui.meters import LevelBar, LoudnessMeters, SpectrumView
from greymaster_app.gui.theme import COLORS
from greymaster_app.playback.meters import PathReading

SAMPLE_RATE_HZ = 48000.0
SPECTRUM_SIZE = 4096


def _reading(**values) -> PathReading:
    fields = dict(momentary_lufs=-14.0, short_term_lufs=-15.0, integrated_lufs=-16.0,
                  loudness_range_lu=6.0, true_peak_dbtp=-3.0, true_peak_max_dbtp=-1.5,
                  correlation=0.9, width=0.3, spectrum_db=np.zeros(3, dtype=np.float32))
    fields.update(values)
    return PathReading(**fields)


@pytest.fixture
def loudness(qtbot):
    widget = LoudnessMeters()
    qtbot.addWidget(widget)
    widget.resize(260, 360)
    widget.show()
    return widget


def _text(widget, path, row):
    return widget.findChild(QLabel, f"{path}.{row}").text()


def test_shows_the_numbers_of_each_path(loudness):
    loudness.show_readings(
        _reading(momentary_lufs=-9.04, short_term_lufs=-10.96, integrated_lufs=-11.25,
                 loudness_range_lu=7.34, true_peak_max_dbtp=0.46),
        _reading(momentary_lufs=-13.96, short_term_lufs=-14.0, integrated_lufs=-14.04,
                 loudness_range_lu=4.0, true_peak_max_dbtp=-1.04))
    expected = {
        "in": {"momentary": "−9.0", "short_term": "−11.0", "integrated": "−11.2",
               "true_peak": "0.5", "loudness_range": "7.3"},
        "out": {"momentary": "−14.0", "short_term": "−14.0", "integrated": "−14.0",
                "true_peak": "−1.0", "loudness_range": "4.0"},
    }
    for path, rows in expected.items():
        for row, text in rows.items():
            assert _text(loudness, path, row) == text, (path, row)


def test_minus_infinity_and_missing_values(loudness):
    silent = _reading(momentary_lufs=-math.inf, short_term_lufs=-math.inf,
                      integrated_lufs=-math.inf, true_peak_max_dbtp=-math.inf,
                      loudness_range_lu=math.nan)
    loudness.show_readings(silent, None)
    for row in ("momentary", "short_term", "integrated", "true_peak"):
        assert _text(loudness, "in", row) == "−∞"
        assert _text(loudness, "out", row) == "—"
    assert _text(loudness, "in", "loudness_range") == "—"
    assert _text(loudness, "out", "loudness_range") == "—"


def test_reset_empties_both_paths(loudness):
    loudness.show_readings(_reading(), _reading())
    loudness.reset()
    for path in meters.PATHS:
        for row, _, _ in meters.ROWS:
            assert _text(loudness, path, row) == "—"


@pytest.mark.parametrize(("value", "text"), [
    (-14.0, "−14.0"), (0.0, "0.0"), (0.46, "0.5"), (-0.04, "−0.0"), (-math.inf, "−∞"),
    (math.nan, "—"), (None, "—")])
def test_format_level(value, text):
    assert meters.format_level(value) == text


def _peak_style(widget):
    return widget.findChild(QLabel, "out.true_peak").styleSheet()


def test_output_true_peak_turns_warning_above_the_ceiling(loudness):
    loudness.set_target(-14.0, -1.0)
    loudness.show_readings(_reading(true_peak_max_dbtp=0.5), _reading(true_peak_max_dbtp=-0.9))
    assert COLORS["warning"] in _peak_style(loudness)
    assert COLORS["warning"] not in loudness.findChild(QLabel, "in.true_peak").styleSheet()
    loudness.show_readings(None, _reading(true_peak_max_dbtp=-1.0))  # at the ceiling is fine
    assert COLORS["warning"] not in _peak_style(loudness)
    loudness.set_target(-14.0, -2.0)  # a lower ceiling re-colours the value already shown
    assert COLORS["warning"] in _peak_style(loudness)


def test_target_marks_the_bars(loudness):
    loudness.set_target(-16.0, -1.5)
    for path in meters.PATHS:
        assert loudness.findChild(LevelBar, f"{path}.loudness_bar").marker_db == -16.0
    assert loudness.findChild(LevelBar, "out.true_peak_bar").marker_db == -1.5
    assert loudness.findChild(LevelBar, "in.true_peak_bar").marker_db is None


def test_bars_show_momentary_loudness_and_true_peak(loudness):
    loudness.show_readings(_reading(momentary_lufs=-20.0, true_peak_dbtp=-6.0,
                                    true_peak_max_dbtp=-2.0), None)
    assert loudness.findChild(LevelBar, "in.loudness_bar").level_db == -20.0
    bar = loudness.findChild(LevelBar, "in.true_peak_bar")
    assert (bar.level_db, bar.hold_db) == (-6.0, -2.0)
    assert loudness.findChild(LevelBar, "out.loudness_bar").level_db == -math.inf


def _pixel(bar, value_db):
    """The colour painted at the bar's centre column at the height of ``value_db``."""
    image = bar.grab().toImage()
    low, high = bar.scale_db
    padding = meters._BAR_PADDING_PX
    y = padding + (high - value_db) / (high - low) * (bar.height() - 2 * padding)
    return image.pixelColor(bar.width() // 2, round(y))


def test_true_peak_bar_is_drawn_in_warning_colour_above_the_ceiling(qtbot):
    bar = LevelBar(meters.TRUE_PEAK_SCALE_DB, COLORS["after"], COLORS["warning"])
    qtbot.addWidget(bar)
    bar.resize(meters.BAR_WIDTH_PX, 306)
    bar.set_marker(-6.0)
    bar.set_level(-3.0)
    assert _pixel(bar, -15.0) == QColor(COLORS["after"])
    assert _pixel(bar, -4.5) == QColor(COLORS["warning"])
    assert _pixel(bar, -1.5) == QColor(COLORS["panel_alt"])  # above the level: empty
    bar.set_marker(None)
    assert _pixel(bar, -4.5) == QColor(COLORS["after"])


# Spectrum


def _bins():
    return np.fft.rfftfreq(SPECTRUM_SIZE, 1.0 / SAMPLE_RATE_HZ)


def _band_mean_db(frequencies_hz, spectrum_db, centre_hz, fraction):
    """Independent oracle: mean of the linearly interpolated power on a dense grid."""
    half_band = 2.0 ** (0.5 / fraction)
    low = max(centre_hz / half_band, frequencies_hz[0])
    high = min(centre_hz * half_band, frequencies_hz[-1])
    dense = np.linspace(low, high, 200001)
    power = np.interp(dense, frequencies_hz, 10.0 ** (spectrum_db / 10.0))
    return 10.0 * np.log10(np.trapezoid(power, dense) / (high - low))


def test_octave_smoothing_is_the_band_mean_of_the_interpolated_power():
    rng = np.random.default_rng(1)
    frequencies_hz = _bins()
    spectrum_db = rng.uniform(-90.0, -10.0, frequencies_hz.size)
    display_hz = np.array([20.0, 31.0, 100.0, 1000.0, 5000.0, 19000.0, 23900.0])
    smoothed = meters.octave_smoothed_db(frequencies_hz, spectrum_db, display_hz, 6)
    for frequency_hz, value_db in zip(display_hz, smoothed, strict=True):
        assert value_db == pytest.approx(
            _band_mean_db(frequencies_hz, spectrum_db, frequency_hz, 6), abs=1e-3)


def test_octave_smoothing_keeps_a_flat_spectrum_flat():
    frequencies_hz = _bins()
    display_hz = meters.log_frequency_grid(20.0, 20000.0, 24)
    smoothed = meters.octave_smoothed_db(frequencies_hz, np.full(frequencies_hz.size, -42.0),
                                         display_hz, 6)
    np.testing.assert_allclose(smoothed, -42.0, atol=1e-9)


def test_log_frequency_grid():
    grid = meters.log_frequency_grid(20.0, 20000.0, 24)
    assert grid[0] == 20.0
    assert grid[-1] <= 20000.0 < grid[-1] * 2.0 ** (1 / 24)
    np.testing.assert_allclose(grid[1:] / grid[:-1], 2.0 ** (1 / 24))


@pytest.fixture
def spectrum(qtbot):
    widget = SpectrumView()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _plotted(curve):
    x, y = curve.getData()
    return 10.0 ** x, y


def test_spectrum_shows_smoothed_before_and_after(spectrum):
    frequencies_hz = _bins()
    rng = np.random.default_rng(2)
    before_db = rng.uniform(-80.0, -20.0, frequencies_hz.size).astype(np.float32)
    after_db = before_db + 6.0
    spectrum.show_spectra(frequencies_hz, before_db, after_db)
    display_hz = spectrum.display_frequencies_hz
    assert display_hz[0] == pytest.approx(20.0)
    assert 19000.0 < display_hz[-1] <= 20000.0
    for index in (0, len(display_hz) // 2, len(display_hz) - 1):
        assert spectrum.before_db[index] == pytest.approx(
            _band_mean_db(frequencies_hz, before_db, display_hz[index], 6), abs=1e-3)
    np.testing.assert_allclose(spectrum.after_db, spectrum.before_db + 6.0, atol=1e-4)
    x_hz, y_db = _plotted(spectrum._before_curve)
    np.testing.assert_allclose(x_hz, display_hz)
    np.testing.assert_allclose(y_db, spectrum.before_db)
    np.testing.assert_allclose(_plotted(spectrum._after_curve)[1], spectrum.after_db)


def test_spectrum_rises_at_once_and_falls_exponentially(spectrum):
    frequencies_hz = _bins()
    loud = np.full(frequencies_hz.size, -20.0)
    quiet = np.full(frequencies_hz.size, -60.0)
    spectrum.show_spectra(frequencies_hz, quiet, quiet)
    spectrum.show_spectra(frequencies_hz, loud, quiet)
    np.testing.assert_allclose(spectrum.before_db, -20.0, atol=1e-9)
    expected_db = -20.0
    for _ in range(3):
        spectrum.show_spectra(frequencies_hz, quiet, quiet)
        expected_db = meters.FALL_RETENTION * expected_db + (1 - meters.FALL_RETENTION) * -60.0
        np.testing.assert_allclose(spectrum.before_db, expected_db, atol=1e-9)
    np.testing.assert_allclose(spectrum.after_db, -60.0, atol=1e-9)


def test_spectrum_stops_at_nyquist_and_restarts_on_a_new_rate(spectrum):
    low_rate_bins = np.fft.rfftfreq(SPECTRUM_SIZE, 1.0 / 22050.0)
    loud = np.full(low_rate_bins.size, -20.0)
    spectrum.show_spectra(low_rate_bins, loud, loud)
    assert spectrum.display_frequencies_hz[-1] <= 11025.0
    quiet = np.full(_bins().size, -70.0)
    spectrum.show_spectra(_bins(), quiet, quiet)  # no fall from the old rate's values
    np.testing.assert_allclose(spectrum.before_db, -70.0, atol=1e-9)
    spectrum.reset()
    assert spectrum.before_db is None
    for curve in (spectrum._before_curve, spectrum._after_curve):
        x, _ = curve.getData()
        assert x is None or len(x) == 0
