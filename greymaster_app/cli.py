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
    master.add_argument("--params", help="params JSON file (default: the model's proposal)")
    master.add_argument("--target-lufs", type=float, default=-14.0,
                        help="integrated loudness of the master, LUFS (default -14)")
    master.add_argument("--ceiling-dbtp", type=float, default=-1.0,
                        help="true-peak ceiling, dBTP (default -1)")
    _add_model_options(master)
    _add_output_options(master, FORMATS)
    master.add_argument("--report", help="write a JSON report here")

    render = commands.add_parser("render", help="render a file with exactly the given params")
    render.add_argument("input")
    render.add_argument("-o", "--output", required=True)
    render.add_argument("--params", required=True, help="params JSON file")
    _add_output_options(render, FORMATS)

    analyze = commands.add_parser(
        "analyze", help="measure loudness, peaks and stereo image, and show the model's proposal")
    analyze.add_argument("input")
    analyze.add_argument("--json", action="store_true", help="print JSON")
    analyze.add_argument("--target-lufs", type=float, default=-14.0,
                         help="loudness target the proposal is for, LUFS (default -14)")
    _add_model_options(analyze)
    analyze.add_argument("--params-out", dest="params_out",
                         help="save the proposal as a params file (greymaster render reads it)")

    params = commands.add_parser("params", help="list the parameter table")
    params.add_argument("--json", action="store_true", help="print the table as JSON")
    params.add_argument("--template", action="store_true",
                        help="print a complete params file with every default")
    return parser


def _lock(text: str) -> tuple[str, float]:
    """``stage.name=value`` → (key, value); the key and range are checked against the table."""
    key, separator, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not separator or number is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected STAGE.NAME=VALUE, e.g. compressor.ratio=2")
    return key.strip(), number


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-model", action="store_true", dest="no_model",
                        help="use the table's defaults instead of the model's proposal")
    parser.add_argument("--reference", help="a master you like: the proposal follows it")
    parser.add_argument("--lock", type=_lock, action="append", default=[],
                        metavar="STAGE.NAME=VALUE",
                        help="keep a parameter at your value; the model proposes the rest "
                             "(repeatable)")
    parser.add_argument("--weights", help="model weights (default: the shipped ones)")


def _proposal_source(args: argparse.Namespace):
    """Where the parameters come from: a params file, the defaults, or the model (a function of
    the loaded audio). Returns (ChainParams or proposal function, a short description)."""
    from model.errors import ParamsError
    from model.params import ChainParams

    shaping = [option for option, used in (("--reference", args.reference),
                                           ("--lock", args.lock)) if used]
    if getattr(args, "params", None) is not None or args.no_model:
        if shaping:
            source = "--params" if getattr(args, "params", None) is not None else "--no-model"
            verb = "shape" if len(shaping) > 1 else "shapes"
            raise ParamsError(f"{' and '.join(shaping)} {verb} the model's proposal; not "
                              f"possible with {source}")
        if args.no_model:
            return ChainParams(), "defaults"
        return ChainParams.load(args.params), "params file"
    locks = dict(args.lock)
    for key, value in locks.items():
        ChainParams().replace(key, value)

    def propose(audio, sample_rate_hz: int) -> ChainParams:
        """Loads the model (and reference) only once the input has proved readable."""
        from model import audio_io, proposer

        model = proposer.load(args.weights or proposer.DEFAULT_WEIGHTS)
        reference = audio_io.load(args.reference) if args.reference else None
        return proposer.propose(model, audio, sample_rate_hz, args.target_lufs,
                                reference=None if reference is None else reference.audio,
                                reference_fs=None if reference is None else
                                reference.sample_rate_hz, locks=locks)

    return propose, "model" + (" with reference" if args.reference else "") + \
        (f", {len(locks)} locked" if locks else "")


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
    if args.report:
        audio_io.check_output_path(args.report, args.input)
    params, source = _proposal_source(args)
    report = mastering.master_file(args.input, args.output, params, args.target_lufs,
                                   args.ceiling_dbtp, args.format, args.sample_rate)
    doc = {**report.to_json(), "params_from": source}
    if args.report:
        mastering.write_json(doc, args.report)
    before, after, target = report.before, report.after, report.targeting
    print(f"wrote {report.output_path} ({report.format_name}, {report.sample_rate_hz} Hz), "
          f"parameters from the {source}")
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
    from model import audio_io, mastering
    from model.loudness import analyze
    from model.params import ChainParams

    if args.params_out:
        audio_io.check_output_path(args.params_out, args.input)
    track = audio_io.load(args.input)
    report = analyze(track.audio, track.sample_rate_hz)
    source, source_name = _proposal_source(args)
    proposal = source if isinstance(source, ChainParams) else \
        source(track.audio, track.sample_rate_hz)
    if args.params_out:
        mastering.write_json(proposal.to_json(), args.params_out)
    if args.json:
        print(json.dumps({"input": str(track.path), "sample_rate_hz": track.sample_rate_hz,
                          "channels": track.channels, **report.to_json(),
                          "proposal": proposal.to_json(), "proposal_from": source_name},
                         indent=2))
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
    _print_proposal(proposal, source_name, dict(args.lock))
    return 0


def _print_proposal(params, source: str, locks: dict[str, float]) -> None:
    from model.params import TABLE

    print(f"\nproposal from the {source} (* = locked, ~ = at the default)")
    stage = None
    for row in TABLE:
        if row.stage != stage:
            stage = row.stage
            state = "" if params.enabled[stage] else "  (bypassed)"
            print(f"  {stage}{state}")
        value = params.values[stage][row.name]
        mark = "*" if row.key in locks else "~" if value == row.default else " "
        print(f"    {mark} {row.name:<22} {value:10.3f} {row.unit}")


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
