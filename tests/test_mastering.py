"""model.mastering: the streaming master and render jobs, their progress, dither and the
streaming measurements they report, checked against whole-track computations."""

from __future__ import annotations

import functools
import json
import math
import tracemalloc

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from model import audio_io, chain, mastering, targeting
from model.dsp.truepeak import true_peak_dbtp
from model.loudness import analyze, integrated_loudness
from model.params import ChainParams
from tests.signals import music_like

FS = 44100
TARGET_LUFS = -14.0
CEILING_DBTP = -1.0


def _write_mix(path, seconds: float = 8.0, rate: int = FS, channels: int = 2, seed: int = 11):
    audio = music_like(seconds, rate, seed=seed) * 0.3
    sf.write(path, audio[:channels].T, rate, subtype="PCM_24")
    return path


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    return _write_mix(tmp_path_factory.mktemp("in") / "mix.wav")


def _assert_reports_equal(streamed, whole, tolerance: float = 0.01) -> None:
    for name, value in whole.to_json().items():
        got = streamed.to_json()[name]
        if value is None:
            assert got is None, name
        else:
            assert got == pytest.approx(value, abs=tolerance), name


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("block_frames", [1, 4410, 65536])
def test_streaming_analysis_equals_analyze_of_the_whole_signal(channels, block_frames):
    audio = (music_like(7.3, FS, seed=2) * 0.5)[:channels]
    audio = audio[:, : 9000] if block_frames == 1 else audio
    analysis = mastering.StreamingAnalysis(FS, channels)
    for block in chain.chunks(audio, block_frames):
        analysis.process(block)
    _assert_reports_equal(analysis.report(), analyze(audio, FS), tolerance=1e-6)


def test_streamed_loudness_equals_integrated_loudness():
    audio = music_like(9.0, 48000, seed=4) * 0.4
    streamed = targeting.streamed_loudness(chain.chunks(audio, 7777), 48000)
    assert streamed == pytest.approx(integrated_loudness(audio, 48000), abs=1e-9)


@pytest.mark.parametrize("target", [-23.0, -14.0, -9.0])
def test_streaming_trim_search_agrees_with_the_whole_track_search(target):
    x = music_like(12.0, FS, seed=3) * 0.3
    params = targeting.with_ceiling(ChainParams(), CEILING_DBTP)
    pre = chain.render_stages(x, FS, params, chain.PRE_LIMITER_STAGES).audio
    whole, _ = targeting.find_trim(pre, FS, params, target)
    streamed = targeting.find_trim_streaming(
        lambda: chain.chunks(pre, 10000), pre.shape[1], FS, params, target,
        integrated_loudness(pre, FS))
    assert streamed.reached and abs(streamed.error_lu) <= 0.1
    assert streamed.achieved_lufs == pytest.approx(whole.achieved_lufs, abs=0.01)
    final = chain.render_limiter(pre, FS, params, streamed.trim_db).audio
    assert integrated_loudness(final, FS) == pytest.approx(streamed.achieved_lufs, abs=0.01)


@pytest.mark.parametrize(("rate", "fmt", "suffix"), [(None, "wav24", ".wav"),
                                                     (48000, "wav32f", ".wav"),
                                                     (None, "flac24", ".flac")])
def test_master_lands_on_target_under_ceiling_and_reports_what_was_written(mix, tmp_path, rate,
                                                                           fmt, suffix):
    out = tmp_path / f"master{suffix}"
    report = mastering.master_file(mix, out, ChainParams(), TARGET_LUFS, CEILING_DBTP, fmt, rate)
    written, written_rate = sf.read(out, dtype="float64")
    assert written_rate == (rate or FS) == report.sample_rate_hz
    source = audio_io.load(mix)
    assert written.shape == (round(source.audio.shape[1] * written_rate / FS), 2)
    measured = pyloudnorm.Meter(written_rate).integrated_loudness(written)
    assert measured == pytest.approx(TARGET_LUFS, abs=0.1)
    assert true_peak_dbtp(written.T) <= CEILING_DBTP
    assert report.targeting.reached
    _assert_reports_equal(report.after, analyze(audio_io.load(out).audio, written_rate))
    resampled = audio_io.resample(source.audio, FS, written_rate)
    _assert_reports_equal(report.before, analyze(resampled, written_rate))
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def _strict_json(text: str) -> object:
    """``json.loads`` that refuses NaN and ±Infinity (which are not JSON)."""
    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_the_report_of_a_silent_master_is_strict_json_with_nulls(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((FS, 2)), FS, subtype="PCM_16")
    report = mastering.master_file(silent, tmp_path / "m.wav", ChainParams(), TARGET_LUFS,
                                   CEILING_DBTP)
    doc = _strict_json(json.dumps(report.to_json(), allow_nan=False))
    assert doc["targeting"]["achieved_lufs"] is None and doc["targeting"]["error_lu"] is None
    assert doc["targeting"]["reached"] is False and "silent" in doc["targeting"]["message"]
    assert doc["after"]["integrated_lufs"] is None and doc["before"]["true_peak_dbtp"] is None


def test_write_json_writes_non_finite_numbers_as_null(tmp_path):
    doc = {"a": -math.inf, "b": [math.nan, np.float32(1.5), 2], "c": {"d": (math.inf, "x")},
           "e": np.float64(-math.inf), "f": True, "g": None}
    path = mastering.write_json(doc, tmp_path / "r.json")
    assert _strict_json(path.read_text()) == {"a": None, "b": [None, 1.5, 2],
                                              "c": {"d": [None, "x"]}, "e": None, "f": True,
                                              "g": None}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_master_is_the_whole_track_chain_at_the_chosen_trim(mix, tmp_path):
    """The streamed passes equal one whole-track render of the chain at the reported trim."""
    out = tmp_path / "master.wav"
    report = mastering.master_file(mix, out, ChainParams(), TARGET_LUFS, CEILING_DBTP, "wav32f")
    expected = chain.render(audio_io.load(mix).audio, FS, report.params,
                            report.targeting.trim_db).audio
    written = audio_io.load(out).audio
    assert np.max(np.abs(written - expected)) <= 10 ** (-80 / 20) * np.max(np.abs(expected))
    for stage in ("compressor", "limiter"):
        reduction = np.asarray(chain.render(audio_io.load(mix).audio, FS, report.params,
                                            report.targeting.trim_db)
                               .meters[stage]["gain_reduction_db"], np.float64)
        assert report.meters[f"{stage}.gain_reduction_db.max"] == pytest.approx(
            reduction.max(), abs=1e-3)
        assert report.meters[f"{stage}.gain_reduction_db.mean"] == pytest.approx(
            reduction.mean(), abs=1e-3)


def test_a_proposal_sees_the_decoded_track_and_its_parameters_are_used(mix, tmp_path):
    seen = []

    def propose(audio, rate):
        seen.append((np.array(audio), rate))
        return ChainParams().replace("eq.low_shelf_gain_db", 3.0)

    report = mastering.master_file(mix, tmp_path / "m.wav", propose, TARGET_LUFS, CEILING_DBTP)
    (audio, rate), = seen
    assert rate == FS and np.array_equal(audio, audio_io.load(mix).audio)
    assert report.params.values["eq"]["low_shelf_gain_db"] == 3.0
    assert report.params.values["limiter"]["ceiling_dbtp"] == CEILING_DBTP


@pytest.mark.parametrize("proposing", [False, True])
def test_progress_runs_through_the_phases_in_order_and_rises_to_one(mix, tmp_path, proposing):
    calls: list[tuple[str, float]] = []
    params = (lambda audio, rate: ChainParams()) if proposing else ChainParams()
    mastering.master_file(mix, tmp_path / "m.wav", params, TARGET_LUFS, CEILING_DBTP,
                          progress=lambda phase, done: calls.append((phase, done)))
    phases = [phase for phase, _ in calls]
    runs = [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]
    assert runs == [phase for phase in mastering.PHASES if phase in phases]
    assert ("propose" in phases) == proposing
    assert {"load", "render", "targeting", "export", "verify"} <= set(phases)
    fractions = [done for _, done in calls]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and fractions[-1] == 1.0
    blocks_per_pass = -(-8 * FS // chain.RENDER_CHUNK_FRAMES)
    for phase in ("render", "export", "verify"):
        assert phases.count(phase) >= blocks_per_pass, phase


def _quantisation_error_lsb(fmt_name: str, dither: bool, mix, tmp_path) -> np.ndarray:
    """The integer master minus the float master scaled by the integer format's headroom, in
    LSB. The trim search does not depend on the format, so both carry the same audio."""
    fmt = audio_io.FORMATS[fmt_name]
    floats = mastering.master_file(mix, tmp_path / "f.wav", ChainParams(), TARGET_LUFS,
                                   CEILING_DBTP, "wav32f")
    ints = mastering.master_file(mix, tmp_path / "i.wav", ChainParams(), TARGET_LUFS,
                                 CEILING_DBTP, fmt_name, dither=dither)
    assert ints.targeting.trim_db == floats.targeting.trim_db
    headroom = np.float32(targeting.headroom_gain(CEILING_DBTP, audio_io.quantisation_margin(fmt)))
    exact = sf.read(tmp_path / "f.wav", dtype="float32")[0] * headroom
    scale = 2.0 ** (fmt.bits - 1)
    written = sf.read(tmp_path / "i.wav", dtype="int32")[0] / 2.0 ** (32 - fmt.bits)
    return written - exact.astype(np.float64) * scale


def test_without_dither_integer_masters_are_the_float_master_rounded(mix, tmp_path):
    error = _quantisation_error_lsb("wav16", False, mix, tmp_path)
    assert np.max(np.abs(error)) <= 0.5 + 1e-9
    assert np.var(error) == pytest.approx(1 / 12, rel=0.05)


def test_with_dither_the_error_has_the_tpdf_variance(mix, tmp_path):
    error = _quantisation_error_lsb("wav16", True, mix, tmp_path)
    assert np.max(np.abs(error)) <= 1.5 + 1e-9
    assert abs(np.mean(error)) < 0.01
    assert np.var(error) == pytest.approx(1 / 12 + 1 / 6, rel=0.05)


def test_quantise_without_dither_rounds_half_up_and_clips():
    x = np.random.default_rng(3).uniform(-1.2, 1.2, (2, 5000)).astype(np.float32)
    x[0, :4] = [0.5 / 32768, 1.5 / 32768, -0.5 / 32768, 1.0]
    q = audio_io.quantise(x, 16, dither=False) // 2 ** 16
    expected = np.clip(np.floor(x.astype(np.float64) * 32768 + 0.5), -32768, 32767).T
    assert np.array_equal(q, expected)


@pytest.mark.parametrize("dither", [False, True])
def test_render_streams_through_a_resampler_with_dither_as_asked(mix, tmp_path, dither):
    params = ChainParams().replace("eq.high_shelf_gain_db", 2.0)
    calls: list[tuple[str, float]] = []
    out = mastering.render_file(mix, tmp_path / "r.wav", params, "wav16", 48000, dither=dither,
                                progress=lambda phase, done: calls.append((phase, done)))
    expected = chain.render(audio_io.resample(audio_io.load(mix).audio, FS, 48000), 48000,
                            params).audio
    written = sf.read(out, dtype="int32")[0] / 2.0 ** 16
    error = written - expected.T.astype(np.float64) * 32768
    assert np.max(np.abs(error)) <= (1.5 if dither else 0.5) + 0.01
    assert np.var(error) == pytest.approx(1 / 4 if dither else 1 / 12, rel=0.05)
    fractions = [done for _, done in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [phase for phase, _ in calls][-1] == "verify"


def test_resample_blocks_equals_resample_of_the_whole_signal():
    x = music_like(3.0, FS, seed=8) * 0.5
    streamed = np.concatenate(list(audio_io.resample_blocks(chain.chunks(x, 10007), FS, 96000,
                                                            2)), axis=1)
    assert np.array_equal(streamed, audio_io.resample(x, FS, 96000))


def _peak_traced_bytes(job) -> int:
    """Peak of the memory Python and numpy allocate while ``job()`` runs (tracemalloc)."""
    tracemalloc.start()
    try:
        job()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_master_memory_does_not_grow_with_the_length_of_the_track(tmp_path, monkeypatch):
    """Issue 6: memory stays bounded. A master of a track 4× longer may not hold even an eighth
    of the extra audio at once (one float32 copy of the whole track would be 4× that), with a
    proposal (decoded into a temporary file) and a resampler on the way. Short blocks keep the
    stages' per-block buffers small beside that."""
    monkeypatch.setattr(chain, "RENDER_CHUNK_FRAMES", 4096)
    rng = np.random.default_rng(5)
    peaks = {}
    warm_up = _write_mix(tmp_path / "warm.wav", seconds=1.0)
    mastering.master_file(warm_up, tmp_path / "m.wav", ChainParams(), TARGET_LUFS, CEILING_DBTP,
                          sample_rate_hz=48000)
    for seconds in (10, 40):
        path = tmp_path / f"noise{seconds}.wav"
        sf.write(path, rng.standard_normal((seconds * FS, 2)) * 0.05, FS, subtype="PCM_16")
        peaks[seconds] = _peak_traced_bytes(functools.partial(
            mastering.master_file, path, tmp_path / "m.wav", lambda audio, rate: ChainParams(),
            TARGET_LUFS, CEILING_DBTP, sample_rate_hz=48000))
    extra_audio_bytes = 30 * 48000 * 2 * 4
    assert peaks[40] - peaks[10] < extra_audio_bytes / 8, peaks
