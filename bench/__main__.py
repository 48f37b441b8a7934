"""``make bench``: kplan against the real legacy path and a syscall floor, in one run.

For each benchmark kernel (``bench.kernels``) on tmpfs, and on disk in fresh
directories (beside an inode-creation probe), the three sides of ``bench.sides``
on the same inputs, timed the same way, with their syscall counts (strace);
kplan's ``--durable`` and its rollback beside them; the parallel apply with a
real dropbearkey against legacy's serial one; 32 kernels applied at once in one
process against one after another; the compiler's time and its scaling with
dotfiles and depth (the library and ``kplan plan``); the apply's scaling.
Writes ``BENCHMARKS.md`` (ratios, the machine, the date) and ``BENCHMARKS.json``.

Usage: ``python -m bench [--rounds N] [--quick] [--tmpfs DIR] [--disk DIR]``.
Needs root (the plans chown) and the legacy venv (``legacy.ensure_legacy_venv``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from executor import default_tools
from legacy import legacy_runner_dir

from .machine import cpu_probe, filesystem, machine
from .measure import Sections
from .report import write_report
from .sides import LegacySession

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes")
    parser.add_argument("--tmpfs", type=Path, default=Path("/dev/shm"))
    parser.add_argument("--disk", type=Path, default=ROOT / ".bench-disk")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    rounds = 10 if args.quick else args.rounds
    tmpfs = Path(tempfile.mkdtemp(prefix="kplan-bench-", dir=args.tmpfs))
    args.disk.mkdir(parents=True, exist_ok=True)
    disk = Path(tempfile.mkdtemp(prefix="kplan-bench-", dir=args.disk))
    results: dict[str, Any] = {"machine": machine()}
    results["machine"]["cpu_probe_us"] = [round(cpu_probe(), 1)]
    stack = ExitStack()
    results["machine"]["tmpfs"] = f"{tmpfs.parent} ({filesystem(tmpfs)})"
    results["machine"]["disk"] = f"{disk.parent} ({filesystem(disk)})"
    tools = default_tools(legacy_runner_dir())
    try:
        legacy = stack.enter_context(LegacySession())
        sections = Sections(
            tmpfs=tmpfs, disk=disk, tools=tools, quick=args.quick, legacy=legacy
        )
        for name, run in (
            ("apply_tmpfs", lambda: sections.apply_rows(rounds)),
            ("restart", lambda: sections.restart_rows(max(rounds // 2, 5))),
            ("apply_disk", lambda: sections.disk_rows(max(rounds // 3, 5))),
            ("host_key", lambda: sections.host_key_row(max(rounds // 2, 5))),
            ("concurrent", sections.concurrent_row),
            ("compile", lambda: sections.compile_rows(max(rounds, 20))),
            ("compile_scaling", sections.compile_scaling),
            ("plan_command", sections.plan_command),
            ("commands", sections.commands),
            ("apply_scaling", sections.apply_scaling),
        ):
            started = time.perf_counter()
            results[name] = run()
            sys.stderr.write(
                f"bench: {name} in {time.perf_counter() - started:.1f} s\n"
            )
        results["machine"]["cpu_probe_us"].append(round(cpu_probe(), 1))
    finally:
        stack.close()
        shutil.rmtree(tmpfs, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)
    write_report(results, args.out)
    sys.stderr.write(f"bench: wrote {args.out} and {args.out.with_suffix('.json')}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
