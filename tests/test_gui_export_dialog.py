"""The Export… dialog: choices, a real export on a worker thread, errors, cancel and close."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyloudnorm
import pytest
import soundfile as sf
from PySide6.QtWidgets import QApplication

from greymaster_app.gui import export_dialog as ed
from greymaster_app.gui.export_dialog import ExportDialog
from greymaster_app.gui.theme import apply_dark_theme
from model import audio_io, mastering, targeting
from model.dsp.truepeak import true_peak_dbtp
from model.errors import ExportError, ParamsError
from model.params import ChainParams
from tests.signals import music_like

FS = 44100
EXPORT_TIMEOUT_MS = 180_000


def write_mix(path: Path, duration_s: float, seed: int = 5) -> Path:
    sf.write(path, (music_like(duration_s, FS, seed=seed) * 0.25).T, FS, subtype="PCM_24")
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def mix(tmp_path) -> Path:
    return write_mix(tmp_path / "mix.wav", 4.0)


def make_dialog(qtbot, input_path: Path, lufs: float = -14.0, ceiling: float = -1.0,
                **kwargs) -> ExportDialog:
    dialog = ExportDialog(input_path, ChainParams(), FS, lufs, ceiling, **kwargs)
    qtbot.addWidget(dialog)
    return dialog


def run_export(qtbot, dialog: ExportDialog) -> None:
    """Start the export and wait until it has ended, however it ends."""
    dialog.start_export()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=EXPORT_TIMEOUT_MS)


def choose(combo, data) -> None:
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


@pytest.fixture
def dark_theme(qapp):
    """The app's theme for screenshots, with the test process's look restored afterwards."""
    style, palette, sheet, font = (qapp.style().name(), qapp.palette(), qapp.styleSheet(),
                                   qapp.font())
    apply_dark_theme(qapp)
    yield
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setFont(font)


@pytest.mark.parametrize(("format_name", "rate_hz", "subtype"), [
    ("wav16", 48000, "PCM_16"), ("flac24", FS, "PCM_24"), ("wav32f", 96000, "FLOAT")])
def test_export_meets_target_in_the_chosen_format_and_rate(qtbot, mix, format_name, rate_hz,
                                                           subtype):
    before = digest(mix)
    dialog = make_dialog(qtbot, mix)
    choose(dialog.format_combo, format_name)
    choose(dialog.rate_combo, rate_hz)
    dialog.lufs_spin.setValue(-12.5)
    dialog.ceiling_spin.setValue(-1.5)
    with qtbot.waitSignal(dialog.exported, timeout=EXPORT_TIMEOUT_MS) as signal:
        dialog.start_export()
    qtbot.waitUntil(lambda: not dialog.is_running())

    output = Path(dialog.output_edit.text())
    assert output.suffix == audio_io.FORMATS[format_name].extensions[0]
    info = sf.info(output)
    assert (info.subtype, info.samplerate, info.channels) == (subtype, rate_hz, 2)
    assert info.duration == pytest.approx(4.0, abs=1e-3)
    audio, rate = sf.read(output, dtype="float64")
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-12.5, abs=0.1)
    assert true_peak_dbtp(audio.T) <= -1.5

    report = signal.args[0]
    assert dialog.report is report and report.output_path == output
    doc = json.loads(Path(f"{output}.json").read_text())
    assert doc["output"] == str(output) and doc["format"] == format_name
    assert doc["targeting"]["target_lufs"] == -12.5 and doc["targeting"]["ceiling_dbtp"] == -1.5
    summary = dialog.summary_text()
    assert str(output) in summary and str(rate_hz) in summary
    assert ed.format_title(format_name) in summary
    assert f"{ed.signed(report.after.integrated_lufs)} LUFS" in summary
    assert f"{ed.signed(report.after.true_peak_dbtp)} dBTP" in summary
    assert f"{report.after.lra_lu:.1f} LU" in summary
    assert dialog.error_text() == "" and not dialog.warning_label.text()
    assert digest(mix) == before


def test_dither_choice_reaches_the_file(qtbot, tmp_path):
    """Without dither, 16-bit rounding of digital silence stays silent; with TPDF dither
    (triangular on ±1 LSB) rounding gives ±1 LSB with probability 1/4: an RMS of LSB/2."""
    silence_then_mix = tmp_path / "quiet.wav"
    audio = music_like(3.0, FS, seed=2) * 0.25
    audio[:, : FS] = 0.0
    sf.write(silence_then_mix, audio.T, FS, subtype="FLOAT")
    lsb = 2.0 ** -15
    for dither, expected_rms in ((False, 0.0), (True, lsb / 2)):
        dialog = make_dialog(qtbot, silence_then_mix)
        choose(dialog.format_combo, "wav16")
        dialog.dither_check.setChecked(dither)
        dialog.output_edit.setText(str(tmp_path / f"dither-{dither}.wav"))
        run_export(qtbot, dialog)
        assert dialog.report is not None, dialog.error_text()
        written, _ = sf.read(dialog.report.output_path, dtype="float64")
        head = written[FS // 2: FS - FS // 10]
        assert (head ** 2).mean() ** 0.5 == pytest.approx(expected_rms, rel=0.1, abs=1e-9)


def test_default_output_is_beside_the_input_and_never_the_input(qtbot, tmp_path):
    source = write_mix(tmp_path / "song.wav", 0.5)
    dialog = make_dialog(qtbot, source)
    assert Path(dialog.output_edit.text()) == tmp_path / "song (master).wav"
    assert dialog.format_combo.currentData() == "wav24"
    named = write_mix(tmp_path / "song (master).wav", 0.5)
    dialog = make_dialog(qtbot, named)
    assert Path(dialog.output_edit.text()) != named
    chosen = tmp_path / "elsewhere.wav"
    assert Path(make_dialog(qtbot, source, output_path=chosen).output_edit.text()) == chosen


def test_format_sets_the_suffix_and_dither_availability(qtbot, mix):
    dialog = make_dialog(qtbot, mix)
    dialog.show()
    assert not dialog.overwrite_label.isVisible()
    assert dialog.dither_check.isEnabled() and dialog.dither_check.isChecked()
    choose(dialog.format_combo, "flac24")
    assert dialog.output_edit.text().endswith("mix (master).flac")
    assert dialog.dither_check.isEnabled() and dialog.dither_check.isChecked()
    dialog.dither_check.setChecked(False)
    choose(dialog.format_combo, "wav32f")
    assert dialog.output_edit.text().endswith("mix (master).wav")
    assert not dialog.dither_check.isEnabled() and not dialog.dither_check.isChecked()
    choose(dialog.format_combo, "wav16")
    assert dialog.dither_check.isEnabled() and not dialog.dither_check.isChecked()
    dialog.dither_check.setChecked(True)
    choose(dialog.format_combo, "wav32f")
    choose(dialog.format_combo, "wav24")
    assert dialog.dither_check.isChecked()


def test_an_existing_output_is_flagged_before_export(qtbot, mix, tmp_path):
    dialog = make_dialog(qtbot, mix)
    dialog.show()
    assert not dialog.overwrite_label.isVisible()
    (tmp_path / "taken.wav").touch()
    dialog.output_edit.setText(str(tmp_path / "taken.wav"))
    assert dialog.overwrite_label.isVisible()
    dialog.output_edit.setText(str(tmp_path / "free.wav"))
    assert not dialog.overwrite_label.isVisible()


def test_a_typed_suffix_picks_the_container(qtbot, mix, tmp_path):
    dialog = make_dialog(qtbot, mix)
    dialog.output_edit.setText(str(tmp_path / "out.flac"))
    dialog.output_edit.editingFinished.emit()
    assert dialog.format_combo.currentData() == "flac24"
    assert dialog.output_edit.text() == str(tmp_path / "out.flac")
    dialog.output_edit.setText(str(tmp_path / "out.wav"))
    dialog.output_edit.editingFinished.emit()
    assert audio_io.FORMATS[dialog.format_combo.currentData()].container == "WAV"


@pytest.mark.parametrize("source_hz", [22050, 44100, 48000, 192000])
def test_rates_are_the_source_and_common_rates_sorted_and_unique(qtbot, mix, source_hz):
    dialog = ExportDialog(mix, ChainParams(), source_hz, -14.0, -1.0)
    qtbot.addWidget(dialog)
    rates = [dialog.rate_combo.itemData(i) for i in range(dialog.rate_combo.count())]
    assert rates == sorted({source_hz, 44100, 48000, 88200, 96000})
    labels = [dialog.rate_combo.itemText(i) for i in range(dialog.rate_combo.count())]
    assert [label for label in labels if "(source)" in label] == [f"{source_hz} Hz (source)"]
    assert dialog.rate_combo.currentData() == source_hz


def test_presets_set_the_target_and_edits_select_custom(qtbot, mix):
    dialog = make_dialog(qtbot, mix, lufs=-14.0, ceiling=-1.0)
    titles = [dialog.preset_combo.itemText(i) for i in range(dialog.preset_combo.count())]
    assert titles == [p.title for p in targeting.TARGET_PRESETS] + ["Custom"]
    assert dialog.preset_combo.currentData() == "streaming"
    assert dialog.promise_label.text() == (
        "Will export at −14.0 LUFS integrated, true peak ≤ −1.0 dBTP")
    for preset in targeting.TARGET_PRESETS:
        choose(dialog.preset_combo, preset.key)
        assert (dialog.lufs_spin.value(), dialog.ceiling_spin.value()) == (
            preset.lufs, preset.ceiling_dbtp)
    dialog.lufs_spin.setValue(-11.0)
    assert dialog.preset_combo.currentText() == "Custom"
    assert dialog.promise_label.text().startswith("Will export at −11.0 LUFS integrated")
    choose(dialog.preset_combo, "apple")
    dialog.ceiling_spin.setValue(-2.0)
    assert dialog.preset_combo.currentText() == "Custom"
    assert dialog.promise_label.text().endswith("true peak ≤ −2.0 dBTP")
    assert dialog.lufs_spin.value() == -16.0


def test_a_target_off_every_preset_opens_as_custom(qtbot, mix):
    dialog = make_dialog(qtbot, mix, lufs=-10.5, ceiling=-0.5)
    assert dialog.preset_combo.currentText() == "Custom"
    assert (dialog.lufs_spin.value(), dialog.ceiling_spin.value()) == (-10.5, -0.5)


def test_spin_ranges_are_the_ones_check_target_accepts(qtbot, mix):
    dialog = make_dialog(qtbot, mix)
    for lufs in (dialog.lufs_spin.minimum(), dialog.lufs_spin.maximum()):
        for ceiling in (dialog.ceiling_spin.minimum(), dialog.ceiling_spin.maximum()):
            targeting.check_target(lufs, ceiling)
    with pytest.raises(ParamsError):
        targeting.check_target(dialog.lufs_spin.maximum() + 0.1, -1.0)


@pytest.mark.parametrize("output", ["missing/out.wav", "", "mix.wav", "out.mp3"])
def test_a_bad_output_shows_an_error_and_writes_nothing(qtbot, mix, tmp_path, output):
    before = digest(mix)
    dialog = make_dialog(qtbot, mix)
    dialog.output_edit.setText(str(tmp_path / output) if output else "")
    dialog.start_export()
    assert not dialog.is_running()
    assert dialog.error_text() and "\n" not in dialog.error_text()
    assert dialog.export_button.isEnabled() and dialog.report is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]
    assert digest(mix) == before


def test_errors_from_the_job_are_shown_and_the_dialog_stays_usable(qtbot, mix, monkeypatch):
    def fails(*args, **kwargs):
        raise ExportError("could not write out.wav: No space left on device")

    monkeypatch.setattr(mastering, "master_file", fails)
    dialog = make_dialog(qtbot, mix)
    params = dialog.params
    run_export(qtbot, dialog)
    assert dialog.error_text() == "could not write out.wav: No space left on device"
    assert dialog.summary_text() == "" and dialog.report is None
    assert dialog.export_button.isEnabled() and dialog.params is params

    def crashes(*args, **kwargs):
        raise ValueError("operands could not be broadcast\nsecond line")

    monkeypatch.setattr(mastering, "master_file", crashes)
    run_export(qtbot, dialog)
    assert dialog.error_text() == "Export failed: operands could not be broadcast"


def test_a_silent_input_warns_that_the_target_was_missed(qtbot, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, [[0.0, 0.0]] * FS, FS, subtype="PCM_16")
    dialog = make_dialog(qtbot, silent)
    run_export(qtbot, dialog)
    assert dialog.report is not None, dialog.error_text()
    assert dialog.warning_label.text().startswith("Off target: the input is silent")
    assert dialog.report.targeting.message() in dialog.warning_label.text()


def test_cancel_during_the_export_leaves_no_file(qtbot, tmp_path):
    source = write_mix(tmp_path / "long.wav", 60.0)
    before = digest(source)
    dialog = make_dialog(qtbot, source)
    exported = []
    dialog.exported.connect(exported.append)
    dialog.progress_bar.valueChanged.connect(
        lambda value: value > 0 and dialog.cancel_export())
    run_export(qtbot, dialog)
    assert dialog.error_text() == "Cancelled: nothing was written"
    assert exported == [] and dialog.report is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav"]
    assert digest(source) == before
    assert dialog.export_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_closing_while_running_cancels_and_waits(qtbot, tmp_path):
    source = write_mix(tmp_path / "long.wav", 60.0)
    dialog = make_dialog(qtbot, source)
    dialog.show()
    dialog.start_export()
    assert dialog.is_running() and dialog.cancel_button.isEnabled()
    assert not dialog.format_combo.isEnabled()
    thread = dialog._thread
    dialog.close()
    assert thread.isFinished() and not dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.is_running())
    assert dialog.report is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav"]


def test_screenshots_before_and_after_an_export(qtbot, mix, dark_theme):
    dialog = make_dialog(qtbot, mix)
    dialog.show()
    QApplication.processEvents()
    dialog.grab().save("/tmp/h5-before.png")
    run_export(qtbot, dialog)
    assert dialog.report is not None, dialog.error_text()
    dialog.adjustSize()
    QApplication.processEvents()
    dialog.grab().save("/tmp/h5-after.png")
