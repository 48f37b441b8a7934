"""The compiler: run every stage, collect every error, merge, order, seal.

Theory of operation
-------------------
Stages run in ``STAGES`` order. Each sees an ``Upstream``: the model tree after the
facts and all earlier stages (``effects.project`` of what was planned so far), the
contents it can read back, the mount list and the enabled quirks. A failing stage
adds its errors and contributes nothing; later stages still run, so one report
lists every problem (architecture.md §7.1). Then cross-stage rules are checked: two
stages writing different content to one path is a conflict unless the later
stage overrides (dotfiles do), and two mounts may not share a target.

The plan's order is stage order, then emission order within a stage. Edges link
each filesystem step to the latest earlier steps on the same path, its ancestors
and its descendants, so steps on disjoint subtrees are independent.

A restart whose facts show no scratch for the kernel is planned as legacy runs it
in kplan's equivalence checks and the legacy bridge: after a first run on the same
inputs. The first run's steps come first, their stages prefixed ``first-run/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from returns.result import Failure, Result, Success

from effects import (
    Blob,
    Effect,
    Header,
    Plan,
    Step,
    WriteFile,
    project,
    seal,
)

from ._context import Context, Mount
from ._edges import edges_of
from ._intrinsic_mounts import all_mounts
from ._layout import config_dir, scratch_dir
from ._quirks import unknown_quirks
from ._resource_txt import parse_resource_txt
from ._stage_api import Upstream
from ._stages import CONTAINER_STAGES, OVERRIDING_STAGES, STAGES, Stage
from .errors import ErrorCode, PlanError

__all__ = ["FIRST_RUN", "compile_plan", "header_of", "restart_needs_first_run"]

FIRST_RUN = "first-run/"  # the stage prefix of a restart's first run

Errors = tuple[PlanError, ...]


def compile_plan(
    ctx: Context, quirks: Iterable[str] = (), *, containers: bool = False
) -> Result[Plan, Errors]:
    """Plan ``ctx``: the sealed plan, or every error of every stage.

    With ``containers`` the plan also pulls (if needed), creates, starts and
    verifies the kernel's container (``container`` stage, §14).
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
    state = _State(ctx, enabled, STAGES + (CONTAINER_STAGES if containers else ()))
    if restart_needs_first_run(ctx):
        state.run(ctx.first_run(), prefix=FIRST_RUN)
    state.run(ctx, prefix="")
    if state.errors:
        return Failure(tuple(state.errors))
    steps = tuple(state.steps)
    return Success(seal(header_of(ctx), steps, state.blobs.values(), edges_of(steps)))


def header_of(ctx: Context) -> Header:
    """The plan header for ``ctx`` (run as the agent identity the facts saw)."""
    return Header(
        scratch_root=ctx.local.scratch_root,
        kernel_id=ctx.kernel_id,
        run_as_uid=ctx.facts.uid,
        run_as_gid=ctx.facts.gid,
    )


def restart_needs_first_run(ctx: Context) -> bool:
    """True for a restart whose facts hold no scratch dir for the kernel."""
    return ctx.restarting and scratch_dir(ctx) not in ctx.facts.scratch.nodes


class _State:
    """The compiler's accumulators for one ``compile_plan`` call."""

    def __init__(
        self,
        ctx: Context,
        quirks: frozenset[str],
        stages: tuple[tuple[str, Stage], ...],
    ) -> None:
        self.quirks = quirks
        self.stages = stages
        self.header = header_of(ctx)
        self.tree = ctx.facts.scratch
        self.contents = dict(ctx.facts.contents)
        self.steps: list[Step] = []
        self.blobs: dict[str, Blob] = {}
        self.errors: list[PlanError] = []
        self.writers: dict[PurePosixPath, tuple[str, str]] = {}

    def run(self, ctx: Context, prefix: str) -> None:
        self.writers = {}  # a restart rewrites what its first run wrote: no conflict
        mounts = self._mounts(ctx)
        if mounts is None:
            return
        self._check_targets(mounts)
        start = len(self.steps)
        for name, stage in self.stages:
            up = Upstream(
                effects=tuple(step.effect for step in self.steps[start:]),
                tree=self.tree,
                contents=self.contents,
                mounts=mounts,
                quirks=self.quirks,
            )
            match stage(ctx, up):
                case Success(part):
                    self._add(f"{prefix}{name}", part.effects, part.blobs)
                case Failure(errors):
                    self.errors.extend(errors)
                case _:
                    raise AssertionError("unreachable")  # returns#1361

    def _mounts(self, ctx: Context) -> tuple[Mount, ...] | None:
        if not ctx.restarting:
            return tuple(all_mounts(ctx))
        path = config_dir(ctx) / "resource.txt"
        node = self.tree.nodes.get(path)
        data = (
            None
            if node is None or node.sha256 is None
            else self.contents.get(node.sha256)
        )
        if data is None:
            self._fail(
                "restart",
                "crash",
                f"facts.scratch.{path}",
                "missing",
                "a restart reads the previous resource.txt: legacy raises "
                "FileNotFoundError",
            )
            return None
        mounts, problem = parse_resource_txt(data.decode("utf-8", "replace"))
        if mounts is None:
            self._fail(
                "restart", "crash", f"facts.scratch.{path}", "content", str(problem)
            )
        return mounts

    def _check_targets(self, mounts: tuple[Mount, ...]) -> None:
        seen: set[str] = set()
        for mount in mounts:
            if mount.target in seen:
                self._fail(
                    "mounts",
                    "conflict",
                    "mounts",
                    mount.target,
                    "two mounts share this target: Docker refuses the container "
                    "('Duplicate mount point')",
                )
            seen.add(mount.target)

    def _add(
        self, stage: str, effects: tuple[Effect, ...], blobs: tuple[Blob, ...]
    ) -> None:
        for blob in blobs:
            self.blobs[blob.digest] = blob
            self.contents[blob.digest] = blob.data
        new = [Step(stage=stage, effect=effect) for effect in effects]
        self._check_writes(stage, new)
        part = Plan(
            header=self.header, steps=new, blobs=[b for b in blobs if _written(b, new)]
        )
        match project(part, self.tree):
            case Success(tree):
                self.tree = tree
                self.steps.extend(new)
            case Failure(error):
                self._fail(
                    stage,
                    "model",
                    f"facts.scratch.{error.path}",
                    error.effect,
                    error.reason,
                )
            case _:
                raise AssertionError("unreachable")  # returns#1361

    def _check_writes(self, stage: str, steps: list[Step]) -> None:
        base = stage.rsplit("/", 1)[-1]
        for step in steps:
            if not isinstance(step.effect, WriteFile):
                continue
            earlier = self.writers.get(step.effect.path)
            self.writers[step.effect.path] = (stage, step.effect.blob)
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


def _written(blob: Blob, steps: list[Step]) -> bool:
    return any(
        isinstance(s.effect, WriteFile) and s.effect.blob == blob.digest for s in steps
    )
