"""Side-by-side evaluation of the mastering methods on the held-out test tracks, whole songs.

Each test track, a professional master, is the target. It gets a logged degradation
(``training.degrade``, seeded by ``EVAL_SEED`` and the track's key, so every run and every
method sees the same input), and each method masters the degraded track at the target's own
integrated loudness under a ``CEILING_DBTP`` true-peak ceiling:

- ``unprocessed``: the degraded track as it is;
- ``loudness_only``: one gain to the target loudness, no limiter (its true peak as it falls);
- ``default_chain``: the table's defaults, trim searched by ``model.targeting``;
- ``matchering``: Matchering 2 with the original master as its reference (it is given the
  answer), through temporary 32-bit float WAV files; its own limiter and level, as they are;
- ``ours``: the proposer's parameters, trim searched as for the default chain, the neural
  residual bypassed (the grey-box chain alone);
- ``ours_reference``: the same, with the original master as the reference (as Matchering);
- ``ours_locks``: co-mastering, the same with half of the known values (a seeded draw per
  track, ``Case.lock_mask``) locked at their true values, as an engineer's overrides;
- ``ours_eq_only``: ablation, the proposal's EQ alone (compressor, saturation, stereo and
  residual bypassed; the limiter kept, as every method has to meet the same loudness and
  ceiling). ``ours`` is the ablation's full chain;
- ``ours_residual``: ablation, the full chain + the neural residual at the proposed amount,
  conditioned on the track's latent (the proposal as ``greymaster master`` runs it);
- ``oracle_eq`` and ``oracle_eq_width``: bounds, not methods: ``ours`` with the proposal's EQ
  (and ``stereo.width``) replaced by the degradation's exact inverse. They show how far a
  perfect blind estimate of those knobs would take the proposal.

Metrics per track (``training.metrics``): MR-STFT distances (left/right and sum/difference),
SNR after loudness matching and alignment, loudness, loudness error, true peak and compliance,
and, for methods with parameters, the unit-space error to the degradation's inverse where it is
known (``param_mae``, per stage, and ``param_mae_free``: the known entries that
``ours_locks`` leaves free, so that ``ours`` and ``ours_locks`` compare on the same values).
Everything runs at ``ANALYSIS_RATE_HZ`` (tracks resampled, stereo).
The JSON has per-track and mean metrics per method; a Markdown table is printed.

    python -m training.evaluate [--weights assets/model/greymaster-proposer.pt] [--corpus DIR]
        [--split training/split.json] [--out training/results/eval.json] [--tracks 6]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from model import audio_io, chain, targeting
from model.errors import GreyMasterError
from model.features import ANALYSIS_RATE_HZ
from model.loudness import integrated_loudness
from model.mastering import write_json
from model.params import STAGES, TABLE, ChainParams
from model.proposer import DEFAULT_WEIGHTS
from model.units import db_to_gain
from training import degrade, metrics
from training.corpus import default_cache_dir
from training.split import DEFAULT_PATH as DEFAULT_SPLIT
from training.split import load_split, resolve

EVAL_SEED = 3
"""Seeds each track's degradation together with the CRC-32 of its key."""
CEILING_DBTP = -1.0
DEFAULT_TRACKS = 6
"""The first tracks of the test split (sorted keys) evaluated by default."""
DEFAULT_OUT = Path("training/results/eval.json")

TITLES: dict[str, str] = {
    "unprocessed": "Unprocessed (degraded input)",
    "loudness_only": "Loudness-normalised only",
    "default_chain": "Default chain + targeting",
    "matchering": "Matchering 2 (reference = answer)",
    "ours": "Ours, no reference (= ablation: full chain)",
    "ours_reference": "Ours, reference = answer",
    "ours_locks": "Ours, half the known values locked",
    "ours_eq_only": "Ablation: EQ only",
    "ours_residual": "Ablation: full chain + residual",
    "oracle_eq": "Bound: ours with the exact inverse EQ",
    "oracle_eq_width": "Bound: ours with the exact inverse EQ and width",
}
MODEL_METHODS: tuple[str, ...] = ("ours", "ours_reference", "ours_locks", "ours_eq_only",
                                  "ours_residual", "oracle_eq", "oracle_eq_width")
"""The methods that need the proposer (``model_methods``), skipped together without it."""


@dataclass(frozen=True)
class Case:
    """One test track. Shape: target, degraded (2, N) float32 at ANALYSIS_RATE_HZ; known_units,
    known_mask (P,) in TABLE order (the degradation's inverse, where the table expresses it);
    lock_mask (P,): the half of the known entries that ``ours_locks`` locks."""

    name: str
    target: np.ndarray
    degraded: np.ndarray
    target_lufs: float
    degradation: dict[str, Any]
    known_units: np.ndarray
    known_mask: np.ndarray
    lock_mask: np.ndarray


@dataclass(frozen=True)
class Output:
    """What a method made: the master (2, N) and, if it chose chain parameters, those."""

    audio: np.ndarray
    params: ChainParams | None = None


Method = Callable[[Case], Output]


def make_case(name: str, audio: np.ndarray, sample_rate_hz: int, seed: int = EVAL_SEED) -> Case:
    """The target (stereo, at ANALYSIS_RATE_HZ) and its degradation, drawn from a generator
    seeded by ``seed`` and the CRC-32 of ``name``. Shape: audio (channels, N)."""
    target = chain.as_stereo(audio_io.resample(audio, sample_rate_hz, ANALYSIS_RATE_HZ))
    target = np.ascontiguousarray(target, dtype=np.float32)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    degradation = degrade.random_degradation(rng)
    known_units, known_mask = degrade.inverse_units(degradation)
    known = np.flatnonzero(known_mask)
    lock_mask = np.zeros_like(known_mask)
    lock_mask[rng.choice(known, size=known.size // 2, replace=False)] = True
    return Case(name, target, degrade.apply(target, ANALYSIS_RATE_HZ, degradation),
                integrated_loudness(target, ANALYSIS_RATE_HZ), json.loads(degradation.to_json()),
                known_units, known_mask, lock_mask)


def master(audio: np.ndarray, params: ChainParams, target_lufs: float,
           ceiling_dbtp: float = CEILING_DBTP) -> np.ndarray:
    """The chain with ``params`` at the ceiling, trim searched to land on ``target_lufs``
    (``model.targeting``, as ``greymaster master``). Shape: (2, N) → (2, N) float32."""
    used = targeting.with_ceiling(params, ceiling_dbtp)
    pre = chain.render_stages(audio, ANALYSIS_RATE_HZ, used, chain.PRE_LIMITER_STAGES)
    _, result = targeting.find_trim(pre.audio, ANALYSIS_RATE_HZ, used, target_lufs)
    return result.audio


def unprocessed(case: Case) -> Output:
    return Output(case.degraded)


def loudness_only(case: Case) -> Output:
    """One gain to the target loudness; no limiter, so its true peak is what it is."""
    gain = db_to_gain(case.target_lufs - integrated_loudness(case.degraded, ANALYSIS_RATE_HZ))
    return Output((case.degraded * np.float32(gain)).astype(np.float32))


def default_chain(case: Case) -> Output:
    return Output(master(case.degraded, ChainParams(), case.target_lufs), ChainParams())


def matchering(case: Case) -> Output:
    """Matchering 2 with the original master as its reference, via 32-bit float WAV files."""
    import matchering as mg

    with tempfile.TemporaryDirectory(prefix="greymaster-eval-") as folder:
        paths = {name: str(Path(folder) / f"{name}.wav") for name in ("target", "ref", "out")}
        sf.write(paths["target"], case.degraded.T, ANALYSIS_RATE_HZ, subtype="FLOAT")
        sf.write(paths["ref"], case.target.T, ANALYSIS_RATE_HZ, subtype="FLOAT")
        mg.process(target=paths["target"], reference=paths["ref"],
                   results=[mg.Result(paths["out"], subtype="FLOAT")])
        audio, rate = sf.read(paths["out"], dtype="float32", always_2d=True)
    if audio.shape != case.target.T.shape or rate != ANALYSIS_RATE_HZ:
        raise RuntimeError(f"Matchering returned {audio.shape} at {rate} Hz for "
                           f"{case.target.T.shape} at {ANALYSIS_RATE_HZ} Hz")
    return Output(np.ascontiguousarray(audio.T))


def known_values(case: Case, mask: np.ndarray) -> dict[str, float]:
    """The degradation's inverse in physical units, ``{"stage.name": value}``, for the known
    entries that ``mask`` (P,) selects (clipped to each row's range: the float32 unit values
    can round just past an end)."""
    return {row.key: float(np.clip(row.from_unit(float(case.known_units[i])), row.minimum,
                                   row.maximum))
            for i, row in enumerate(TABLE) if mask[i] and case.known_mask[i]}


def known_locks(case: Case) -> dict[str, float]:
    """The true values of the case's locked known parameters, as ``propose`` locks."""
    return known_values(case, case.lock_mask)


def with_known(params: ChainParams, case: Case, keys: Callable[[str], bool]) -> ChainParams:
    """``params`` with every known value of the degradation's inverse whose key ``keys``
    accepts."""
    for key, value in known_values(case, case.known_mask).items():
        if keys(key):
            params = params.replace(key, value)
    return params


def model_methods(model: Any) -> dict[str, Method]:
    """The proposer's methods (``model.proposer.propose`` on the degraded track)."""
    from model import proposer

    def proposal(case: Case, **options: Any) -> ChainParams:
        return proposer.propose(model, case.degraded, ANALYSIS_RATE_HZ, case.target_lufs,
                                **options)

    def mastered(case: Case, params: ChainParams) -> Output:
        return Output(master(case.degraded, params, case.target_lufs), params)

    def grey_box(case: Case, **options: Any) -> Output:
        return mastered(case, proposal(case, **options).with_enabled("residual", False))

    def eq_only(case: Case) -> Output:
        params = proposal(case)
        for stage in STAGES:
            if stage not in ("eq", "limiter"):
                params = params.with_enabled(stage, False)
        return mastered(case, params)

    def oracle(case: Case, keys: Callable[[str], bool]) -> Output:
        params = proposal(case).with_enabled("residual", False)
        return mastered(case, with_known(params, case, keys))

    return {
        "ours": grey_box,
        "ours_reference": lambda case: grey_box(case, reference=case.target,
                                                reference_fs=ANALYSIS_RATE_HZ),
        "ours_locks": lambda case: grey_box(case, locks=known_locks(case)),
        "ours_eq_only": eq_only,
        "ours_residual": lambda case: mastered(case, proposal(case)),
        "oracle_eq": lambda case: oracle(case, lambda key: key.startswith("eq.")),
        "oracle_eq_width": lambda case: oracle(
            case, lambda key: key.startswith("eq.") or key == "stereo.width"),
    }


def standard_methods(weights: Path) -> tuple[dict[str, Method], dict[str, str]]:
    """Every method whose dependencies are present, and a note for each one skipped."""
    methods: dict[str, Method] = {"unprocessed": unprocessed, "loudness_only": loudness_only,
                                  "default_chain": default_chain}
    skipped: dict[str, str] = {}
    if importlib.util.find_spec("matchering") is not None:
        methods["matchering"] = matchering
    else:
        skipped["matchering"] = "skipped: matchering is not installed (pip install matchering)"
    try:
        from model import proposer

        methods |= model_methods(proposer.load(weights))
    except (ImportError, GreyMasterError) as exc:
        for name in MODEL_METHODS:
            skipped[name] = f"skipped: {exc}"
    return methods, skipped


def measure(output: Output, case: Case, ceiling_dbtp: float = CEILING_DBTP) -> dict[str, Any]:
    """Every metric of one method's master of one track (None where not defined)."""
    fs = ANALYSIS_RATE_HZ
    row: dict[str, Any] = dict(metrics.mr_stft_distance(output.audio, case.target, fs))
    row["snr_db"] = metrics.snr_db(output.audio, case.target, fs)
    row["lufs"] = integrated_loudness(output.audio, fs)
    row["lufs_error"] = metrics.lufs_error(output.audio, fs, case.target_lufs)
    row["true_peak_dbtp"] = metrics.true_peak_dbtp(output.audio)
    row["true_peak_compliant"] = metrics.true_peak_compliant(output.audio, ceiling_dbtp)
    if output.params is not None:
        units = metrics.unit_vector(output.params)
        recovery = metrics.param_recovery_error(units, case.known_units, case.known_mask)
        row["param_mae"] = recovery.pop("all")
        row |= {f"param_mae_{stage}": value for stage, value in recovery.items()}
        row["param_mae_free"] = metrics.param_recovery_error(
            units, case.known_units, case.known_mask & ~case.lock_mask)["all"]
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over tracks (of the tracks where a metric is defined), |LUFS error| as its mean
    absolute value, the highest true peak, the share of compliant masters and the total time."""
    def mean(key: str, transform: Callable[[float], float] = float) -> float | None:
        values = [transform(r[key]) for r in rows if r.get(key) is not None]
        return float(np.mean(values)) if values else None

    summary: dict[str, Any] = {key: mean(key) for key in (
        "mr_stft", "sum_difference_stft", "snr_db", "param_mae", "param_mae_free",
        *(f"param_mae_{stage}" for stage in STAGES))}
    summary["lufs_abs_error"] = mean("lufs_error", abs)
    summary["true_peak_dbtp_max"] = max(r["true_peak_dbtp"] for r in rows)
    summary["true_peak_compliant_share"] = mean("true_peak_compliant")
    summary["seconds"] = sum(r["seconds"] for r in rows)
    return summary


def evaluate(cases: list[Case], methods: dict[str, Method], skipped: dict[str, str],
             ceiling_dbtp: float = CEILING_DBTP,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every method on every case and measure it; the report as a JSON-ready document
    (non-finite numbers, e.g. the SNR of an exact copy, become null). ``progress`` gets a line
    per track."""
    tracks = []
    for number, case in enumerate(cases, 1):
        if progress is not None:
            progress(f"[{number}/{len(cases)}] {case.name} "
                     f"({case.target.shape[1] / ANALYSIS_RATE_HZ:.0f} s)")
        results = {}
        for name, method in methods.items():
            start = time.perf_counter()
            output = method(case)
            seconds = time.perf_counter() - start
            results[name] = {**measure(output, case, ceiling_dbtp), "seconds": seconds}
        tracks.append({"name": case.name, "duration_s": case.target.shape[1] / ANALYSIS_RATE_HZ,
                       "target_lufs": case.target_lufs, "degradation": case.degradation,
                       "methods": results})
    means = {name: summarise([t["methods"][name] for t in tracks]) for name in methods}
    doc = {"sample_rate_hz": ANALYSIS_RATE_HZ, "ceiling_dbtp": ceiling_dbtp,
           "seed": EVAL_SEED, "methods": list(methods), "skipped": skipped,
           "locks_effect": _locks_effect(means), "mean": means, "tracks": tracks}
    return _finite_or_null(doc)


def _locks_effect(means: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Recovery of the known parameters left free by the locks, without and with the locks."""
    if "ours" not in means or "ours_locks" not in means:
        return None
    return {"param_mae_free_without_locks": means["ours"]["param_mae_free"],
            "param_mae_free_with_locks": means["ours_locks"]["param_mae_free"]}


def _finite_or_null(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(v) for v in value]
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("mr_stft", "MR-STFT ↓", "{:.3f}"),
    ("sum_difference_stft", "S/D STFT ↓", "{:.3f}"),
    ("snr_db", "SNR dB ↑", "{:.2f}"),
    ("lufs_abs_error", "|LUFS err| LU ↓", "{:.2f}"),
    ("true_peak_dbtp_max", "max TP dBTP", "{:+.2f}"),
    ("true_peak_compliant_share", "TP ≤ ceiling", "{:.0%}"),
    ("param_mae", "param MAE ↓", "{:.3f}"),
    ("param_mae_free", "MAE of the unlocked ↓", "{:.3f}"),
    ("seconds", "time s", "{:.1f}"),
)


def markdown_table(doc: dict[str, Any]) -> str:
    """The means per method as a Markdown table (skipped methods with their note)."""
    lines = ["| Method | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for name, summary in doc["mean"].items():
        cells = ["–" if summary[key] is None else fmt.format(summary[key])
                 for key, _, fmt in COLUMNS]
        lines.append(f"| {TITLES.get(name, name)} | " + " | ".join(cells) + " |")
    for name, note in doc["skipped"].items():
        lines.append(f"| {TITLES.get(name, name)} | {note} |" + " |" * (len(COLUMNS) - 1))
    return "\n".join(lines)


def load_cases(keys: list[str], corpus: Path) -> list[Case]:
    """Decode the test tracks and degrade each one (see ``make_case``)."""
    cases = []
    for key, path in zip(keys, resolve(keys, corpus), strict=True):
        track = audio_io.load(path)
        cases.append(make_case(key, track.audio, track.sample_rate_hz))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--corpus", type=Path, default=default_cache_dir())
    parser.add_argument("--split", type=Path, default=DEFAULT_SPLIT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--tracks", type=int, default=DEFAULT_TRACKS,
                        help="how many test tracks (the first, by key); 0 for all")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        keys = load_split(args.split)["test"]
        cases = load_cases(keys[:args.tracks] if args.tracks > 0 else keys, args.corpus)
    except (OSError, KeyError, ValueError, GreyMasterError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    if not cases:
        print(f"evaluate: the split {args.split} has no test tracks", file=sys.stderr)
        return 2
    loaded_s = time.perf_counter() - start
    methods, skipped = standard_methods(args.weights)
    doc = evaluate(cases, methods, skipped, progress=lambda line: print(line, file=sys.stderr))
    doc["timing_s"] = {"load_and_degrade": loaded_s, "total": time.perf_counter() - start}
    doc["table_markdown"] = markdown_table(doc)
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(doc, args.out)
    except (OSError, GreyMasterError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(doc["table_markdown"])
    print(f"{len(cases)} tracks in {doc['timing_s']['total']:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
