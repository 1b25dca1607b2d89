"""The main window: one track's session, its stages, meters, transport and export.

Data flow (DESIGN.md §1, §5): every edit goes to the ``Session`` (undoable); the session notifies
the window, which shows the new parameters and hands them to the ``Player`` (live) and, after
the knobs settle, to a background preview (the whole master with the export's trim search) for
the waveform overview, the trim the player uses and the promised loudness. Analysis and previews
run on one worker thread (``JobRunner``); a 30 ms GUI timer delivers their results and pulls the
player's meters. Errors a user can cause are shown in the window's error bar and leave the
session as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from greymaster_app.analysis import Analyser, Preview, Progress, load_track, preview
from greymaster_app.gui.export_dialog import ExportDialog
from greymaster_app.gui.jobs import JobRunner
from greymaster_app.gui.meters import LoudnessMeters, SpectrumView
from greymaster_app.gui.recent import RecentFiles
from greymaster_app.gui.stages import StageView
from greymaster_app.gui.target import TargetControls
from greymaster_app.gui.theme import COLORS
from greymaster_app.gui.transport import TransportBar
from greymaster_app.gui.waveform import WaveformOverview
from greymaster_app.playback import devices
from greymaster_app.playback.meters import PathMeter, PathReading, whole_track_reading
from greymaster_app.playback.player import PlaybackMeters, Player, PlayState
from greymaster_app.session import Session
from model.audio_io import Track
from model.errors import GreyMasterError
from model.params import ChainParams

TIMER_MS = 30
"""GUI refresh period: job results, meters, playhead (DESIGN.md §5)."""

PREVIEW_DELAY_MS = 400
"""How long the knobs must rest before the whole master is re-rendered for the overview."""

PLAYER_AHEAD_FRAMES = 1024
"""How far the player renders ahead of the device beyond one block (23 ms at 44.1 kHz): the GUI
thread shares the GIL with the render worker, so the app keeps more in hand than the player's
default; a knob move is still heard within 50 ms."""

AUTOSAVE_DELAY_MS = 2000
"""How long after the last change the session is written to the autosave folder."""

AUDIO_FILTER = "Audio (*.wav *.wave *.flac *.ogg *.oga *.opus *.mp3 *.aif *.aiff);;All files (*)"
SESSION_FILTER = "GreyMaster session (*.gmsession);;All files (*)"
PRESET_FILTER = "Params preset (*.json);;All files (*)"


class MainWindow(QMainWindow):
    """The app's window. ``settings`` keeps the recent files; ``autosave_folder`` receives the
    crash-recovery copy of the session (None: no autosave)."""

    analysisFinished = Signal()
    """Emitted when a track's proposal is shown (its preview follows: ``busy()`` until then)."""

    def __init__(self, settings: QSettings, autosave_folder: Path | None = None,
                 analyser: Analyser | None = None) -> None:
        super().__init__()
        self.setWindowTitle("GreyMaster")
        self.setAcceptDrops(True)
        self.resize(1500, 940)
        self.session = Session()
        self.track: Track | None = None
        self.player: Player | None = None
        self.preview_result: Preview | None = None
        self.last_meters: PlaybackMeters | None = None
        self.input_reading: PathReading | None = None
        self._was_playing = False
        self._player_params_stale = False
        self._analyser = analyser or Analyser()
        self._reference: Track | None = None
        self._jobs = JobRunner()
        self._progress = Progress()
        self._autosave_folder = autosave_folder
        self._recent = RecentFiles(settings)
        self._dragging_key: str | None = None
        self._level_match = True
        self._device: Any = None
        self._spectrum_frequencies_hz = None
        self._spectrum_rate_hz = 0

        self._build_widgets()
        self._build_actions()
        self._connect()
        self.session.subscribe(self._session_changed)
        self._show_session()
        self._set_track_controls(False)
        self._show_devices()
        self.transport.set_level_match(self._level_match)

        self._timer = QTimer(self)
        self._timer.setInterval(TIMER_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._preview_timer = _single_shot(self, PREVIEW_DELAY_MS, self._start_preview)
        self._autosave_timer = _single_shot(self, AUTOSAVE_DELAY_MS, self._autosave)

    # ----------------------------------------------------------------------------- layout
    def _build_widgets(self) -> None:
        self.target_controls = TargetControls()
        self.reference_label = QLabel("No reference")
        self.reference_label.setStyleSheet(f"color: {COLORS['text_dim']}")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(
            f"background: {COLORS['warning']}; color: #101214; padding: 6px; font-weight: bold")
        self.error_close = QPushButton("Dismiss")
        self.error_bar = QWidget()
        error_row = QHBoxLayout(self.error_bar)
        error_row.setContentsMargins(0, 0, 0, 0)
        error_row.addWidget(self.error_label, 1)
        error_row.addWidget(self.error_close)
        self.error_bar.hide()
        self.notice_label = QLabel()
        self.notice_label.setStyleSheet(f"color: {COLORS['accent']}; padding: 2px 6px")
        self.notice_label.hide()

        self.waveform = WaveformOverview()
        self.stages = StageView()
        self.loudness = LoudnessMeters()
        self.spectrum = SpectrumView()
        self.transport = TransportBar()
        self.master_label = QLabel()
        self.master_label.setStyleSheet(f"color: {COLORS['text_dim']}")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(260)
        self.progress_bar.hide()
        self.progress_label = QLabel()

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.loudness)
        right.addWidget(self.spectrum)
        right.setSizes([520, 300])
        middle = QSplitter(Qt.Orientation.Horizontal)
        middle.addWidget(self.stages)
        middle.addWidget(right)
        middle.setSizes([1060, 440])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(self.waveform)
        body.addWidget(middle)
        body.setSizes([170, 690])

        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(6, 4, 6, 4)
        column.setSpacing(4)
        column.addWidget(self.error_bar)
        column.addWidget(self.notice_label)
        column.addWidget(body, 1)
        column.addWidget(self.transport)
        self.setCentralWidget(central)
        status = self.statusBar()
        status.addWidget(self.progress_label)
        status.addWidget(self.progress_bar)
        status.addPermanentWidget(self.master_label)

    def _build_actions(self) -> None:
        def action(text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
            act.setToolTip(tip or text)
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.open_action = action("Open…", self._open_dialog, QKeySequence.StandardKey.Open,
                                  "Open a mix to master")
        self.open_session_action = action("Open session…", self._open_session_dialog)
        self.save_session_action = action("Save session", self._save_session,
                                          QKeySequence.StandardKey.Save)
        self.save_session_as_action = action("Save session as…", self._save_session_as,
                                             QKeySequence.StandardKey.SaveAs)
        self.load_preset_action = action("Load preset…", self._load_preset,
                                         tip="Load a params file (the format `greymaster` reads)")
        self.save_preset_action = action("Save preset…", self._save_preset,
                                         tip="Save the chain as a params file")
        self.export_action = action("Export…", self._export, QKeySequence("Ctrl+E"),
                                    "Export the master at the loudness target")
        self.quit_action = action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.undo_action = action("Undo", self.session_undo,
                                  [QKeySequence("Ctrl+Z")])
        self.redo_action = action("Redo", self.session_redo,
                                  [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.reset_all_action = action("Reset all to proposal", self._reset_all,
                                       tip="Every knob back to the model's proposal")
        self.reanalyse_action = action("Re-analyse", self.reanalyse,
                                       tip="Run the model again on this mix (overrides stay)")
        self.repropose_action = action(
            "Re-propose around my changes", self.repropose,
            tip="Keep your changed knobs and let the model propose the rest around them")
        self.reference_action = action("Reference…", self._choose_reference,
                                       tip="A master you like: the proposal follows it")
        self.clear_reference_action = action("Clear reference", self._clear_reference)
        self.play_action = action("Play / pause", self.toggle_play, QKeySequence("Space"))
        self.stop_action = action("Stop", self._stop)
        self.ab_action = action("A/B", self.toggle_ab, QKeySequence("B"),
                                "Switch between the original (A) and the master (B)")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open recent")
        file_menu.addSeparator()
        for act in (self.open_session_action, self.save_session_action,
                    self.save_session_as_action):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.load_preset_action)
        file_menu.addAction(self.save_preset_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        for act in (self.undo_action, self.redo_action, self.reset_all_action):
            edit_menu.addAction(act)
        model_menu = menu.addMenu("&Model")
        for act in (self.reanalyse_action, self.repropose_action, self.reference_action,
                    self.clear_reference_action):
            model_menu.addAction(act)
        play_menu = menu.addMenu("&Playback")
        for act in (self.play_action, self.stop_action, self.ab_action):
            play_menu.addAction(act)
        self._fill_recent_menu()

        bar = QToolBar("Main")
        bar.setMovable(False)
        bar.setObjectName("main-toolbar")
        for act in (self.open_action, self.reanalyse_action, self.repropose_action,
                    self.reset_all_action):
            bar.addAction(act)
        bar.addSeparator()
        bar.addWidget(self.target_controls)
        bar.addSeparator()
        bar.addAction(self.reference_action)
        bar.addWidget(self.reference_label)
        bar.addSeparator()
        bar.addAction(self.export_action)
        self.addToolBar(bar)

    def _connect(self) -> None:
        self.error_close.clicked.connect(self.clear_error)
        self.target_controls.targetChosen.connect(self._target_chosen)
        self.stages.edited.connect(self._knob_edited)
        self.stages.resetRequested.connect(lambda key: self._edit(self.session.reset, key))
        self.stages.bypassToggled.connect(
            lambda stage, on: self._edit(self.session.set_enabled, stage, on))
        self.stages.resetStageRequested.connect(
            lambda stage: self._edit(self.session.reset_stage, stage))
        self.transport.playToggled.connect(self._play_toggled)
        self.transport.stopRequested.connect(self._stop)
        self.transport.abToggled.connect(self._ab_toggled)
        self.transport.levelMatchToggled.connect(self._level_match_toggled)
        self.transport.deviceChosen.connect(self._device_chosen)
        self.waveform.seekRequested.connect(self._seek)
        self.waveform.loopChanged.connect(self._loop_changed)
        self.waveform.loopCleared.connect(self._loop_cleared)

    # ----------------------------------------------------------------------------- errors
    def show_error(self, message: str) -> None:
        """Show a problem in the window (the session is left as it was)."""
        self.error_label.setText(message)
        self.error_bar.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_bar.hide()

    def error_text(self) -> str:
        return self.error_label.text() if self.error_bar.isVisibleTo(self) else ""

    def show_notice(self, message: str) -> None:
        self.notice_label.setText(message)
        self.notice_label.setVisible(bool(message))

    def _job_failed(self, error: BaseException) -> None:
        self._end_progress()
        if isinstance(error, GreyMasterError):
            self.show_error(str(error))
        else:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.show_error(f"Unexpected problem: {first}")

    # ----------------------------------------------------------------------------- opening
    def open_file(self, path: str | Path) -> None:
        """Load a mix and analyse it; on failure the current session stays."""
        path = Path(path)
        self.clear_error()
        self._begin_progress("Reading the file")
        target = self.session.target_lufs, self.session.ceiling_dbtp
        reference = self._reference
        analyser, progress = self._analyser, self._progress

        def work() -> tuple[Track, Session, Track | None]:
            track = load_track(path, progress)
            progress.set("Listening: the model analyses the mix", 0.4)
            proposal = analyser.propose(track, target[0], reference)
            return track, Session(track.path, proposal, *target), reference

        self._jobs.submit("analysis", work, self._analysis_done, self._job_failed)

    def open_session(self, path: str | Path, recover: bool = False) -> None:
        """Open a saved session: its track, proposal, overrides and target (no re-analysis).
        ``recover``: ``path`` is an autosave; its work opens as unsaved changes."""
        self.clear_error()
        self._begin_progress("Opening the session")
        progress = self._progress

        def work() -> tuple[Track, Session, Track | None]:
            session = Session.recover(path) if recover else Session.open(path)
            track = load_track(session.track_path, progress)
            saved = session.reference_path
            reference = load_track(saved, progress) if saved and saved.is_file() else None
            return track, session, reference

        self._jobs.submit("analysis", work, self._analysis_done, self._job_failed)

    def _analysis_done(self, result: tuple[Track, Session, Track | None]) -> None:
        """Show the proposal at once; the master's preview (and with it the trim the player
        uses until then at 0 dB) and the original's meter values follow from the worker."""
        track, self.session, reference = result
        self._show_reference(reference)
        self._close_player()
        self.track = track
        self.preview_result = None
        self.input_reading = None
        self.session.subscribe(self._session_changed)
        self._spectrum_frequencies_hz = None
        self._recent.add(track.path)
        self._fill_recent_menu()
        self.player = Player(track.audio, track.sample_rate_hz, self.session.params, 0.0,
                             device=self._device, ahead_frames=PLAYER_AHEAD_FRAMES)
        self.player.set_level_match(self._level_match)
        self.transport.set_listening_to_master(self.player.listening_to_master)
        self.loudness.reset()
        self.waveform.set_audio(track.audio, None, track.sample_rate_hz)
        self._set_track_controls(True)
        self._show_session()
        self._progress.set("Rendering the master", 0.6)
        self._start_preview()
        self._jobs.submit("input meters",
                          lambda: whole_track_reading(track.audio, track.sample_rate_hz),
                          self._input_reading_done, self._job_failed)
        self.analysisFinished.emit()

    def _input_reading_done(self, reading: PathReading) -> None:
        self.input_reading = reading
        self._show_whole_track()

    def reanalyse(self) -> None:
        """Run the model again on this mix (reference and target as set); overrides stay."""
        self._propose(locks={})

    def repropose(self) -> None:
        """The model proposes again with the engineer's overrides locked (co-mastering)."""
        self._propose(locks=self.session.overrides)

    def _propose(self, locks: dict[str, float]) -> None:
        if self.track is None:
            return
        self.clear_error()
        self._begin_progress("Listening: the model analyses the mix")
        track, reference, analyser = self.track, self._reference, self._analyser
        target = self.session.target_lufs

        def work() -> ChainParams:
            return analyser.propose(track, target, reference, locks)

        def done(proposal: ChainParams) -> None:
            self._end_progress()
            self.session.set_proposal(proposal, keep_overrides=True)

        self._jobs.submit("propose", work, done, self._job_failed)

    # ----------------------------------------------------------------------------- editing
    def _edit(self, change: Any, *args: Any) -> None:
        """Apply a session change; a bad value shows an error and changes nothing."""
        try:
            change(*args)
        except GreyMasterError as error:
            self.show_error(str(error))
            self._show_session()

    def _knob_edited(self, key: str, value: float, final: bool) -> None:
        """A knob gesture is one undo step: the first move of a drag starts it, later moves and
        the release merge into it."""
        merge = self._dragging_key == key
        self._dragging_key = None if final else key
        self._edit(self.session.set_value, key, value, merge)

    def session_undo(self) -> None:
        self.session.undo()

    def session_redo(self) -> None:
        self.session.redo()

    def _reset_all(self) -> None:
        self._edit(self.session.reset_all)

    def _target_chosen(self, lufs: float, ceiling_dbtp: float) -> None:
        if (lufs, ceiling_dbtp) == (self.session.target_lufs, self.session.ceiling_dbtp):
            return
        self._edit(self.session.set_target, lufs, ceiling_dbtp)
        self.repropose()

    def _session_changed(self) -> None:
        self._show_session()
        self._player_params_stale = True
        if self.track is not None:
            self._preview_timer.start()
            self._autosave_timer.start()

    def _show_session(self) -> None:
        session = self.session
        overridden = set(session.overrides)
        rate = self.track.sample_rate_hz if self.track is not None else 44100
        self.stages.show_params(session.params, session.proposal, overridden, rate)
        self.target_controls.set_target(session.target_lufs, session.ceiling_dbtp)
        self.loudness.set_target(session.target_lufs, session.ceiling_dbtp)
        self.undo_action.setEnabled(session.can_undo)
        self.redo_action.setEnabled(session.can_redo)
        self.undo_action.setText(f"Undo {session.undo_text}".strip())
        self.redo_action.setText(f"Redo {session.redo_text}".strip())
        self._update_title()

    def _update_title(self) -> None:
        name = self.track.path.name if self.track is not None else "no track"
        self.setWindowTitle(f"{name}[*] — GreyMaster")
        self.setWindowModified(self.session.modified)

    # ----------------------------------------------------------------------------- preview
    def _start_preview(self) -> None:
        if self.track is None:
            return
        track, session = self.track, self.session
        params, target = session.params, (session.target_lufs, session.ceiling_dbtp)
        self._jobs.submit("preview", lambda: preview(track, params, *target),
                          self._preview_done, self._job_failed)

    def _preview_done(self, result: Preview) -> None:
        self._end_progress()
        self.preview_result = result
        self.waveform.set_after(result.master)
        self._show_whole_track()
        if self.player is not None:
            self.player.set_params(self.session.params, result.trim_db)
        targeting = result.targeting
        if targeting.reached:
            self.master_label.setText(
                f"Master: {targeting.achieved_lufs:.1f} LUFS · trim {result.trim_db:+.1f} dB"
                f" · ceiling {self.session.ceiling_dbtp:.1f} dBTP")
        else:
            self.master_label.setText(f"Master: {targeting.message()}")
        color = COLORS["text_dim"] if targeting.reached else COLORS["meter_hot"]
        self.master_label.setStyleSheet(f"color: {color}")

    def _show_whole_track(self) -> None:
        """While nothing plays, the meters and spectra show the whole original and master."""
        playing = self.player is not None and self.player.state == PlayState.PLAYING
        if playing or self.preview_result is None or self.input_reading is None:
            return
        output = self.preview_result.reading
        self.loudness.show_readings(self.input_reading, output)
        self.spectrum.show_spectra(self._frequencies(self.track.sample_rate_hz),
                                   self.input_reading.spectrum_db, output.spectrum_db)

    # ----------------------------------------------------------------------------- playback
    def toggle_play(self) -> None:
        if self.player is None:
            return
        self._play_toggled(self.player.state != PlayState.PLAYING)

    def _play_toggled(self, play: bool) -> None:
        if self.player is None:
            return
        if play and not self.player.play():
            self.transport.show_notice(self.player.message)
        elif not play:
            self.player.pause()
        self.transport.set_playing(self.player.state == PlayState.PLAYING)

    def _stop(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.transport.set_playing(False)

    def toggle_ab(self) -> None:
        if self.player is not None:
            self._ab_toggled(not self.player.listening_to_master)

    def _ab_toggled(self, listening_to_master: bool) -> None:
        if self.player is not None:
            self.player.set_listening_to_master(listening_to_master)
        self.transport.set_listening_to_master(listening_to_master)

    def _level_match_toggled(self, on: bool) -> None:
        self._level_match = on
        if self.player is not None:
            self.player.set_level_match(on)

    def _device_chosen(self, device: Any) -> None:
        self._device = device
        if self.player is not None:
            self.player.select_device(device)
            self.transport.set_playing(False)

    def _show_devices(self) -> None:
        try:
            outputs = devices.output_devices()
        except devices.OutputDeviceError as error:
            outputs, problem = [], str(error)
        else:
            problem = "" if outputs else "No output device: playback is off; export still works"
        self.transport.set_devices([(d.index, d.label) for d in outputs], None)
        self.transport.show_notice(problem)

    def _seek(self, position_s: float) -> None:
        if self.player is not None:
            self.player.seek(position_s)

    def _loop_changed(self, start_s: float, end_s: float) -> None:
        if self.player is not None and end_s > start_s:
            self.player.set_loop(start_s, end_s)

    def _loop_cleared(self) -> None:
        if self.player is not None:
            self.player.clear_loop()

    def _close_player(self) -> None:
        if self.player is not None:
            self.player.close()
            self.player = None
        self.transport.set_playing(False)

    def _tick(self) -> None:
        """GUI timer: job results, progress, then meters and playhead from the player."""
        self._jobs.poll()
        if self.progress_bar.isVisible():
            phase, fraction = self._progress.get()
            self.progress_label.setText(phase)
            self.progress_bar.setValue(int(fraction * 1000))
        player = self.player
        if player is None:
            return
        if self._player_params_stale:
            self._player_params_stale = False
            trim_db = self.preview_result.trim_db if self.preview_result is not None else 0.0
            player.set_params(self.session.params, trim_db)
        self.transport.set_position(player.position_s, player.duration_s)
        self.waveform.set_playhead(player.position_s)
        playing = player.state == PlayState.PLAYING
        if self._was_playing and not playing:
            self._show_whole_track()
        self._was_playing = playing
        self.transport.set_playing(playing)
        if player.message:
            self.transport.show_notice(player.message)
        meters = player.meters() if playing else None
        if meters is None:
            return
        self.last_meters = meters
        self.loudness.show_readings(meters.input, meters.output)
        self.stages.show_meters(meters)
        if self.spectrum.isVisible():
            self.spectrum.show_spectra(self._frequencies(player.sample_rate_hz),
                                       meters.input.spectrum_db, meters.output.spectrum_db)

    def _frequencies(self, rate: int) -> Any:
        if self._spectrum_frequencies_hz is None or self._spectrum_rate_hz != rate:
            self._spectrum_frequencies_hz = PathMeter(rate).spectrum_frequencies_hz
            self._spectrum_rate_hz = rate
        return self._spectrum_frequencies_hz

    # ----------------------------------------------------------------------------- progress
    def _begin_progress(self, phase: str) -> None:
        self._progress.set(phase, 0.0)
        self.progress_label.setText(phase)
        self.progress_bar.setValue(0)
        self.progress_bar.show()

    def _end_progress(self) -> None:
        self.progress_bar.hide()
        self.progress_label.clear()

    def busy(self) -> bool:
        return self._jobs.busy()

    def _set_track_controls(self, on: bool) -> None:
        for act in (self.save_session_action, self.save_session_as_action,
                    self.export_action, self.reanalyse_action, self.repropose_action,
                    self.play_action, self.stop_action, self.ab_action):
            act.setEnabled(on)
        self.transport.set_enabled(on)

    # ----------------------------------------------------------------------------- files
    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a mix", "", AUDIO_FILTER)
        if path:
            self.open_file(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self._recent.paths():
            act = self.recent_menu.addAction(str(path))
            act.triggered.connect(lambda _=False, p=path: self.open_file(p))
        self.recent_menu.setEnabled(bool(self._recent.paths()))

    def _open_session_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a session", "", SESSION_FILTER)
        if path:
            self.open_session(path)

    def _save_session(self) -> None:
        if self.session.path is None:
            self._save_session_as()
        else:
            self.save_session_to(self.session.path)

    def _save_session_as(self) -> None:
        default = self.track.path.with_suffix(".gmsession") if self.track else Path()
        path, _ = QFileDialog.getSaveFileName(self, "Save the session", str(default),
                                              SESSION_FILTER)
        if path:
            self.save_session_to(Path(path))

    def save_session_to(self, path: Path) -> None:
        try:
            self.session.save(path)
        except GreyMasterError as error:
            self.show_error(str(error))
            return
        self._update_title()

    def _load_preset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a preset", "", PRESET_FILTER)
        if path:
            self._edit(self.session.load_preset, Path(path))

    def _save_preset(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the preset", "preset.json",
                                              PRESET_FILTER)
        if path:
            self._edit(self.session.save_preset, Path(path))

    def _choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a reference master", "",
                                              AUDIO_FILTER)
        if path:
            self.set_reference(path)

    def set_reference(self, path: str | Path) -> None:
        """Load a reference master; the proposal follows it (overrides stay locked)."""
        self.clear_error()
        self._begin_progress("Reading the reference")
        progress = self._progress

        def done(track: Track) -> None:
            self._show_reference(track)
            self.repropose()

        self._jobs.submit("reference", lambda: load_track(path, progress), done,
                          self._job_failed)

    def _clear_reference(self) -> None:
        self._show_reference(None)
        self.repropose()

    def _show_reference(self, reference: Track | None) -> None:
        """Use ``reference`` for the model's reference mode (None: none) and keep it in the
        session."""
        self._reference = reference
        self.session.reference_path = None if reference is None else reference.path
        self.reference_label.setText("No reference" if reference is None
                                     else f"Reference: {reference.path.name}")

    def _export(self) -> None:
        if self.track is None:
            return
        dialog = ExportDialog(self.track.path, self.session.params, self.track.sample_rate_hz,
                              self.session.target_lufs, self.session.ceiling_dbtp, parent=self)
        dialog.exec()

    def _autosave(self) -> None:
        if self._autosave_folder is None or self.track is None:
            return
        try:
            self.session.autosave(self._autosave_folder)
        except GreyMasterError as error:
            self.show_error(f"Autosave failed: {error}")

    # ----------------------------------------------------------------------------- Qt events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [url for url in event.mimeData().urls() if url.isLocalFile()]
        if urls:
            path = Path(urls[0].toLocalFile())
            if path.suffix == ".gmsession":
                self.open_session(path)
            else:
                self.open_file(path)
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop playback and jobs; unsaved changes stay in the autosave for the next launch."""
        for timer in (self._timer, self._preview_timer, self._autosave_timer):
            timer.stop()
        self._jobs.shutdown()
        self._close_player()
        if self._autosave_folder is not None:
            if self.session.modified:
                self._autosave()
            else:
                Session.discard_autosave(self._autosave_folder)
        super().closeEvent(event)


def _single_shot(parent: QWidget, delay_ms: int, slot: Any) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(delay_ms)
    timer.timeout.connect(slot)
    return timer
