"""The app's start-up: time from launching the process to the main window on screen, and to the
model's proposal shown for the main track; side by side with the anchor, an empty PySide6 window
started the same way (what any Qt app of this stack pays).

Each figure is the median of ``RUNS`` fresh processes, drawn offscreen. Run: `make bench`
(``python -m benchmarks.app``) → benchmarks/results/app.json.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import find_main_track, machine, write_results

RUNS = 5
TIMEOUT_S = 300.0


def _child(kind: str, track: str | None) -> None:
    """Runs in the measured process: print a line at each milestone."""
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    if kind == "anchor":
        app = QApplication([])
        window = QMainWindow()
        window.show()
        app.processEvents()
        print("shown", flush=True)
        return
    from greymaster_app.gui.main_window import MainWindow
    from greymaster_app.gui.theme import apply_dark_theme

    app = QApplication([])
    apply_dark_theme(app)
    folder = tempfile.mkdtemp()
    window = MainWindow(QSettings(os.path.join(folder, "s.ini"), QSettings.Format.IniFormat))
    window.show()
    app.processEvents()
    print("shown", flush=True)
    if track is None:
        window.close()
        return
    window.analysisFinished.connect(lambda: (print("analysed", flush=True), app.quit()))
    QTimer.singleShot(0, lambda: window.open_file(track))
    app.exec()
    window.close()


def _launch(kind: str, track: Path | None) -> dict[str, float]:
    """Seconds from launch to each milestone the child prints."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-m", "benchmarks.app", "--child", kind]
    if track is not None:
        command.append(str(track))
    start = time.perf_counter()
    times: dict[str, float] = {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          env=env, text=True) as child:
        for line in child.stdout:
            times[line.strip()] = time.perf_counter() - start
        child.wait(TIMEOUT_S)
    return times


def main() -> int:
    from training.corpus import audio_files

    corpus = Path(os.environ.get("GREYMASTER_CORPUS", "~/.cache/greymaster/corpus")).expanduser()
    track = find_main_track(audio_files(corpus), corpus)
    runs = {"anchor": [_launch("anchor", None) for _ in range(RUNS)],
            "greymaster": [_launch("greymaster", track) for _ in range(RUNS)]}
    medians = {
        "anchor_window_s": statistics.median(r["shown"] for r in runs["anchor"]),
        "window_s": statistics.median(r["shown"] for r in runs["greymaster"]),
    }
    if track is not None:
        medians["proposal_shown_s"] = statistics.median(r["analysed"] for r in runs["greymaster"])
    results = {"machine": machine(), "runs": RUNS, "track": track.name if track else None,
               "medians": medians, "all": runs}
    out = write_results("app", results)
    for name, value in medians.items():
        print(f"{name:>20}: {value:6.2f} s (median of {RUNS})")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        sys.exit(main())
