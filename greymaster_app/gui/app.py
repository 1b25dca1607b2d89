"""`greymaster-app [FILE] [--screenshot OUT.png]`: the desktop app's entry point.

FILE is a mix (any format the engine reads) or a saved session (``.gmsession``); without one
the app starts empty, or with the session recovered from the autosave a crash left behind.
``--screenshot`` opens FILE (default: the bundled demo), waits for the analysis, saves a PNG of
the main window and exits: the README's picture, and a way to look at the app headless.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication

from greymaster_app.gui.main_window import MainWindow
from greymaster_app.gui.theme import apply_dark_theme
from greymaster_app.session import Session

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo" / "demo-premaster.flac"
SCREENSHOT_SIZE = (1600, 1000)
SCREENSHOT_TIMEOUT_S = 120.0


def config_folder() -> Path:
    """Settings and autosave live here (``$GREYMASTER_CONFIG_DIR`` overrides the platform's)."""
    override = os.environ.get("GREYMASTER_CONFIG_DIR")
    if override:
        return Path(override)
    location = QStandardPaths.StandardLocation.AppConfigLocation
    return Path(QStandardPaths.writableLocation(location))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greymaster-app",
                                     description="GreyMaster: AI-assisted mastering you can read")
    parser.add_argument("file", nargs="?", help="a mix to master, or a .gmsession file")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="open FILE (or the demo), wait for the analysis, save a PNG of the "
                             "window and exit")
    return parser


def _open(window: MainWindow, path: Path) -> None:
    if path.suffix == ".gmsession":
        window.open_session(path)
    else:
        window.open_file(path)


def _recover(window: MainWindow, folder: Path, file_given: bool) -> None:
    """Reopen the autosave a crash left, or keep it aside when the user asked for a file."""
    autosave = Session.find_autosave(folder)
    if autosave is None:
        return
    if file_given:
        kept = folder / f"recovered-{time.strftime('%Y%m%d-%H%M%S')}.gmsession"
        shutil.move(autosave, kept)
        window.show_notice(f"Unsaved work from the last session was kept in {kept}")
        return
    window.open_session(autosave, recover=True)
    window.show_notice("Recovered your unsaved changes from the last session (autosave)")


def _screenshot(app: QApplication, window: MainWindow, out: Path) -> int:
    """Wait for the analysis, let the window paint, save it; the exit status."""
    result = {"status": 1}
    deadline = time.monotonic() + SCREENSHOT_TIMEOUT_S

    def save() -> None:
        if window.error_text():
            print(f"greymaster-app: error: {window.error_text()}", file=sys.stderr)
        elif window.grab().save(str(out)):
            result["status"] = 0
        else:
            print(f"greymaster-app: error: could not write {out}", file=sys.stderr)
        app.quit()

    def wait() -> None:
        if window.error_text() or (window.track is not None and not window.busy()):
            QTimer.singleShot(500, save)
        elif time.monotonic() > deadline:
            print("greymaster-app: error: the analysis did not finish in time", file=sys.stderr)
            app.quit()
        else:
            QTimer.singleShot(100, wait)

    QTimer.singleShot(100, wait)
    app.exec()
    return result["status"]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("greymaster")
    app.setApplicationDisplayName("GreyMaster")
    apply_dark_theme(app)
    folder = config_folder()
    folder.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(folder / "greymaster-app.ini"), QSettings.Format.IniFormat)
    screenshot = Path(args.screenshot) if args.screenshot else None
    window = MainWindow(settings, autosave_folder=None if screenshot else folder / "autosave")
    if screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
    window.show()
    if screenshot is None:
        _recover(window, folder / "autosave", args.file is not None)
    if args.file is not None or screenshot is not None:
        _open(window, Path(args.file) if args.file else DEMO)
    if screenshot is not None:
        return _screenshot(app, window, screenshot)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
