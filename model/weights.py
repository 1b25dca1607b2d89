"""Reading weights files safely: ``torch.load(weights_only=True)`` (tensors and plain
containers, never code) and one-line ``ModelError``s for a missing, corrupt or unfit file;
writing them atomically, so that an interrupted write never leaves a broken file in place.

A weights file is a dict ``{"format": int, "config": {...}, "state_dict": {...}, ...}`` written
by the model's own ``save``; ``build`` makes the module from its config and loads its state.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.errors import ModelError


def read(path: Path, what: str, file_format: int, missing_hint: str = "") -> dict[str, Any]:
    """The file's document, checked to be a dict of ``file_format``.

    Args:
        path: the weights file.
        what: how messages name it, e.g. "model weights".
        file_format: the ``"format"`` number this version reads.
        missing_hint: appended to the message for a missing file.
    """
    if not path.is_file():
        raise ModelError(f"{what} not found: {path}{missing_hint}")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile,
            pickle.UnpicklingError) as exc:
        raise ModelError(f"cannot read {what} {path}: {first_line(exc)}") from None
    if not isinstance(doc, dict) or doc.get("format") != file_format:
        raise ModelError(f"{path} is not a GreyMaster {what} file (format {file_format})")
    return doc


def write(doc: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` to ``<path>.partial`` beside ``path``, then rename it over ``path`` (the
    folder is created if missing): the old file stays whole until the new one is, and a failed
    write leaves no partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    try:
        torch.save(doc, partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def build(module_class: type[nn.Module], doc: dict[str, Any], path: Path, what: str) -> Any:
    """``module_class(**doc["config"])`` with ``doc["state_dict"]`` loaded, in eval mode."""
    config = doc.get("config")
    try:
        module = module_class(**config)
        if module.config != config:
            raise ValueError(f"incomplete config {config!r}")
        module.load_state_dict(doc["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{path} does not fit the {what} it describes: "
                         f"{first_line(exc)}") from None
    return module.eval()


def first_line(exc: BaseException) -> str:
    """An exception's first line (its type's name when it has no text)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
