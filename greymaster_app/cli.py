"""The `greymaster` command: master, render, analyse and list parameters, headless.

A user's mistake (missing or undecodable file, bad params, refused overwrite, bad option) prints
one line on stderr and exits with status 2; nothing is written. Heavy modules are imported inside
the subcommands so that start-up stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from model.errors import GreyMasterError

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    from model.audio_io import FORMATS

    parser = _Parser(prog="greymaster", description=(
        "AI-assisted mastering: an interpretable chain (EQ, compressor, saturation, stereo "
        "imager, true-peak limiter) with loudness targeting."))
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    master = commands.add_parser("master", help="master a file to a loudness target")
    master.add_argument("input", help="mix to master (WAV, FLAC, OGG, MP3, AIFF)")
    master.add_argument("-o", "--output", required=True, help="master to write (.wav or .flac)")
    master.add_argument("--params", help="params JSON file (default: the table's defaults)")
    master.add_argument("--target-lufs", type=float, default=-14.0,
                        help="integrated loudness of the master, LUFS (default -14)")
    master.add_argument("--ceiling-dbtp", type=float, default=-1.0,
                        help="true-peak ceiling, dBTP (default -1)")
    _add_output_options(master, FORMATS)
    master.add_argument("--report", help="write a JSON report here")

    render = commands.add_parser("render", help="render a file with exactly the given params")
    render.add_argument("input")
    render.add_argument("-o", "--output", required=True)
    render.add_argument("--params", required=True, help="params JSON file")
    _add_output_options(render, FORMATS)

    analyze = commands.add_parser("analyze", help="measure loudness, peaks and stereo image")
    analyze.add_argument("input")
    analyze.add_argument("--json", action="store_true", help="print JSON")

    params = commands.add_parser("params", help="list the parameter table")
    params.add_argument("--json", action="store_true", help="print the table as JSON")
    params.add_argument("--template", action="store_true",
                        help="print a complete params file with every default")
    return parser


def _add_output_options(parser: argparse.ArgumentParser, formats: dict) -> None:
    parser.add_argument("--format", choices=list(formats),
                        help="output format (default: wav24 for .wav, flac24 for .flac)")
    parser.add_argument("--sample-rate", type=int, dest="sample_rate",
                        help="output sample rate in Hz (default: the input's)")


def _load_params(path: str | None):
    from model.params import ChainParams

    return ChainParams() if path is None else ChainParams.load(path)


def _cmd_master(args: argparse.Namespace) -> int:
    from model import audio_io, mastering, targeting

    targeting.check_target(args.target_lufs, args.ceiling_dbtp)
    params = _load_params(args.params)
    if args.report:
        audio_io.check_output_path(args.report, args.input)
    report = mastering.master_file(args.input, args.output, params, args.target_lufs,
                                   args.ceiling_dbtp, args.format, args.sample_rate)
    doc = report.to_json()
    if args.report:
        mastering.write_json(doc, args.report)
    before, after, target = report.before, report.after, report.targeting
    print(f"wrote {report.output_path} ({report.format_name}, {report.sample_rate_hz} Hz)")
    print(f"  loudness  {before.integrated_lufs:7.2f} → {after.integrated_lufs:7.2f} LUFS"
          f"   {target.message()}")
    print(f"  true peak {before.true_peak_dbtp:7.2f} → {after.true_peak_dbtp:7.2f} dBTP"
          f"   (ceiling {args.ceiling_dbtp:g})")
    print(f"  LRA       {before.lra_lu:7.2f} → {after.lra_lu:7.2f} LU"
          f"   trim {target.trim_db:+.2f} dB,"
          f" {sum(report.timings_s.values()):.2f} s")
    return 0 if target.reached else 1


def _cmd_render(args: argparse.Namespace) -> int:
    from model import mastering

    params = _load_params(args.params)
    output = mastering.render_file(args.input, args.output, params, args.format, args.sample_rate)
    print(f"wrote {output}")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from model import audio_io
    from model.loudness import analyze

    track = audio_io.load(args.input)
    report = analyze(track.audio, track.sample_rate_hz)
    if args.json:
        print(json.dumps({"input": str(track.path), "sample_rate_hz": track.sample_rate_hz,
                          "channels": track.channels, **report.to_json()}, indent=2))
        return 0
    rows = [
        ("file", f"{track.path.name} ({track.channels} ch, {track.sample_rate_hz} Hz, "
                 f"{track.duration_s:.1f} s)"),
        ("integrated", f"{report.integrated_lufs:.2f} LUFS"),
        ("short-term max", f"{report.short_term_max_lufs:.2f} LUFS"),
        ("momentary max", f"{report.momentary_max_lufs:.2f} LUFS"),
        ("loudness range", f"{report.lra_lu:.2f} LU"),
        ("sample peak", f"{report.sample_peak_dbfs:.2f} dBFS"),
        ("true peak", f"{report.true_peak_dbtp:.2f} dBTP"),
        ("crest factor", f"{report.crest_factor_db:.2f} dB"),
        ("correlation", f"{report.correlation:.3f}"),
        ("width (S/M)", f"{report.width:.3f}"),
    ]
    for name, value in rows:
        print(f"{name:>15}  {value}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from model.params import STAGE_TITLES, TABLE, ChainParams

    if args.template:
        print(json.dumps(ChainParams().to_json(), indent=2))
        return 0
    if args.json:
        print(json.dumps([{"stage": r.stage, "name": r.name, "unit": r.unit,
                           "minimum": r.minimum, "maximum": r.maximum, "default": r.default,
                           "scale": r.scale, "description": r.description} for r in TABLE],
                         indent=2))
        return 0
    stage = None
    for row in TABLE:
        if row.stage != stage:
            stage = row.stage
            print(f"\n{stage}  ({STAGE_TITLES[stage]}; also: {stage}.enabled true|false)")
        print(f"  {row.name:<22} {row.range_text():<22} default {row.default:<8g} "
              f"{row.scale:<6} {row.description}")
    return 0


COMMANDS = {"master": _cmd_master, "render": _cmd_render, "analyze": _cmd_analyze,
            "params": _cmd_params}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `greymaster`; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GreyMasterError as exc:
        print(f"greymaster: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("greymaster: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
