"""The `greymaster` command line: the public contract of masters, renders and errors."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from greymaster_app.cli import main
from model import chain
from model.dsp.truepeak import true_peak_dbtp
from model.params import TABLE, ChainParams
from tests.signals import music_like

FS = 44100


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "mix.wav"
    sf.write(path, (music_like(8.0, FS, seed=11) * 0.25).T, FS, subtype="PCM_24")
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("fmt", "suffix", "subtype"), [
    ("wav16", ".wav", "PCM_16"), ("wav24", ".wav", "PCM_24"), ("wav32f", ".wav", "FLOAT"),
    ("flac24", ".flac", "PCM_24")])
def test_master_hits_target_and_ceiling_in_every_format(mix, tmp_path, fmt, suffix, subtype):
    before = digest(mix)
    out, report = tmp_path / f"m{suffix}", tmp_path / "r.json"
    assert main(["master", str(mix), "-o", str(out), "--format", fmt, "--target-lufs", "-12",
                 "--ceiling-dbtp", "-1", "--report", str(report)]) == 0
    assert sf.info(out).subtype == subtype
    audio, rate = sf.read(out, dtype="float64")
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-12.0, abs=0.1)
    assert true_peak_dbtp(audio.T) <= -1.0
    doc = json.loads(report.read_text())
    assert doc["targeting"]["reached"] is True
    assert {"params", "before", "after", "timings_s", "meters"} <= set(doc)
    assert ChainParams.from_json(doc["params"]).values["limiter"]["ceiling_dbtp"] == -1.0
    assert doc["after"]["true_peak_dbtp"] <= -1.0
    assert digest(mix) == before


def test_master_resamples_when_asked(mix, tmp_path):
    out = tmp_path / "m48.wav"
    assert main(["master", str(mix), "-o", str(out), "--sample-rate", "48000"]) == 0
    audio, rate = sf.read(out, dtype="float64")
    assert rate == 48000
    assert audio.shape[0] == pytest.approx(8.0 * 48000, abs=2)
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-14.0, abs=0.1)
    assert true_peak_dbtp(audio.T) <= -1.0


def test_render_applies_exactly_the_params(mix, tmp_path):
    params = ChainParams().replace("compressor.ratio", 6.0).with_enabled("saturation", False)
    params_path = tmp_path / "p.json"
    params_path.write_text(json.dumps(params.to_json()))
    out = tmp_path / "r.wav"
    assert main(["render", str(mix), "-o", str(out), "--params", str(params_path),
                 "--format", "wav32f"]) == 0
    audio, _ = sf.read(out, dtype="float32")
    source, _ = sf.read(mix, dtype="float32")
    expected = chain.render(np.ascontiguousarray(source.T), FS, params).audio
    np.testing.assert_allclose(audio.T, expected, atol=1e-6)


def test_analyze_json_matches_pyloudnorm(mix, capsys):
    assert main(["analyze", str(mix), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    audio, _ = sf.read(mix, dtype="float64")
    assert doc["integrated_lufs"] == pytest.approx(
        pyloudnorm.Meter(FS).integrated_loudness(audio), abs=0.1)
    for key in ("short_term_max_lufs", "momentary_max_lufs", "lra_lu", "sample_peak_dbfs",
                "true_peak_dbtp", "crest_factor_db", "correlation", "width"):
        assert key in doc


def test_analyze_text_and_params_listing(mix, capsys):
    assert main(["analyze", str(mix)]) == 0
    assert "integrated" in capsys.readouterr().out
    assert main(["params", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [f"{r['stage']}.{r['name']}" for r in rows] == [r.key for r in TABLE]
    assert main(["params", "--template"]) == 0
    assert ChainParams.from_json(json.loads(capsys.readouterr().out)) == ChainParams()
    assert main(["params"]) == 0
    assert "compressor.enabled" in capsys.readouterr().out


def bad_cases(tmp, mix):
    text = tmp / "notes.wav"
    text.write_text("not audio\n")
    text_mp3 = tmp / "notes.mp3"
    text_mp3.write_text("not audio either\n" * 100)
    bad_json = tmp / "bad.json"
    bad_json.write_text("{")
    damaged = tmp / "damaged.wav"
    samples = (music_like(3.0, FS, seed=2) * 0.2).T.copy()
    samples[-100, 0] = np.nan
    sf.write(damaged, samples, FS, subtype="FLOAT")
    params = tmp / "params.json"
    params.write_text('{"schema": 1}')
    out_of_range = tmp / "range.json"
    out_of_range.write_text('{"schema": 1, "compressor": {"ratio": 99}}')
    out = str(tmp / "o.wav")
    return {
        "missing input": (["master", str(tmp / "nope.wav"), "-o", out], "not found"),
        "not audio": (["master", str(text), "-o", out], "cannot decode"),
        "text as mp3": (["master", str(text_mp3), "-o", out, "--no-model"], "cannot decode"),
        "bad json": (["master", str(mix), "-o", out, "--params", str(bad_json)],
                     "not valid JSON"),
        "out of range": (["render", str(mix), "-o", out, "--params", str(out_of_range)],
                         "compressor.ratio = 99 is outside its range"),
        "overwrite input": (["master", str(mix), "-o", str(mix)], "refusing to overwrite"),
        "unknown format": (["master", str(mix), "-o", out, "--format", "mp3"], "invalid choice"),
        "format mismatch": (["master", str(mix), "-o", out, "--format", "flac24"],
                            "does not match"),
        "no folder": (["master", str(mix), "-o", str(tmp / "x" / "o.wav")], "does not exist"),
        "bad target": (["master", str(mix), "-o", out, "--target-lufs", "3"], "target-lufs"),
        "bad ceiling": (["master", str(mix), "-o", out, "--ceiling-dbtp", "0.5"],
                        "ceiling-dbtp"),
        "bad rate": (["master", str(mix), "-o", out, "--sample-rate", "1000"], "sample-rate"),
        "no command": ([], "required"),
        "damaged late in the file": (["render", str(damaged), "-o", out, "--params",
                                      str(params)], "NaN or infinite"),
    }


def test_user_mistakes_give_one_line_exit_2_and_no_output(mix, tmp_path):
    before = digest(mix)
    for name, (argv, message) in bad_cases(tmp_path, mix).items():
        done = subprocess.run([sys.executable, "-m", "greymaster_app.cli", *argv],
                              capture_output=True, text=True)
        assert done.returncode == 2, name
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (name, done.stderr)
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "o.wav").exists(), name
        assert not list(tmp_path.glob("*.partial")), name
    assert digest(mix) == before


@pytest.mark.music
@pytest.mark.parametrize("target", [-9.0, -14.0])
def test_master_of_a_real_recording_meets_target_and_ceiling(loud_track, tmp_path, target):
    from model.loudness import integrated_loudness

    out = tmp_path / "master.flac"
    assert main(["master", str(loud_track), "-o", str(out), "--target-lufs", str(target)]) == 0
    audio, rate = sf.read(out, dtype="float32")
    assert integrated_loudness(np.ascontiguousarray(audio.T), rate) == pytest.approx(target,
                                                                                    abs=0.1)
    assert pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64)) == \
        pytest.approx(target, abs=0.15)
    assert true_peak_dbtp(np.ascontiguousarray(audio.T)) <= -1.0


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A proposer's weights (untrained: what is tested here is the plumbing, not its taste)."""
    import torch

    from model import proposer

    torch.manual_seed(3)
    model = proposer.Proposer()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    path = tmp_path_factory.mktemp("model") / "w.pt"
    proposer.save(model, path)
    return path


def test_analyze_shows_the_proposal_and_saves_it_for_render(mix, weights, tmp_path, capsys):
    from model import audio_io, proposer

    params_path = tmp_path / "proposal.json"
    assert main(["analyze", str(mix), "--weights", str(weights), "--target-lufs", "-9",
                 "--lock", "compressor.ratio=2.5", "--params-out", str(params_path)]) == 0
    text = capsys.readouterr().out
    assert "proposal from the model, 1 locked" in text and "* ratio" in text
    saved = ChainParams.load(params_path)
    track = audio_io.load(mix)
    expected = proposer.propose(proposer.load(weights), track.audio, track.sample_rate_hz, -9.0,
                                locks={"compressor.ratio": 2.5})
    assert saved == expected and saved.values["compressor"]["ratio"] == 2.5
    assert saved != ChainParams()
    out = tmp_path / "r.wav"
    assert main(["render", str(mix), "-o", str(out), "--params", str(params_path),
                 "--format", "wav32f"]) == 0
    audio, _ = sf.read(out, dtype="float32")
    np.testing.assert_allclose(audio.T, chain.render(track.audio, FS, expected).audio, atol=1e-6)


def test_saved_proposal_carries_the_latent_so_render_reproduces_the_residual(mix, weights,
                                                                               tmp_path):
    import torch

    from model import audio_io, proposer
    from model.features import analysis_excerpts

    params_path = tmp_path / "proposal.json"
    assert main(["analyze", str(mix), "--weights", str(weights), "--params-out",
                 str(params_path)]) == 0
    doc = json.loads(params_path.read_text())
    track = audio_io.load(mix)
    with torch.no_grad():
        z = proposer.load(weights).encoder(
            torch.from_numpy(analysis_excerpts(track.audio, track.sample_rate_hz))[None])[0]
    np.testing.assert_allclose(doc["residual"]["latent"], z.numpy(), rtol=1e-5, atol=1e-6)
    doc["residual"]["amount"] = 0.8
    params_path.write_text(json.dumps(doc))
    out = tmp_path / "r.wav"
    assert main(["render", str(mix), "-o", str(out), "--params", str(params_path),
                 "--format", "wav32f"]) == 0
    audio, _ = sf.read(out, dtype="float32")
    with_latent = ChainParams.from_json(doc)
    np.testing.assert_allclose(audio.T, chain.render(track.audio, FS, with_latent).audio,
                               atol=1e-6)
    without = chain.render(track.audio, FS, with_latent.with_latent(None)).audio
    assert not np.array_equal(audio.T, without), "the saved latent conditions the residual"


def test_master_uses_the_model_unless_told_otherwise(mix, weights, tmp_path):
    reports = {}
    for name, extra in {"model": [], "defaults": ["--no-model"],
                        "reference": ["--reference", str(mix)],
                        "locked": ["--lock", "stereo.width=1.5"]}.items():
        report = tmp_path / f"{name}.json"
        assert main(["master", str(mix), "-o", str(tmp_path / f"{name}.wav"), "--weights",
                     str(weights), "--report", str(report), *extra]) in (0, 1)
        reports[name] = json.loads(report.read_text())
    assert reports["model"]["params_from"] == "model"
    assert reports["defaults"]["params_from"] == "defaults"
    assert reports["reference"]["params_from"] == "model with reference"
    assert reports["locked"]["params"]["stereo"]["width"] == 1.5
    defaults = ChainParams().to_json()
    assert reports["defaults"]["params"]["compressor"] == defaults["compressor"]
    assert reports["model"]["params"] != reports["defaults"]["params"]
    assert reports["reference"]["params"] != reports["model"]["params"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--no-model", "--lock", "compressor.ratio=2"], "not possible with --no-model"),
    (["--params", "p.json", "--reference", "r.wav"], "not possible with --params"),
    (["--lock", "compressor.ratio"], "expected STAGE.NAME=VALUE"),
    (["--lock", "compressor.rattio=2"], "unknown parameter"),
    (["--lock", "compressor.ratio=99"], "ratio"),
    (["--weights", "missing.pt"], "model weights not found"),
    (["--reference", "missing.wav"], "not found"),
])
def test_model_option_mistakes_are_one_line_errors(mix, weights, tmp_path, capsys, extra,
                                                   message):
    extra = [str(tmp_path / e) if e.endswith((".json", ".wav", ".pt")) else e for e in extra]
    if "--weights" not in extra:
        extra += ["--weights", str(weights)]
    out = tmp_path / "o.wav"
    try:
        status = main(["master", str(mix), "-o", str(out), *extra])
    except SystemExit as exit_:
        status = exit_.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("frames", [1, 2, 100])
def test_master_of_a_few_samples_works(tmp_path, frames):
    source = tmp_path / "tiny.wav"
    sf.write(source, np.full((frames, 2), 0.1), FS, subtype="FLOAT")
    out = tmp_path / "o.wav"
    assert main(["master", str(source), "-o", str(out), "--no-model"]) in (0, 1)
    audio, _ = sf.read(out)
    assert audio.shape == (frames, 2) and np.isfinite(audio).all()
