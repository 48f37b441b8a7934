"""Prometheus metrics of planning and applying kernels (architecture.md §9.2).

Theory of operation
-------------------
``KernelMetrics`` holds its metrics in a ``prometheus_client`` registry: the
caller's (an agent passes the registry its own ``/metrics`` endpoint serves), or a
new one. Nothing in the planner or the executor knows about it; it measures from
the outside:

* planning: ``timed(stages)`` wraps each stage function with a clock, so every
  stage's duration and outcome (``ok``, or ``refused`` when it returned errors) is
  observed as the compiler runs it; ``plan_done`` counts the plan's outcome;
* applying: ``step_hook`` is an ``ApplyOptions.on_step`` hook (chained to the
  caller's) noting when each step starts; ``apply_done`` then observes every step
  from the ``ApplyReport`` (its measured seconds and outcome: ``applied``,
  ``kept``, ``recorded``, ``modelled``) or, for a failed or cancelled apply, from
  the hook's start times: the steps before the failure ``rolled-back``, the
  failing one ``failed`` (or ``cancelled``). Per stage, the seconds of its steps
  add up under the same outcome;
* rollbacks: ``rollback_done`` counts a ``kplan rollback``'s outcome.

``exposition()`` is the text exposition format; ``write(path)`` writes it
atomically (what ``kplan apply --metrics FILE`` does, for node_exporter's textfile
collector).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    write_to_textfile,
)
from returns.result import Failure, Result, Success

from effects import Plan, describe
from executor import ApplyFailed, ApplyReport, RollbackOutcome

from ._apply_clock import ApplyClock, StepHook

if TYPE_CHECKING:  # types only: rendering and metrics load no planner
    from planner import Context, Part, PlanError, Stage, Stages, Upstream

__all__ = ["BUCKETS", "KernelMetrics"]

# Planning stages take microseconds, pulls and container starts seconds.
BUCKETS: Final = (
    *(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
    *(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)


@final
class KernelMetrics:
    """Durations and outcomes of stages, effects, plans, applies and rollbacks.

    Metric names (all prefixed ``kplan_``): ``plan_stage_seconds{stage,outcome}``,
    ``plans_total{outcome}``, ``apply_stage_seconds{stage,outcome}``,
    ``effect_seconds{effect,outcome}`` (``effect`` is the step's kind:
    ``mkdir``, ``write``, ``create-container``, ...), ``applies_total{outcome}``,
    ``apply_seconds{outcome}`` and ``rollbacks_total{outcome}``. One instance per
    registry: registering the same names twice is an error of prometheus_client.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry() if registry is None else registry

        def histogram(name: str, text: str, labels: list[str]) -> Histogram:
            return Histogram(
                name, text, labels, registry=self.registry, buckets=BUCKETS
            )

        def counter(name: str, text: str, labels: list[str]) -> Counter:
            return Counter(name, text, labels, registry=self.registry)

        self.plan_stage_seconds = histogram(
            "kplan_plan_stage_seconds",
            "Time one planning stage took, by outcome (ok or refused).",
            ["stage", "outcome"],
        )
        self.plans = counter(
            "kplan_plans",
            "Plans compiled, by outcome (planned or refused).",
            ["outcome"],
        )
        self.apply_stage_seconds = histogram(
            "kplan_apply_stage_seconds",
            "Time the steps of one stage took in one apply, by outcome.",
            ["stage", "outcome"],
        )
        self.effect_seconds = histogram(
            "kplan_effect_seconds",
            "Time one applied step took, by effect kind and outcome.",
            ["effect", "outcome"],
        )
        self.applies = counter(
            "kplan_applies",
            "Applies, by outcome (applied, modelled, failed, refused, cancelled).",
            ["outcome"],
        )
        self.apply_seconds = histogram(
            "kplan_apply_seconds", "Time one apply took, by outcome.", ["outcome"]
        )
        self.rollbacks = counter(
            "kplan_rollbacks",
            "Rollbacks from a journal, by outcome (complete, incomplete, refused).",
            ["outcome"],
        )

    # --- planning -----------------------------------------------------------

    def timed(self, stages: Stages) -> Stages:
        """``stages`` with each stage's duration and outcome observed."""
        return tuple((name, self._timed(name, stage)) for name, stage in stages)

    def _timed(self, name: str, stage: Stage) -> Stage:
        def run(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
            started = time.perf_counter()
            result = stage(ctx, up)
            outcome = "refused" if isinstance(result, Failure) else "ok"
            seconds = time.perf_counter() - started
            self.plan_stage_seconds.labels(name, outcome).observe(seconds)
            return result

        return run

    def plan_done(self, *, planned: bool) -> None:
        """Count one plan: compiled, or refused."""
        self.plans.labels("planned" if planned else "refused").inc()

    # --- applying -----------------------------------------------------------

    def step_hook(self, then: StepHook | None = None) -> ApplyClock:
        """An ``on_step`` hook for one apply (calling ``then`` after it)."""
        return ApplyClock(then)

    def apply_done(
        self,
        plan: Plan,
        result: Result[ApplyReport, ApplyFailed],
        clock: ApplyClock | None = None,
    ) -> None:
        """Observe one apply's steps, stages and outcome (module docstring)."""
        match result:
            case Success(report):
                outcome = "modelled" if report.dry_run else "applied"
                steps = [
                    (s.stage, _kind(s.effect), s.outcome, s.seconds)
                    for s in report.steps
                ]
                self._observe(steps, outcome, report.seconds)
            case Failure(failure) if failure.index < 0:
                self._observe([], "refused", 0.0)
            case Failure(failure):
                self.apply_stopped(plan, failure.index, "failed", clock)
            case _:
                raise AssertionError("unreachable")  # returns#1361

    def apply_stopped(
        self, plan: Plan, index: int, outcome: str, clock: ApplyClock | None
    ) -> None:
        """Observe an apply that failed (or was cancelled) at step ``index``."""
        timings = clock.seconds(index) if clock is not None else [0.0] * (index + 1)
        steps = [
            (
                plan.steps[i].stage,
                _kind(describe(plan.steps[i].effect)),
                outcome if i == index else "rolled-back",
                seconds,
            )
            for i, seconds in enumerate(timings)
        ]
        self._observe(steps, outcome, sum(timings))

    def _observe(
        self, steps: list[tuple[str, str, str, float]], outcome: str, seconds: float
    ) -> None:
        stages: dict[tuple[str, str], float] = {}
        for stage, kind, step_outcome, step_seconds in steps:
            self.effect_seconds.labels(kind, step_outcome).observe(step_seconds)
            key = (stage, _STAGE_OUTCOME.get(step_outcome, "applied"))
            stages[key] = stages.get(key, 0.0) + step_seconds
        for (stage, stage_outcome), total in stages.items():
            self.apply_stage_seconds.labels(stage, stage_outcome).observe(total)
        self.applies.labels(outcome).inc()
        self.apply_seconds.labels(outcome).observe(seconds)

    # --- rollbacks and output -----------------------------------------------

    def rollback_done(self, outcome: RollbackOutcome | None) -> None:
        """Count one rollback: complete, incomplete, or refused (``None``)."""
        if outcome is None:
            label = "refused"
        else:
            label = "complete" if outcome.complete else "incomplete"
        self.rollbacks.labels(label).inc()

    def exposition(self) -> bytes:
        """Every metric of the registry in the text exposition format."""
        return generate_latest(self.registry)

    def write(self, path: Path) -> None:
        """Write ``exposition()`` to ``path`` atomically (a rename into place)."""
        write_to_textfile(str(path), self.registry)


# A step's outcome -> its stage's: steps that ran are "applied" (kept, recorded).
_STAGE_OUTCOME: Final = {
    "failed": "failed",
    "cancelled": "failed",
    "rolled-back": "rolled-back",
    "modelled": "modelled",
}


def _kind(effect: str) -> str:
    """The effect's kind from its one-line description (``mkdir k/config``)."""
    return effect.split(" ", 1)[0]
