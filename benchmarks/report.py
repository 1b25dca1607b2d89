"""Where benchmark results go and how they are written (JSON, −inf/inf as null)."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"python": platform.python_version(), "processor": platform.processor(),
            "cpus": os.cpu_count()}


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json``; its path."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(_finite(results), indent=2, allow_nan=False) + "\n")
    return out


def _finite(value: Any) -> Any:
    """The document with every non-finite float replaced by None (JSON has no infinity)."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


MAIN_TRACK = "brokenlight.ogg"
"""The benchmarks' track: "brokenlight" (187 s, 44.1 kHz) from Debian's nexuiz-music."""


def find_main_track(files: list[Path], corpus: Path) -> Path | None:
    """``MAIN_TRACK`` among ``files``; None (with a line on stderr) when it is not there."""
    found = next((p for p in files if p.name == MAIN_TRACK), None)
    if found is None:
        print(f"benchmarks: {MAIN_TRACK} not found under {corpus}; run `make corpus`",
              file=sys.stderr)
    return found
