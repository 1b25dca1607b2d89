"""Real recordings for tests, benchmarks and training, from Debian packages of freely licensed
game soundtracks (DESIGN.md §7): fetched with ``apt-get download``, unpacked with ``dpkg -x``
into a cache folder, once. Any other folder of audio files works too.

    python -m training.corpus fetch [--dest DIR] [--training] [PACKAGE ...]
    python -m training.corpus list [--dest DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff")

PACKAGES: dict[str, str] = {
    "nexuiz-music": "electronic, 44.1 kHz Ogg Vorbis, GPL-2+ (Alientrap)",
    "singularity-music": "orchestral/ambient, 48 kHz Ogg Vorbis, CC BY-SA 3.0 (Max McCracken)",
    "asc-music": "rock/orchestral, 22.05 kHz MP3, GPL-2+ (Michael Kievernagel)",
}
"""The default corpus: small enough to fetch in seconds, varied in genre, rate and codec."""

TRAINING_PACKAGES: dict[str, str] = {
    "wesnoth-1.16-music": "orchestral/folk, 44.1 kHz Ogg Vorbis, GPL-2+ (Wesnoth composers)",
    "warzone2100-music": "electronic/orchestral, 48 kHz Ogg Opus, GPL-2+ (Warzone 2100 Project)",
    "hyperrogue-music": "ambient/world, Ogg Vorbis, CC BY-SA 3.0 (Parrotte, Domina, Savino); "
                        "also sound effects, all but two shorter than the split's minimum",
    "planetblupi-music-ogg": "pop/jazz, Ogg Vorbis, GPL-3+ (Mathieu Schroeter)",
    "ufoai-music": "orchestral/electronic, Ogg Vorbis, CC BY 3.0 / CC BY-SA 3.0 / GPL-2+ "
                   "per file (UFO:AI Team)",
}
"""The training corpus added to ``PACKAGES`` (~600 MB): more genres and producers."""


def default_cache_dir() -> Path:
    """``$GREYMASTER_CORPUS`` if set, else ``~/.cache/greymaster/corpus``."""
    configured = os.environ.get("GREYMASTER_CORPUS")
    return Path(configured) if configured else Path.home() / ".cache" / "greymaster" / "corpus"


def audio_files(folder: str | Path) -> list[Path]:
    """Every audio file under ``folder``, sorted (stable across machines)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS
                  and p.is_file())


def fetch(dest: Path, packages: list[str]) -> list[Path]:
    """Download and unpack each package not yet in ``dest``; returns the corpus' audio files."""
    dest.mkdir(parents=True, exist_ok=True)
    for package in packages:
        target = dest / package
        if (target / ".complete").exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)  # apt's sandbox user may then write the download
            subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            (deb,) = Path(tmp).glob(f"{package}_*.deb")
            unpacked = Path(tmp) / "root"
            subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True)
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            _collect(unpacked, target)
        (target / ".complete").touch()
    return audio_files(dest)


def _collect(unpacked: Path, target: Path) -> None:
    """Keep the audio (also inside Quake-style .pk3 zip archives) and the copyright notices."""
    for path in unpacked.rglob("*"):
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            shutil.copy2(path, target / path.name)
        elif path.suffix.lower() == ".pk3":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                        (target / Path(name).name).write_bytes(archive.read(name))
        elif path.name == "copyright":
            shutil.copy2(path, target / "COPYRIGHT")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["fetch", "list"])
    parser.add_argument("packages", nargs="*", help="default: the test corpus (PACKAGES)")
    parser.add_argument("--dest", type=Path, default=None)
    parser.add_argument("--training", action="store_true",
                        help="the training corpus too (TRAINING_PACKAGES, ~600 MB)")
    args = parser.parse_intermixed_args(argv)
    dest = args.dest or default_cache_dir()
    if not args.packages:
        args.packages = list(PACKAGES) + (list(TRAINING_PACKAGES) if args.training else [])
    try:
        files = fetch(dest, args.packages) if args.action == "fetch" else audio_files(dest)
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError) as exc:
        print(f"corpus: could not fetch {args.packages}: {exc}", file=sys.stderr)
        return 2
    print(f"{len(files)} audio files in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
