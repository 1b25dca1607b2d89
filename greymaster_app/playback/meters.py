"""Meter taps of the live player: loudness, true peak, stereo image and spectrum of one path.

A ``PathMeter`` is fed block by block on the render worker thread (``process``) and hands out an
immutable ``PathReading`` (``reading``) that the worker publishes and the UI polls, so no locks.
The definitions are the offline ones of ``model.loudness`` and ``model.dsp.truepeak``:

- Loudness: ``loudness.LoudnessMeter``. Momentary and short-term loudness are the last complete
  400 ms and 3 s blocks on the 100 ms grid; integrated loudness and loudness range are gated over
  everything since ``reset``. All four change only when a 100 ms hop completes and are
  recomputed then.
- True peak: the BS.1770 envelope (``truepeak.peak_envelope``, its state carried across blocks)
  of both channels, kept as one maximum per 100 ms hop of the loudness grid. ``true_peak_dbtp``
  is the maximum over the hop in progress and the 4 complete hops before it (exactly the last
  400 ms at a hop boundary, under 500 ms in between): a peak shows at once and falls back
  400–500 ms later. ``true_peak_max_dbtp`` is the maximum since ``reset``.
- Stereo image: ``loudness.stereo_correlation`` and ``loudness.stereo_width`` of exponentially
  weighted sums, sample weights exp(−age_s / τ) with τ = 300 ms; block sizes do not matter.
- Spectrum: the mid signal M = (L + R)/2 over the last ``spectrum_size`` samples (zeros before
  the first ones), a periodic Hann window w, ``rfft``, magnitude scaled by 2 / Σw and shown in dB:
  a sine of peak amplitude A centred on bin k reads 20·log10(A) dB at bin k (a full-scale sine
  reads 0 dB; a sine between two bins reads up to 1.42 dB lower, Hann's scalloping loss), DC and
  Nyquist read 6.02 dB high, and values floor at ``SPECTRUM_FLOOR_DB``. Recomputed once at least
  20 ms of new audio have arrived since the last time.
- Silence and "nothing yet" read −inf for levels; correlation is then 1 and width 0, as offline.

References:
    ITU-R BS.1770-4 (10/2015), Annex 1 (loudness) and Annex 2 (true peak).
    EBU Tech 3341 v4 (2016), "Loudness Metering: 'EBU Mode' metering to supplement EBU R 128".
    F. J. Harris, "On the use of windows for harmonic analysis with the discrete Fourier
    transform", Proc. IEEE 66(1), 1978 (Hann window: coherent gain 1/2, scalloping loss 1.42 dB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from model import loudness
from model.dsp import truepeak
from model.dsp.smoothing import DENORMAL_FLOOR
from model.units import gain_to_db

TRUE_PEAK_WINDOW_S = 0.4
STEREO_TIME_CONSTANT_S = 0.3
SPECTRUM_INTERVAL_S = 0.02
SPECTRUM_FLOOR_DB = -160.0
CHANNELS = 2


@dataclass(frozen=True, eq=False)
class PathReading:
    """What the UI shows for one signal path (levels −inf for silence or nothing yet).

    Shape: ``spectrum_db`` is a read-only float32 (bins,) array, bins = spectrum_size // 2 + 1,
    at the frequencies ``PathMeter.spectrum_frequencies_hz``.
    """

    momentary_lufs: float
    short_term_lufs: float
    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    true_peak_max_dbtp: float
    correlation: float
    width: float
    spectrum_db: np.ndarray


@numba.njit(cache=True, nogil=True)
def _weighted_stereo_sums(left: np.ndarray, right: np.ndarray, decay: float,
                          sums: np.ndarray) -> None:
    """Advance exponentially weighted stereo sums over one block, in place.

    Shape: left, right (samples,); sums (8,) float64: ``loudness.stereo_sums``'s seven sums
    (Σl, Σr, Σl², Σr², Σlr, Σ(l+r)², Σ(l−r)²) with every earlier sample's weight multiplied by
    ``decay`` per new sample, then the sum of the weights. Magnitudes under ``DENORMAL_FLOOR`` are
    flushed to zero at the end, so a long silence never decays into subnormal floats.
    """
    sl, sr, sll, srr, slr, smid, sside, weight = (sums[0], sums[1], sums[2], sums[3], sums[4],
                                                   sums[5], sums[6], sums[7])
    for n in range(left.shape[0]):
        a = np.float64(left[n])
        b = np.float64(right[n])
        sl = decay * sl + a
        sr = decay * sr + b
        sll = decay * sll + a * a
        srr = decay * srr + b * b
        slr = decay * slr + a * b
        smid = decay * smid + (a + b) * (a + b)
        sside = decay * sside + (a - b) * (a - b)
        weight = decay * weight + 1.0
    for k, value in enumerate((sl, sr, sll, srr, slr, smid, sside, weight)):
        sums[k] = value if abs(value) >= DENORMAL_FLOOR else 0.0


@numba.njit(cache=True, nogil=True)
def _fold_hop_peaks(envelope: np.ndarray, hop_samples: int, position_samples: int,
                    hop_peaks: np.ndarray) -> None:
    """Fold a block's true-peak envelope into a ring of per-hop maxima, in place.

    Shape: envelope (channels, samples); hop_peaks (slots,). Sample p (``position_samples`` counts
    the samples before this block) belongs to hop p // hop_samples, kept in slot hop % slots;
    when a hop completes, the slot of the next one is cleared, so the ring always holds the hop
    in progress and the (slots − 1) complete hops before it.
    """
    slots = hop_peaks.shape[0]
    for n in range(envelope.shape[1]):
        position = position_samples + n
        slot = (position // hop_samples) % slots
        for c in range(envelope.shape[0]):
            hop_peaks[slot] = max(hop_peaks[slot], envelope[c, n])
        if (position + 1) % hop_samples == 0:
            hop_peaks[(slot + 1) % slots] = 0.0


class PathMeter:
    """The meters of one signal path (see the module docstring for every definition).

    Not thread-safe: ``process``, ``reading``, ``reset`` and ``recent_gated_lufs`` belong to the
    thread that feeds the audio; other threads read the published ``PathReading`` objects.
    """

    def __init__(self, sample_rate_hz: float, spectrum_size: int = 4096) -> None:
        if not loudness.MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= loudness.MAX_SAMPLE_RATE_HZ:
            raise ValueError(f"sample rate {sample_rate_hz} Hz is outside "
                             f"{loudness.MIN_SAMPLE_RATE_HZ:.0f}…"
                             f"{loudness.MAX_SAMPLE_RATE_HZ:.0f} Hz")
        if spectrum_size < 2 or spectrum_size % 2:
            raise ValueError(f"spectrum size must be an even number of samples ≥ 2; "
                             f"got {spectrum_size}")
        self.sample_rate_hz = sample_rate_hz
        self.spectrum_size = spectrum_size
        self.spectrum_frequencies_hz = np.fft.rfftfreq(spectrum_size, 1.0 / sample_rate_hz)
        self.spectrum_frequencies_hz.setflags(write=False)
        self._hop_samples = loudness.hop_samples(sample_rate_hz)
        self._stereo_decay = math.exp(-1.0 / (STEREO_TIME_CONSTANT_S * sample_rate_hz))
        self._spectrum_interval_samples = max(1, round(SPECTRUM_INTERVAL_S * sample_rate_hz))
        self._scaled_window = _scaled_hann(spectrum_size)
        self._loudness = loudness.LoudnessMeter(sample_rate_hz, CHANNELS)
        self._peak_history = np.zeros((CHANNELS, truepeak.TAPS - 1))
        self._hop_peaks = np.zeros(round(TRUE_PEAK_WINDOW_S / loudness.HOP_S) + 1)
        self._stereo_sums = np.zeros(8)
        self._mid = np.zeros(spectrum_size, dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen: all meters read as before the first block."""
        self._loudness.reset()
        self._peak_history[:] = 0.0
        self._hop_peaks[:] = 0.0
        self._peak_max = 0.0
        self._stereo_sums[:] = 0.0
        self._mid[:] = 0.0
        self._mid_position = 0
        self._samples = 0
        self._since_spectrum_samples = 0
        self._recent_key: tuple[float, int] | None = None
        self._recent_lufs = -math.inf
        self._refresh_loudness()
        self._refresh_spectrum()

    def process(self, block: np.ndarray) -> None:
        """Meter the next block of the path. Shape: (2, samples), samples ≥ 1, float32."""
        if block.ndim != 2 or block.shape[0] != CHANNELS or block.shape[1] < 1:
            raise ValueError(f"a meter block must be (2, samples ≥ 1); got shape {block.shape}")
        block = np.ascontiguousarray(block, dtype=np.float32)
        count = block.shape[1]
        self._loudness.process(block)
        envelope = truepeak.peak_envelope(block, self._peak_history)
        _fold_hop_peaks(envelope, self._hop_samples, self._samples, self._hop_peaks)
        self._peak_max = max(self._peak_max, float(envelope.max()))
        _weighted_stereo_sums(block[0], block[1], self._stereo_decay, self._stereo_sums)
        self._write_mid(0.5 * (block[0] + block[1]))
        hops_before = self._samples // self._hop_samples
        self._samples += count
        if self._samples // self._hop_samples != hops_before:
            self._refresh_loudness()
        self._since_spectrum_samples += count
        if self._since_spectrum_samples >= self._spectrum_interval_samples:
            self._refresh_spectrum()

    def reading(self) -> PathReading:
        """The current values, as a new immutable snapshot (a few microseconds)."""
        momentary, short_term, integrated, loudness_range = self._loudness_values
        values = self._stereo_sums.tolist()
        sums, weight = tuple(values[:7]), values[7]
        return PathReading(
            momentary_lufs=momentary,
            short_term_lufs=short_term,
            integrated_lufs=integrated,
            loudness_range_lu=loudness_range,
            true_peak_dbtp=gain_to_db(float(self._hop_peaks.max())),
            true_peak_max_dbtp=gain_to_db(self._peak_max),
            # No samples at all is analyze's empty-signal case: correlation 1.
            correlation=loudness.stereo_correlation(sums, weight) if weight > 0.0 else 1.0,
            width=loudness.stereo_width(sums),
            spectrum_db=self._spectrum_db,
        )

    def recent_gated_lufs(self, window_s: float) -> float:
        """BS.1770 gated loudness of the 400 ms blocks in the last ``window_s`` (100 ms grid;
        everything seen if less); −inf when none passes the gates. Computed once per hop."""
        key = (window_s, self._samples // self._hop_samples)
        if key != self._recent_key:
            self._recent_lufs = self._loudness.recent_integrated_lufs(window_s)
            self._recent_key = key
        return self._recent_lufs

    def _refresh_loudness(self) -> None:
        meter = self._loudness
        self._loudness_values = (meter.momentary_lufs, meter.short_term_lufs,
                                 meter.integrated_lufs, meter.loudness_range_lu)

    def _write_mid(self, mid: np.ndarray) -> None:
        """Append to the ring of the last ``spectrum_size`` mid samples."""
        size = self.spectrum_size
        if mid.shape[0] >= size:
            self._mid[:] = mid[-size:]
            self._mid_position = 0
            return
        first = min(mid.shape[0], size - self._mid_position)
        self._mid[self._mid_position: self._mid_position + first] = mid[:first]
        self._mid[: mid.shape[0] - first] = mid[first:]
        self._mid_position = (self._mid_position + mid.shape[0]) % size

    def _refresh_spectrum(self) -> None:
        position = self._mid_position
        latest = np.concatenate((self._mid[position:], self._mid[:position]))
        magnitude = np.abs(np.fft.rfft(latest * self._scaled_window))
        floor = 10.0 ** (SPECTRUM_FLOOR_DB / 20.0)
        spectrum_db = (20.0 * np.log10(np.maximum(magnitude, floor))).astype(np.float32)
        spectrum_db.setflags(write=False)
        self._spectrum_db = spectrum_db
        self._since_spectrum_samples = 0


def level_match_gain_db(original: PathMeter, master: PathMeter,
                        window_s: float = 10.0) -> float | None:
    """Gain to apply to the original so that it plays as loud as the master, in dB.

    The difference of the two paths' recent gated loudness (``PathMeter.recent_gated_lufs`` over
    ``window_s``); None until both have a value. Call it on the thread that feeds the meters.
    """
    original_lufs = original.recent_gated_lufs(window_s)
    master_lufs = master.recent_gated_lufs(window_s)
    if not (math.isfinite(original_lufs) and math.isfinite(master_lufs)):
        return None
    return master_lufs - original_lufs


def _scaled_hann(size: int) -> np.ndarray:
    """The periodic Hann window scaled by 2 / Σw: a sine centred on a bin reads its peak
    amplitude there (module docstring)."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / size)
    return window * (2.0 / window.sum())


def whole_track_reading(audio: np.ndarray, sample_rate_hz: float,
                        spectrum_size: int = 4096) -> PathReading:
    """What the meters show for a whole signal when nothing plays.

    Integrated loudness, loudness range, true peak (both fields: the maximum over the track),
    correlation and width are ``model.loudness.analyze``'s; momentary and short-term loudness
    belong to a moment and are NaN (shown as "—"). The spectrum is the long-term average of the
    live meter's spectrum: the mid signal in periodic-Hann frames of ``spectrum_size`` samples
    with half overlap, power averaged over frames, scaled like ``PathMeter`` (a stationary sine
    reads the same in both).

    Shape: audio (channels, N) with 1 or 2 channels; ``spectrum_db`` (spectrum_size // 2 + 1,).
    """
    report = loudness.analyze(audio, sample_rate_hz)
    mid = audio.mean(axis=0, dtype=np.float64)
    if mid.size < spectrum_size:
        mid = np.pad(mid, (0, spectrum_size - mid.size))
    window = _scaled_hann(spectrum_size)
    hop = spectrum_size // 2
    starts = range(0, mid.size - spectrum_size + 1, hop)
    power = np.zeros(spectrum_size // 2 + 1)
    for start in starts:
        power += np.abs(np.fft.rfft(mid[start: start + spectrum_size] * window)) ** 2
    magnitude = np.sqrt(power / len(starts))
    floor = 10.0 ** (SPECTRUM_FLOOR_DB / 20.0)
    spectrum_db = (20.0 * np.log10(np.maximum(magnitude, floor))).astype(np.float32)
    spectrum_db.setflags(write=False)
    return PathReading(
        momentary_lufs=math.nan,
        short_term_lufs=math.nan,
        integrated_lufs=report.integrated_lufs,
        loudness_range_lu=report.lra_lu,
        true_peak_dbtp=report.true_peak_dbtp,
        true_peak_max_dbtp=report.true_peak_dbtp,
        correlation=report.correlation,
        width=report.width,
        spectrum_db=spectrum_db,
    )
