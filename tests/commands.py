"""Running ``kplan`` as a user does: a separate process, from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "kplan"]

ROOT = Path(__file__).parent.parent


def kplan(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m kplan ARGS``: its exit code, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "kplan", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
