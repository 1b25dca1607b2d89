"""The evaluation end to end on two short synthetic "tracks": seeded degradations, stand-in and
real methods, valid JSON, means that are the means of the rows, and the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from model.mastering import write_json
from model.params import TABLE, ChainParams
from tests.signals import noise, sine
from training import degrade, evaluate
from training.evaluate import Output

torch = pytest.importorskip("torch")

FS = 44100
DURATION_S = 5.0


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _track(seed: int) -> np.ndarray:
    """Noise under a slow level swell, plus a chord, with some stereo width: (2, N) float32."""
    rng = np.random.default_rng(seed)
    n = round(DURATION_S * FS)
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * np.arange(n) / FS + rng.uniform(0, 6)) ** 2
    bed = noise(DURATION_S, FS, -24.0, seed=seed) * swell.astype(np.float32)
    chord = sum(sine(f, DURATION_S, FS, -18.0) for f in rng.uniform(100, 2000, size=3))
    return (bed + chord).astype(np.float32)


@pytest.fixture(scope="module")
def cases() -> list[evaluate.Case]:
    return [evaluate.make_case(f"synthetic/{i}.wav", _track(i), FS) for i in (1, 2)]


def _inverse_params(case: evaluate.Case) -> ChainParams:
    """The degradation's known inverse as chain parameters (defaults where unknown)."""
    return evaluate.with_known(ChainParams(), case, lambda key: True)


def test_cases_are_seeded_and_their_log_reproduces_the_input(cases):
    again = evaluate.make_case("synthetic/1.wav", _track(1), FS)
    np.testing.assert_array_equal(again.degraded, cases[0].degraded)
    assert cases[0].degradation != cases[1].degradation
    logged = degrade.Degradation.from_json(json.dumps(cases[0].degradation))
    np.testing.assert_array_equal(degrade.apply(cases[0].target, FS, logged), cases[0].degraded)
    assert cases[0].known_units.shape == cases[0].known_mask.shape == (len(TABLE),)


def test_evaluate_end_to_end_writes_valid_json(cases, tmp_path):
    methods = {
        "copy_of_target": lambda case: Output(case.target),
        "unprocessed": evaluate.unprocessed,
        "loudness_only": evaluate.loudness_only,
        "default_chain": evaluate.default_chain,
        "inverse_params": lambda case: Output(case.degraded, _inverse_params(case)),
    }
    skipped = {"ours": "skipped: no weights here"}
    doc = evaluate.evaluate(cases, methods, skipped)
    doc["table_markdown"] = evaluate.markdown_table(doc)
    path = write_json(doc, tmp_path / "eval.json")

    def no_constants(name):
        raise AssertionError(f"{name} in JSON")

    loaded = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)
    assert [t["name"] for t in loaded["tracks"]] == [c.name for c in cases]
    assert loaded["skipped"] == skipped
    for track, case in zip(loaded["tracks"], cases, strict=True):
        rows = track["methods"]
        assert set(rows) == set(methods)
        assert track["target_lufs"] == pytest.approx(case.target_lufs)
        assert rows["copy_of_target"]["mr_stft"] == 0.0
        assert rows["copy_of_target"]["snr_db"] is None  # +inf: an exact copy
        assert rows["copy_of_target"]["lufs_error"] == pytest.approx(0.0, abs=1e-9)
        assert abs(rows["loudness_only"]["lufs_error"]) < 0.01
        # the SNR is loudness-matched: a gain alone changes nothing
        assert rows["loudness_only"]["snr_db"] == pytest.approx(rows["unprocessed"]["snr_db"],
                                                                abs=1e-3)
        assert abs(rows["default_chain"]["lufs_error"]) <= 0.1
        assert rows["default_chain"]["true_peak_compliant"]
        assert rows["default_chain"]["true_peak_dbtp"] <= evaluate.CEILING_DBTP + 1e-3
        assert rows["inverse_params"]["param_mae"] == pytest.approx(0.0, abs=1e-6)
        assert rows["default_chain"]["param_mae"] > 0.01
        assert "param_mae" not in rows["unprocessed"]
    for name in methods:
        rows = [t["methods"][name] for t in loaded["tracks"]]
        mean = loaded["mean"][name]
        assert mean["mr_stft"] == pytest.approx(np.mean([r["mr_stft"] for r in rows]))
        assert mean["lufs_abs_error"] == pytest.approx(np.mean([abs(r["lufs_error"])
                                                                for r in rows]))
        assert mean["true_peak_dbtp_max"] == max(r["true_peak_dbtp"] for r in rows)
    assert loaded["mean"]["default_chain"]["true_peak_compliant_share"] == 1.0
    assert loaded["locks_effect"] is None
    table = loaded["table_markdown"].splitlines()
    assert len(table) == 2 + len(methods) + len(skipped)
    assert "skipped: no weights here" in table[-1]


def test_proposer_methods_lock_half_the_known_values_and_meet_the_targets(cases):
    from model.proposer import Proposer

    torch.manual_seed(0)
    methods = evaluate.model_methods(Proposer())
    case = cases[0]
    doc = evaluate.evaluate([case], methods, {})
    rows = doc["tracks"][0]["methods"]
    locked = evaluate.metrics.param_recovery_error(
        np.array(evaluate.metrics.unit_vector(evaluate.model_methods(Proposer())["ours_locks"](
            case).params)), case.known_units, case.lock_mask)["all"]
    assert locked == pytest.approx(0.0, abs=1e-5)
    for name, row in rows.items():
        assert abs(row["lufs_error"]) <= 0.1, name
        assert row["true_peak_compliant"], name
    assert doc["locks_effect"] == {
        "param_mae_free_without_locks": doc["mean"]["ours"]["param_mae_free"],
        "param_mae_free_with_locks": doc["mean"]["ours_locks"]["param_mae_free"]}
    locks = evaluate.known_locks(case)
    assert len(locks) == case.known_mask.sum() // 2
    assert not (case.lock_mask & ~case.known_mask).any()


def test_ablations_bypass_the_right_stages(cases, monkeypatch):
    from model.proposer import Proposer

    seen = []
    original = evaluate.master

    def spy(audio, params, target_lufs, ceiling_dbtp=evaluate.CEILING_DBTP):
        seen.append(dict(params.enabled))
        return original(audio, params, target_lufs, ceiling_dbtp)

    monkeypatch.setattr(evaluate, "master", spy)
    methods = evaluate.model_methods(Proposer())
    for name in ("ours_eq_only", "ours", "ours_residual"):
        methods[name](cases[0])
    grey_box = {"eq": True, "compressor": True, "saturation": True, "stereo": True,
                "residual": False, "limiter": True}
    assert seen == [{"eq": True, "compressor": False, "saturation": False, "stereo": False,
                     "residual": False, "limiter": True},
                    grey_box, {**grey_box, "residual": True}]


def test_oracle_bounds_replace_only_the_eq_and_width_by_the_inverse(cases):
    from model.proposer import Proposer

    torch.manual_seed(0)
    methods = evaluate.model_methods(Proposer())
    assert tuple(methods) == evaluate.MODEL_METHODS
    case = cases[0]
    logged = degrade.Degradation.from_json(json.dumps(case.degradation))
    inverse_eq = degrade.eq_params(logged.eq, gain_sign=-1.0)
    used = {section.band for section in logged.eq}
    ours = methods["ours"](case).params
    for name in ("oracle_eq", "oracle_eq_width"):
        params = methods[name](case).params
        assert params.enabled == ours.enabled
        for row in TABLE:
            value = params.values[row.stage][row.name]
            if row.stage == "eq" and (row.name.endswith("_gain_db") or any(
                    row.name.startswith(f"{band}_") for band in used)):
                assert value == pytest.approx(inverse_eq[row.name], rel=1e-5, abs=1e-4), row.key
            elif row.key == "stereo.width" and name == "oracle_eq_width":
                assert value == pytest.approx(1.0 / logged.width, rel=1e-5), row.key
            else:
                assert value == ours.values[row.stage][row.name], (name, row.key)


def _corpus(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "synthetic").mkdir(parents=True)
    keys = []
    for i in (1, 2):
        sf.write(corpus / "synthetic" / f"{i}.wav", _track(i).T, FS, subtype="FLOAT")
        keys.append(f"synthetic/{i}.wav")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": [], "validation": [], "test": keys}))
    return corpus, split


def test_command_line_writes_the_report_and_notes_missing_weights(tmp_path, capsys):
    corpus, split = _corpus(tmp_path)
    out = tmp_path / "results" / "eval.json"
    code = evaluate.main(["--corpus", str(corpus), "--split", str(split), "--out", str(out),
                          "--weights", str(tmp_path / "absent.pt"), "--tracks", "0"])
    assert code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert len(doc["tracks"]) == 2
    assert "not found" in doc["skipped"]["ours"]
    assert "not found" in doc["skipped"]["ours_residual"]
    assert {"unprocessed", "loudness_only", "default_chain"} <= set(doc["methods"])
    if "matchering" in doc["methods"]:
        rows = [t["methods"]["matchering"] for t in doc["tracks"]]
        assert all(math.isfinite(r["lufs"]) and math.isfinite(r["true_peak_dbtp"])
                   for r in rows)
    assert doc["timing_s"]["total"] > 0
    printed = capsys.readouterr().out
    assert "| Loudness-normalised only |" in printed and str(out) in printed


def test_command_line_names_missing_tracks_in_one_line(tmp_path, capsys):
    corpus, split = _corpus(tmp_path)
    (corpus / "synthetic" / "2.wav").unlink()
    code = evaluate.main(["--corpus", str(corpus), "--split", str(split),
                          "--out", str(tmp_path / "eval.json")])
    assert code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not in" in error
    assert not (tmp_path / "eval.json").exists()
