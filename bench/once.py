"""One marked apply (kplan's or the floor's) in a process of its own, for strace.

``python -m bench.once kplan PLAN JOURNALS`` applies the plan twice (the first
warms the interpreter, its thread pool and the page cache up, as an agent's
would be), the second between two marks; ``python -m bench.once floor PLAN
TREE ROOT`` recreates the plan's tree below ROOT with the floor's syscalls,
likewise. A mark is a
``stat`` of ``/kplan-bench-mark-begin`` or ``-end`` (``bench.syscalls`` counts
what lies between).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from effects import decode, decode_tree
from executor import ApplyOptions, apply_plan, default_tools
from legacy import legacy_runner_dir

from .sides import clear, run_floor

MARK = "/kplan-bench-mark-"


def mark(name: str) -> None:
    """A syscall strace shows with a path nothing else uses."""
    try:
        os.stat(MARK + name)
    except FileNotFoundError:
        return


async def _kplan(plan_file: Path, journals: Path) -> None:
    plan = decode(plan_file.read_bytes()).unwrap()  # noqa: ASYNC240  (before timing)
    tools = default_tools(legacy_runner_dir())
    root = Path(str(plan.header.scratch_root))
    for attempt in ("warm", "marked"):
        clear(root)
        journal = journals / f"once-{os.getpid()}-{attempt}"
        options = ApplyOptions(journal=journal, tools=tools)
        if attempt == "marked":
            mark("begin")
        result = await apply_plan(plan, options)
        if attempt == "marked":
            mark("end")
        result.unwrap()
        journal.unlink()
        private = journal.with_name(f"{journal.name}.private")
        if private.exists():
            shutil.rmtree(private)


def _floor(plan_file: Path, tree_file: Path, root: Path) -> None:
    plan = decode(plan_file.read_bytes()).unwrap()
    tree = decode_tree(tree_file.read_bytes()).unwrap()
    umask = os.umask(0)
    os.umask(umask)
    blobs = dict(plan.blob_table)
    for attempt in ("warm", "marked"):
        clear(root)
        if attempt == "marked":
            mark("begin")
        run_floor(tree, root, blobs, umask)
        if attempt == "marked":
            mark("end")


def main() -> int:
    kind, plan_file, other = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if kind == "kplan":
        asyncio.run(_kplan(plan_file, other))
    else:
        _floor(plan_file, other, Path(sys.argv[4]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
