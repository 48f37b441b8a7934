"""What the benchmark ran on: the machine, the filesystems, an inode probe and a
CPU probe."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from legacy import ensure_legacy_venv

__all__ = ["cpu_probe", "filesystem", "inode_probe", "machine"]


def _cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    names = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if "model name" in line
    ]
    return names[0] if names else platform.processor() or "unknown"


def _legacy_python() -> str:
    done = subprocess.run(
        [str(ensure_legacy_venv()), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def machine() -> dict[str, object]:
    """The machine, as the report's header gives it."""
    return {
        "cpu": _cpu(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "legacy_python": _legacy_python(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "strace": shutil.which("strace") is not None,
    }


def filesystem(path: Path) -> str:
    """The type of the filesystem ``path`` is on (its longest mount point)."""
    best, kind = "", "unknown"
    real = os.path.realpath(path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4]
        dash = fields.index("-")
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(
            point
        ) > len(best):
            best, kind = point, fields[dash + 1]
    return kind


def inode_probe(directory: Path, count: int = 300) -> float:
    """Microseconds to create one empty file in a fresh directory there.

    On ext4, file creation is many times slower for minutes after mass
    deletions: printed beside each disk row, it says whether the row is sound.
    """
    probe = directory / f"inode-probe-{time.monotonic_ns()}"
    probe.mkdir(parents=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    started = time.perf_counter()
    for number in range(count):
        os.close(os.open(probe / f"f{number}", flags, 0o644))
    return (time.perf_counter() - started) / count * 1e6


def cpu_probe(rounds: int = 50) -> float:
    """Microseconds of a fixed pure-Python loop (``sum(range(10_000))``), median of
    ``rounds``.

    This VM's vCPUs change speed between runs (the same compile measured 1.8 ms in
    one run and 5.7 ms in another): the probe, taken at a run's start and end, says
    how fast the machine was, so absolute times of two runs can be compared.
    """
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        sum(range(10_000))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6
