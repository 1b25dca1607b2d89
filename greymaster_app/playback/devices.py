"""Audio output devices, through sounddevice (PortAudio).

PortAudio sees the devices present when it was initialised: ``refresh`` re-scans, for an
interface plugged in later or a sound server started later. Nothing here raises for a missing
device or a missing PortAudio library: callers get ``OutputDeviceError`` with a message for
people.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from model.errors import GreyMasterError

CHANNELS = 2
SAMPLE_FORMAT = "float32"


class OutputDeviceError(GreyMasterError):
    """No usable audio output (none present, the one chosen is gone, or it refused to open)."""


@dataclass(frozen=True)
class OutputDevice:
    """One output device as PortAudio lists it."""

    index: int
    name: str
    host_api: str
    channels: int
    default_rate_hz: float

    @property
    def label(self) -> str:
        """What a device menu shows, e.g. ``pulse (ALSA)``."""
        return f"{self.name} ({self.host_api})"


def portaudio() -> ModuleType:
    """The sounddevice module, or OutputDeviceError when the PortAudio library is missing."""
    try:
        import sounddevice
    except OSError as error:
        raise OutputDeviceError(
            f"Audio output is unavailable: the PortAudio library could not be loaded ({error}). "
            "Install it (Debian: apt-get install libportaudio2).") from None
    return sounddevice


def refresh() -> None:
    """Re-scan the devices. Only call it with no stream open (PortAudio restarts)."""
    sd = portaudio()
    sd._terminate()
    sd._initialize()


def output_devices() -> list[OutputDevice]:
    """Every device with at least one output channel, in PortAudio's order."""
    sd = portaudio()
    host_apis = sd.query_hostapis()
    return [OutputDevice(index=info["index"], name=info["name"],
                         host_api=host_apis[info["hostapi"]]["name"],
                         channels=info["max_output_channels"],
                         default_rate_hz=info["default_samplerate"])
            for info in sd.query_devices() if info["max_output_channels"] > 0]


def find_output_device(device: int | str | None) -> OutputDevice:
    """The device by index or name (exact, else the one name containing it), or the system's
    default output when ``device`` is None.

    Raises:
        OutputDeviceError: no such output device, or no output device at all.
    """
    devices = output_devices()
    if not devices:
        raise OutputDeviceError("No audio output device was found. Connect one (or start the "
                                "sound server) and press play again.")
    if device is None:
        default_index = portaudio().default.device[1]
        matches = [d for d in devices if d.index == default_index] or devices[:1]
    elif isinstance(device, int):
        matches = [d for d in devices if d.index == device]
    else:
        matches = [d for d in devices if d.name == device] or \
            [d for d in devices if device.lower() in d.name.lower()]
    if len(matches) != 1:
        names = ", ".join(d.label for d in devices)
        found = "is ambiguous" if matches else "was not found"
        raise OutputDeviceError(f"The audio output {device!r} {found}; available: {names}.")
    return matches[0]


def stream_rate_hz(device: OutputDevice, track_rate_hz: int) -> int:
    """The track's own rate where the device opens it, else the device's default rate (the
    player then resamples the track)."""
    sd = portaudio()
    try:
        sd.check_output_settings(device=device.index, channels=CHANNELS, dtype=SAMPLE_FORMAT,
                                 samplerate=track_rate_hz)
    except sd.PortAudioError:
        return round(device.default_rate_hz)
    return track_rate_hz
