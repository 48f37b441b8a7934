"""The client of the legacy worker: one long-lived process, JSON lines each way.

The worker (``legacy/worker``, run by the legacy venv's interpreter) runs the real
code confined to a temporary root under its own watchdog; this side adds a
deadline of its own and replaces a worker that stops answering or breaks the
protocol.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self, final

import orjson

from ._venv import ensure_legacy_venv
from .errors import WorkerError

__all__ = ["LegacyBridge"]

# The worker is a package of its own; the legacy interpreter imports it from this
# directory in isolated mode (-I), so nothing of kplan's venv is on its path.
PACKAGE_DIR = Path(__file__).parent
LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from worker.server import main; raise SystemExit(main())"
)
SLACK_SECONDS = 30.0  # the worker's own watchdog fires first; this catches a hung one


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
            [str(python), "-I", "-c", LAUNCH, str(PACKAGE_DIR)],
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
        """Run legacy on a context document; the worker's reply (see legacy/worker)."""
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
