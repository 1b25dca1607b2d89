"""True-peak measurement (ITU-R BS.1770-4 Annex 2): 4× oversampling with the standard's
48-tap polyphase interpolation filter, plus the raw samples.

``PHASES[k]`` is the 12-tap filter of phase k; interpolated value k of sample n is
``Σ_j PHASES[k, j] · x[n − j]``. The filter's passband is flat within ±0.2 dB up to 0.42·fs and
its stopband is 40 dB down from 0.6·fs. We oversample 4× at every sample rate (the
standard allows less above 96 kHz; 4× only measures more finely), and the true peak of a signal
is the larger of its sample peak and its interpolated peak (the standard's filter does not pass
the original samples through unchanged, so a lone click reads 0.25 dB low without them).

References:
    ITU-R BS.1770-4 (10/2015), Annex 2, "Guidelines for accurate measurement of true-peak level".
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from model.units import gain_to_db

_PHASE0 = (0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000,
           -0.0594482421875, 0.1373291015625, 0.9721679687500, -0.1022949218750,
           0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500)
_PHASE1 = (-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250,
           -0.1665039062500, 0.4650878906250, 0.7797851562500, -0.2003173828125,
           0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375)

PHASES = np.array([_PHASE0, _PHASE1, _PHASE1[::-1], _PHASE0[::-1]], dtype=np.float64)
"""The BS.1770-4 interpolator: (4 phases, 12 taps)."""

TAPS = PHASES.shape[1]
GROUP_DELAY_SAMPLES = 5.5
"""Delay of the interpolated values behind the input, in input samples (linear-phase filter)."""


PARALLEL_MIN_SAMPLES = 1 << 16
"""Blocks at least this long run their channels on separate threads."""


@numba.njit(cache=True, nogil=True)
def _peak_envelope_channel(x: np.ndarray, phases: np.ndarray, history: np.ndarray,
                           out: np.ndarray) -> None:
    """out[n] = max(|x[n]|, max_k |Σ_j phases[k, j]·x[n − j]|) over one channel; ``history``
    holds the last (taps − 1) samples before this block, and is updated."""
    n_taps = phases.shape[1]
    buf = np.empty(n_taps - 1 + x.shape[0])
    buf[: n_taps - 1] = history
    buf[n_taps - 1:] = x
    for n in range(x.shape[0]):
        peak = abs(buf[n + n_taps - 1])
        for k in range(phases.shape[0]):
            acc = 0.0
            for j in range(n_taps):
                acc += phases[k, j] * buf[n + n_taps - 1 - j]
            peak = max(peak, abs(acc))
        out[n] = peak
    history[:] = buf[buf.shape[0] - (n_taps - 1):]


@numba.njit(cache=True, nogil=True, parallel=True)
def _peak_envelope_parallel(x: np.ndarray, phases: np.ndarray, history: np.ndarray,
                            out: np.ndarray) -> None:
    for c in numba.prange(x.shape[0]):
        _peak_envelope_channel(x[c], phases, history[c], out[c])


@numba.njit(cache=True, nogil=True)
def _peak_envelope(x: np.ndarray, phases: np.ndarray, history: np.ndarray,
                   out: np.ndarray) -> None:
    for c in range(x.shape[0]):
        _peak_envelope_channel(x[c], phases, history[c], out[c])


def peak_envelope(audio: np.ndarray, history: np.ndarray | None = None) -> np.ndarray:
    """Per-sample true-peak envelope. Shape: (channels, samples) → (channels, samples) float64.

    ``history`` (channels, 11), if given, is the state carried between blocks (updated in place);
    otherwise the signal starts from silence. Sample n's value covers the raw sample n and the
    four interpolated values computed when sample n arrives (centred ~5.5 samples earlier).
    """
    audio = np.ascontiguousarray(audio)
    if history is None:
        history = np.zeros((audio.shape[0], TAPS - 1))
    out = np.empty(audio.shape, dtype=np.float64)
    kernel = _peak_envelope_parallel if audio.shape[1] >= PARALLEL_MIN_SAMPLES else _peak_envelope
    kernel(audio, PHASES, history, out)
    return out


def true_peak(audio: np.ndarray) -> np.ndarray:
    """Linear true peak of each channel, the filter flushed with silence. Shape: (C, N) → (C,)."""
    padded = np.concatenate([audio, np.zeros((audio.shape[0], TAPS), audio.dtype)], axis=1)
    return peak_envelope(padded).max(axis=1)


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True peak of the loudest channel in dBTP (−inf for silence). Shape: (C, N) → float."""
    peak = float(np.max(true_peak(audio))) if audio.size else 0.0
    return gain_to_db(peak)


def true_peak_torch(audio: Any) -> Any:
    """Differentiable per-channel true peak. Shape: (batch, channels, samples) → (batch, C)."""
    import torch

    batch, channels, _ = audio.shape
    kernel = torch.as_tensor(PHASES[:, ::-1].copy(), dtype=audio.dtype, device=audio.device)
    flat = audio.reshape(batch * channels, 1, -1)
    padded = torch.nn.functional.pad(flat, (TAPS - 1, TAPS))
    interpolated = torch.nn.functional.conv1d(padded, kernel[:, None, :])
    peak = torch.maximum(interpolated.abs().amax(dim=(1, 2)), flat.abs().amax(dim=(1, 2)))
    return peak.reshape(batch, channels)
