"""The legacy bridge: the real ``backend-ai-agent==26.9.6`` as a comparison oracle.

The one module of ``planner`` that does IO (design.md §6). It finds a Python 3.13
(``KPLAN_LEGACY_PYTHON``, else ``python3.13`` on ``PATH``, else pyenv's), builds and
caches a venv with the legacy package (``KPLAN_LEGACY_VENV``, else
``~/.cache/kplan/legacy-26.9.6``), and keeps one long-lived worker process running in
it (the ``worker`` directory, run as a script), talking JSON lines. The worker runs
legacy confined to a temporary root under a watchdog; this side adds its own
deadline and restarts a worker that stops answering.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Self, final

import orjson

__all__ = [
    "LEGACY_PACKAGE",
    "LegacyBridge",
    "LegacyUnavailableError",
    "WorkerError",
    "ensure_legacy_venv",
    "find_legacy_python",
    "legacy_runner_dir",
    "legacy_venv_dir",
]

LEGACY_VERSION = "26.9.6"
LEGACY_PACKAGE = f"backend-ai-agent=={LEGACY_VERSION}"
WORKER = Path(__file__).with_name("worker")  # a directory run as a script (__main__.py)
READY = ".kplan-ready"
SLACK_SECONDS = (
    30.0  # the worker's own watchdog fires first; this catches a hung worker
)


class LegacyUnavailableError(Exception):
    """No Python 3.13 was found, or the legacy venv could not be built."""


class WorkerError(Exception):
    """The worker process died, stopped answering or broke the protocol."""


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


def ensure_legacy_venv(log: Iterator[None] | None = None) -> Path:  # noqa: ARG001
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


@final
class LegacyBridge:
    """One long-lived legacy worker; use as a context manager."""

    def __init__(self, python: Path | None = None) -> None:
        self._python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._next_id = 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the worker (building the venv first if needed) and check it answers."""
        python = self._python or ensure_legacy_venv()
        self._process = subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        reply = self._request({"op": "ping"}, timeout=120.0)
        if not reply.get("ok"):
            self.close()
            msg = f"the legacy worker did not answer ping: {reply!r}"
            raise WorkerError(msg)

    def close(self) -> None:
        """Stop the worker (EOF, then kill if it lingers)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def run(
        self, context: Mapping[str, object], timeout: float = 60.0
    ) -> dict[str, object]:
        """Run legacy on a context document; the worker's reply (worker/__main__.py)."""
        if self._process is None:
            self.start()
        return self._request(
            {"op": "run", "context": context, "timeout": timeout},
            timeout=timeout + SLACK_SECONDS,
        )

    def _request(self, message: dict[str, object], timeout: float) -> dict[str, object]:
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            msg = "the legacy worker is not running"
            raise WorkerError(msg)
        self._next_id += 1
        message = {**message, "id": self._next_id}
        try:
            process.stdin.write(orjson.dumps(message) + b"\n")
            process.stdin.flush()
            line = _read_line(process, timeout)
        except (OSError, WorkerError):
            self.close()  # a broken or hung worker is replaced on the next request
            raise
        reply = orjson.loads(line)
        if not isinstance(reply, dict) or reply.get("id") != self._next_id:
            self.close()
            msg = f"the legacy worker answered out of turn: {line[:200]!r}"
            raise WorkerError(msg)
        return reply


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    stdout = process.stdout
    assert stdout is not None  # noqa: S101  (guarded by the caller)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    fd = stdout.fileno()
    while True:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        if not ready:
            msg = f"the legacy worker gave no answer within {timeout:.0f} s"
            raise WorkerError(msg)
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            msg = f"the legacy worker exited (code {process.poll()})"
            raise WorkerError(msg)
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)
