"""Neural residual: the signal plus ``amount`` × a small causal TCN's correction of it.

    y = x + amount · net(x, z)        x, y stereo (a mono input is made dual mono first)

``net`` is ``model.residual_net.ResidualNet`` with the shipped weights (``DEFAULT_WEIGHTS``),
conditioned on the track's latent z (``params["latent"]``, ``LATENT_DIM`` floats; absent: zeros).
Amount 0 skips the network entirely: the stage then passes its input through bit for bit, and
neither torch nor the weights are loaded. A missing or corrupt weights file is a ``ModelError``
when a non-zero amount first needs it.

The three faces run one definition, the network's own ``forward``:

- ``forward_torch``: the module with gradients (the trained network may be passed as ``net``);
- ``Streamer``: torch under ``no_grad``, carrying each layer's last inputs from block to block
  (the network is causal, so streaming equals the whole-signal run); each block is one call of
  the forward traced by TorchScript (``residual_net.traced_step``); latency 0;
- ``render``: the streamer over chunks of ``RENDER_CHUNK_FRAMES`` (bounded memory).

The stage has no meters.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

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
        self.state: Any = None
        self._z: Any = None
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
            self.latent, self._z, self.state = latent, None, None
        self.amount = amount

    def reset(self) -> None:
        self.history = None
        self.state = None

    def __deepcopy__(self, memo: dict) -> Streamer:
        """A copy with its own state that shares the (frozen) network."""
        twin = copy.copy(self)
        twin.history = None if self.history is None else self.history.copy()
        twin.state = None if self.state is None else tuple(s.clone() for s in self.state)
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
        import torch

        from model.residual_net import traced_step

        with torch.no_grad():
            if self._z is None:
                self._z = _latent_row(self.latent)
            if self.state is None:
                _, state = self.net(torch.from_numpy(self._past())[None], self._z)
                self.state = tuple(state)
            y, self.state = traced_step(self.net)(torch.from_numpy(x)[None], self._z, self.state)
        return y[0].numpy()

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
    """The stage over a whole track, in chunks. Shape: (1 or 2, N) float32 → (2, N) float32."""
    streamer = Streamer(params, sample_rate_hz, audio.shape[0])
    if streamer.amount == 0.0:
        return _as_stereo(audio), {}
    stereo = _as_stereo(audio)
    out = np.empty_like(stereo)
    for start in range(0, stereo.shape[1], RENDER_CHUNK_FRAMES):
        stop = start + RENDER_CHUNK_FRAMES
        out[:, start:stop], _ = streamer.process(stereo[:, start:stop])
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
