"""Syscall counts between two marks, with strace (when it is installed).

Each side runs once under ``strace -f`` (every thread of the process counts:
the thread pool, the journal, everything); the syscalls between the
``/kplan-bench-mark-begin`` and ``-end`` stats of the last marked window are
counted by name. No strace: ``None``, and the report says so.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .syscall_purposes import purposes

__all__ = ["Window", "count_marked", "strace_available"]

_CALL = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?([a-z_0-9]+)\(")


def strace_available() -> bool:
    """Whether strace is on PATH."""
    return shutil.which("strace") is not None


@dataclasses.dataclass(frozen=True)
class Window:
    """The syscalls of one marked window: by name, and by purpose (``purposes``:
    meaningful for kplan's apply, whose calls it knows)."""

    by_call: collections.Counter[str]
    by_purpose: collections.Counter[str]

    def total(self) -> int:
        """How many syscalls the window holds."""
        return sum(self.by_call.values())


def count_marked(
    command: Sequence[str], stdin: str | None = None, cwd: Path | None = None
) -> Window | None:
    """Run ``command`` under strace; the syscalls of its last marked window."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    with tempfile.TemporaryDirectory(prefix="kplan-strace-") as holder:
        output = Path(holder) / "trace"
        done = subprocess.run(
            [strace, "-f", "-qq", "-o", str(output), *command],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            cwd=cwd,
        )
        if done.returncode != 0:
            msg = f"{command[0]} under strace exited {done.returncode}: {done.stderr}"
            raise RuntimeError(msg)
        return _window(output.read_text().splitlines())


def _window(lines: list[str]) -> Window:
    begins = [i for i, line in enumerate(lines) if "kplan-bench-mark-begin" in line]
    ends = [i for i, line in enumerate(lines) if "kplan-bench-mark-end" in line]
    if not begins or not ends:
        msg = "the traced process never reached its marks"
        raise RuntimeError(msg)
    window = lines[begins[-1] + 1 : ends[-1]]
    counts: collections.Counter[str] = collections.Counter()
    for line in window:
        if "resumed>" in line or line.lstrip("0123456789 ").startswith(("+++", "---")):
            continue  # the second half of a call already counted; signals, exits
        found = _CALL.match(line)
        if found is not None:
            counts[found.group(1)] += 1
    return Window(by_call=counts, by_purpose=purposes(window))
