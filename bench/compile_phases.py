"""Where a compile's time goes: its stages, its own passes, the cyclic collector.

``phases`` splits one context's compile (the same context again, as the compile
table's first column) into what the stage functions take, summed over their calls,
and the compiler's own passes after them: the edges (``planner._edges``), the plan
id and the sealed ``Plan`` (``effects.seal``, timed on the plan's own parts, as the
compiler seals them) and the rest (tagging the steps, the cross-stage checks, the
model's projection and the fold), which is the compile less the other three.
Medians over the rounds; the rest is a difference of medians.

``collected`` times calls one by one, as ``measure._each`` does, and adds up what
the cyclic collector took inside the timed calls (``gc.callbacks``): a new kernel's
compile follows the building of its context, whose allocations the collector
meets during the compile, as it does in the agent.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from returns.result import Result

from effects import seal
from planner import STAGES, Context, Part, PlanError, Stage, Upstream, compile_plan
from planner._edges import edges_of

__all__ = ["collected", "phases"]


def phases(ctx: Context, rounds: int) -> dict[str, float]:
    """Medians in seconds: ``compile``, ``stages``, ``edges``, ``seal``, ``rest``."""
    spent = [0.0]

    def timed(stage: Stage) -> Stage:
        def run(context: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
            started = time.perf_counter()
            try:
                return stage(context, up)
            finally:
                spent[0] += time.perf_counter() - started

        return run

    stages = tuple((name, timed(stage)) for name, stage in STAGES)
    plan = compile_plan(ctx, stages=stages).unwrap()
    totals, in_stages = [], []
    for _ in range(rounds):
        spent[0] = 0.0
        started = time.perf_counter()
        compile_plan(ctx, stages=stages).unwrap()
        totals.append(time.perf_counter() - started)
        in_stages.append(spent[0])
    edges = _median(lambda: edges_of(plan.steps), rounds)
    sealed = _median(
        lambda: seal(plan.header, plan.steps, plan.blobs, plan.edges), rounds
    )
    total, stage_time = statistics.median(totals), statistics.median(in_stages)
    return {
        "compile": total,
        "stages": stage_time,
        "edges": edges,
        "seal": sealed,
        "rest": total - stage_time - edges - sealed,
    }


def collected(
    run: Callable[[Any], object], values: Iterable[Any]
) -> tuple[list[float], float]:
    """Each call's seconds, and the collector's seconds inside the calls in all."""
    inside = [False, 0.0, 0.0]  # timing a call; a collection's start; the sum

    def watch(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            inside[1] = time.perf_counter() if inside[0] else 0.0
        elif inside[1]:
            inside[2] += time.perf_counter() - inside[1]

    times = []
    gc.callbacks.append(watch)
    try:
        for value in values:
            inside[0] = True
            started = time.perf_counter()
            run(value)
            times.append(time.perf_counter() - started)
            inside[0] = False
    finally:
        gc.callbacks.remove(watch)
    return times, inside[2]


def _median(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
