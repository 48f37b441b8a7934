"""Apply a plan transactionally: observe, journal, apply, and undo on any failure.

Theory of operation
-------------------
An apply first takes what it needs (``executor._workspace``): the scratch root, the
kernel's lock (a second apply or rollback of the kernel is refused at once), a new
journal and its private directory; any of them missing is a refusal before any
change. Then for each step, in plan order: observe the prior state (a file's old
content is copied into the private directory), journal the intent with it, apply
the effect (announcing every entry it makes new), journal ``done`` with the stamps
it left. On a ``HostError`` the inverses of every journaled step run in reverse
(``executor._rollback``) and the result is an ``ApplyFailed`` value. On any other
exception, including cancellation, the same rollback runs and the exception
propagates unchanged, with rollback failures attached as notes
(architecture.md §5.2).

The private directory outlives a successful apply only while it holds prior
contents (``kplan rollback`` needs them), and a rollback only when it was incomplete.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import final

import attrs
from returns.result import Failure, Result, Success

from effects import (
    JsonObject,
    Plan,
    RegisterKernel,
    Step,
    Tree,
    describe,
    project,
)

from ._docker_host import DockerHost
from ._host import Host, needs_docker
from ._journal import FORMAT
from ._port_pool import HostPortPool
from ._private_dir import private_dir
from ._records import Created, FilePrior, StepRecord
from ._rollback import undo_shielded
from ._tools import Tools
from ._workspace import Workspace
from .errors import ApplyFailed, HostError, RollbackOutcome

__all__ = [
    "ApplyOptions",
    "ApplyReport",
    "StepReport",
    "apply_plan",
    "model_apply",
    "private_dir",
]

StepHook = Callable[[int, Step], None]


@final
@attrs.frozen(kw_only=True)
class StepReport:
    """One step as applied: what it was and how long it took."""

    index: int
    stage: str
    effect: str
    outcome: str
    seconds: float


@final
@attrs.frozen(kw_only=True)
class ApplyReport:
    """What an apply did, step by step and stage by stage."""

    plan_id: str
    journal: str
    dry_run: bool
    steps: tuple[StepReport, ...]
    seconds: float
    kernel: JsonObject | None
    container_id: str | None

    @property
    def stages(self) -> tuple[tuple[str, float], ...]:
        """Seconds per stage, in plan order."""
        totals: dict[str, float] = {}
        for step in self.steps:
            totals[step.stage] = totals.get(step.stage, 0.0) + step.seconds
        return tuple(totals.items())


@final
@attrs.frozen(kw_only=True)
class ApplyOptions:
    """How to apply: where the journal goes, which Docker, durability, tools.

    ``ports`` is the agent's pool of host ports (``executor.HostPortPool``); without
    one the ports are checked free on this host (``EnginePorts``, the CLI's way).
    ``on_step`` is called after a step's intent is journaled and before the effect
    runs: the CLI draws progress there; tests inject failures and crashes there.
    """

    journal: Path
    tools: Tools
    docker_url: str | None = None
    durable: bool = False
    on_step: StepHook | None = None
    ports: HostPortPool | None = None


def _refusal(plan: Plan, cause: str) -> ApplyFailed:
    return ApplyFailed(
        index=-1,
        stage="(plan)",
        effect=f"plan {plan.header.plan_id}",
        cause=cause,
        rollback=RollbackOutcome(undone=0, failures=()),
        journal="",
    )


def _precondition(plan: Plan, options: ApplyOptions) -> ApplyFailed | None:
    header = plan.header
    identity = (os.geteuid(), os.getegid())
    if identity != (header.run_as_uid, header.run_as_gid):
        return _refusal(
            plan,
            f"the plan must be applied as {header.run_as_uid}:"
            f"{header.run_as_gid}, this process is {identity[0]}:{identity[1]}",
        )
    if options.docker_url is None and any(needs_docker(e) for e in plan.effects):
        return _refusal(plan, "the plan has container effects: give a Docker endpoint")
    return None


async def apply_plan(
    plan: Plan, options: ApplyOptions
) -> Result[ApplyReport, ApplyFailed]:
    """Apply ``plan``; on a failure put the host back as it was (module docstring).

    Returns:
        The report; or an ``ApplyFailed``: refused before any change (``index`` -1:
        the identity, no Docker endpoint, the scratch root, the kernel's lock, the
        journal or its private directory), or failed at a step and rolled back
        (its ``rollback`` says whether completely and what was left).

    Raises:
        asyncio.CancelledError: unchanged, after the rollback ran (its failures are
            notes). Any other exception is a bug, raised after the rollback ran.
    """
    refused = _precondition(plan, options)
    if refused is not None:
        return Failure(refused)
    opened = Workspace.for_apply(
        plan.header, options.journal, options.tools, durable=options.durable
    )
    match opened:
        case Failure(cause):
            return Failure(_refusal(plan, str(cause)))
        case Success(workspace):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    with workspace:
        run = _Run(plan, workspace, options)
        try:
            return await run.run()
        finally:
            if not run.keep_private and workspace.private is not None:
                workspace.private.remove()


def _begin(plan: Plan, docker: str | None) -> dict[str, object]:
    header = plan.header
    return {
        "kind": "begin",
        "format": FORMAT,
        "plan_id": header.plan_id,
        "kernel_id": header.kernel_id,
        "scratch_root": str(header.scratch_root),
        "docker": docker,
        "pid": os.getpid(),
        "time": time.time(),
    }


@final
class _Run:
    """The state of one apply: the journaled steps and the step reports."""

    def __init__(self, plan: Plan, workspace: Workspace, options: ApplyOptions) -> None:
        self.plan, self.options = plan, options
        self.fs, self.journal = workspace.fs, workspace.journal
        self.records: list[StepRecord] = []
        self.reports: list[StepReport] = []
        # Kept unless known to be unneeded: a rollback cut short may need it later.
        self.keep_private = True

    async def run(self) -> Result[ApplyReport, ApplyFailed]:
        self.journal.append(_begin(self.plan, self.options.docker_url))
        async with AsyncExitStack() as stack:
            docker = None
            if self.options.docker_url is not None:
                docker = await stack.enter_async_context(
                    DockerHost(self.options.docker_url, self.plan.header.plan_id)
                )
            token = secrets.token_hex(6)
            host = Host(
                self.fs,
                docker,
                self.plan.blob_table,
                self.plan.header.kernel_id,
                token,
                ports=self.options.ports,
            )
            return await self._steps(host)

    async def _steps(self, host: Host) -> Result[ApplyReport, ApplyFailed]:
        started = time.perf_counter()
        index = -1
        try:
            for index, step in enumerate(self.plan.steps):
                await self._step(host, index, step)
            # A cancellation asked for during the last steps (which may not await at
            # all) must still undo: give it a point to arrive before "applied".
            await asyncio.sleep(0)
        except HostError as exc:
            outcome = await self._undo(host)
            return Failure(self._failed(index, exc, outcome))
        except (
            BaseException
        ) as exc:  # a bug or a cancellation: undo, then propagate as is
            outcome = await self._undo(host)
            for failure in outcome.failures:
                exc.add_note(f"kplan rollback: {failure}")
            raise
        self.journal.append({"kind": "end", "outcome": "applied"})
        self.keep_private = any(
            isinstance(r.prior, FilePrior) and r.prior.saved is not None
            for r in self.records
        )
        return Success(self._report(host, time.perf_counter() - started))

    async def _undo(self, host: Host) -> RollbackOutcome:
        outcome = await undo_shielded(reversed(self.records), host, self.journal)
        self.keep_private = not outcome.complete
        return outcome

    async def _step(self, host: Host, index: int, step: Step) -> None:
        started = time.perf_counter()
        prior = await host.observe(index, step.effect)
        record = StepRecord(
            index=index, stage=step.stage, effect=step.effect, prior=prior
        )
        self.journal.intent(record)
        self.records.append(record)
        if self.options.on_step is not None:
            self.options.on_step(index, step)
        created: list[Created] = []

        def announce(entry: Created) -> None:  # called from the worker thread
            self.journal.created(index, entry)
            created.append(entry)

        try:
            applied = await host.apply(step.effect, prior, announce)
        finally:
            self.records[-1] = attrs.evolve(record, created=tuple(created))
        seconds = time.perf_counter() - started
        self.records[-1] = attrs.evolve(self.records[-1], left=applied.left)
        self.journal.done(index, seconds, applied.left)
        self.reports.append(
            StepReport(
                index=index,
                stage=step.stage,
                effect=describe(step.effect),
                outcome=applied.outcome,
                seconds=seconds,
            )
        )

    def _report(self, host: Host, seconds: float) -> ApplyReport:
        return ApplyReport(
            plan_id=self.plan.header.plan_id,
            journal=str(self.journal.path),
            dry_run=False,
            steps=tuple(self.reports),
            seconds=seconds,
            kernel=_kernel_record(self.plan),
            container_id=host.container_id,
        )

    def _failed(
        self, index: int, exc: HostError, outcome: RollbackOutcome
    ) -> ApplyFailed:
        step = self.plan.steps[index]
        return ApplyFailed(
            index=index,
            stage=step.stage,
            effect=describe(step.effect),
            cause=str(exc),
            rollback=outcome,
            journal=str(self.journal.path),
        )


def _kernel_record(plan: Plan) -> JsonObject | None:
    records = [e.record for e in plan.effects if isinstance(e, RegisterKernel)]
    return records[-1] if records else None


def model_apply(plan: Plan, before: Tree) -> Result[ApplyReport, ApplyFailed]:
    """``--dry-run``: apply to the pure model and report like a real apply."""
    match project(plan, before):
        case Failure(error):
            return Failure(
                ApplyFailed(
                    index=error.index,
                    stage=error.stage,
                    effect=error.effect,
                    cause=f"{error.path}: {error.reason} (in the model: nothing ran)",
                    rollback=RollbackOutcome(undone=0, failures=()),
                    journal="",
                )
            )
        case Success(_):
            steps = tuple(
                StepReport(
                    index=i,
                    stage=s.stage,
                    effect=describe(s.effect),
                    outcome="modelled",
                    seconds=0.0,
                )
                for i, s in enumerate(plan.steps)
            )
            return Success(
                ApplyReport(
                    plan_id=plan.header.plan_id,
                    journal="",
                    dry_run=True,
                    steps=steps,
                    seconds=0.0,
                    kernel=_kernel_record(plan),
                    container_id=None,
                )
            )
        case _:
            raise AssertionError("unreachable")  # returns#1361
