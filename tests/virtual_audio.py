"""A virtual sound card for tests and benchmarks on machines without one.

A private PulseAudio server with one clocked null sink: it consumes audio at exactly its sample
rate, like a real interface, and plays it nowhere. PortAudio reaches it through ALSA's ``pulse``
device (Debian's libasound2-plugins); ``PULSE_SERVER`` points that device at this server. The
sink is loaded with ``norewinds=1``: with rewinds, a new stream waits about two seconds before
the sink first pulls from it.

Needs the Debian packages pulseaudio, libasound2-plugins and libportaudio2 (``make test``
installs them). Usage::

    with VirtualAudio() as audio:
        player.set_device(audio.device_name)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

DEVICE_NAME = "pulse"
SINK_RATE_HZ = 44100
START_TIMEOUT_S = 10.0


class VirtualAudioError(RuntimeError):
    """The virtual sound card could not be started."""


class VirtualAudio:
    """A private PulseAudio server with a null sink, started on enter and killed on exit."""

    device_name = DEVICE_NAME

    def __init__(self, sink_rate_hz: int = SINK_RATE_HZ) -> None:
        self.sink_rate_hz = sink_rate_hz
        self._process: subprocess.Popen | None = None
        self._folder: Path | None = None
        self._saved_env: dict[str, str | None] = {}

    @property
    def socket(self) -> Path:
        assert self._folder is not None
        return self._folder / "native"

    def start(self) -> VirtualAudio:
        """Start the server and point this process's PulseAudio clients at it."""
        if shutil.which("pulseaudio") is None:
            raise VirtualAudioError("pulseaudio is not installed (make test installs it)")
        self._folder = Path(tempfile.mkdtemp(prefix="greymaster-pulse-"))
        self._folder.chmod(0o700)
        script = self._folder / "default.pa"
        script.write_text(
            f"load-module module-null-sink sink_name=greymaster_null rate={self.sink_rate_hz} "
            "format=float32le channels=2 norewinds=1\n"
            "set-default-sink greymaster_null\n"
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n")
        env = {**os.environ, "XDG_RUNTIME_DIR": str(self._folder), "HOME": str(self._folder)}
        self._process = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1",
             "--disallow-exit", "--use-pid-file=no", "--log-target=stderr"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise VirtualAudioError("the PulseAudio null sink did not start")
            time.sleep(0.02)
        self._set_env("PULSE_SERVER", f"unix:{self.socket}")
        return self

    def stop(self) -> None:
        """Kill the server (streams on it fail, as with an unplugged interface) and clean up."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def _set_env(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def __enter__(self) -> VirtualAudio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
