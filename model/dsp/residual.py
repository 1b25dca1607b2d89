"""Neural residual: the signal plus ``amount`` × a small causal TCN's correction of it.

    y = x + amount · net(x, z)        x, y stereo (a mono input is made dual mono first)

``net`` is ``model.residual_net.ResidualNet`` with the shipped weights (``DEFAULT_WEIGHTS``),
conditioned on the track's latent z (``params["latent"]``, ``LATENT_DIM`` floats; absent: zeros).
Amount 0 skips the network entirely: the stage then passes its input through bit for bit, and
neither torch nor the weights are loaded. A missing or corrupt weights file is a ``ModelError``
when a non-zero amount first needs it.

The network's own ``forward`` is the definition; the streamer's numba kernel restates it, and
the parity tests hold the faces together (streaming = render = torch within −80 dB):

- ``forward_torch``: the module with gradients (the trained network may be passed as ``net``);
- ``Streamer``: one numba kernel (``_run_block``, no GIL) per block, carrying each layer's last
  inputs from block to block (the network is causal, so streaming equals the whole-signal run);
  the FiLM scales of the track's latent are folded into the dilated convolutions' weights once
  per latent (``folded_weights``, computed by the network's own modules); latency 0. Torch on
  small blocks releases and retakes the GIL op by op: behind a busy Python thread (the GUI) a
  256-frame block took 58 ms (median) through the traced network, against 1.3 ms here;
- ``render``: the network's forward (torch, vectorised: four times the numba kernel's speed on
  long chunks) over chunks of ``RENDER_CHUNK_FRAMES`` (bounded memory), carrying its state.

The stage has no meters.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from model.params import LATENT_DIM

RENDER_CHUNK_FRAMES = 1 << 16
HISTORY_SAMPLES = 4096
"""Input samples a streamer keeps: at least the network's receptive field (checked on load)."""


def _as_stereo(audio: np.ndarray) -> np.ndarray:
    """(1, N) → dual mono (2, N); stereo unchanged. float32."""
    audio = np.asarray(audio, dtype=np.float32)
    return np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio


def _network() -> Any:
    """The shipped network, loaded once (``model.residual_net.load_cached``)."""
    from model import residual_net
    from model.errors import ModelError

    net = residual_net.load_cached()
    if net.receptive_field_samples - 1 > HISTORY_SAMPLES:
        raise ModelError(f"the residual network in {residual_net.DEFAULT_WEIGHTS} looks back "
                         f"{net.receptive_field_samples} samples, more than the "
                         f"{HISTORY_SAMPLES} this version keeps; use weights made for it")
    return net


def _latent_row(latent: Any) -> Any:
    """The latent as a (1, LATENT_DIM) float32 tensor (zeros when None)."""
    import torch

    if latent is None:
        return torch.zeros(1, LATENT_DIM)
    return torch.as_tensor(np.asarray(latent, dtype=np.float32)).reshape(1, LATENT_DIM)


@dataclass(frozen=True)
class FoldedWeights:
    """The network's weights for one latent, float32, the FiLM scales folded in.

    Shape: stem (H, 2); dilated (L, 2H, H, K), row o scaled by layer l's FiLM scale for o (the
    filter half, then the gate half); mix (L, H, H); out (2, H); dilations (L,) int64.
    """

    stem: np.ndarray
    dilated: np.ndarray
    mix: np.ndarray
    out: np.ndarray
    dilations: np.ndarray

    @property
    def context_samples(self) -> int:
        """The longest context a layer reads: (K − 1) · the largest dilation."""
        return (self.dilated.shape[3] - 1) * int(self.dilations.max())


def folded_weights(net: Any, latent: Any) -> FoldedWeights:
    """``net``'s weights with the FiLM scales 1 + Linear(z) of ``latent`` (1, LATENT_DIM)
    multiplied into the dilated convolutions' output rows (scaling a convolution's output
    channel equals scaling that channel's weights)."""
    import torch

    with torch.no_grad():
        scales = 1.0 + net.film(latent.float())[0].reshape(len(net.dilations), -1)
        dilated = torch.stack([layer.weight for layer in net.dilated])
        dilated = dilated * scales[:, :, None, None]
        return FoldedWeights(
            stem=net.stem.weight[:, :, 0].numpy().astype(np.float32),
            dilated=np.ascontiguousarray(dilated.numpy(), dtype=np.float32),
            mix=np.stack([layer.weight[:, :, 0].numpy() for layer in net.mix]).astype(
                np.float32),
            out=net.out.weight[:, :, 0].numpy().astype(np.float32),
            dilations=np.asarray(net.dilations, dtype=np.int64))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _run_block(x: np.ndarray, stem: np.ndarray, dilated: np.ndarray, mix: np.ndarray,
               out: np.ndarray, dilations: np.ndarray, state: np.ndarray) -> np.ndarray:
    """The network over one block from ``state``, which is updated in place.

    Shape: x (2, n) float32; weights as ``FoldedWeights``; state (L, H, C) float32, per layer
    the last C inputs of its dilated convolution (C ≥ its context) → (2, n) float32.
    """
    layers, hidden, context = state.shape
    n = x.shape[1]
    kernel = dilated.shape[3]
    h = np.dot(stem, x)
    padded = np.empty((hidden, context + n), dtype=np.float32)
    tap = np.empty((hidden, n), dtype=np.float32)
    gated = np.empty((hidden, n), dtype=np.float32)
    for layer in range(layers):
        dilation = dilations[layer]
        padded[:, :context] = state[layer]
        padded[:, context:] = h
        state[layer] = padded[:, n:]
        mixed = np.zeros((2 * hidden, n), dtype=np.float32)
        for k in range(kernel):
            start = context - (kernel - 1 - k) * dilation
            tap[:] = padded[:, start:start + n]
            mixed += np.dot(np.ascontiguousarray(dilated[layer, :, :, k]), tap)
        for c in range(hidden):
            for t in range(n):
                gated[c, t] = np.tanh(mixed[c, t]) / (1.0 + np.exp(-mixed[hidden + c, t]))
        h += np.dot(mix[layer], gated)
    return np.dot(out, h)


class Streamer:
    """Block-streaming residual (module docstring).

    The input's last ``receptive_field − 1`` samples are kept while the network is skipped
    (amount 0) too, so that when it starts, or after a new latent, its layer states are rebuilt
    exactly from them.

    Shape: ``process(block)`` (1 or 2, n) float32 → ((2, n) float32, {}).
    """

    latency_samples: int = 0

    def __init__(self, params: Mapping[str, Any], sample_rate_hz: float, channels: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.amount = 0.0
        self.latent: Any = None
        self.net: Any = None
        self.history: np.ndarray | None = None
        self.weights: FoldedWeights | None = None
        self.state: np.ndarray | None = None
        self.set_params(params)

    def set_params(self, params: Mapping[str, Any]) -> None:
        """New values (``amount``, optional ``latent``), used from the next block on."""
        amount = float(params["amount"])
        latent = params.get("latent")
        if latent is not None:
            latent = tuple(float(v) for v in latent)
        if amount > 0.0 and self.net is None:
            self.net = _network()
        if latent != self.latent:
            self.latent, self.weights, self.state = latent, None, None
        self.amount = amount

    def reset(self) -> None:
        self.history = None
        self.state = None

    def __deepcopy__(self, memo: dict) -> Streamer:
        """A copy with its own state that shares the (frozen) network and folded weights."""
        twin = copy.copy(self)
        twin.history = None if self.history is None else self.history.copy()
        twin.state = None if self.state is None else self.state.copy()
        return twin

    def process(self, block: np.ndarray) -> tuple[np.ndarray, dict]:
        x = _as_stereo(block)
        if self.amount == 0.0:
            self.state = None
            out = x
        else:
            out = x + np.float32(self.amount) * self._run(x)
        self._remember(x)
        return out, {}

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The network's output for this block, carrying its layer states. Shape: (2, n)."""
        if self.weights is None:
            self.weights = folded_weights(self.net, _latent_row(self.latent))
        w = self.weights
        if self.state is None:
            self.state = np.zeros((w.dilations.shape[0], w.stem.shape[0], w.context_samples),
                                  dtype=np.float32)
            _run_block(self._past(), w.stem, w.dilated, w.mix, w.out, w.dilations, self.state)
        return _run_block(np.ascontiguousarray(x), w.stem, w.dilated, w.mix, w.out,
                          w.dilations, self.state)

    def _past(self) -> np.ndarray:
        """The last ``receptive_field − 1`` inputs (zeros before the first). Shape: (2, k)."""
        length = self.net.receptive_field_samples - 1
        past = np.zeros((2, length), dtype=np.float32)
        if self.history is not None:
            kept = self.history[:, -length:]
            past[:, length - kept.shape[1]:] = kept
        return past

    def _remember(self, x: np.ndarray) -> None:
        length = HISTORY_SAMPLES
        joined = x if self.history is None else np.concatenate([self.history, x], axis=1)
        self.history = joined[:, -length:].copy()


def render(audio: np.ndarray, params: Mapping[str, Any],
           sample_rate_hz: float) -> tuple[np.ndarray, dict]:
    """The stage over a whole track: the network's own forward in chunks, each starting from the
    state the last one left. Shape: (1 or 2, N) float32 → (2, N) float32."""
    amount = float(params["amount"])
    stereo = _as_stereo(audio)
    if amount == 0.0:
        return stereo, {}
    import torch

    net = _network()
    z = _latent_row(params.get("latent"))
    out = np.empty_like(stereo)
    state = None
    with torch.no_grad():
        for start in range(0, stereo.shape[1], RENDER_CHUNK_FRAMES):
            chunk = stereo[:, start:start + RENDER_CHUNK_FRAMES]
            correction, state = net(torch.from_numpy(chunk)[None], z, state)
            out[:, start:start + chunk.shape[1]] = chunk + np.float32(amount) * \
                correction[0].numpy()
    return out, {}


def forward_torch(audio: Any, params: Mapping[str, Any], sample_rate_hz: float,
                  net: Any = None) -> tuple[Any, dict]:
    """Differentiable residual for training.

    Shape:
        audio: (B, 1 or 2, T); params["amount"]: (B,); params["latent"]: (B, LATENT_DIM) or
        absent (zeros). ``net``: the network to train, or None for the shipped one.
        Returns (B, 2, T).
    """
    import torch

    stereo = audio.expand(-1, 2, -1) if audio.shape[1] == 1 else audio
    batch = stereo.shape[0]
    network = net if net is not None else _network()
    latent = params.get("latent")
    if latent is None:
        latent = stereo.new_zeros(batch, LATENT_DIM)
    amount = torch.as_tensor(params["amount"], dtype=stereo.dtype,
                             device=stereo.device).expand(batch)
    correction, _ = network(stereo, torch.as_tensor(latent).expand(batch, -1))
    return stereo + amount[:, None, None] * correction, {}
