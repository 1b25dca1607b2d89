"""Stereo imager: mid/side width, mono bass below a Linkwitz-Riley crossover, and a
mono-to-stereo upmix through an all-pass decorrelator with per-band widths.

Per sample (mono input: M = x, S = 0)::

    M  = (L + R) / 2,   S = (L − R) / 2
    M' = AP(M)                                    LR4 all-pass at bass_mono_hz (= LP4 + HP4)
    S' = width · HP4(S) + Σ_b upmix_b_width · band_b(D(M))
    L  = M' + S',       R = M' − S'

Mono bass off: at ``BASS_MONO_OFF_HZ`` (the table's minimum) the crossover is not built: its
three sections are identities, so M' = M and S' = width · S exactly, and at width 1 with no upmix
the imager passes its input through unchanged. Any all-pass in the mid turns the phase of the
bass (a 20 Hz LR4 all-pass still shifts 100 Hz by about 30 degrees), which costs fidelity to the
original that nobody asked for when no mono bass is wanted.

Mono bass: HP4 and LP4 are the Linkwitz-Riley 4th-order high and low pass at ``bass_mono_hz``
(two cascaded Butterworth biquads each). The side keeps only its high band; the mid goes through
the crossover's all-pass LP4 + HP4, which is exactly the second-order all-pass with the
Butterworth section's poles (sos ``[a2, a1, 1, 1, a1, a2]``), so mid and side stay in phase above
the crossover. The mono fold-down (L + R)/2 = M' is an all-pass of the input's mid: its magnitude
spectrum equals the input's, whatever the width and upmix settings.

Upmix: D is a cascade of six Schroeder all-pass sections ``(−g + z^−N) / (1 − g z^−N)``, g = 0.5,
with delays of 1.9, 3.1, 4.3, 5.9, 7.7 and 10.3 ms (rounded to samples, so the design is the
same at every rate from 8 to 192 kHz). Each section has magnitude exactly 1 and a phase that
turns N times over 0…fs/2; together (33 ms of average group delay) the phase turns ~1.7 times
across 20–80 Hz and much faster above, so D(M) is decorrelated from M' in every band (the
normalised cross-correlation of M' and D(M) on white noise is within ±0.05 in each of the bands
20–80 Hz, 80–300 Hz, 300 Hz–1 kHz, 1–3 kHz, 3–10 kHz at 8, 44.1, 48, 96 and 192 kHz, computed
from the frequency responses). D is split into three bands by LR4 crossovers at 300 Hz and
3 kHz, phase-compensated so that the bands sum to an all-pass::

    low  = AP_3k(LP4_300(D)),   mid = LP4_3k(HP4_300(D)),   high = HP4_3k(HP4_300(D))

(HP4 computed as AP − LP4, the LR4 identity). With equal upmix widths w the added side is
w · (an all-pass of M): the same spectrum as the mid, decorrelated.

Meters (over the rendered signal, or per block for the streamer): ``correlation``, the Pearson
correlation of output L and R (0 when either channel is constant); ``width``,
RMS(S_out) / RMS(M_out); ``folddown_loss_db``, 10·log10(mean(M_out²) / mean((L² + R²)/2)), the
energy the mono fold-down loses (0 dB for dual mono and for silence, −3 dB for uncorrelated
channels of equal level, finite for pure side).

Two numba kernels, float64 inside, are the imager in both fast faces: a front end (mid/side,
mono-bass crossover, decorrelator) and a back end (band split, L/R, meter sums), with explicit
state. The streamer runs them one after the other on each block; the renderer runs them from
rest over chunks, pipelined on two threads. The torch face applies the same sections with the
shared differentiable biquad (``biquad.filter_torch``) and D through ``stereo_grad``.

References:
    S. H. Linkwitz, "Active crossover networks for noncoincident drivers", JAES 24(1), 1976.
    M. R. Schroeder, B. F. Logan, "Colorless artificial reverberation", JAES 9(3), 1961.
    G. S. Kendall, "The decorrelation of audio signals and its impact on spatial imagery",
    Computer Music Journal 19(4), 1995.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from model.dsp import biquad
from model.dsp.biquad import section_step
from model.dsp.xp import as_array, namespace
from model.params import spec

LOW_MID_CROSSOVER_HZ = 300.0
MID_HIGH_CROSSOVER_HZ = 3000.0
DECORRELATOR_DELAYS_MS = (1.9, 3.1, 4.3, 5.9, 7.7, 10.3)
DECORRELATOR_GAIN = 0.5
UPMIX_NAMES = ("upmix_low_width", "upmix_mid_width", "upmix_high_width")

# Rows of ``bass_sections`` (the mono-bass crossover) and of ``band_sections`` (the upmix split).
AP_BASS, HP_BASS_1, HP_BASS_2 = 0, 1, 2
LP_LOW_1, LP_LOW_2, AP_LOW, AP_HIGH_ON_LOW, LP_HIGH_1, LP_HIGH_2, AP_HIGH = 0, 1, 2, 3, 4, 5, 6

BASS_MONO_OFF_HZ = spec("stereo.bass_mono_hz").minimum
"""``bass_mono_hz`` at or below this, the table's minimum (20 Hz, flagged ``off_at_minimum``),
switches the mono bass off."""
IDENTITY_SECTION = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)

RENDER_CHUNK_SAMPLES = 32768
"""Render pipelines chunks over two threads: front end of chunk k+1 beside back end of chunk k."""

_TINY = 1e-20
"""Floor for mean energies in the meters (−200 dB): silence reads as no loss, no width."""


def allpass_from_lowpass(lowpass_sos: Any) -> Any:
    """The LR4 all-pass LP4 + HP4 of a Butterworth section: same poles, mirrored numerator.

    Shape: sos (..., 6) → sos (..., 6), numpy or torch like the input.
    """
    xp = namespace(lowpass_sos)
    a1, a2 = lowpass_sos[..., 4], lowpass_sos[..., 5]
    one = a1 * 0 + 1
    return xp.stack([a2, a1, one, one, a1, a2], axis=-1)


def bass_sections(bass_mono_hz: Any, sample_rate_hz: float) -> Any:
    """The mono-bass crossover: rows ``AP_BASS`` (LP4 + HP4) and ``HP_BASS_1/2`` (HP4); three
    identity sections where ``bass_mono_hz`` ≤ ``BASS_MONO_OFF_HZ`` (mono bass off).

    Shape: bass_mono_hz (...,) → sos (..., 3, 6), numpy or torch like the input (differentiable
    w.r.t. a tensor ``bass_mono_hz`` above the off point).
    """
    bass_hz = as_array(bass_mono_hz)
    xp = namespace(bass_hz)
    highpass = biquad.highpass(bass_hz, sample_rate_hz)
    allpass = allpass_from_lowpass(biquad.lowpass(bass_hz, sample_rate_hz))
    crossover = xp.stack([allpass, highpass, highpass], axis=-2)
    one = crossover[..., :1] * 0 + 1
    identity = xp.concatenate([one * value for value in IDENTITY_SECTION], axis=-1)
    off = (bass_hz <= BASS_MONO_OFF_HZ)[..., None, None]
    return xp.where(off, identity, crossover)


def band_sections(sample_rate_hz: float) -> np.ndarray:
    """The upmix band split at 300 Hz and 3 kHz, rows ``LP_LOW_1`` … ``AP_HIGH``. Shape: (7, 6)."""
    lp_low = biquad.lowpass(LOW_MID_CROSSOVER_HZ, sample_rate_hz)
    lp_high = biquad.lowpass(MID_HIGH_CROSSOVER_HZ, sample_rate_hz)
    ap_high = allpass_from_lowpass(lp_high)
    return np.stack([lp_low, lp_low, allpass_from_lowpass(lp_low), ap_high, lp_high, lp_high,
                     ap_high])


def decorrelator_delays(sample_rate_hz: float) -> np.ndarray:
    """Delays of the Schroeder sections in samples (at least 1). Shape: (6,) int64."""
    delays = [max(1, round(ms * sample_rate_hz / 1000.0)) for ms in DECORRELATOR_DELAYS_MS]
    return np.array(delays, dtype=np.int64)


def decorrelator_lines(delays: np.ndarray) -> np.ndarray:
    """Zeroed delay lines for ``delays``: a power-of-two ring per section. Shape: (6, size)."""
    size = 1 << int(np.max(delays)).bit_length()
    return np.zeros((delays.shape[0], size))


@numba.njit(cache=True, nogil=True, inline="always")
def _decorrelate_sample(v: float, delays: np.ndarray, lines: np.ndarray, head: int) -> float:
    """One sample through the Schroeder cascade, ``head`` the ring's write position:
    w = v + g·w[n−N], y = w[n−N] − g·w."""
    mask = lines.shape[1] - 1
    for k in range(delays.shape[0]):
        delayed = lines[k, (head - delays[k]) & mask]
        w = v + DECORRELATOR_GAIN * delayed
        lines[k, head] = w
        v = delayed - DECORRELATOR_GAIN * w
    return v


@numba.njit(cache=True, nogil=True)
def _decorrelate(x: np.ndarray, delays: np.ndarray, lines: np.ndarray, head: np.ndarray,
                 out: np.ndarray) -> None:
    """D over (samples,) → ``out[:samples]``; the ring and ``head[0]`` are updated in place."""
    mask = lines.shape[1] - 1
    h = head[0]
    for n in range(x.shape[0]):
        out[n] = _decorrelate_sample(x[n], delays, lines, h)
        h = (h + 1) & mask
    head[0] = h


@numba.njit(cache=True, nogil=True)
def _front(x: np.ndarray, sos: np.ndarray, width: float, with_upmix: bool, z: np.ndarray,
           delays: np.ndarray, lines: np.ndarray, head: np.ndarray, work: np.ndarray) -> None:
    """Front end over (1 or 2, samples): work[0] = M', work[1] = width·HP4(S), work[2] = D(M)
    (only when ``with_upmix``). State ``z`` (3, 2), the ring and its head updated in place."""
    for n in range(x.shape[1]):
        if x.shape[0] == 2:
            mid = 0.5 * (np.float64(x[0, n]) + np.float64(x[1, n]))
            side = 0.5 * (np.float64(x[0, n]) - np.float64(x[1, n]))
        else:
            mid = np.float64(x[0, n])
            side = 0.0
        work[0, n] = section_step(sos, z, AP_BASS, mid)
        work[1, n] = width * section_step(sos, z, HP_BASS_2, section_step(sos, z, HP_BASS_1, side))
        work[2, n] = mid
    if with_upmix:
        _decorrelate(work[2, :x.shape[1]], delays, lines, head, work[2])


@numba.njit(cache=True, nogil=True)
def _back(work: np.ndarray, sos: np.ndarray, upmix_widths: np.ndarray, with_upmix: bool,
          z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Back end: adds Σ_b upmix_widths[b]·band_b(D) to the side, writes L and R to ``out``
    (2, samples). State ``z`` (7, 2) updated in place. Returns ΣM', ΣS', ΣM'², ΣS'², ΣM'S'."""
    sums = np.zeros(5)
    for n in range(out.shape[1]):
        mid_out = work[0, n]
        side_out = work[1, n]
        if with_upmix:
            d = work[2, n]
            lp_low = section_step(sos, z, LP_LOW_2, section_step(sos, z, LP_LOW_1, d))
            hp_low = section_step(sos, z, AP_LOW, d) - lp_low
            low = section_step(sos, z, AP_HIGH_ON_LOW, lp_low)
            mid = section_step(sos, z, LP_HIGH_2, section_step(sos, z, LP_HIGH_1, hp_low))
            high = section_step(sos, z, AP_HIGH, hp_low) - mid
            side_out += upmix_widths[0] * low + upmix_widths[1] * mid + upmix_widths[2] * high
        out[0, n] = mid_out + side_out
        out[1, n] = mid_out - side_out
        sums[0] += mid_out
        sums[1] += side_out
        sums[2] += mid_out * mid_out
        sums[3] += side_out * side_out
        sums[4] += mid_out * side_out
    return sums


def meters_from_sums(sum_m: Any, sum_s: Any, sum_mm: Any, sum_ss: Any, sum_ms: Any,
                     n_samples: int) -> dict[str, Any]:
    """Correlation, width and fold-down loss from sums over the output's mid and side.

    With L = M + S, R = M − S: cov(L, R) = var M − var S and var L·var R = (var M + var S)² −
    4·cov(M, S)². Shape: floats or tensors (batch,) → dict of the same.
    """
    xp = namespace(sum_m, sum_mm)
    n = max(int(n_samples), 1)
    mean_m, mean_s = sum_m / n, sum_s / n
    var_m = sum_mm / n - mean_m * mean_m
    var_s = sum_ss / n - mean_s * mean_s
    cov_ms = sum_ms / n - mean_m * mean_s
    var_product = (var_m + var_s) ** 2 - 4.0 * cov_ms * cov_ms
    energy_m, energy_s = sum_mm / n, sum_ss / n
    return {
        "correlation": (var_m - var_s) / xp.sqrt(xp.clip(var_product, _TINY, None)),
        "width": xp.sqrt(energy_s / xp.clip(energy_m, _TINY, None)),
        "folddown_loss_db": 10.0 * xp.log10((energy_m + _TINY) / (energy_m + energy_s + _TINY)),
    }


def decorrelate(x: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """The decorrelator D from rest, each row independently (the torch face's core).

    Shape: (rows, samples) float64 → (rows, samples) float64.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    delays = decorrelator_delays(sample_rate_hz)
    out = np.empty_like(x)
    for row, out_row in zip(x, out, strict=True):
        _decorrelate(row, delays, decorrelator_lines(delays), np.zeros(1, np.int64), out_row)
    return out


@numba.njit(cache=True, nogil=True)
def _serial(x: np.ndarray, bass_sos: np.ndarray, band_sos: np.ndarray, width: float,
            upmix_widths: np.ndarray, with_upmix: bool, z_bass: np.ndarray, z_band: np.ndarray,
            delays: np.ndarray, lines: np.ndarray, head: np.ndarray, work: np.ndarray,
            out: np.ndarray) -> np.ndarray:
    """Front then back end over one block in this thread (the streamer). Returns the sums."""
    _front(x, bass_sos, width, with_upmix, z_bass, delays, lines, head, work)
    return _back(work, band_sos, upmix_widths, with_upmix, z_band, out)


def _check_channels(channels: int) -> None:
    if channels not in (1, 2):
        raise ValueError(f"the stereo imager takes 1 or 2 channels, got {channels}")


class _State:
    """Filter and delay-line state of one imager, float64."""

    def __init__(self, sample_rate_hz: float) -> None:
        self.delays = decorrelator_delays(sample_rate_hz)
        self.z_bass = np.zeros((3, 2))
        self.z_band = np.zeros((7, 2))
        self.lines = decorrelator_lines(self.delays)
        self.head = np.zeros(1, dtype=np.int64)

    def reset(self) -> None:
        for array in (self.z_bass, self.z_band, self.lines, self.head):
            array[:] = 0


class _Settings:
    """A parameter set turned into kernel arguments."""

    def __init__(self, params: Mapping[str, float], sample_rate_hz: float) -> None:
        self.bass_sos = np.ascontiguousarray(bass_sections(float(params["bass_mono_hz"]),
                                                           sample_rate_hz))
        self.band_sos = band_sections(sample_rate_hz)
        self.width = float(params["width"])
        self.upmix_widths = np.array([float(params[name]) for name in UPMIX_NAMES])


def _float_meters(sums: np.ndarray, n_samples: int) -> dict[str, float]:
    return {name: float(value) for name, value in meters_from_sums(*sums, n_samples).items()}


def _render_chunks(audio: np.ndarray, settings: _Settings, state: _State, with_upmix: bool,
                   out: np.ndarray) -> np.ndarray:
    """Front and back ends over chunks, pipelined on two threads (the kernels release the GIL):
    a worker runs the front end of chunk k + 1 while this thread runs the back end of chunk k.
    Returns the back end's sums over the whole signal."""
    s, st = settings, state
    n_samples = audio.shape[1]
    bounds = [(start, min(start + RENDER_CHUNK_SAMPLES, n_samples))
              for start in range(0, max(n_samples, 1), RENDER_CHUNK_SAMPLES)]  # ≥ 1 chunk
    works = [np.zeros((3, RENDER_CHUNK_SAMPLES)) for _ in range(2)]

    def front(k: int) -> None:
        start, stop = bounds[k]
        _front(audio[:, start:stop], s.bass_sos, s.width, with_upmix, st.z_bass, st.delays,
               st.lines, st.head, works[k % 2])

    sums = np.zeros(5)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(front, 0)
        for k, (start, stop) in enumerate(bounds):
            pending.result()
            if k + 1 < len(bounds):
                pending = pool.submit(front, k + 1)
            sums += _back(works[k % 2], s.band_sos, s.upmix_widths, with_upmix, st.z_band,
                          out[:, start:stop])
    return sums


def render(audio: np.ndarray, params: Mapping[str, float],
           sample_rate_hz: float) -> tuple[np.ndarray, dict[str, float]]:
    """Whole-track imager from rest.

    Shape:
        audio: (1 or 2, samples) float32 → (2, samples) float32, no latency.
    Args:
        params: ``width``, ``bass_mono_hz``, ``upmix_low_width``, ``upmix_mid_width``,
            ``upmix_high_width`` (the table's ``stereo`` stage).
    Returns:
        The output and the meters over the whole output (floats).
    """
    _check_channels(audio.shape[0])
    audio = np.ascontiguousarray(audio)
    settings, state = _Settings(params, sample_rate_hz), _State(sample_rate_hz)
    with_upmix = bool(np.any(settings.upmix_widths != 0.0))
    out = np.empty((2, audio.shape[1]), dtype=np.float32)
    sums = _render_chunks(audio, settings, state, with_upmix, out)
    return out, _float_meters(sums, audio.shape[1])


class Streamer:
    """Block-streaming imager: ``process(block)`` equals ``render`` on the concatenated blocks.

    Shape: ``process`` takes (channels, samples) float32 and returns (2, samples) float32 and the
    meters of that block. The decorrelator runs only while an upmix width is above 0, as in
    ``render``; switched on mid-stream it starts from silence (its delay lines fill within
    ~30 ms).
    """

    latency_samples = 0

    def __init__(self, params: Mapping[str, float], sample_rate_hz: float, channels: int) -> None:
        _check_channels(channels)
        self.sample_rate_hz = float(sample_rate_hz)
        self.settings = _Settings(params, self.sample_rate_hz)
        self.state = _State(self.sample_rate_hz)
        self.work = np.zeros((3, 0))
        self.total_sums = np.zeros(5)
        self.total_samples = 0
        self.upmix_running = False

    def reset(self) -> None:
        self.state.reset()
        self.upmix_running = False
        self.total_sums[:] = 0.0
        self.total_samples = 0

    def summary_meters(self) -> dict[str, float]:
        """The meters over everything processed since the last reset."""
        return _float_meters(self.total_sums, self.total_samples)

    def set_params(self, params: Mapping[str, float]) -> None:
        """New parameters from the next block on; the state is kept."""
        self.settings = _Settings(params, self.sample_rate_hz)

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        block = np.ascontiguousarray(block)
        if self.work.shape[1] < block.shape[1]:
            self.work = np.zeros((3, block.shape[1]))
        out = np.empty((2, block.shape[1]), dtype=np.float32)
        s, state = self.settings, self.state
        with_upmix = bool(np.any(s.upmix_widths > 0.0))
        if with_upmix and not self.upmix_running:
            for array in (state.z_band, state.lines, state.head):
                array[:] = 0
        self.upmix_running = with_upmix
        sums = _serial(block, s.bass_sos, s.band_sos, s.width, s.upmix_widths, with_upmix,
                       state.z_bass, state.z_band, state.delays, state.lines, state.head,
                       self.work, out)
        self.total_sums += sums
        self.total_samples += block.shape[1]
        return out, _float_meters(sums, block.shape[1])


def forward_torch(audio: Any, params: Mapping[str, Any],
                  sample_rate_hz: float) -> tuple[Any, dict[str, Any]]:
    """Differentiable imager from rest (w.r.t. audio and every parameter).

    Shape:
        audio: (batch, 1 or 2, samples) tensor; params: table names → tensors (batch,).
    Returns:
        (batch, 2, samples) in the dtype of ``audio``, and the meters as tensors (batch,).
    """
    import torch

    from model.dsp import stereo_grad

    _check_channels(audio.shape[1])
    if audio.shape[1] == 2:
        mid = 0.5 * (audio[:, :1] + audio[:, 1:])
        side = 0.5 * (audio[:, :1] - audio[:, 1:])
    else:
        mid, side = audio, torch.zeros_like(audio)
    bass_sos = bass_sections(params["bass_mono_hz"].to(audio.dtype), sample_rate_hz)
    band_sos = torch.as_tensor(band_sections(sample_rate_hz), dtype=audio.dtype,
                               device=audio.device)

    def through(signal: Any, sos: Any) -> Any:
        return biquad.filter_torch(signal, sos)

    def weight(name: str) -> Any:
        return params[name].to(audio.dtype)[:, None, None]

    mid_out = through(mid, bass_sos[:, AP_BASS])
    side_out = weight("width") * through(side, bass_sos[:, [HP_BASS_1, HP_BASS_2]])
    d = stereo_grad.decorrelate(mid, sample_rate_hz)
    lp_low = through(d, band_sos[None, [LP_LOW_1, LP_LOW_2]])
    hp_low = through(d, band_sos[AP_LOW]) - lp_low
    mid_band = through(hp_low, band_sos[None, [LP_HIGH_1, LP_HIGH_2]])
    bands = (through(lp_low, band_sos[AP_HIGH_ON_LOW]), mid_band,
             through(hp_low, band_sos[AP_HIGH]) - mid_band)
    for name, band in zip(UPMIX_NAMES, bands, strict=True):
        side_out = side_out + weight(name) * band
    out = torch.cat([mid_out + side_out, mid_out - side_out], dim=1)
    m, s = mid_out[:, 0], side_out[:, 0]
    meters = meters_from_sums(m.sum(-1), s.sum(-1), (m * m).sum(-1), (s * s).sum(-1),
                              (m * s).sum(-1), audio.shape[-1])
    return out, meters
