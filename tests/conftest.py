"""Shared fixtures: the real-music corpus (fetched by `make corpus`, see training/corpus.py).

Qt draws offscreen: the tests need no display.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from pathlib import Path

import pytest

from training.corpus import audio_files


@pytest.fixture(scope="session")
def corpus_files() -> list[Path]:
    """Audio files under $GREYMASTER_CORPUS; the test is skipped when there are none."""
    folder = os.environ.get("GREYMASTER_CORPUS")
    files = audio_files(folder) if folder else []
    if not files:
        pytest.skip("no real-music corpus: set GREYMASTER_CORPUS (make test fetches it)")
    return files


@pytest.fixture(scope="session")
def loud_track(corpus_files) -> Path:
    """A loud, dense electronic track of 3+ minutes at 44.1 kHz (Nexuiz 'brokenlight')."""
    for path in corpus_files:
        if path.name == "brokenlight.ogg":
            return path
    pytest.skip("brokenlight.ogg (Debian nexuiz-music) is not in the corpus")


@pytest.fixture(scope="session")
def audio_device() -> str:
    """The name of a clocked virtual output device (a private PulseAudio null sink, see
    tests/virtual_audio.py), running for the whole session."""
    from greymaster_app.playback import devices
    from tests.virtual_audio import VirtualAudio

    with VirtualAudio() as audio:
        devices.refresh()
        yield audio.device_name
