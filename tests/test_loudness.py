"""Loudness metering against BS.1770-4, EBU Tech 3341 / 3342 test cases, pyloudnorm and real music.

The EBU cases are synthesised from their definitions in EBU Tech 3341 v4 (2016) §3 Table 1 /
Table 2 and EBU Tech 3342 v4 (2016) Table 1, i.e. the signals of the EBU loudness test set v05
(files ``seq-3341-N…wav``, ``seq-3342-N…wav``). Levels in dBFS are sine peak levels; every tone
is a 1 kHz stereo sine (both channels identical) at 48 kHz unless the case says otherwise.
Tech 3342 cases 5 and 6 are authentic programme recordings (``seq-3341-7_seq-3342-5``,
``seq-3341-2011-8_seq-3342-6``) that cannot be synthesised; they are not tested here.

Real-music tests need ``GREYMASTER_CORPUS``: a folder searched recursively for audio files.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf
import torch

from model import loudness
from tests.signals import music_like, noise, sine

FS = 48000.0
CORPUS_EXTENSIONS = (".ogg", ".flac", ".wav", ".mp3")


def tone_sequence(levels_dbfs, durations_s, freq_hz=1000.0, sample_rate_hz=FS):
    """A phase-continuous stereo sine whose peak level steps through ``levels_dbfs``."""
    counts = [round(d * sample_rate_hz) for d in durations_s]
    amplitude = np.repeat([10.0 ** (level / 20.0) for level in levels_dbfs], counts)
    t = np.arange(amplitude.size) / sample_rate_hz
    x = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.stack([x, x])


def series_lufs(audio, window_s, sample_rate_hz=FS):
    weighted = loudness.k_weight(audio, sample_rate_hz)
    return loudness.block_loudness(loudness.block_energies(weighted, sample_rate_hz, window_s))


def pyloudnorm_lufs(audio, sample_rate_hz, filter_class="K-weighting"):
    meter = pyloudnorm.Meter(sample_rate_hz, filter_class)
    return meter.integrated_loudness(audio.T.astype(np.float64))


# --- K-weighting --------------------------------------------------------------------------------

def test_k_weighting_reproduces_bs1770_tables_at_48k():
    """BS.1770-4 Annex 1, Table 1 (pre-filter) and Table 2 (RLB filter), 48 kHz."""
    expected = np.array([
        [1.53512485958697, -2.69169618940638, 1.19839281085285,
         1.0, -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ])
    np.testing.assert_allclose(loudness.k_weighting_sos(48000.0), expected, rtol=0, atol=1e-13)


# The analog filters' pre-warp frequencies (B. De Man's fit to the 48 kHz tables, libebur128).
SHELF_FREQ_HZ = 1681.974450955533
HIGHPASS_FREQ_HZ = 38.13547087602444


def bilinear_frequency_at_48k(freq_hz, rate_hz, prewarp_hz):
    """The 48 kHz frequency at which a filter pre-warped at ``prewarp_hz`` and transformed at
    ``rate_hz`` sees the same analog frequency: tan(πf/fs)/tan(πf0/fs) equal at both rates."""
    ratio = np.tan(np.pi * freq_hz / rate_hz) / np.tan(np.pi * prewarp_hz / rate_hz)
    return 48000.0 / np.pi * np.arctan(ratio * np.tan(np.pi * prewarp_hz / 48000.0))


@pytest.mark.parametrize("rate_hz", [8000.0, 11025.0, 44100.0, 96000.0, 192000.0])
def test_k_weighting_at_any_rate_is_the_standards_analog_filter(rate_hz):
    """Each section at ``rate_hz`` is the bilinear transform (pre-warped at its corner) of the one
    analog filter whose 48 kHz transform is the standard's table: its complex response at f
    equals the table section's at the 48 kHz frequency with the same analog frequency."""
    ours, table = loudness.k_weighting_sos(rate_hz), loudness.k_weighting_sos(48000.0)
    freqs_hz = np.geomspace(5.0, 0.49 * rate_hz, 200)
    for section, prewarp_hz in enumerate((SHELF_FREQ_HZ, HIGHPASS_FREQ_HZ)):
        _, at_rate = scipy.signal.freqz(ours[section, :3], ours[section, 3:], freqs_hz,
                                        fs=rate_hz)
        freqs_48k = bilinear_frequency_at_48k(freqs_hz, rate_hz, prewarp_hz)
        _, at_48k = scipy.signal.freqz(table[section, :3], table[section, 3:], freqs_48k,
                                       fs=48000.0)
        np.testing.assert_allclose(at_rate, at_48k, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("rate_hz", [16000.0, 44100.0, 48000.0, 96000.0, 192000.0])
def test_mono_full_scale_997_hz_sine_reads_minus_3_01(rate_hz):
    """BS.1770-4 Annex 1: a 0 dBFS 997 Hz sine in one front channel reads −3.01 LKFS.

    At 48 kHz the filter is the standard's (−3.010 measured). At other rates the bilinear
    transform warps the shelf: −3.011 at 44.1 kHz, −3.005 at 192 kHz, −3.056 at 16 kHz, within
    Tech 3341's ±0.1 LU; at 8 kHz (997 Hz is 0.125·fs) it reads −3.21.
    """
    mono = sine(997.0, 3.0, rate_hz, level_dbfs=0.0, channels=1)
    tolerance = 0.005 if rate_hz == 48000.0 else 0.1
    assert loudness.integrated_loudness(mono, rate_hz) == pytest.approx(-3.01, abs=tolerance)
    stereo = np.concatenate([mono, mono])
    assert loudness.integrated_loudness(stereo, rate_hz) == pytest.approx(
        loudness.integrated_loudness(mono, rate_hz) + 10 * np.log10(2), abs=1e-9)


# --- EBU Tech 3341: loudness (cases 1-5) -------------------------------------------------------

def test_tech3341_case1():
    """Tech 3341 case 1 (seq-3341-1): stereo 1 kHz sine at −23.0 dBFS, 20 s.
    Expected M, S, I = −23.0 ±0.1 LUFS (every complete M and S window, and the integral)."""
    x = tone_sequence([-23.0], [20.0])
    report = loudness.analyze(x, FS)
    assert report.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    np.testing.assert_allclose(series_lufs(x, 0.4), -23.0, atol=0.1)
    np.testing.assert_allclose(series_lufs(x, 3.0), -23.0, atol=0.1)
    assert report.momentary_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert report.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case2():
    """Tech 3341 case 2 (seq-3341-2): stereo 1 kHz sine at −33.0 dBFS, 20 s.
    Expected M, S, I = −33.0 ±0.1 LUFS."""
    x = tone_sequence([-33.0], [20.0])
    assert loudness.integrated_loudness(x, FS) == pytest.approx(-33.0, abs=0.1)
    np.testing.assert_allclose(series_lufs(x, 0.4), -33.0, atol=0.1)
    np.testing.assert_allclose(series_lufs(x, 3.0), -33.0, atol=0.1)


def test_tech3341_case3():
    """Tech 3341 case 3 (seq-3341-3-…-v02): stereo 1 kHz sine, −36.0 dBFS 10 s, −23.0 dBFS 60 s,
    −36.0 dBFS 10 s. Expected I = −23.0 ±0.1 LUFS (the −36 parts fall under the relative gate)."""
    x = tone_sequence([-36.0, -23.0, -36.0], [10.0, 60.0, 10.0])
    assert loudness.integrated_loudness(x, FS) == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case4():
    """Tech 3341 case 4 (seq-3341-4-…-v02): stereo 1 kHz sine, −72.0 dBFS 10 s, −36.0 dBFS 10 s,
    −23.0 dBFS 60 s, −36.0 dBFS 10 s, −72.0 dBFS 10 s. Expected I = −23.0 ±0.1 LUFS (absolute
    gate, then relative gate)."""
    x = tone_sequence([-72.0, -36.0, -23.0, -36.0, -72.0], [10.0, 10.0, 60.0, 10.0, 10.0])
    assert loudness.integrated_loudness(x, FS) == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case5():
    """Tech 3341 case 5 (seq-3341-5-…-v02): stereo 1 kHz sine, −26.0 dBFS 20 s, −20.0 dBFS 20.1 s,
    −26.0 dBFS 20 s. Expected I = −23.0 ±0.1 LUFS (every block passes both gates)."""
    x = tone_sequence([-26.0, -20.0, -26.0], [20.0, 20.1, 20.0])
    assert loudness.integrated_loudness(x, FS) == pytest.approx(-23.0, abs=0.1)


# --- EBU Tech 3341: true peak (cases 15-19) -----------------------------------------------------
# Tech 3341 Table 2 / test set v05: 48 kHz stereo sines; expected maximum true peak with the
# tolerance +0.2 / −0.4 dB. The expected values are those of the steady tones, so ours fade in
# and out over 10 ms: a sine switched on abruptly really overshoots between samples (case 18
# unfaded reads −5.32 dBTP, its steady part −6.03). The test-set files last a few seconds; the
# tones are periodic, so 1 s gives the same peaks. Sample peaks follow from the phase.

def true_peak_case(freq_hz, amplitude, phase_deg):
    n = np.arange(round(FS))
    x = amplitude * np.sin(2 * np.pi * freq_hz * n / FS + np.radians(phase_deg))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(round(0.01 * FS)) / round(0.01 * FS))
    x[: ramp.size] *= ramp
    x[x.size - ramp.size:] *= ramp[::-1]
    return np.stack([x, x]).astype(np.float32)


def assert_true_peak(x, expected_dbtp, expected_sample_peak_dbfs):
    report = loudness.analyze(x, FS)
    assert expected_dbtp - 0.4 <= report.true_peak_dbtp <= expected_dbtp + 0.2
    assert report.sample_peak_dbfs == pytest.approx(expected_sample_peak_dbfs, abs=1e-4)


def test_tech3341_case15():
    """Tech 3341 case 15 (seq-3341-15): sine at fs/4 (12 kHz), peak 0.50, phase 0°.
    Expected true peak −6.0 +0.2/−0.4 dBTP; samples hit the peak (sample peak −6.02 dBFS)."""
    assert_true_peak(true_peak_case(FS / 4, 0.5, 0.0), -6.0, 20 * np.log10(0.5))


def test_tech3341_case16():
    """Tech 3341 case 16 (seq-3341-16): sine at fs/4, peak 0.50, phase 45°.
    Expected true peak −6.0 +0.2/−0.4 dBTP; samples at ±0.354 (sample peak −9.03 dBFS)."""
    assert_true_peak(true_peak_case(FS / 4, 0.5, 45.0), -6.0,
                     20 * np.log10(0.5 * np.sin(np.radians(45.0))))


def test_tech3341_case17():
    """Tech 3341 case 17 (seq-3341-17): sine at fs/6 (8 kHz), peak 0.50, phase 60°.
    Expected true peak −6.0 +0.2/−0.4 dBTP; sample peak 0.5·sin 60° (−7.27 dBFS)."""
    assert_true_peak(true_peak_case(FS / 6, 0.5, 60.0), -6.0,
                     20 * np.log10(0.5 * np.sin(np.radians(60.0))))


def test_tech3341_case18():
    """Tech 3341 case 18 (seq-3341-18): sine at fs/8 (6 kHz), peak 0.50, phase 67.5°.
    Expected true peak −6.0 +0.2/−0.4 dBTP; sample peak 0.5·sin 67.5° (−6.71 dBFS)."""
    assert_true_peak(true_peak_case(FS / 8, 0.5, 67.5), -6.0,
                     20 * np.log10(0.5 * np.sin(np.radians(67.5))))


def test_tech3341_case19():
    """Tech 3341 case 19 (seq-3341-19): sine at fs/4, peak 1.41 (√2), phase 45°: samples at
    ±1.0 (0 dBFS) and a waveform peak of +3.0 dBTP. Expected true peak +3.0 +0.2/−0.4 dBTP."""
    assert_true_peak(true_peak_case(FS / 4, math.sqrt(2.0), 45.0), 3.0, 0.0)


# --- EBU Tech 3342: loudness range (cases 1-4) -------------------------------------------------

def test_tech3342_case1():
    """Tech 3342 case 1 (seq-3342-1): stereo 1 kHz sine, −20 dBFS 20 s then −30 dBFS 20 s.
    Expected LRA = 10 ±1 LU."""
    x = tone_sequence([-20.0, -30.0], [20.0, 20.0])
    assert loudness.analyze(x, FS).lra_lu == pytest.approx(10.0, abs=1.0)


def test_tech3342_case2():
    """Tech 3342 case 2 (seq-3342-2): stereo 1 kHz sine, −20 dBFS 20 s then −15 dBFS 20 s.
    Expected LRA = 5 ±1 LU."""
    x = tone_sequence([-20.0, -15.0], [20.0, 20.0])
    assert loudness.analyze(x, FS).lra_lu == pytest.approx(5.0, abs=1.0)


def test_tech3342_case3():
    """Tech 3342 case 3 (seq-3342-3): stereo 1 kHz sine, −40 dBFS 20 s then −20 dBFS 20 s.
    Expected LRA = 20 ±1 LU (−40 is exactly at the −20 LU relative gate's edge region)."""
    x = tone_sequence([-40.0, -20.0], [20.0, 20.0])
    assert loudness.analyze(x, FS).lra_lu == pytest.approx(20.0, abs=1.0)


def test_tech3342_case4():
    """Tech 3342 case 4 (seq-3342-4): stereo 1 kHz sine, −50, −35, −20, −35, −50 dBFS, 20 s each.
    Expected LRA = 15 ±1 LU (the −50 parts fall under the relative gate)."""
    x = tone_sequence([-50.0, -35.0, -20.0, -35.0, -50.0], [20.0] * 5)
    assert loudness.analyze(x, FS).lra_lu == pytest.approx(15.0, abs=1.0)


# --- integrated loudness against pyloudnorm (synthetic) ----------------------------------------

@pytest.mark.parametrize(("rate_hz", "same_filter_lu"), [(48000.0, 1e-3), (44100.0, 0.01)])
def test_integrated_equals_pyloudnorm(rate_hz, same_filter_lu):
    """Against pyloudnorm with libebur128's filter ("DeMan"): equal at 48 kHz, where both filters
    are the standard's (blocks and gates agree), and within 0.01 LU at 44.1 kHz (our high-pass
    keeps the 48 kHz gain: −0.004 dB). Against its default RBJ approximation: the issue's 0.1 LU."""
    x = music_like(20.0, rate_hz, seed=4)
    x[:, round(5 * rate_hz): round(9 * rate_hz)] *= 0.01
    ours = loudness.integrated_loudness(x, rate_hz)
    assert ours == pytest.approx(pyloudnorm_lufs(x, rate_hz, "DeMan"), abs=same_filter_lu)
    assert ours == pytest.approx(pyloudnorm_lufs(x, rate_hz), abs=0.1)


def test_absolute_gate_silences_a_quiet_signal():
    x = tone_sequence([-75.0], [3.0])
    assert series_lufs(x, 0.4).max() == pytest.approx(-75.0, abs=0.1)
    assert loudness.integrated_loudness(x, FS) == -math.inf


def test_block_length_must_be_whole_hops():
    with pytest.raises(ValueError, match="whole number"):
        loudness.block_energies(np.zeros((1, 48000), np.float32), FS, block_s=0.25)


# --- report: peaks, crest, stereo image, JSON ---------------------------------------------------

def test_sample_peak_and_crest_factor_of_a_sine():
    x = sine(997.0, 2.0, FS, level_dbfs=-6.0)
    report = loudness.analyze(x, FS)
    assert report.sample_peak_dbfs == pytest.approx(20 * math.log10(np.abs(x).max()), abs=1e-9)
    assert report.true_peak_dbtp == pytest.approx(-6.0, abs=0.02)
    assert report.crest_factor_db == pytest.approx(10 * np.log10(2), abs=0.02)
    assert report.duration_s == 2.0


@pytest.mark.parametrize("side_gain", [0.0, 0.5, 1.0, 2.0])
def test_correlation_and_width_from_mid_and_side(side_gain):
    """L = m + g·s, R = m − g·s with independent equal-power m, s: width = g and
    correlation = (1 − g²)/(1 + g²)."""
    mid, side = noise(10.0, FS, channels=2, seed=9).astype(np.float64)
    x = np.stack([mid + side_gain * side, mid - side_gain * side]).astype(np.float32)
    report = loudness.analyze(x, FS)
    assert report.width == pytest.approx(side_gain, abs=0.01)
    assert report.correlation == pytest.approx((1 - side_gain**2) / (1 + side_gain**2), abs=0.01)


def test_stereo_edge_cases_are_nan_free():
    x = noise(1.0, FS, channels=1)
    mono = loudness.analyze(x, FS)
    assert (mono.correlation, mono.width) == (1.0, 0.0)
    opposite = loudness.analyze(np.concatenate([x, -x]), FS)
    assert (opposite.correlation, opposite.width) == (-1.0, math.inf)
    one_sided = loudness.analyze(np.concatenate([x, 0 * x]), FS)
    assert one_sided.correlation == 0.0
    assert one_sided.width == pytest.approx(1.0, abs=1e-9)


def test_silence_reads_minus_infinity_and_json_maps_it_to_none():
    report = loudness.analyze(np.zeros((2, 96000), np.float32), FS)
    assert report.integrated_lufs == report.momentary_max_lufs == -math.inf
    assert report.true_peak_dbtp == report.sample_peak_dbfs == report.crest_factor_db == -math.inf
    assert (report.correlation, report.width, report.lra_lu) == (1.0, 0.0, 0.0)
    document = report.to_json()
    json.dumps(document, allow_nan=False)
    assert document["integrated_lufs"] is None and document["duration_s"] == 2.0


def test_audio_shorter_than_a_block_has_peaks_but_no_loudness():
    report = loudness.analyze(sine(997.0, 0.3, FS, level_dbfs=-6.0), FS)
    assert report.integrated_lufs == report.momentary_max_lufs == -math.inf
    assert report.short_term_max_lufs == -math.inf
    assert report.sample_peak_dbfs == pytest.approx(-6.0, abs=1e-3)


@pytest.mark.parametrize("rate_hz", [8000.0, 192000.0])
@pytest.mark.parametrize("channels", [1, 2])
def test_extreme_rates_and_mono_give_finite_values(rate_hz, channels):
    x = music_like(4.0, rate_hz, seed=2)[:channels]
    values = loudness.analyze(x, rate_hz).to_json()
    assert all(v is not None and math.isfinite(v) for v in values.values())


def test_bad_shapes_and_rates_are_refused():
    with pytest.raises(ValueError, match="channels"):
        loudness.analyze(np.zeros(48000, np.float32), FS)
    with pytest.raises(ValueError, match="sample rate"):
        loudness.integrated_loudness(np.zeros((2, 48000), np.float32), 4000.0)


# --- streaming meter ----------------------------------------------------------------------------

@pytest.mark.parametrize("block", [1, 7, 512, 4096])
def test_streaming_meter_equals_whole_signal(block):
    rate_hz = 8000.0 if block < 512 else 44100.0
    x = music_like({1: 1.2, 7: 3.5}.get(block, 12.0), rate_hz, seed=block)
    meter = loudness.LoudnessMeter(rate_hz, channels=2)
    checkpoints = {x.shape[1] // 2 // block * block, x.shape[1] // block * block}
    for start in range(0, x.shape[1], block):
        meter.process(x[:, start:start + block])
        seen = min(start + block, x.shape[1])
        if seen in checkpoints:
            report = loudness.analyze(x[:, :seen], rate_hz)
            assert meter.integrated_lufs == report.integrated_lufs
            assert meter.momentary_lufs == series_lufs(x[:, :seen], 0.4, rate_hz)[-1]
            assert meter.loudness_range_lu == report.lra_lu
            short_term = series_lufs(x[:, :seen], 3.0, rate_hz)
            assert meter.short_term_lufs == (short_term[-1] if short_term.size else -math.inf)
    meter.reset()
    assert meter.momentary_lufs == meter.integrated_lufs == -math.inf


@pytest.mark.parametrize("window_s", [0.3, 2.0, 5.04, 60.0])
def test_recent_integrated_loudness_gates_the_blocks_of_the_last_window(window_s):
    """Offline: the 400 ms block energies of the whole signal that start within the last
    round(window_s / 0.1) complete hops, through the two gates (all blocks if the window is longer
    than the signal, none if it is shorter than a block)."""
    x = music_like(7.25, FS, seed=21) * np.geomspace(0.05, 1.0, round(7.25 * FS), dtype=np.float32)
    meter = loudness.LoudnessMeter(FS, channels=2)
    for start in range(0, x.shape[1], 1000):
        meter.process(x[:, start:start + 1000])
    energies = loudness.block_energies(loudness.k_weight(x, FS), FS)
    first_block = max(x.shape[1] // loudness.hop_samples(FS) - round(window_s / 0.1), 0)
    expected = loudness.gated_loudness(energies[:, first_block:])
    assert meter.recent_integrated_lufs(window_s) == expected
    with pytest.raises(ValueError, match="window"):
        meter.recent_integrated_lufs(-1.0)


# --- torch face ---------------------------------------------------------------------------------

def test_torch_integrated_loudness_equals_numpy_and_has_the_gain_gradient():
    rate_hz = 44100.0
    examples = [music_like(6.0, rate_hz, seed=5), 0.1 * music_like(6.0, rate_hz, seed=6),
                np.zeros((2, round(6 * rate_hz)), np.float32)]
    audio = torch.from_numpy(np.stack(examples))
    gain = torch.ones(3, 1, 1, requires_grad=True)
    lufs = loudness.integrated_loudness_torch(audio * gain, rate_hz)
    expected = [loudness.integrated_loudness(x, rate_hz) for x in examples]
    np.testing.assert_allclose(lufs.detach().numpy()[:2], expected[:2], atol=0.01)
    assert lufs[2].item() == expected[2] == -math.inf
    lufs[:2].sum().backward()
    # LUFS(g·x) = LUFS(x) + 20·log10 g while the gates stay put: d/dg = 20 / ln 10 at g = 1.
    np.testing.assert_allclose(gain.grad.reshape(-1).numpy(), [20 / np.log(10)] * 2 + [0.0],
                               rtol=1e-4)


def test_torch_gradient_reaches_the_audio():
    audio = torch.from_numpy(music_like(3.0, FS, seed=8)[None]).double().requires_grad_(True)
    loudness.integrated_loudness_torch(audio, FS).sum().backward()
    assert torch.isfinite(audio.grad).all() and audio.grad.abs().max() > 0


# --- real music ---------------------------------------------------------------------------------

MIN_MUSIC_S = 20.0


@pytest.fixture(scope="module")
def corpus_excerpts():
    """First 60 s of up to two tracks per sample rate from $GREYMASTER_CORPUS (≥ 3 tracks).
    Files under 20 s (sound effects in some soundtrack packages) are not music: left out."""
    folder = os.environ.get("GREYMASTER_CORPUS")
    if not folder or not Path(folder).is_dir():
        pytest.skip("GREYMASTER_CORPUS is not set to a folder of music")
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in CORPUS_EXTENSIONS)
    chosen, per_rate = [], {}
    for path in paths:
        info = sf.info(str(path))
        rate_hz = info.samplerate
        if info.duration >= MIN_MUSIC_S and per_rate.get(rate_hz, 0) < 2:
            per_rate[rate_hz] = per_rate.get(rate_hz, 0) + 1
            chosen.append(path)
    if len(chosen) < 3:
        pytest.skip(f"GREYMASTER_CORPUS holds {len(chosen)} usable tracks; 3 are needed")
    excerpts = []
    for path in chosen:
        rate_hz = sf.info(str(path)).samplerate
        data, _ = sf.read(str(path), frames=60 * rate_hz, dtype="float32", always_2d=True)
        excerpts.append((path.name, np.ascontiguousarray(data.T[:2]), float(rate_hz)))
    return excerpts


@pytest.mark.music
def test_music_integrated_loudness_within_0_1_lu_of_pyloudnorm(corpus_excerpts):
    """The issue's criterion, against pyloudnorm's default meter (an RBJ approximation of the
    K-weighting: it reads 0.03–0.045 LU below ours on music at 44.1/48 kHz). At 48 kHz, where
    pyloudnorm's "DeMan" filter is exactly the standard's, blocks and gates must agree to 0.01 LU
    (the rest being pyloudnorm's block grid: truncated float boundaries, a final partial block)."""
    for name, audio, rate_hz in corpus_excerpts:
        ours = loudness.integrated_loudness(audio, rate_hz)
        assert ours == pytest.approx(pyloudnorm_lufs(audio, rate_hz), abs=0.1), name
        if rate_hz == 48000.0:
            assert ours == pytest.approx(pyloudnorm_lufs(audio, rate_hz, "DeMan"), abs=0.01), name
