"""Make the bundled demo pre-master: a 30 s excerpt of a freely licensed recording from the
corpus, faded in and out, turned down to about −20 LUFS integrated (peaks then sit well below
−3 dBFS), written as 24-bit FLAC in assets/demo/ beside its licence and attribution.

    python -m training.demo [--corpus DIR] [--out assets/demo/demo-premaster.flac]

The source is "brokenlight" from the Nexuiz soundtrack (Debian package nexuiz-music, GPL-2+).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from model import audio_io
from model.loudness import integrated_loudness
from training.corpus import default_cache_dir

SOURCE = Path("nexuiz-music") / "brokenlight.ogg"
START_S = 60.0
DURATION_S = 30.0
FADE_S = 0.5
TARGET_LUFS = -20.0
MAX_PEAK_DBFS = -3.0
SAMPLE_RATE_HZ = 44100


def make_demo(corpus: Path, out: Path) -> tuple[float, float]:
    """Write the demo; returns its integrated loudness (LUFS) and sample peak (dBFS)."""
    track = audio_io.load(corpus / SOURCE)
    audio = audio_io.resample(track.audio, track.sample_rate_hz, SAMPLE_RATE_HZ)
    start = int(START_S * SAMPLE_RATE_HZ)
    excerpt = audio[:, start:start + int(DURATION_S * SAMPLE_RATE_HZ)].astype(np.float64)
    fade = np.linspace(0.0, 1.0, int(FADE_S * SAMPLE_RATE_HZ))
    excerpt[:, : fade.size] *= fade
    excerpt[:, -fade.size:] *= fade[::-1]
    gain_db = TARGET_LUFS - integrated_loudness(excerpt.astype(np.float32), SAMPLE_RATE_HZ)
    excerpt *= 10.0 ** (gain_db / 20.0)
    peak_dbfs = 20.0 * np.log10(np.max(np.abs(excerpt)))
    if peak_dbfs > MAX_PEAK_DBFS:
        raise SystemExit(f"demo: excerpt peaks at {peak_dbfs:.1f} dBFS at −20 LUFS; pick another")
    audio_io.write(excerpt.astype(np.float32), SAMPLE_RATE_HZ, out, audio_io.FORMATS["flac24"])
    written = audio_io.load(out).audio
    return integrated_loudness(written, SAMPLE_RATE_HZ), float(20 * np.log10(np.abs(written).max()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=default_cache_dir())
    parser.add_argument("--out", type=Path, default=Path("assets/demo/demo-premaster.flac"))
    args = parser.parse_args(argv)
    loudness, peak = make_demo(args.corpus, args.out)
    print(f"wrote {args.out}: {loudness:.2f} LUFS, sample peak {peak:.2f} dBFS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
