"""The anchor: pedalboard's nearest equivalent of GreyMaster's chain, and a load-process-write
script with it (run as ``python benchmarks/pedalboard_chain.py IN OUT``) for whole-process
timings.

Mapping: low/high shelf and four peak filters (same frequencies, gains, Q), Compressor
(threshold, ratio, attack, release; no knee or makeup in pedalboard), Distortion (tanh drive;
no mix, bias or hardness), Gain (the limiter drive / targeting trim), BrickwallLimiter with
true_peak=True (ceiling, release, lookahead). pedalboard has no stereo imager.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import pedalboard as pb


def board(values: Mapping[str, Mapping[str, float]], gain_db: float = 0.0) -> pb.Pedalboard:
    """A pedalboard chain from GreyMaster's parameter values (``ChainParams.values``)."""
    eq, comp = values["eq"], values["compressor"]
    sat, lim = values["saturation"], values["limiter"]
    return pb.Pedalboard([
        pb.LowShelfFilter(eq["low_shelf_freq_hz"], eq["low_shelf_gain_db"], eq["low_shelf_q"]),
        *[pb.PeakFilter(eq[f"peak{i}_freq_hz"], eq[f"peak{i}_gain_db"], eq[f"peak{i}_q"])
          for i in range(1, 5)],
        pb.HighShelfFilter(eq["high_shelf_freq_hz"], eq["high_shelf_gain_db"],
                           eq["high_shelf_q"]),
        pb.Compressor(comp["threshold_db"], comp["ratio"], comp["attack_ms"],
                      comp["release_ms"]),
        pb.Distortion(sat["drive_db"]),
        pb.Gain(gain_db - lim["threshold_db"]),
        pb.BrickwallLimiter(lim["ceiling_dbtp"], lim["release_ms"], max(lim["lookahead_ms"], 0.1),
                            true_peak=True),
    ])


def main(argv: list[str]) -> int:
    """Load, process with the default-parameter board, write 24-bit WAV."""
    from pedalboard.io import AudioFile

    from model.params import ChainParams

    source, target = argv
    with AudioFile(source) as handle:
        audio, rate = handle.read(handle.frames), handle.samplerate
    out = board(ChainParams().values)(audio, rate)
    with AudioFile(target, "w", rate, out.shape[0], bit_depth=24) as handle:
        handle.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
