"""The compiler: run every stage, collect every error, merge, order, seal.

Theory of operation
-------------------
Stages run in ``STAGES`` order. Each sees an ``Upstream``: the model's nodes after
the facts and all earlier stages (an ``effects.Projection`` of what was planned so
far), the contents it can read back, the values earlier stages threaded
(``Threaded``: the mounts, the environ, the service ports, ...), this run's
effects, the enabled quirks and the caller's options. A failing stage adds its
errors and contributes nothing; later stages still run, so one report lists every
problem (architecture.md §7.1). Each stage's effects are projected onto the model
at once, all or nothing, so a refused effect is reported with its stage; two
stages writing different content to one path is a conflict unless the later stage
overrides (dotfiles do).

The plan's order is stage order, then emission order within a stage; a last pass
leaves out the chmods and chowns a later one overrides and folds an entry's
first chmod into the step that made it, where their order cannot tell
(``planner._folding``: legacy repeats them, its dotfiles walk most); the outcome
is the same. Edges order
each filesystem step after the latest earlier steps on the same path, its
ancestors and its descendants (``planner._edges``), so steps on disjoint subtrees
are independent.

Cost: the model is one dictionary changed in place and every view a stage gets is
a view, never a copy, so compiling is linear in the number of effects (times the
path depth for the edges); the tree is frozen once, for a restart's read-back.

A restart reads its kernel config and cluster info back from the scratch, as
``restart_kernel`` does (``planner._restart``). One whose facts show no scratch for
the kernel is planned as legacy runs it in kplan's equivalence checks and the
legacy bridge: after a first run on the same inputs. The first run's steps come
first, their stages prefixed ``first-run/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
from returns.result import Failure, Result, Success

from effects import (
    AllocateHostPorts,
    Blob,
    Effect,
    Header,
    Plan,
    Projection,
    Step,
    WriteFile,
    seal,
    staged,
)

from ._context import Context
from ._edges import edges_of
from ._folding import fold
from ._layout import scratch_dir
from ._quirks import unknown_quirks
from ._restart import restart_context
from ._stage_api import EffectsView, Upstream
from ._stages import OVERRIDING_STAGES, STAGES, Stage
from ._stages.host_ports import free_ports
from ._stages.readiness import WAIT_READY
from ._threaded import Threaded
from .errors import ErrorCode, PlanError

__all__ = [
    "FIRST_RUN",
    "compile_plan",
    "header_of",
    "restart_needs_first_run",
]

FIRST_RUN = "first-run/"  # the stage prefix of a restart's first run

Errors = tuple[PlanError, ...]


def compile_plan(
    ctx: Context,
    quirks: Iterable[str] = (),
    *,
    wait_ready: bool = False,
    stages: Sequence[tuple[str, Stage]] = STAGES,
) -> Result[Plan, Errors]:
    """Plan ``ctx``: the sealed plan, or every error of every stage.

    The plan covers the whole kernel, its container included; ``wait_ready`` adds
    the wait for the kernel runner (``readiness``). ``stages`` are the stages to
    run, in order: the built-in ones, or those with plugins placed among them
    (``planner.with_plugins``). Returns every problem of every stage at once;
    raises only on a bug.
    """
    enabled = frozenset(quirks)
    bad = unknown_quirks(enabled)
    if bad:
        return Failure(
            tuple(
                PlanError(
                    stage="compile",
                    code="unsupported",
                    field="quirks",
                    value=name,
                    reason="not a known quirk",
                )
                for name in bad
            )
        )
    options = frozenset({WAIT_READY} if wait_ready else ())
    state = _State(ctx, enabled, options, tuple(stages))
    run = ctx
    if restart_needs_first_run(ctx):
        state.run(ctx.first_run(), prefix=FIRST_RUN)
        ctx = _after_first_run(ctx, state.steps)
    if ctx.restarting:
        match restart_context(ctx, state.model.tree(), state.contents):
            case Success(restarted):
                run = restarted
            case Failure(error):
                state.errors.append(error)
                return Failure(tuple(state.errors))
            case _:
                raise AssertionError("unreachable")  # returns#1361
    state.run(run, prefix="")
    if state.errors:
        return Failure(tuple(state.errors))
    header = state.header  # a first run and its restart share it: same root, ids
    root = header.run_as_uid == 0
    steps = tuple(fold(state.steps, ctx.facts.scratch_tree, as_root=root))
    # The blobs of the writes the fold kept (it leaves out those of content a
    # file holds already).
    written = {s.effect.blob for s in steps if type(s.effect) is WriteFile}
    blobs = [blob for digest, blob in state.blobs.items() if digest in written]
    return Success(seal(header, steps, blobs, edges_of(steps)))


def _after_first_run(ctx: Context, steps: list[Step]) -> Context:
    """The facts a restart meets after its first run: that run's host ports are
    back in the pool but cooling down, at its tail, so the restart takes others."""
    taken = {
        port
        for step in steps
        if isinstance(step.effect, AllocateHostPorts)
        for port in step.effect.ports
    }
    free = tuple(port for port in free_ports(ctx) if port not in taken)
    return attrs.evolve(ctx, facts=attrs.evolve(ctx.facts, host_ports=free))


def header_of(ctx: Context) -> Header:
    """The plan header for ``ctx`` (run as the agent identity the facts saw)."""
    return Header(
        scratch_root=ctx.scratch_root,
        kernel_id=ctx.kernel_id,
        run_as_uid=ctx.facts.uid,
        run_as_gid=ctx.facts.gid,
    )


def restart_needs_first_run(ctx: Context) -> bool:
    """True for a restart whose facts hold no scratch dir for the kernel."""
    return ctx.restarting and scratch_dir(ctx) not in ctx.facts.scratch_tree.nodes


class _State:
    """The compiler's accumulators for one ``compile_plan`` call."""

    def __init__(
        self,
        ctx: Context,
        quirks: frozenset[str],
        options: frozenset[str],
        stages: tuple[tuple[str, Stage], ...],
    ) -> None:
        self.stages = stages
        self.quirks = quirks
        self.options = options
        self.header = header_of(ctx)
        self.model = Projection(
            ctx.facts.scratch_tree, (self.header.run_as_uid, self.header.run_as_gid)
        )
        self.contents = dict(ctx.facts.content_table)
        self.sizes: dict[str, int] = {}  # digest -> size of every blob planned
        self.steps: list[Step] = []
        self.blobs: dict[str, Blob] = {}
        self.errors: list[PlanError] = []
        self.writers: dict[str, tuple[str, str]] = {}  # by path text: see Draft

    def run(self, ctx: Context, prefix: str) -> None:
        """Run every stage on ``ctx``, threading their values, keeping every error."""
        self.writers = {}  # a restart rewrites what its first run wrote: no conflict
        threaded = Threaded()
        start = len(self.steps)
        for name, stage in self.stages:
            up = Upstream(
                effects=EffectsView(self.steps, start),
                nodes=self.model.nodes,
                contents=self.contents,
                threaded=threaded,
                quirks=self.quirks,
                options=self.options,
            )
            match stage(ctx, up):
                case Success(part):
                    if part.effects or part.blobs:  # many stages thread values only
                        self._add(f"{prefix}{name}", part.effects, part.blobs)
                    threaded = part.threaded or threaded
                case Failure(errors):
                    self.errors.extend(errors)
                case _:
                    raise AssertionError("unreachable")  # returns#1361

    def _add(
        self, stage: str, effects: tuple[Effect, ...], blobs: tuple[Blob, ...]
    ) -> None:
        for blob in blobs:
            self.blobs[blob.digest] = blob
            self.contents[blob.digest] = blob.data
            self.sizes[blob.digest] = len(blob.data)
        new = staged(stage, effects)
        self._check_writes(stage, new)
        error = self.model.apply(new, self.sizes)
        if error is None:
            self.steps.extend(new)
        else:
            self._fail(
                stage,
                "model",
                f"facts.scratch.{error.path}",
                error.effect,
                error.reason,
            )

    def _check_writes(self, stage: str, steps: list[Step]) -> None:
        base = stage.rsplit("/", 1)[-1]
        for step in steps:
            if not isinstance(step.effect, WriteFile):
                continue
            key = str(step.effect.path)
            earlier = self.writers.get(key)
            self.writers[key] = (stage, step.effect.blob)
            if earlier is None or base in OVERRIDING_STAGES:
                continue
            if earlier[0] != stage and earlier[1] != step.effect.blob:
                reason = f"conflicts with what stage {earlier[0]!r} wrote there"
                self._fail(stage, "conflict", str(step.effect.path), "content", reason)

    def _fail(
        self, stage: str, code: ErrorCode, field: str, value: str, reason: str
    ) -> None:
        self.errors.append(
            PlanError(stage=stage, code=code, field=field, value=value, reason=reason)
        )
