"""Live meters against the offline definitions: ``model.loudness`` (BS.1770 / EBU Tech 3341,
3342), ``truepeak.true_peak_dbtp``, weighted Pearson correlation (``np.cov`` with weights) and
the DFT of a Hann-windowed sine."""

import itertools
import math

import numpy as np
import pytest

from greymaster_app.playback import meters
from model import loudness
from model.dsp import truepeak
from tests.signals import music_like, noise, sine

FS = 48000.0
HOP = loudness.hop_samples(FS)


def random_blocks(total_samples, rng, largest=3000):
    """(start, stop) pairs covering [0, total_samples) in random block sizes 1…largest."""
    edges = np.cumsum(rng.integers(1, largest + 1, size=total_samples))
    edges = np.concatenate([[0], edges[edges < total_samples], [total_samples]])
    return list(itertools.pairwise(edges))


def feed(meter, audio, seed=0):
    for start, stop in random_blocks(audio.shape[1], np.random.default_rng(seed)):
        meter.process(audio[:, start:stop])
    return meter.reading()


def series_lufs(audio, window_s, sample_rate_hz=FS):
    weighted = loudness.k_weight(audio, sample_rate_hz)
    return loudness.block_loudness(loudness.block_energies(weighted, sample_rate_hz, window_s))


# --- loudness -----------------------------------------------------------------------------------

def test_loudness_equals_offline_analysis_in_random_blocks():
    rate_hz = 44100.0
    x = music_like(8.05, rate_hz, seed=3) * np.geomspace(0.1, 1.0, round(8.05 * rate_hz),
                                                         dtype=np.float32)
    reading = feed(meters.PathMeter(rate_hz), x)
    report = loudness.analyze(x, rate_hz)
    assert reading.momentary_lufs == series_lufs(x, 0.4, rate_hz)[-1]
    assert reading.short_term_lufs == series_lufs(x, 3.0, rate_hz)[-1]
    assert reading.integrated_lufs == report.integrated_lufs
    assert reading.loudness_range_lu == report.lra_lu
    assert reading.loudness_range_lu > 5.0


def test_loudness_of_a_1khz_sine_follows_tech_3341():
    """L = −0.691 + 10·log10(Σ_channels mean square after K-weighting). A stereo sine of peak A
    has mean square A²/2 per channel, so L = 20·log10(A) + 20·log10|H_K(1 kHz)| − 0.691, and
    |H_K(1 kHz)| ≈ +0.69 dB: a −20 dBFS sine reads −20 LUFS (Tech 3341 case 1: −23 dBFS → −23.0
    ± 0.1 LUFS; the −3.01 dB of a sine's mean square cancels the +3.01 dB of two channels)."""
    z = np.exp(-1j * 2 * np.pi * 1000.0 / FS * np.arange(3))
    sos = loudness.k_weighting_sos(FS)
    k_gain_db = sum(20 * np.log10(abs(s[:3] @ z / (s[3:] @ z))) for s in sos)
    expected_lufs = -20.0 + k_gain_db + loudness.LOUDNESS_OFFSET_DB
    reading = feed(meters.PathMeter(FS), sine(1000.0, 3.5, FS, level_dbfs=-20.0))
    for value in (reading.momentary_lufs, reading.short_term_lufs, reading.integrated_lufs):
        assert value == pytest.approx(expected_lufs, abs=0.01)
        assert value == pytest.approx(-20.0, abs=0.1)


# --- true peak ----------------------------------------------------------------------------------

def bursts_on_silence(hops, rng):
    """One 48-sample burst of an fs/4 sine at 45° in the middle of every 100 ms hop (samples at
    ±A/√2, true peak A), with random amplitudes, then 0.5 s of silence."""
    x = np.zeros(hops * HOP + round(0.5 * FS), np.float32)
    burst = np.sin(np.pi / 2 * np.arange(48) + np.pi / 4)
    for hop, amplitude in enumerate(rng.uniform(0.05, 1.0, hops)):
        start = hop * HOP + HOP // 2 - 24
        x[start: start + 48] = amplitude * burst
    return np.stack([x, 0.5 * x])


def test_true_peak_is_the_last_400ms_on_the_hop_grid_and_the_max_since_reset():
    """At any point p the window is [(p // hop − 4)·hop, p): the hop in progress and the 4
    complete hops before it. Checked where no burst is near p, so the offline flush with silence
    and the live envelope agree."""
    rng = np.random.default_rng(1)
    x = bursts_on_silence(20, rng)
    meter = meters.PathMeter(FS)
    checked = 0
    for start, stop in random_blocks(x.shape[1], rng, largest=1000):
        meter.process(x[:, start:stop])
        if abs(stop % HOP - HOP // 2) < 48:
            continue
        window_start = max(stop // HOP - 4, 0) * HOP
        reading = meter.reading()
        assert reading.true_peak_dbtp == truepeak.true_peak_dbtp(x[:, window_start:stop])
        assert reading.true_peak_max_dbtp == truepeak.true_peak_dbtp(x[:, :stop])
        checked += 1
    assert checked > 100
    reading = meter.reading()
    assert reading.true_peak_dbtp == -math.inf
    assert reading.true_peak_max_dbtp > 20 * np.log10(np.abs(x).max()) + 2.0


# --- stereo image -------------------------------------------------------------------------------

def test_correlation_and_width_are_exponentially_weighted_with_a_300ms_time_constant():
    x = music_like(1.5, FS, seed=4).astype(np.float64)
    reading = feed(meters.PathMeter(FS), x.astype(np.float32))
    age_s = (x.shape[1] - 1 - np.arange(x.shape[1])) / FS
    weights = np.exp(-age_s / 0.3)
    covariance = np.cov(x, aweights=weights)
    expected = covariance[0, 1] / math.sqrt(covariance[0, 0] * covariance[1, 1])
    mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
    assert reading.correlation == pytest.approx(expected, abs=1e-9)
    assert reading.width == pytest.approx(
        math.sqrt(np.sum(weights * side**2) / np.sum(weights * mid**2)), rel=1e-9)


def test_correlation_of_identical_inverted_and_independent_channels():
    left = noise(2.0, FS, channels=1, seed=5)
    same = feed(meters.PathMeter(FS), np.concatenate([left, left]))
    inverted = feed(meters.PathMeter(FS), np.concatenate([left, -left]))
    independent = feed(meters.PathMeter(FS), noise(2.0, FS, channels=2, seed=6))
    assert same.correlation == pytest.approx(1.0, abs=1e-12)
    assert same.width == 0.0
    assert inverted.correlation == pytest.approx(-1.0, abs=1e-12)
    assert abs(independent.correlation) < 0.03


@pytest.mark.parametrize("side_gain", [0.25, 1.0])
def test_width_of_steady_noise_matches_analyze(side_gain):
    """L = m + g·s, R = m − g·s with independent equal-power m, s: width g (as in analyze)."""
    mid, side = noise(3.0, FS, channels=2, seed=7).astype(np.float64)
    x = np.stack([mid + side_gain * side, mid - side_gain * side]).astype(np.float32)
    reading = feed(meters.PathMeter(FS), x)
    assert reading.width == pytest.approx(loudness.analyze(x, FS).width, abs=0.03)
    assert reading.width == pytest.approx(side_gain, abs=0.03)


def test_a_silent_meter_reads_minus_infinity_and_offline_stereo_values():
    meter = meters.PathMeter(FS)
    fresh = meter.reading()
    meter.process(music_like(1.0, FS, seed=8))
    meter.reset()
    for reading in (fresh, meter.reading(), feed(meter, np.zeros((2, 24000), np.float32))):
        assert reading.momentary_lufs == reading.short_term_lufs == reading.integrated_lufs \
            == reading.true_peak_dbtp == reading.true_peak_max_dbtp == -math.inf
        assert (reading.loudness_range_lu, reading.correlation, reading.width) == (0.0, 1.0, 0.0)
        assert np.all(reading.spectrum_db == np.float32(meters.SPECTRUM_FLOOR_DB))


# --- spectrum -----------------------------------------------------------------------------------

@pytest.mark.parametrize("level_dbfs", [0.0, -30.0])
def test_sine_at_a_bin_centre_reads_its_peak_level_at_that_bin(level_dbfs):
    size, bin_index = 2048, 93
    meter = meters.PathMeter(FS, spectrum_size=size)
    freq_hz = bin_index * FS / size
    feed(meter, sine(3 * freq_hz, 0.1, FS, level_dbfs=-6.0))
    spectrum = feed(meter, sine(freq_hz, 0.1, FS, level_dbfs=level_dbfs, phase_rad=1.0))
    spectrum = spectrum.spectrum_db
    assert meter.spectrum_frequencies_hz[bin_index] == pytest.approx(freq_hz)
    assert spectrum.shape == (size // 2 + 1,) and spectrum.dtype == np.float32
    assert int(np.argmax(spectrum)) == bin_index
    assert spectrum[bin_index] == pytest.approx(level_dbfs, abs=0.1)
    # Hann: the neighbouring bins hold half the amplitude, the rest nothing.
    assert spectrum[bin_index + 1] == pytest.approx(level_dbfs - 20 * np.log10(2), abs=0.1)
    assert spectrum[3 * bin_index] < level_dbfs - 100
    assert not spectrum.flags.writeable


def test_spectrum_is_the_scaled_hann_dft_of_the_last_mid_samples():
    """Whenever it changes, the spectrum is 20·log10(|DFT(w·M)|·2/Σw) of the last 4096 samples
    of M = (L + R)/2 (zeros before the start), w the periodic Hann window."""
    size = 4096
    x = music_like(1.0, FS, seed=14)
    mid = np.concatenate([np.zeros(size), (x[0].astype(np.float64) + x[1]) / 2])
    window = np.hanning(size + 1)[:-1]
    meter = meters.PathMeter(FS, spectrum_size=size)
    last, updates = meter.reading().spectrum_db, 0
    for start, stop in random_blocks(x.shape[1], np.random.default_rng(15), largest=6000):
        meter.process(x[:, start:stop])
        spectrum = meter.reading().spectrum_db
        if spectrum is not last:
            magnitude = np.abs(np.fft.rfft(window * mid[stop: stop + size])) * 2 / window.sum()
            np.testing.assert_allclose(spectrum, 20 * np.log10(magnitude), atol=1e-3)
            last, updates = spectrum, updates + 1
    assert updates > 10


def test_spectrum_is_recomputed_once_per_20ms_of_audio():
    meter = meters.PathMeter(FS)
    x = music_like(1.0, FS, seed=9)
    updates, last = 0, meter.reading().spectrum_db
    for start in range(0, x.shape[1], 64):
        meter.process(x[:, start:start + 64])
        spectrum = meter.reading().spectrum_db
        updates += spectrum is not last
        last = spectrum
    assert updates == x.shape[1] // round(meters.SPECTRUM_INTERVAL_S * FS)


# --- level match --------------------------------------------------------------------------------

def at_lufs(audio, target_lufs):
    return audio * 10 ** ((target_lufs - loudness.integrated_loudness(audio, FS)) / 20)


def test_recent_gated_loudness_is_the_gated_blocks_of_the_last_window():
    """Offline: block energies of the whole K-weighted signal, gated over the 400 ms blocks that
    lie in the last 10 s of complete hops."""
    quiet = at_lufs(noise(5.0, FS, seed=10), -30.0)
    x = np.concatenate([quiet, at_lufs(music_like(10.37, FS, seed=11), -20.0)], axis=1)
    meter = meters.PathMeter(FS)
    feed(meter, x)
    energies = loudness.block_energies(loudness.k_weight(x, FS), FS)
    complete_hops = x.shape[1] // HOP
    expected = loudness.gated_loudness(energies[:, complete_hops - 100:])
    assert meter.recent_gated_lufs(10.0) == pytest.approx(expected, abs=1e-9)
    assert meter.recent_gated_lufs(10.0) > meter.reading().integrated_lufs + 1.0


def test_level_match_gain_brings_the_original_to_the_masters_loudness():
    original, master = meters.PathMeter(FS), meters.PathMeter(FS)
    assert meters.level_match_gain_db(original, master) is None
    feed(original, at_lufs(noise(12.0, FS, seed=12), -20.0))
    assert meters.level_match_gain_db(original, master) is None
    feed(master, at_lufs(noise(12.0, FS, seed=13), -14.0))
    assert meters.level_match_gain_db(original, master) == pytest.approx(6.0, abs=0.05)


# --- errors -------------------------------------------------------------------------------------

def test_bad_blocks_rates_and_sizes_are_refused():
    meter = meters.PathMeter(FS)
    for shape in [(1, 512), (2, 0), (512,)]:
        with pytest.raises(ValueError, match="block"):
            meter.process(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="sample rate"):
        meters.PathMeter(4000.0)
    with pytest.raises(ValueError, match="spectrum size"):
        meters.PathMeter(FS, spectrum_size=1001)
    with pytest.raises(ValueError, match="window"):
        meter.recent_gated_lufs(0.0)


def test_whole_track_reading_agrees_with_the_offline_analysis_and_the_live_spectrum():
    rate = 48000
    t = np.arange(5 * rate) / rate
    freq_hz = 93 * rate / 4096  # centred on bin 93
    audio = np.stack([0.5 * np.sin(2 * np.pi * freq_hz * t),
                      0.25 * np.sin(2 * np.pi * freq_hz * t)]).astype(np.float32)
    reading = meters.whole_track_reading(audio, rate)
    report = loudness.analyze(audio, rate)
    assert reading.integrated_lufs == report.integrated_lufs
    assert reading.true_peak_max_dbtp == reading.true_peak_dbtp == report.true_peak_dbtp
    assert math.isnan(reading.momentary_lufs) and math.isnan(reading.short_term_lufs)
    live = meters.PathMeter(rate)
    live.process(audio)
    mid_amplitude_db = 20 * math.log10(0.375)
    assert reading.spectrum_db[93] == pytest.approx(mid_amplitude_db, abs=0.01)
    assert live.reading().spectrum_db[93] == pytest.approx(reading.spectrum_db[93], abs=0.05)
    assert reading.spectrum_db.shape == live.spectrum_frequencies_hz.shape
