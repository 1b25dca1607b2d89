"""The recent-files list, kept in the app's settings (newest first, existing files only)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 10
KEY = "recent_files"


class RecentFiles:
    """Paths of the last opened mixes in ``settings`` under ``recent_files``."""

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    def paths(self) -> list[Path]:
        """The remembered files that still exist, newest first."""
        stored = self._settings.value(KEY, [])
        if isinstance(stored, str):
            stored = [stored]
        return [Path(p) for p in stored or [] if Path(p).is_file()]

    def add(self, path: Path) -> None:
        """Put ``path`` first (once), keeping at most ``MAX_RECENT``."""
        path = Path(path).resolve()
        paths = [path, *(p for p in self.paths() if p.resolve() != path)][:MAX_RECENT]
        self._settings.setValue(KEY, [str(p) for p in paths])
        self._settings.sync()
