"""The network that proposes the chain's parameters for a track, a loudness target, a reference.

    excerpts (B, E, 2, n) ─ LogMelFeatures ─ TCN ─ mean+std over frames ─ mean over E ─ MLP ─ z_in
    reference excerpts ──── (same encoder) ─────────────────────────────────────────────── z_ref
                                           (no reference: a learned vector stands in for z_ref)
    MLP([z_in, z_ref, z_in − z_ref]) = h
    per stage: Linear([h, locked units, lock mask]) ─ FiLM(target LUFS) ─ GELU ─ Linear ─ sigmoid
    free outputs moved by the locked ones' errors (``model.co_mastering``, the ``lock_coupling``
    buffer fitted on the training split); locked outputs replaced by their locked unit values;
    ParamSpec.from_unit → physical units

P = len(TABLE) outputs (the residual stage's amount among them); z_in is also handed on as the
neural residual's conditioning (``Proposal.latent``, ``ChainParams.latent``).

Every output is a unit value (0–1) of one row of the parameter table, in ``TABLE`` order, mapped
to physical units by that row's own ``from_unit``: there is no second copy of a range. The heads'
last layers start with a bias at the logit of each row's default, so an untrained model proposes
about the table's defaults.

Reference mode (``propose``): the EQ and the stereo width are then fitted by ``model.matching`` to
the reference's long-term spectrum, starting from the heads' proposal (locked knobs keep their
values): the network's own reference conditioning leaves them far from the reference's tonal
balance, which the fit reaches directly.

Torch is imported here: this module belongs to the analysis path, never to the render path.

References:
    S. Bai, J. Z. Kolter, V. Koltun, "An Empirical Evaluation of Generic Convolutional and
    Recurrent Networks for Sequence Modeling", arXiv:1803.01271, 2018 (TCN).
    E. Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer", AAAI 2018.
    C. J. Steinmetz, N. J. Bryan, J. D. Reiss, "Style Transfer of Audio Effects with
    Differentiable Signal Processing", JAES 70(9), 2022 (DeepAFx-ST: reference encoding).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from model import co_mastering, matching, weights
from model.errors import ModelError, ParamsError
from model.features import (
    LogMelFeatures,
    analysis_excerpts,
    feature_count,
)
from model.params import LATENT_DIM, STAGES, TABLE, ChainParams, stage_specs

LUFS_CENTRE = -14.0
LUFS_SPAN = 10.0
"""The loudness target enters the network as (target_lufs − LUFS_CENTRE) / LUFS_SPAN."""
DEFAULT_UNIT_MARGIN = 0.01
"""A default at the edge of its range (unit 0 or 1) starts this far inside it (finite logit)."""
LAST_LAYER_GAIN = 0.01
"""The heads' last weights start this small, so the untrained proposal sits near the defaults."""
FILE_FORMAT = 1
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "assets" / "model" / \
    "greymaster-proposer.pt"
"""The shipped weights (trained by ``make train``; see the model card beside them)."""


@dataclass(frozen=True)
class Proposal:
    """What the proposer outputs for a batch.

    Shape:
        units: (B, P) in TABLE order, each in 0–1.
        physical: {stage: {name: (B,)}}, the format ``chain.forward_torch`` takes.
        latent: (B, LATENT_DIM), the input track's latent z (for a residual conditioned on it).
    """

    units: Tensor
    physical: dict[str, dict[str, Tensor]]
    latent: Tensor


def units_to_physical(units: Tensor) -> dict[str, dict[str, Tensor]]:
    """Unit values in TABLE order → physical values per stage, via each row's ``from_unit``.

    Values are clamped to the row's range only to absorb float rounding at its ends.

    Shape: units (B, P) → {stage: {name: (B,)}}.
    """
    physical: dict[str, dict[str, Tensor]] = {stage: {} for stage in STAGES}
    for column, row in enumerate(TABLE):
        value = row.from_unit(units[:, column])
        physical[row.stage][row.name] = value.clamp(row.minimum, row.maximum)
    return physical


def default_units() -> Tensor:
    """The table's defaults as unit values, in TABLE order. Shape: (P,) float32."""
    return torch.tensor(ChainParams().units(), dtype=torch.float32)


class _ResidualBlock(nn.Module):
    """Dilated convolution, GELU, 1×1 convolution, added to the input (length kept)."""

    def __init__(self, channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        padding = dilation * (kernel - 1) // 2
        self.dilated = nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=padding)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mix(nn.functional.gelu(self.dilated(x)))


class Encoder(nn.Module):
    """Excerpts of one track each → latent z of the track.

    A TCN (dilations 1, 2, 4, …) over the feature frames; mean and standard deviation over time
    per excerpt; mean over the excerpts; an MLP to the latent.

    Shape: (B, E, 2, n) → (B, latent_dim).
    """

    def __init__(self, n_mels: int, n_fft: int, hop_samples: int, channels: int, blocks: int,
                 kernel: int, latent_dim: int) -> None:
        super().__init__()
        self.features = LogMelFeatures(n_mels, n_fft, hop_samples)
        self.stem = nn.Conv1d(feature_count(n_mels), channels, 1)
        self.tcn = nn.Sequential(*(_ResidualBlock(channels, kernel, 2 ** i) for i in range(blocks)))
        self.head = nn.Sequential(nn.Linear(2 * channels, latent_dim), nn.GELU(),
                                  nn.Linear(latent_dim, latent_dim))

    def forward(self, excerpts: Tensor) -> Tensor:
        batch, count = excerpts.shape[:2]
        frames = self.tcn(self.stem(self.features(excerpts.flatten(0, 1))))
        pooled = torch.cat([frames.mean(dim=2), frames.std(dim=2)], dim=1)
        return self.head(pooled.unflatten(0, (batch, count)).mean(dim=1))


class _StageHead(nn.Module):
    """[h, locked units, lock mask] → Linear → FiLM → GELU → Linear → logits of one stage."""

    def __init__(self, inputs: int, hidden: int, stage: str) -> None:
        super().__init__()
        specs = stage_specs(stage)
        self.hidden = nn.Linear(inputs, hidden)
        self.out = nn.Linear(hidden, len(specs))
        defaults = [min(max(row.to_unit(row.default), DEFAULT_UNIT_MARGIN),
                        1.0 - DEFAULT_UNIT_MARGIN) for row in specs]
        with torch.no_grad():
            self.out.weight.mul_(LAST_LAYER_GAIN)
            self.out.bias.copy_(torch.logit(torch.tensor(defaults)))

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        return self.out(nn.functional.gelu(gamma * self.hidden(x) + beta))


class Proposer(nn.Module):
    """Track excerpts + loudness target (+ reference, + locks) → a proposal for the whole chain.

    ``config`` (ints only) rebuilds the same architecture; ``save`` / ``load`` store it beside the
    weights.
    """

    def __init__(self, n_mels: int = 64, n_fft: int = 2048, hop_samples: int = 512,
                 channels: int = 64, blocks: int = 6, kernel: int = 3,
                 latent_dim: int = LATENT_DIM, hidden: int = 256, film_hidden: int = 64) -> None:
        super().__init__()
        self.config: dict[str, int] = {
            "n_mels": n_mels, "n_fft": n_fft, "hop_samples": hop_samples, "channels": channels,
            "blocks": blocks, "kernel": kernel, "latent_dim": latent_dim, "hidden": hidden,
            "film_hidden": film_hidden}
        self.encoder = Encoder(n_mels, n_fft, hop_samples, channels, blocks, kernel, latent_dim)
        self.no_reference = nn.Parameter(torch.zeros(latent_dim))
        self.combine = nn.Sequential(nn.Linear(3 * latent_dim, hidden), nn.GELU())
        self.film = nn.Sequential(nn.Linear(1, film_hidden), nn.GELU(),
                                  nn.Linear(film_hidden, 2 * hidden * len(STAGES)))
        self.heads = nn.ModuleDict(
            {stage: _StageHead(hidden + 2 * len(TABLE), hidden, stage) for stage in STAGES})
        self.register_buffer("lock_coupling", torch.zeros(len(TABLE), len(TABLE)))

    def forward(self, analysis: Tensor, target_lufs: Tensor, reference: Tensor | None = None,
                lock_units: Tensor | None = None, lock_mask: Tensor | None = None) -> Proposal:
        """Propose the chain's parameters.

        Shape:
            analysis: (B, E, 2, n) excerpts of the input at ANALYSIS_RATE_HZ.
            target_lufs: (B,) integrated loudness the master is aimed at.
            reference: (B, E', 2, n') excerpts of a reference track, or None.
            lock_units: (B, P) unit values in TABLE order, used where lock_mask is True.
            lock_mask: (B, P) bool; None = nothing locked.
            Returns a ``Proposal`` with units (B, P) and physical {stage: {name: (B,)}}.
        """
        batch = analysis.shape[0]
        z_in = self.encoder(analysis)
        if reference is None:
            z_ref = self.no_reference.expand(batch, -1)
        else:
            z_ref = self.encoder(reference)
        h = self.combine(torch.cat([z_in, z_ref, z_in - z_ref], dim=1))
        if lock_mask is None:
            lock_mask = torch.zeros(batch, len(TABLE), dtype=torch.bool, device=h.device)
        if lock_units is None:
            lock_units = torch.zeros(batch, len(TABLE), device=h.device)
        locked = torch.where(lock_mask, lock_units, torch.zeros_like(lock_units))
        head_input = torch.cat([h, locked.to(h.dtype), lock_mask.to(h.dtype)], dim=1)
        loudness = ((target_lufs.to(h.dtype) - LUFS_CENTRE) / LUFS_SPAN)[:, None]
        film = self.film(loudness).unflatten(1, (len(STAGES), 2, -1))
        logits = [self.heads[stage](head_input, 1.0 + film[:, i, 0], film[:, i, 1])
                  for i, stage in enumerate(STAGES)]
        proposed = co_mastering.condition(torch.sigmoid(torch.cat(logits, dim=1)), lock_units,
                                          lock_mask, self.lock_coupling)
        units = torch.where(lock_mask, lock_units.to(proposed.dtype), proposed)
        return Proposal(units, units_to_physical(units), z_in)


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _table_signature() -> list[str]:
    """What the unit outputs mean: each row's key, range and scale, in TABLE order."""
    return [f"{row.key} {row.minimum!r} {row.maximum!r} {row.scale}" for row in TABLE]


def save(model: Proposer, path: str | Path) -> None:
    """Write the weights with their config and the table they were trained for
    (``weights.write``: atomic)."""
    weights.write({"format": FILE_FORMAT, "config": dict(model.config),
                   "parameters": _table_signature(), "state_dict": model.state_dict()}, path)


def load(path: str | Path) -> Proposer:
    """Read weights written by ``save``; ``ModelError`` for a missing, corrupt or unfit file.

    The file is read with ``torch.load(weights_only=True)``: tensors and plain containers only,
    never code (``model.weights``).
    """
    path = Path(path)
    doc = weights.read(path, "model weights", FILE_FORMAT)
    if doc.get("parameters") != _table_signature():
        raise ModelError(f"{path} was trained for a different parameter table; retrain or use "
                         f"weights made for this version")
    return weights.build(Proposer, doc, path, "model")


def _lock_tensors(locks: Mapping[str, float]) -> tuple[ChainParams, Tensor, Tensor]:
    """Validate ``{"stage.name": physical value}`` against the table; the locks as unit values.

    Shape: returns the locks applied to the defaults, lock_units (1, P), lock_mask (1, P).
    """
    locked = ChainParams()
    for key, value in locks.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamsError(f"lock {key} needs a number, got {value!r}")
        locked = locked.replace(key, value)
    mask = torch.tensor([[row.key in locks for row in TABLE]])
    units = torch.tensor([locked.units()], dtype=torch.float32)
    return locked, units, mask


def _snap_to_ends(unit: float) -> float:
    """A unit value within ``DEFAULT_UNIT_MARGIN`` of 0 or 1 means the end itself (the sigmoid
    never reaches it): a proposed upmix width of 0.004 is "off", as the default is."""
    if unit <= DEFAULT_UNIT_MARGIN:
        return 0.0
    return 1.0 if unit >= 1.0 - DEFAULT_UNIT_MARGIN else unit


def propose(model: Proposer, audio: np.ndarray, sample_rate_hz: int, target_lufs: float,
            reference: np.ndarray | None = None, reference_fs: int | None = None,
            locks: Mapping[str, float] | None = None, refine: bool = True) -> ChainParams:
    """Propose chain parameters for one track (eval mode, no gradients).

    Locked parameters come back exactly at their given physical values; a lock naming no
    parameter of the table, or a value outside its range, is a ``ParamsError``. The track's
    latent z comes back as ``ChainParams.latent``, the neural residual's conditioning. With a
    reference and ``refine``, the unlocked EQ knobs and width are fitted to the reference's
    long-term spectrum (``model.matching``).

    Shape:
        audio: (channels, N) at ``sample_rate_hz``; reference: (channels, M) at ``reference_fs``
        (the input's rate when None).
    """
    locked, lock_units, lock_mask = _lock_tensors(locks or {})
    analysis = torch.from_numpy(analysis_excerpts(audio, sample_rate_hz))[None]
    reference_excerpts = None
    if reference is not None:
        rate = sample_rate_hz if reference_fs is None else reference_fs
        reference_excerpts = torch.from_numpy(analysis_excerpts(reference, rate))[None]
    model.eval()
    with torch.inference_mode():
        proposal = model(analysis, torch.tensor([float(target_lufs)]), reference_excerpts,
                         lock_units, lock_mask)
    units = proposal.units[0].double().numpy()
    values: dict[str, dict[str, float]] = {stage: {} for stage in STAGES}
    for column, row in enumerate(TABLE):
        if lock_mask[0, column]:
            value = locked.values[row.stage][row.name]
        else:
            value = float(row.from_unit(_snap_to_ends(float(units[column]))))
            value = min(max(value, row.minimum), row.maximum)
        values[row.stage][row.name] = value
    params = ChainParams(values, latent=proposal.latent[0].tolist())
    if reference is None or not refine:
        return params
    return matching.fit(params, matching.long_term_spectrum(audio, sample_rate_hz),
                        matching.long_term_spectrum(reference, rate), sample_rate_hz,
                        locked=set(locks or {}))

