"""The neural residual network: a small causal dilated TCN, stereo in → stereo out, conditioned on
the track's latent z (the proposer's ``Proposal.latent``).

    x (B, 2, T) ─ 1×1 conv ─ h ─┬─ dilated causal conv (C → 2C) ─ × FiLM scales(z) ─┐
                                │        tanh(filter) · sigmoid(gate) ─ 1×1 conv ─ + ─ h  (× layers)
                                └──────────────────────────────────────────────────┘
    h ─ 1×1 conv ─ net(x, z) (B, 2, T)

Left and right enter together (the first 1×1 convolution mixes them), so the stereo image is
processed, not collapsed to mono. The convolutions are causal (dilations 1, 2, 4, …; receptive
field ``receptive_field_samples``) and have no biases, and the gated unit maps 0 to 0, so
silence in gives silence out (no DC, no hiss) and zero padding before the start equals "at
rest": a block-streaming run that carries each layer's last inputs equals the whole-signal run.
The conditioning is multiplicative: FiLM scales ``1 + Linear(z)`` on the filter and gate halves of
every layer (an additive FiLM shift would make the output non-zero on silence). The last 1×1
convolution starts at zero, so an untrained network adds nothing.

The network is trained at 44.1 kHz; at other rates it runs as is (its receptive field then spans
a different time, its learned spectral corrections move with the rate).

Torch is imported here: ``model.dsp.residual`` imports this module only when the residual runs.

References:
    A. van den Oord et al., "WaveNet: A Generative Model for Raw Audio", arXiv:1609.03499, 2016
    (gated activation units, dilated causal convolutions).
    S. Bai, J. Z. Kolter, V. Koltun, "An Empirical Evaluation of Generic Convolutional and
    Recurrent Networks for Sequence Modeling", arXiv:1803.01271, 2018 (TCN).
    E. Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer", AAAI 2018.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional

from model import weights
from model.params import LATENT_DIM

FILE_FORMAT = 1
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "assets" / "model" / \
    "greymaster-residual.pt"
"""The shipped weights (trained by ``make train``'s residual phase; see the model card)."""
CHANNELS = 2

State = list[Tensor]
"""Per layer, the last ``(kernel − 1) · dilation`` samples of its input. Shape: (B, C, k_i)."""


class ResidualNet(nn.Module):
    """The residual TCN (module docstring). ``config`` (ints only) rebuilds it."""

    def __init__(self, hidden: int = 16, layers: int = 8, kernel: int = 3,
                 latent_dim: int = LATENT_DIM) -> None:
        super().__init__()
        self.config: dict[str, int] = {"hidden": hidden, "layers": layers, "kernel": kernel,
                                       "latent_dim": latent_dim}
        self.kernel = kernel
        self.dilations = [2 ** i for i in range(layers)]
        self.stem = nn.Conv1d(CHANNELS, hidden, 1, bias=False)
        self.dilated = nn.ModuleList(
            nn.Conv1d(hidden, 2 * hidden, kernel, dilation=d, bias=False) for d in self.dilations)
        self.mix = nn.ModuleList(nn.Conv1d(hidden, hidden, 1, bias=False) for _ in self.dilations)
        self.film = nn.Linear(latent_dim, layers * 2 * hidden)
        self.out = nn.Conv1d(hidden, CHANNELS, 1, bias=False)
        with torch.no_grad():
            self.film.weight.mul_(0.1)
            self.film.bias.zero_()
            self.out.weight.zero_()

    @property
    def context_samples(self) -> list[int]:
        """Per layer, how many past samples of its input its dilated convolution reads."""
        return [(self.kernel - 1) * d for d in self.dilations]

    @property
    def receptive_field_samples(self) -> int:
        """How many input samples (the current one included) one output sample depends on."""
        return 1 + sum(self.context_samples)

    def forward(self, audio: Tensor, latent: Tensor, state: State | None = None
                ) -> tuple[Tensor, State]:
        """The network's output (without the input added) and the state after the last sample.

        Runs in the dtype of ``audio`` (the weights are cast), so float64 training-face checks
        and float32 rendering share one definition.

        Shape:
            audio: (B, 2, T); latent: (B, latent_dim); state: from a previous call, or None for
            rest (zeros). Returns (B, 2, T) and the new state.
        """
        dtype = audio.dtype
        batch = audio.shape[0]
        scales = 1.0 + functional.linear(latent.to(dtype), self.film.weight.to(dtype),
                                         self.film.bias.to(dtype))
        scales = scales.unflatten(1, (len(self.dilations), 2, -1))[..., None]
        h = functional.conv1d(audio, self.stem.weight.to(dtype))
        new_state: State = []
        for i, (dilation, context) in enumerate(zip(self.dilations, self.context_samples,
                                                    strict=True)):
            before = state[i] if state is not None else \
                h.new_zeros(batch, h.shape[1], context)
            padded = torch.cat([before, h], dim=-1)
            new_state.append(padded[..., -context:])
            mixed = functional.conv1d(padded, self.dilated[i].weight.to(dtype), dilation=dilation)
            filt, gate = mixed.chunk(2, dim=1)
            gated = torch.tanh(filt * scales[:, i, 0]) * torch.sigmoid(gate * scales[:, i, 1])
            h = h + functional.conv1d(gated, self.mix[i].weight.to(dtype))
        return functional.conv1d(h, self.out.weight.to(dtype)), new_state


def save(net: ResidualNet, path: str | Path) -> None:
    """Write the weights with their config (``weights.write``: atomic)."""
    weights.write({"format": FILE_FORMAT, "config": dict(net.config),
                   "state_dict": net.state_dict()}, path)


def load(path: str | Path) -> ResidualNet:
    """Read weights written by ``save`` (``torch.load(weights_only=True)``: tensors and plain
    containers, never code); ``ModelError`` for a missing, corrupt or unfit file."""
    path = Path(path)
    doc = weights.read(path, "residual network weights", FILE_FORMAT,
                       " (set the residual amount to 0, or run `make train`)")
    return weights.build(ResidualNet, doc, path, "residual network").requires_grad_(False)


@functools.lru_cache(maxsize=4)
def load_cached(path: str = str(DEFAULT_WEIGHTS)) -> ResidualNet:
    """``load`` once per path (the renderer and the streamers share the frozen network)."""
    return load(path)
