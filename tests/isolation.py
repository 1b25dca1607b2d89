"""Checks that the real-time paths stay free of heavy imports (torch, scipy.signal)."""

import subprocess
import sys

HEAVY_MODULES = ("torch", "scipy.signal")


def heavy_modules_imported(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; the heavy modules it imported, directly or not."""
    probe = f"{code}\nimport sys\nprint(*[m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    return result.stdout.split()
