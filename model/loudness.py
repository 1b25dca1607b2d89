"""Loudness and peak metering: ITU-R BS.1770-4 / EBU R 128 (EBU Tech 3341, Tech 3342).

Conventions:
- K-weighting is the standard's two biquads, a +4 dB high shelf and the RLB high-pass,
  recomputed for any sample rate from the analog filters that give the standard's 48 kHz
  coefficients (bilinear transform pre-warped at each corner, as libebur128 and pyloudnorm's
  "DeMan" filter class do, but with the high-pass gain held; see ``k_weighting_sos``).
  pyloudnorm's default filter is an RBJ approximation (1500 Hz shelf, 38 Hz high-pass): it
  differs from the standard's coefficients even at 48 kHz (it reads ≈ 0.04 LU lower on music).
- Channel weights are 1.0: mono is one channel of weight 1 (a 0 dBFS 997 Hz sine reads −3.01
  LUFS, as BS.1770 states), stereo is L + R. No dual-mono +3 dB.
- Time is cut into hops of round(fs / 10) samples (exactly 100 ms wherever fs is a multiple of
  10 Hz). A momentary block is 4 hops (400 ms), a short-term block 30 hops (3 s); blocks start on
  every hop (75 % overlap for the 400 ms gating blocks) and only complete blocks count.
  Block powers come from prefix sums of the squared K-weighted signal taken at hop boundaries,
  so the whole-signal path and the streaming meter compute bit-identical values.
- Integrated loudness: 400 ms blocks gated at −70 LUFS (absolute) and then at −10 LU below the
  loudness of the blocks above the absolute gate (relative). Gates keep blocks strictly above.
- Loudness range (Tech 3342): short-term (3 s) loudness every 100 ms, gated at −70 LUFS and at
  −20 LU below their power mean; LRA = P95 − P10 (linear-interpolated percentiles, as
  pyloudnorm and the Tech 3342 example code); 0 LU when nothing passes the gates.
- Crest factor = true peak (dBTP) − RMS (dBFS), the RMS taken over every sample of every
  channel (a full-scale sine is 0 dBTP over −3.01 dBFS RMS: 3.01 dB).
- Stereo: correlation is Pearson's coefficient of L and R over the whole signal (1 for mono, for
  silence and for any two constant channels; 0 when exactly one channel is constant); width is
  RMS(S) / RMS(M) with M = (L + R)/2, S = (L − R)/2 (0 for mono and silence, +inf for a signal
  with no mid at all).
- Levels of silence (and loudness of signals too short for one block) are −inf; ``to_json``
  maps every non-finite value to None.

No torch and no scipy here at import time: this is on the CLI's render and mastering path.

References:
    ITU-R BS.1770-4 (10/2015), "Algorithms to measure audio programme loudness and true-peak
    audio level", Annex 1 (K-weighting, gating) and Annex 2 (true peak).
    EBU Tech 3341 v4 (2016), "Loudness Metering: 'EBU Mode' metering to supplement EBU R 128".
    EBU Tech 3342 v4 (2016), "Loudness Range: a measure to supplement EBU R 128".
    B. De Man, analog K-weighting parameters (github.com/BrechtDeMan/loudness.py), used by
    libebur128 (ebur128_init_filter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numba
import numpy as np

from model.dsp import biquad, truepeak
from model.units import gain_to_db

LOUDNESS_OFFSET_DB = -0.691
"""BS.1770's constant: L = −0.691 + 10·log10(Σ G_i·z_i)."""

HOP_S = 0.1
MOMENTARY_S = 0.4
SHORT_TERM_S = 3.0
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
LRA_LOW_PERCENTILE = 10.0
LRA_HIGH_PERCENTILE = 95.0
MIN_SAMPLE_RATE_HZ = 8000.0
MAX_SAMPLE_RATE_HZ = 192000.0

_SHELF_FREQ_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_MIDBAND_EXPONENT = 0.4996667741545416
_HIGHPASS_FREQ_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773


def _check_audio(audio: np.ndarray, sample_rate_hz: float) -> None:
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise ValueError(f"audio must be (channels, samples) with 1 or 2 channels; "
                         f"got shape {audio.shape}")
    if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise ValueError(f"sample rate {sample_rate_hz} Hz is outside "
                         f"{MIN_SAMPLE_RATE_HZ:.0f}…{MAX_SAMPLE_RATE_HZ:.0f} Hz")


def k_weighting_sos(sample_rate_hz: float) -> np.ndarray:
    """The K-weighting filter at ``sample_rate_hz``: stage 1 (shelf), stage 2 (RLB high-pass).

    Shape: returns (2, 6) float64 sos rows ``[b0, b1, b2, 1, a1, a2]``.

    At 48 kHz the rows equal BS.1770-4 Tables 1 and 2 to 1e-14; at other rates they are the same
    analog filters through a bilinear transform pre-warped at each corner frequency. Unlike
    libebur128 (and pyloudnorm's "DeMan" class), which keep the high-pass numerator at
    [1, −2, 1] at every rate and so let its passband gain drift with the rate (+0.19 dB at
    11.025 kHz, +0.011 dB at 192 kHz against the standard's +0.043 dB), the analog high-pass keeps
    the 48 kHz passband gain: the two differ by −0.004 dB at 44.1 kHz.
    """
    k = math.tan(math.pi * _SHELF_FREQ_HZ / sample_rate_hz)
    high_gain = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    band_gain = high_gain ** _SHELF_MIDBAND_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [(high_gain + band_gain * k / _SHELF_Q + k * k) / a0,
             2.0 * (k * k - high_gain) / a0,
             (high_gain - band_gain * k / _SHELF_Q + k * k) / a0,
             1.0,
             2.0 * (k * k - 1.0) / a0,
             (1.0 - k / _SHELF_Q + k * k) / a0]
    k = math.tan(math.pi * _HIGHPASS_FREQ_HZ / sample_rate_hz)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    gain = _highpass_passband_gain() / a0
    highpass = [gain, -2.0 * gain, gain, 1.0,
                2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass])


def _highpass_passband_gain() -> float:
    """The RLB high-pass's analog passband gain: the 48 kHz filter's gain at Nyquist,
    4 / (1 − a1 + a2) = 1 + K/Q + K² (≈ +0.043 dB), with numerator [1, −2, 1] as in the table."""
    k = math.tan(math.pi * _HIGHPASS_FREQ_HZ / 48000.0)
    return 1.0 + k / _HIGHPASS_Q + k * k


def k_weight(audio: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """K-weighted audio from rest. Shape: (channels, samples) → same, float32."""
    return biquad.render(audio, k_weighting_sos(sample_rate_hz))


def hop_samples(sample_rate_hz: float, hop_s: float = HOP_S) -> int:
    """Samples per hop: ``hop_s · fs`` rounded half up (libebur128's 100 ms at odd rates)."""
    return max(1, math.floor(hop_s * sample_rate_hz + 0.5))


@numba.njit(cache=True, nogil=True)
def _channel_prefix(x: np.ndarray, first_mark: int, hop: int, total: float,
                    out: np.ndarray) -> float:
    """out[k] = total + Σ_{n < first_mark + k·hop} x[n]²; returns total + Σ x²."""
    start = 0
    for k in range(out.shape[0]):
        stop = first_mark + k * hop
        for n in range(start, stop):
            v = np.float64(x[n])
            total += v * v
        out[k] = total
        start = stop
    for n in range(start, x.shape[0]):
        v = np.float64(x[n])
        total += v * v
    return total


@numba.njit(cache=True, nogil=True, parallel=True)
def _prefix_energy(x: np.ndarray, first_mark: int, hop: int, running: np.ndarray,
                   out: np.ndarray) -> None:
    """``_channel_prefix`` over (channels, samples), channels in parallel; ``running``
    (channels,) is the sum before this block and is advanced to the sum after it."""
    for c in numba.prange(x.shape[0]):
        running[c] = _channel_prefix(x[c], first_mark, hop, running[c], out[c])


@numba.njit(cache=True, nogil=True)
def _prefix_energy_serial(x: np.ndarray, first_mark: int, hop: int, running: np.ndarray,
                          out: np.ndarray) -> None:
    """``_prefix_energy`` without threads (cheaper on short streaming blocks), same result."""
    for c in range(x.shape[0]):
        running[c] = _channel_prefix(x[c], first_mark, hop, running[c], out[c])


def _hop_prefix(kweighted: np.ndarray, hop: int) -> np.ndarray:
    """Σ x² up to every hop boundary. Shape: (C, N) → (C, N // hop + 1), column 0 zero."""
    kweighted = np.ascontiguousarray(kweighted)
    prefix = np.zeros((kweighted.shape[0], kweighted.shape[1] // hop + 1))
    _prefix_energy(kweighted, hop, hop, np.zeros(kweighted.shape[0]), prefix[:, 1:])
    return prefix


def _hops_per_block(block_s: float, hop_s: float) -> int:
    hops = round(block_s / hop_s)
    if hops < 1 or abs(hops * hop_s - block_s) > 1e-9:
        raise ValueError(f"block length {block_s} s is not a whole number of {hop_s} s hops")
    return hops


def _blocks_from_prefix(prefix: np.ndarray, hops_per_block: int, hop: int) -> np.ndarray:
    """Mean squares of the blocks of ``hops_per_block`` hops starting on every hop."""
    blocks = max(prefix.shape[1] - hops_per_block, 0)
    sums = prefix[:, hops_per_block: hops_per_block + blocks] - prefix[:, :blocks]
    return sums / (hops_per_block * hop)


def block_energies(kweighted_audio: np.ndarray, sample_rate_hz: float,
                   block_s: float = MOMENTARY_S, hop_s: float = HOP_S) -> np.ndarray:
    """Mean square of every complete block of K-weighted audio (BS.1770 eq. 1, the z_ij).

    Shape: (channels, samples) → (channels, blocks) float64; block j covers samples
    [j·hop, j·hop + block) with hop = ``hop_samples(fs, hop_s)`` and block a whole number of hops.

    Args:
        kweighted_audio: output of ``k_weight``.
        block_s: block length, a multiple of ``hop_s`` (0.4 momentary/gating, 3.0 short-term).
        hop_s: spacing of block starts.
    """
    hop = hop_samples(sample_rate_hz, hop_s)
    return _blocks_from_prefix(_hop_prefix(kweighted_audio, hop),
                               _hops_per_block(block_s, hop_s), hop)


def _to_lufs(power: Any) -> Any:
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10.0 * np.log10(power)


def _lufs_to_power(lufs: float) -> float:
    return 10.0 ** ((lufs - LOUDNESS_OFFSET_DB) / 10.0)


def block_loudness(energies: np.ndarray) -> np.ndarray:
    """Loudness of each block (BS.1770 eq. 4, all channel weights 1). Shape: (C, J) → (J,)."""
    return _to_lufs(energies.sum(axis=0))


def gated_loudness(energies: np.ndarray) -> float:
    """Integrated loudness of 400 ms block energies with BS.1770's two gates (−inf if none pass).

    Shape: energies (channels, blocks) from ``block_energies(..., 0.4, 0.1)``.
    """
    power = energies.sum(axis=0)
    above_absolute = power[power > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if above_absolute.size == 0:
        return -math.inf
    relative_gate = above_absolute.mean() * 10.0 ** (RELATIVE_GATE_LU / 10.0)
    return float(_to_lufs(above_absolute[above_absolute > relative_gate].mean()))


def integrated_loudness(audio: np.ndarray, sample_rate_hz: float) -> float:
    """Integrated (gated) loudness in LUFS; −inf for silence or under 400 ms of audio.

    Shape: audio (channels, samples), channels 1 or 2.
    """
    _check_audio(audio, sample_rate_hz)
    return gated_loudness(block_energies(k_weight(audio, sample_rate_hz), sample_rate_hz))


def loudness_range(short_term_lufs: np.ndarray) -> float:
    """Loudness range in LU (Tech 3342) from short-term loudness sampled every 100 ms.

    Shape: (blocks,) → float; 0.0 when no value passes the gates.
    """
    values = short_term_lufs[short_term_lufs > ABSOLUTE_GATE_LUFS]
    if values.size == 0:
        return 0.0
    power_mean_lufs = 10.0 * math.log10(np.mean(10.0 ** (values / 10.0)))
    values = values[values > power_mean_lufs + LRA_RELATIVE_GATE_LU]
    low, high = np.percentile(values, [LRA_LOW_PERCENTILE, LRA_HIGH_PERCENTILE])
    return float(high - low)


@numba.njit(cache=True, nogil=True)
def stereo_sums(left: np.ndarray, right: np.ndarray) -> tuple:
    """Σl, Σr, Σl², Σr², Σlr, Σ(l+r)², Σ(l−r)² in float64 (the input of ``stereo_correlation``
    and ``stereo_width``). Shape: left, right (samples,)."""
    sl = sr = sll = srr = slr = smid = sside = 0.0
    for n in range(left.shape[0]):
        a = np.float64(left[n])
        b = np.float64(right[n])
        sl += a
        sr += b
        sll += a * a
        srr += b * b
        slr += a * b
        smid += (a + b) * (a + b)
        sside += (a - b) * (a - b)
    return sl, sr, sll, srr, slr, smid, sside


def stereo_correlation(sums: tuple, count: float) -> float:
    """Pearson's coefficient of L and R from ``stereo_sums`` over ``count`` samples (or from
    weighted sums whose weights add up to ``count``); see the module docstring's edge cases."""
    sl, sr, sll, srr, slr, _, _ = sums
    var_left = max(sll - sl * sl / count, 0.0)
    var_right = max(srr - sr * sr / count, 0.0)
    if var_left == 0.0 and var_right == 0.0:
        return 1.0
    if var_left == 0.0 or var_right == 0.0:
        return 0.0
    return float(np.clip((slr - sl * sr / count) / math.sqrt(var_left * var_right), -1.0, 1.0))


def stereo_width(sums: tuple) -> float:
    """RMS(S) / RMS(M) from ``stereo_sums`` (plain or weighted sums): 0 without side, +inf
    without mid."""
    mid, side = sums[5], sums[6]
    if side == 0.0:
        return 0.0
    return math.sqrt(side / mid) if mid > 0.0 else math.inf


@dataclass(frozen=True)
class LoudnessReport:
    """Measurements of one signal (see the module docstring for every convention)."""

    integrated_lufs: float
    momentary_max_lufs: float
    short_term_max_lufs: float
    lra_lu: float
    sample_peak_dbfs: float
    true_peak_dbtp: float
    crest_factor_db: float
    correlation: float
    width: float
    duration_s: float

    def to_json(self) -> dict[str, float | None]:
        """Field name → value, with −inf, +inf and NaN as None."""
        return {f.name: json_number(getattr(self, f.name)) for f in fields(self)}


def json_number(value: float, digits: int | None = None) -> float | None:
    """``value`` as a float for a JSON report, rounded to ``digits`` decimals if given; None
    when it is not finite (the −inf of silence: JSON has no infinity)."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return value if digits is None else round(value, digits)


def _max_or_silent(values: np.ndarray) -> float:
    return float(values.max()) if values.size else -math.inf


def analyze(audio: np.ndarray, sample_rate_hz: float) -> LoudnessReport:
    """Loudness, range, peaks, crest factor and stereo image of a whole signal.

    Shape: audio (channels, samples) float32, channels 1 or 2.

    Returns:
        A ``LoudnessReport``; loudness values need one complete block (400 ms, 3 s) and are −inf
        without it.
    """
    _check_audio(audio, sample_rate_hz)
    audio = np.ascontiguousarray(audio)
    hop = hop_samples(sample_rate_hz)
    prefix = _hop_prefix(k_weight(audio, sample_rate_hz), hop)
    momentary = _blocks_from_prefix(prefix, _hops_per_block(MOMENTARY_S, HOP_S), hop)
    short_term = block_loudness(
        _blocks_from_prefix(prefix, _hops_per_block(SHORT_TERM_S, HOP_S), hop))
    count = audio.shape[1]
    right = audio[1] if audio.shape[0] == 2 else audio[0]
    sums = stereo_sums(audio[0], right)
    mean_square = (sums[2] + sums[3]) / (2 * count) if count else 0.0
    true_peak_dbtp = truepeak.true_peak_dbtp(audio)
    rms_dbfs = 0.5 * gain_to_db(mean_square)
    return LoudnessReport(
        integrated_lufs=gated_loudness(momentary),
        momentary_max_lufs=_max_or_silent(block_loudness(momentary)),
        short_term_max_lufs=_max_or_silent(short_term),
        lra_lu=loudness_range(short_term),
        sample_peak_dbfs=gain_to_db(float(np.max(np.abs(audio)))) if count else -math.inf,
        true_peak_dbtp=true_peak_dbtp,
        crest_factor_db=true_peak_dbtp - rms_dbfs if mean_square > 0 else -math.inf,
        correlation=stereo_correlation(sums, count) if count and audio.shape[0] == 2 else 1.0,
        width=stereo_width(sums),
        duration_s=count / sample_rate_hz,
    )


class LoudnessMeter:
    """Streaming loudness meter: exactly ``analyze``'s loudness values over what it has seen.

    ``process(block)`` takes (channels, samples) audio of any length. ``momentary_lufs`` and
    ``short_term_lufs`` are the loudness of the last complete 400 ms / 3 s block on the 100 ms
    grid (−inf before the first one); ``integrated_lufs`` and ``loudness_range_lu`` are gated
    over every block seen so far.
    """

    def __init__(self, sample_rate_hz: float, channels: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self._hop = hop_samples(sample_rate_hz)
        self._momentary_hops = _hops_per_block(MOMENTARY_S, HOP_S)
        self._short_term_hops = _hops_per_block(SHORT_TERM_S, HOP_S)
        self._filter = biquad.Streamer(k_weighting_sos(sample_rate_hz), channels)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen (filter state, prefix sums)."""
        self._filter.reset()
        self._running = np.zeros(self.channels)
        self._prefix = np.zeros((self.channels, 1024))
        self._marks = 1
        self._position = 0

    def process(self, block: np.ndarray) -> None:
        """Meter the next block. Shape: (channels, samples)."""
        weighted = self._filter.process(block)
        first_mark = self._hop - self._position % self._hop
        count = 0 if first_mark > weighted.shape[1] else \
            (weighted.shape[1] - first_mark) // self._hop + 1
        if self._marks + count > self._prefix.shape[1]:
            grown = np.zeros((self.channels, 2 * (self._marks + count)))
            grown[:, : self._marks] = self._prefix[:, : self._marks]
            self._prefix = grown
        _prefix_energy_serial(weighted, first_mark, self._hop, self._running,
                              self._prefix[:, self._marks: self._marks + count])
        self._marks += count
        self._position += weighted.shape[1]

    def _energies(self, hops_per_block: int) -> np.ndarray:
        return _blocks_from_prefix(self._prefix[:, : self._marks], hops_per_block, self._hop)

    def _latest_lufs(self, hops_per_block: int) -> float:
        if self._marks <= hops_per_block:
            return -math.inf
        latest = self._prefix[:, self._marks - 1 - hops_per_block: self._marks]
        return float(block_loudness(_blocks_from_prefix(latest, hops_per_block, self._hop))[0])

    @property
    def momentary_lufs(self) -> float:
        return self._latest_lufs(self._momentary_hops)

    @property
    def short_term_lufs(self) -> float:
        return self._latest_lufs(self._short_term_hops)

    @property
    def integrated_lufs(self) -> float:
        return gated_loudness(self._energies(self._momentary_hops))

    @property
    def loudness_range_lu(self) -> float:
        return loudness_range(block_loudness(self._energies(self._short_term_hops)))

    def recent_integrated_lufs(self, window_s: float) -> float:
        """Integrated (gated) loudness of the 400 ms blocks that lie wholly in the last
        ``window_s`` of complete hops (rounded to 100 ms); every block seen if fewer.

        Returns −inf when no block passes the gates (or the window is shorter than a block).
        """
        if not window_s > 0.0:
            raise ValueError(f"window must be a positive number of seconds; got {window_s}")
        first_mark = max(self._marks - 1 - round(window_s / HOP_S), 0)
        return gated_loudness(_blocks_from_prefix(self._prefix[:, first_mark: self._marks],
                                                  self._momentary_hops, self._hop))


def integrated_loudness_torch(audio: Any, sample_rate_hz: float) -> Any:
    """Differentiable integrated loudness: the numpy definition with gates held fixed.

    K-weighting is the exact IIR filter (``biquad.filter_torch``); block powers are pooled (hop
    means, then 4-hop means); which blocks pass the gates is decided on detached values, and the
    gated mean power carries the gradient.

    Shape: audio (batch, channels, samples) → (batch,) LUFS; −inf (zero gradient) for an
    example with no block above the gates.
    """
    import torch

    sos = torch.as_tensor(k_weighting_sos(sample_rate_hz), dtype=audio.dtype,
                          device=audio.device)
    hop = hop_samples(sample_rate_hz)
    hops_per_block = _hops_per_block(MOMENTARY_S, HOP_S)
    if audio.shape[-1] < hops_per_block * hop:
        return torch.full(audio.shape[:1], -math.inf, dtype=audio.dtype, device=audio.device)
    weighted = biquad.filter_torch(audio, sos[None])
    hop_power = torch.nn.functional.avg_pool1d(weighted.square(), hop, hop)
    block_power = torch.nn.functional.avg_pool1d(hop_power, hops_per_block, 1).sum(dim=1)
    with torch.no_grad():
        power = block_power.detach()
        above_absolute = power > _lufs_to_power(ABSOLUTE_GATE_LUFS)
        mean_absolute = (power * above_absolute).sum(-1) / above_absolute.sum(-1).clamp_min(1)
        relative_gate = mean_absolute * 10.0 ** (RELATIVE_GATE_LU / 10.0)
        gated = above_absolute & (power > relative_gate[:, None])
        count = gated.sum(-1)
    mean_power = (block_power * gated).sum(-1) / count.clamp_min(1)
    lufs = LOUDNESS_OFFSET_DB + 10.0 * torch.log10(mean_power.clamp_min(1e-30))
    return torch.where(count > 0, lufs, torch.full_like(lufs, -math.inf))
