"""Errors that describe a user's mistake or a problem with their files.

Each carries a message that says what was wrong and what to do. The CLI prints it on one line and
exits with status 2; the app shows it and keeps the session.
"""


class GreyMasterError(Exception):
    """Base of every error a user can cause and fix."""


class ParamsError(GreyMasterError):
    """A params, preset or session document is malformed or out of range."""


class AudioFileError(GreyMasterError):
    """An input file is missing, unreadable, or not audio we can decode."""


class ExportError(GreyMasterError):
    """Writing the output failed (bad path, refused overwrite, full disk); nothing was left."""


class ModelError(GreyMasterError):
    """A model weights file is missing, unreadable, or does not fit this version."""


class ExportCancelled(GreyMasterError):  # noqa: N818 (the name the app uses)
    """The user cancelled an export; every temporary file is gone and the output untouched."""

    def __init__(self, message: str = "export cancelled; nothing was written") -> None:
        super().__init__(message)
