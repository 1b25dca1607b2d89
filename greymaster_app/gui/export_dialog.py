"""The Export… dialog: output file, format, sample rate, dither and loudness target, then a
mastering job on a worker thread with progress, cancel and a summary of what was written.

The job is ``model.mastering.master_file`` plus the JSON report beside the master; the dialog only
collects the choices, runs the job off the GUI thread and shows the outcome. It never changes the
params it was given: a failed or cancelled export leaves the session as it was.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from greymaster_app.gui.theme import COLORS, number_font
from model import audio_io, mastering, targeting
from model.errors import ExportCancelled, ExportError, GreyMasterError
from model.mastering import JobReport
from model.params import ChainParams, spec

log = logging.getLogger(__name__)

COMMON_RATES_HZ = (44100, 48000, 88200, 96000)
"""Sample rates offered besides the source's own."""

DEFAULT_FORMAT = "wav24"
CUSTOM_TARGET = "Custom"
CANCELLED_TEXT = "Cancelled: nothing was written"
TARGET_TOLERANCE_LU = 0.1
"""A master further than this from its loudness target gets a warning line."""

PHASE_TITLES = {"load": "Loading", "propose": "Proposing", "render": "Rendering",
                "targeting": "Targeting loudness", "export": "Writing", "verify": "Verifying"}
"""What the progress bar says during each phase of ``mastering.PHASES``."""

PROGRESS_STEPS = 1000
"""Resolution of the progress bar (steps for a whole export)."""


def format_title(name: str) -> str:
    """A person's name for an export format key of ``audio_io.FORMATS``: "WAV 24-bit",
    "WAV 32-bit float", "FLAC 24-bit"."""
    fmt = audio_io.FORMATS[name]
    depth = "32-bit float" if fmt.bits is None else f"{fmt.bits}-bit"
    return f"{fmt.container} {depth}"


def signed(value: float, decimals: int = 1) -> str:
    """A number with a typographic minus sign ("−14.0"); "−∞" for silence."""
    if math.isinf(value) and value < 0:
        return "−∞"
    return f"{value:.{decimals}f}".replace("-", "−")


def promise_text(target_lufs: float, ceiling_dbtp: float) -> str:
    """The line that says what the export will deliver."""
    return (f"Will export at {signed(target_lufs)} LUFS integrated, "
            f"true peak ≤ {signed(ceiling_dbtp)} dBTP")


def default_output_path(input_path: Path, format_name: str) -> Path:
    """"<stem> (master).<ext>" next to the input; never the input itself (the name always
    differs from the input's by the added " (master)")."""
    extension = audio_io.FORMATS[format_name].extensions[0]
    return input_path.with_name(f"{input_path.stem} (master){extension}")


def report_path(output_path: Path) -> Path:
    """Where the JSON report of a master goes: beside it, "<output>.json"."""
    return output_path.with_name(output_path.name + ".json")


@dataclass(frozen=True)
class ExportRequest:
    """Everything one export needs. ``sample_rate_hz`` None keeps the source rate."""

    input_path: Path
    output_path: Path
    params: ChainParams
    target_lufs: float
    ceiling_dbtp: float
    format_name: str
    sample_rate_hz: int | None
    dither: bool


class ExportThread(QThread):
    """Runs one export (master, then the JSON report beside it) off the GUI thread.

    Exactly one of ``succeeded`` (the JobReport), ``failed`` (a one-line message) or
    ``cancelled`` is emitted at the end. ``progress`` carries (phase, fraction of the whole job
    0–1) and is emitted only when the phase changes or the bar would move.
    """

    progress = Signal(str, float)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, request: ExportRequest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self.cancel_event = threading.Event()
        self._last_progress: tuple[str, int] | None = None

    def _report_progress(self, phase: str, fraction: float) -> None:
        step = (phase, round(min(max(fraction, 0.0), 1.0) * PROGRESS_STEPS))
        if step != self._last_progress:
            self._last_progress = step
            self.progress.emit(phase, step[1] / PROGRESS_STEPS)

    def run(self) -> None:
        request = self.request
        try:
            report = mastering.master_file(
                request.input_path, request.output_path, request.params, request.target_lufs,
                request.ceiling_dbtp, request.format_name, request.sample_rate_hz,
                dither=request.dither, progress=self._report_progress,
                cancel=self.cancel_event)
            mastering.write_json(report.to_json(), report_path(report.output_path))
        except ExportCancelled:
            self.cancelled.emit()
        except GreyMasterError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug: logged in full, shown in one line, app kept
            log.exception("export of %s failed", request.input_path)
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self.failed.emit(f"Export failed: {first_line}")
        else:
            self.succeeded.emit(report)


class ExportDialog(QDialog):
    """Choose where and how to export the master, run the export, show what came out.

    Args:
        input_path: the track being mastered (never written to).
        params: the chain settings to master with (not modified).
        source_rate_hz: the input's sample rate, offered as "(source)".
        target_lufs, ceiling_dbtp: the loudness target to start from (a preset when one
            matches, otherwise Custom).
        parent: the owning window.
        output_path: the output file to start from (default "<stem> (master).wav" beside the
            input).
    """

    exported = Signal(object)
    """The JobReport of a finished export."""

    def __init__(self, input_path: Path, params: ChainParams, source_rate_hz: int,
                 target_lufs: float, ceiling_dbtp: float, parent: QWidget | None = None,
                 output_path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export master")
        self.input_path = Path(input_path)
        self.params = params
        self.report: JobReport | None = None
        self._thread: ExportThread | None = None
        self._dither_wanted = True
        self._status_is_error = False

        self.output_edit = QLineEdit(str(output_path or default_output_path(self.input_path,
                                                                              DEFAULT_FORMAT)))
        self.browse_button = QPushButton("Browse…")
        self.format_combo = QComboBox()
        for name in audio_io.FORMATS:
            self.format_combo.addItem(format_title(name), name)
        self.rate_combo = QComboBox()
        for rate_hz in sorted({source_rate_hz, *COMMON_RATES_HZ}):
            label = f"{rate_hz} Hz" + (" (source)" if rate_hz == source_rate_hz else "")
            self.rate_combo.addItem(label, rate_hz)
        self.rate_combo.setCurrentIndex(self.rate_combo.findData(source_rate_hz))
        self._source_rate_hz = source_rate_hz
        self.dither_check = QCheckBox("TPDF dither")
        self.dither_check.setToolTip("Triangular dither before rounding to integer samples")
        self.preset_combo = QComboBox()
        for preset in targeting.TARGET_PRESETS:
            self.preset_combo.addItem(preset.title, preset.key)
        self.preset_combo.addItem(CUSTOM_TARGET, None)
        self.lufs_spin = self._spin(*targeting.TARGET_RANGE_LUFS, " LUFS", 0.5)
        ceiling = spec("limiter.ceiling_dbtp")
        self.ceiling_spin = self._spin(ceiling.minimum, ceiling.maximum, " dBTP", 0.1)
        self.promise_label = QLabel()
        self.overwrite_label = QLabel("A file with this name exists and will be replaced.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, PROGRESS_STEPS)
        self.progress_bar.setFormat("")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")

        self._layout()
        self._style()
        self._connect()
        self.format_combo.setCurrentIndex(self.format_combo.findData(DEFAULT_FORMAT))
        self._on_format_changed()
        self._set_target(target_lufs, ceiling_dbtp)
        self._on_output_edited()
        self._update_overwrite_note()
        self.progress_bar.hide()
        self._set_running(False)

    # -- construction ------------------------------------------------------------------------

    @staticmethod
    def _spin(minimum: float, maximum: float, suffix: str, step: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(minimum, maximum)
        spin.setDecimals(1)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        spin.setKeyboardTracking(False)
        spin.setFont(number_font())
        return spin

    def _layout(self) -> None:
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(self.browse_button)
        self.form = QWidget()
        form = QFormLayout(self.form)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Output file", output_row)
        form.addRow("", self.overwrite_label)
        form.addRow("Format", self.format_combo)
        form.addRow("Sample rate", self.rate_combo)
        form.addRow("", self.dither_check)
        form.addRow("Target", self.preset_combo)
        form.addRow("Loudness", self.lufs_spin)
        form.addRow("Ceiling", self.ceiling_spin)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.promise_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.warning_label)
        layout.addLayout(buttons)
        self.setMinimumWidth(520)

    def _style(self) -> None:
        self.promise_label.setStyleSheet(f"color: {COLORS['accent']};")
        self.overwrite_label.setStyleSheet(f"color: {COLORS['meter_hot']};")
        self.warning_label.setStyleSheet(f"color: {COLORS['meter_hot']};")
        self.status_label.setFont(number_font())

    def _connect(self) -> None:
        self.browse_button.clicked.connect(self._browse)
        self.output_edit.editingFinished.connect(self._on_output_edited)
        self.output_edit.textChanged.connect(self._update_overwrite_note)
        self.format_combo.currentIndexChanged.connect(self._on_format_changed)
        self.dither_check.toggled.connect(self._on_dither_toggled)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_chosen)
        self.lufs_spin.valueChanged.connect(self._on_target_edited)
        self.ceiling_spin.valueChanged.connect(self._on_target_edited)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(self.cancel_export)
        self.close_button.clicked.connect(self.reject)

    # -- choices -----------------------------------------------------------------------------

    def output_path(self) -> Path:
        """The output file as typed (may not be valid; the export checks it)."""
        return Path(self.output_edit.text().strip()).expanduser()

    def format_name(self) -> str:
        """The chosen key of ``audio_io.FORMATS``."""
        return self.format_combo.currentData()

    def sample_rate_hz(self) -> int:
        """The chosen output sample rate (Hz)."""
        return self.rate_combo.currentData()

    def target(self) -> tuple[float, float]:
        """The chosen (integrated loudness LUFS, true-peak ceiling dBTP)."""
        return self.lufs_spin.value(), self.ceiling_spin.value()

    def _browse(self) -> None:
        fmt = audio_io.FORMATS[self.format_name()]
        patterns = " ".join(f"*{extension}" for extension in fmt.extensions)
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Export master", str(self.output_path()),
            f"{format_title(fmt.name)} ({patterns})")
        if chosen:
            self.output_edit.setText(chosen)
            self._on_output_edited()

    def _on_output_edited(self) -> None:
        """A typed name whose suffix the chosen format cannot write (.flac while WAV is
        chosen, or the reverse) picks that suffix's default format; an unknown suffix stays as
        typed and the export names the problem."""
        path = self.output_path()
        if path.suffix.lower() in audio_io.FORMATS[self.format_name()].extensions:
            return
        try:
            implied = audio_io.format_for(path, None).name
        except ExportError:
            return
        self.format_combo.setCurrentIndex(self.format_combo.findData(implied))

    def _update_overwrite_note(self) -> None:
        self.overwrite_label.setVisible(self.output_path().is_file())

    def _on_format_changed(self) -> None:
        fmt = audio_io.FORMATS[self.format_name()]
        path = self.output_path()
        if self.output_edit.text().strip() and path.suffix.lower() not in fmt.extensions:
            self.output_edit.setText(str(path.with_suffix(fmt.extensions[0])))
        integer = fmt.bits is not None
        with QSignalBlocker(self.dither_check):
            self.dither_check.setChecked(integer and self._dither_wanted)
        self.dither_check.setEnabled(integer)

    def _on_dither_toggled(self, checked: bool) -> None:
        self._dither_wanted = checked

    def _set_target(self, target_lufs: float, ceiling_dbtp: float) -> None:
        with QSignalBlocker(self.lufs_spin), QSignalBlocker(self.ceiling_spin):
            self.lufs_spin.setValue(target_lufs)
            self.ceiling_spin.setValue(ceiling_dbtp)
        self._select_matching_preset()
        self._update_promise()

    def _select_matching_preset(self) -> None:
        lufs, ceiling = self.target()
        index = self.preset_combo.findData(None)
        for i, preset in enumerate(targeting.TARGET_PRESETS):
            if math.isclose(preset.lufs, lufs) and math.isclose(preset.ceiling_dbtp, ceiling):
                index = i
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentIndex(index)

    def _on_preset_chosen(self) -> None:
        key = self.preset_combo.currentData()
        for preset in targeting.TARGET_PRESETS:
            if preset.key == key:
                self._set_target(preset.lufs, preset.ceiling_dbtp)

    def _on_target_edited(self) -> None:
        self._select_matching_preset()
        self._update_promise()

    def _update_promise(self) -> None:
        self.promise_label.setText(promise_text(*self.target()))

    # -- the job -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether an export is in progress."""
        return self._thread is not None

    def summary_text(self) -> str:
        """What the last successful export wrote ("" before one)."""
        return self.status_label.text() if self.report is not None else ""

    def error_text(self) -> str:
        """The last error or cancellation message ("" when there is none)."""
        return self.status_label.text() if self._status_is_error else ""

    def _show_status(self, text: str, *, error: bool, warning: str = "") -> None:
        self._status_is_error = error
        self.status_label.setText(text)
        colour = COLORS["warning"] if error else COLORS["text"]
        self.status_label.setStyleSheet(f"color: {colour};")
        self.warning_label.setText(warning)
        self.warning_label.setVisible(bool(warning))

    def _request(self) -> ExportRequest:
        """The export the fields describe; a GreyMasterError names the first bad field."""
        output = self.output_path()
        if not self.output_edit.text().strip():
            raise ExportError("no output file: type a file name or use Browse…")
        lufs, ceiling = self.target()
        targeting.check_target(lufs, ceiling)
        fmt = audio_io.format_for(output, self.format_name())
        audio_io.check_output_path(output, self.input_path)
        rate_hz = self.sample_rate_hz()
        return ExportRequest(
            input_path=self.input_path, output_path=output, params=self.params,
            target_lufs=lufs, ceiling_dbtp=ceiling, format_name=fmt.name,
            sample_rate_hz=None if rate_hz == self._source_rate_hz else rate_hz,
            dither=self.dither_check.isChecked())

    def start_export(self) -> None:
        """Check the choices and start the export on a worker thread (no-op while one runs)."""
        if self.is_running():
            return
        self.report = None
        try:
            request = self._request()
        except GreyMasterError as exc:
            self._show_status(str(exc), error=True)
            return
        self._show_status("", error=False)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.progress_bar.show()
        thread = ExportThread(request, self)
        thread.progress.connect(self._on_progress)
        thread.succeeded.connect(self._on_succeeded)
        thread.failed.connect(self._on_failed)
        thread.cancelled.connect(self._on_cancelled)
        self._thread = thread
        self._set_running(True)
        thread.start()

    def cancel_export(self) -> None:
        """Ask the running export to stop; it ends with "Cancelled: nothing was written"."""
        if self._thread is not None:
            self._thread.cancel_event.set()
            self.cancel_button.setEnabled(False)
            self.progress_bar.setFormat("Cancelling…")

    def _on_progress(self, phase: str, fraction: float) -> None:
        if self._thread is None or self._thread.cancel_event.is_set():
            return
        self.progress_bar.setFormat(f"{PHASE_TITLES.get(phase, phase.capitalize())} %p%")
        self.progress_bar.setValue(round(fraction * PROGRESS_STEPS))

    def _finish(self) -> None:
        if self._thread is not None:
            self._thread.wait()
            self._thread.deleteLater()
            self._thread = None
        self._set_running(False)

    def _on_succeeded(self, report: JobReport) -> None:
        self._finish()
        self.report = report
        self.progress_bar.setValue(PROGRESS_STEPS)
        self.progress_bar.setFormat("Done")
        self._show_status(self._summary(report), error=False, warning=self._shortfall(report))
        self._update_overwrite_note()
        self.exported.emit(report)

    def _on_failed(self, message: str) -> None:
        self._finish()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Failed")
        self._show_status(message, error=True)

    def _on_cancelled(self) -> None:
        self._finish()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Cancelled")
        self._show_status(CANCELLED_TEXT, error=True)

    @staticmethod
    def _summary(report: JobReport) -> str:
        after = report.after
        return "\n".join((
            f"Integrated {signed(after.integrated_lufs)} LUFS   "
            f"True peak {signed(after.true_peak_dbtp)} dBTP   LRA {after.lra_lu:.1f} LU",
            f"{report.sample_rate_hz} Hz   {format_title(report.format_name)}",
            str(report.output_path),
        ))

    @staticmethod
    def _shortfall(report: JobReport) -> str:
        result = report.targeting
        if result is None or abs(result.error_lu) <= TARGET_TOLERANCE_LU:
            return ""
        return f"Off target: {result.message()}"

    def _set_running(self, running: bool) -> None:
        self.form.setEnabled(not running)
        self.export_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.warning_label.setVisible(not running and bool(self.warning_label.text()))

    # -- closing -----------------------------------------------------------------------------

    def done(self, result: int) -> None:
        """Closing while an export runs cancels it and waits for it to stop (nothing written)."""
        if self._thread is not None:
            self.cancel_export()
            self._thread.wait()
        super().done(result)
