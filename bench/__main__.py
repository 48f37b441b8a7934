"""Benchmarks: kplan against the raw API and against legacy, in the same run.

* plan: compiling and projecting the sample kernel, and the plan's memory peak;
* apply: ``kplan apply`` (observe, journal, confined calls) against the same
  filesystem calls made directly (the raw API), with and without ``--durable``;
* legacy: one legacy worker request for the same kernel, for scale (it includes the
  worker's sandbox set-up and snapshot, so it is an upper bound for legacy).

Usage: ``python -m bench [--rounds N]``. Needs root for apply (chown).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from effects import Chmod, Chown, MakeDir, Plan, WriteFile, encode, project
from executor import ApplyOptions, apply_plan, default_tools
from kplan._completion import SAMPLE_KERNEL, complete_document, runner_dir
from kplan._load import load_document
from legacy import (
    LegacyBridge,
    LegacyUnavailableError,
    WorkerError,
    legacy_runner_dir,
)
from planner import Context, compile_plan, context_from_document, scratch_only


def _median(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _context(root: Path) -> tuple[dict[str, object], Context]:
    document = load_document(SAMPLE_KERNEL).unwrap()
    document["local_config"]["container"]["scratch-root"] = str(root)  # type: ignore[index]
    document = complete_document(
        document, runner=legacy_runner_dir() or runner_dir()
    ).unwrap()
    return document, context_from_document(document).unwrap()


def _raw_apply(plan: Plan, root: Path) -> None:
    """The plan's filesystem effects as direct calls: no observation, no journal."""
    blobs = plan.blob_table
    for effect in plan.effects:
        path = root / str(getattr(effect, "path", ""))
        match effect:
            case MakeDir(mode=mode):
                path.mkdir(exist_ok=True)
                path.chmod(mode)
            case WriteFile(blob=blob, mode=mode):
                path.write_bytes(blobs[blob])
                path.chmod(mode)
            case Chmod(mode=mode):
                path.chmod(mode)
            case Chown(uid=uid, gid=gid):
                os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
            case _:
                pass


def _without_host_key(plan: Plan) -> Plan:
    """dropbearkey costs ~0.5 s and is the same for both sides: keep it out."""
    from effects import GenerateHostKey, seal  # noqa: PLC0415

    steps = [
        s
        for s in plan.steps
        if not isinstance(s.effect, GenerateHostKey)
        and not (
            isinstance(s.effect, Chmod | Chown)
            and s.effect.path.name.startswith("dropbear")
        )
    ]
    return seal(plan.header, steps, plan.blobs, [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    base = Path(tempfile.mkdtemp(prefix="kplan-bench-"))
    try:
        _report(base, rounds)
    finally:
        shutil.rmtree(base)


def _report(base: Path, rounds: int) -> None:
    root = base / "root"
    root.mkdir()
    document, ctx = _context(root)
    plan = _without_host_key(scratch_only(compile_plan(ctx).unwrap()))
    plan_time = _median(
        lambda: project(compile_plan(ctx).unwrap(), ctx.facts.scratch_tree), rounds
    )
    tracemalloc.start()
    compile_plan(ctx).unwrap()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"plan   compile+project of the sample kernel: {plan_time * 1000:8.2f} ms "
        f"(memory peak {peak / 1024:.0f} KiB, plan {len(encode(plan)) / 1024:.0f} KiB)"
    )
    raw = _median(lambda: _fresh(root, lambda: _raw_apply(plan, root)), rounds)
    tools = default_tools(legacy_runner_dir())
    counter = iter(range(10**9))

    def kplan_apply(*, durable: bool) -> None:
        journal = base / f"journal-{next(counter)}"
        options = ApplyOptions(journal=journal, tools=tools, durable=durable)
        asyncio.run(apply_plan(plan, options)).unwrap()

    fast = _median(lambda: _fresh(root, lambda: kplan_apply(durable=False)), rounds)
    durable = _median(
        lambda: _fresh(root, lambda: kplan_apply(durable=True)), max(rounds // 4, 3)
    )
    print(
        f"apply  raw calls {raw * 1000:8.2f} ms | kplan {fast * 1000:8.2f} ms "
        f"(x{fast / raw:.1f}) | kplan --durable {durable * 1000:8.2f} ms "
        f"(x{durable / raw:.1f})  [{len(plan.steps)} steps]"
    )
    _legacy(document, fast, rounds)


def _fresh(root: Path, run: Callable[[], None]) -> None:
    for child in root.iterdir():
        shutil.rmtree(child)
    run()


def _legacy(document: dict[str, object], kplan_seconds: float, rounds: int) -> None:
    try:
        with LegacyBridge() as bridge:
            seconds = _median(lambda: bridge.run(document), max(rounds // 4, 3))
    except (LegacyUnavailableError, WorkerError) as exc:
        print(f"legacy NOT measured: {exc}")
        return
    print(
        "legacy one worker request (prepare_* + sandbox + snapshot):"
        f" {seconds * 1000:8.2f} ms "
        f"(kplan apply is x{kplan_seconds / seconds:.2f} of it)"
    )


if __name__ == "__main__":
    main()
