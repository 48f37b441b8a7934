"""Where a compile's time goes: its stages and the compiler's own passes.

``phases`` splits one context's compile (the same context again, as the compile
table's first column) into what the stage functions take, summed over their calls,
and the compiler's own passes after them: the edges (``planner._edges``), the plan
id and the sealed ``Plan`` (``effects.seal``, timed on the plan's own parts, as the
compiler seals them) and the rest (tagging the steps, the cross-stage checks, the
model's projection and the fold), which is the compile less the other three.
Medians over the rounds; the rest is a difference of medians.
"""

from __future__ import annotations

import statistics
import time

from returns.result import Result

from effects import seal
from planner import STAGES, Context, Part, PlanError, Stage, Upstream, compile_plan
from planner._edges import edges_of

from .timing import repeat

__all__ = ["phases"]


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
    edges = statistics.median(repeat(lambda: edges_of(plan.steps), rounds))
    sealed = statistics.median(
        repeat(lambda: seal(plan.header, plan.steps, plan.blobs, plan.edges), rounds)
    )
    total, stage_time = statistics.median(totals), statistics.median(in_stages)
    return {
        "compile": total,
        "stages": stage_time,
        "edges": edges,
        "seal": sealed,
        "rest": total - stage_time - edges - sealed,
    }
