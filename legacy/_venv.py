"""The legacy venv: a Python 3.13 with the real ``backend-ai-agent==26.9.6``.

It finds a Python 3.13 (``KPLAN_LEGACY_PYTHON``, else ``python3.13`` on ``PATH``,
else pyenv's), builds the venv once and caches it (``KPLAN_LEGACY_VENV``, else
``$XDG_CACHE_HOME/kplan/legacy-26.9.6``). A marker file says the build finished, so
a build killed half-way is redone, and a file lock keeps two builders apart.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LegacyUnavailableError

__all__ = [
    "LEGACY_PACKAGE",
    "LEGACY_VERSION",
    "ensure_legacy_venv",
    "find_legacy_python",
    "legacy_runner_dir",
    "legacy_venv_dir",
]

LEGACY_VERSION = "26.9.6"
LEGACY_PACKAGE = f"backend-ai-agent=={LEGACY_VERSION}"
READY = ".kplan-ready"


def legacy_venv_dir() -> Path:
    """Where the legacy venv lives (it may not exist yet)."""
    configured = os.environ.get("KPLAN_LEGACY_VENV")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kplan" / f"legacy-{LEGACY_VERSION}"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def legacy_runner_dir() -> Path | None:
    """The real ``ai.backend.runner`` directory, if the legacy venv is ready."""
    venv = legacy_venv_dir()
    if not (venv / READY).is_file():
        return None
    found = sorted(venv.glob("lib/python3.*/site-packages/ai/backend/runner"))
    return found[0] if found else None


def _is_313(python: str) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "True"


def find_legacy_python() -> str | None:
    """A Python 3.13 interpreter, or ``None``."""
    configured = os.environ.get("KPLAN_LEGACY_PYTHON")
    if configured:
        return configured if _is_313(configured) else None
    candidates = [shutil.which("python3.13")]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += [str(p) for p in sorted(pyenv.glob("versions/3.13*/bin/python3.13"))]
    return next((c for c in candidates if c and _is_313(c)), None)


def ensure_legacy_venv() -> Path:
    """The legacy venv's interpreter, building the venv first if needed.

    Raises:
        LegacyUnavailableError: no Python 3.13, or venv creation or pip failed.
    """
    venv = legacy_venv_dir()
    if (venv / READY).is_file():
        return _venv_python(venv)
    python = find_legacy_python()
    if python is None:
        msg = "no Python 3.13 found (set KPLAN_LEGACY_PYTHON or put python3.13 on PATH)"
        raise LegacyUnavailableError(msg)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _locked(venv.parent / f".{venv.name}.lock"):
        if not (venv / READY).is_file():
            _build_venv(python, venv)
    return _venv_python(venv)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # one builder at a time (demo, tests, CI)
        yield


def _build_venv(python: str, venv: Path) -> None:
    note = f"kplan: building the legacy venv at {venv} ({LEGACY_PACKAGE}, ~80 s)\n"
    sys.stderr.write(note)
    shutil.rmtree(venv, ignore_errors=True)  # a half-built venv from a killed run
    for command in (
        [python, "-m", "venv", str(venv)],
        [str(_venv_python(venv)), "-m", "pip", "install", "--quiet", LEGACY_PACKAGE],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            msg = f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}"
            raise LegacyUnavailableError(msg)
    (venv / READY).write_text(LEGACY_PACKAGE + "\n")
