"""Apply a plan transactionally, and roll it back from its journal.

Theory of operation
-------------------
For each step, in plan order: observe the prior state, journal the intent with it,
apply the effect, journal ``done``. On a ``HostError`` the inverses of every
journaled step run in reverse and the result is an ``ApplyFailed`` value. On any
other exception, including cancellation, the same rollback runs and the exception
propagates unchanged, with rollback failures attached as notes (architecture.md §5.2).

The rollback runs as its own task behind ``asyncio.shield``: a cancellation of the
caller cannot interrupt it, each undo action is bounded by ``UNDO_TIMEOUT`` and the
whole rollback by ``CLEANUP_TIMEOUT`` if the caller is cancelled again. Every
action is tried; each failure is recorded in the journal and in the outcome.
``rollback_journal`` does the same from a journal file alone, after a crash.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterable
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

from ._confined_fs import ScratchRoot
from ._docker_host import DockerHost
from ._host import Host, needs_docker
from ._inverse import describe_undo, inverse_of
from ._journal import Intent, JournalWriter, read_journal
from ._tools import Tools
from .errors import ApplyFailed, HostError, RollbackFailure, RollbackOutcome

__all__ = [
    "ApplyOptions",
    "ApplyReport",
    "StepReport",
    "apply_plan",
    "model_apply",
    "rollback_journal",
]

UNDO_TIMEOUT = 60.0
CLEANUP_TIMEOUT = 600.0
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

    ``on_step`` is called after a step's intent is journaled and before the effect
    runs: the CLI draws progress there; tests inject failures and crashes there.
    """

    journal: Path
    tools: Tools
    docker_url: str | None = None
    durable: bool = False
    on_step: StepHook | None = None


def _refusal(plan: Plan, cause: str, journal: str = "") -> ApplyFailed:
    return ApplyFailed(
        index=-1,
        stage="(plan)",
        effect=f"plan {plan.header.plan_id}",
        cause=cause,
        rollback=RollbackOutcome(undone=0, failures=()),
        journal=journal,
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
    """Apply ``plan``; on failure put the host back as it was (see the module doc)."""
    refused = _precondition(plan, options)
    if refused is not None:
        return Failure(refused)
    try:
        fs = ScratchRoot(
            Path(str(plan.header.scratch_root)),
            options.tools,
            private_dir(options.journal),
            durable=options.durable,
        )
    except HostError as exc:
        return Failure(_refusal(plan, str(exc)))
    journal = JournalWriter(options.journal, durable=options.durable)
    try:
        journal.append(_begin(plan, options.docker_url))
        async with AsyncExitStack() as stack:
            docker = None
            if options.docker_url is not None:
                docker = await stack.enter_async_context(
                    DockerHost(options.docker_url, plan.header.plan_id)
                )
            host = Host(fs, docker, plan.blob_table, plan.header.kernel_id)
            return await _Run(plan, host, journal, options).run()
    finally:
        journal.close()
        fs.close()
        _remove_private(fs.private)


def private_dir(journal: Path) -> Path:
    """Where tools write before kplan copies their output in (next to the journal).

    A process killed while dropbearkey runs leaves a key there; ``kplan rollback``
    removes it with everything else.
    """
    return journal.with_name(f"{journal.name}.private")


def _remove_private(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def _begin(plan: Plan, docker: str | None) -> dict[str, object]:
    header = plan.header
    return {
        "kind": "begin",
        "plan_id": header.plan_id,
        "kernel_id": header.kernel_id,
        "scratch_root": str(header.scratch_root),
        "docker": docker,
        "pid": os.getpid(),
        "time": time.time(),
    }


@final
class _Run:
    """The state of one apply: journaled intents and the step reports."""

    def __init__(
        self, plan: Plan, host: Host, journal: JournalWriter, options: ApplyOptions
    ) -> None:
        self.plan, self.host, self.journal, self.options = plan, host, journal, options
        self.intents: list[Intent] = []
        self.reports: list[StepReport] = []

    async def run(self) -> Result[ApplyReport, ApplyFailed]:
        started = time.perf_counter()
        index = -1
        try:
            for index, step in enumerate(self.plan.steps):
                await self._step(index, step)
            # A cancellation asked for during the last steps (which may not await at
            # all) must still undo: give it a point to arrive before "applied".
            await asyncio.sleep(0)
        except HostError as exc:
            outcome = await _undo_shielded(self.intents, self.host, self.journal)
            return Failure(self._failed(index, exc, outcome))
        except (
            BaseException
        ) as exc:  # a bug or a cancellation: undo, then propagate as is
            outcome = await _undo_shielded(self.intents, self.host, self.journal)
            for failure in outcome.failures:
                exc.add_note(f"kplan rollback: {failure}")
            raise
        self.journal.append({"kind": "end", "outcome": "applied"})
        return Success(
            ApplyReport(
                plan_id=self.plan.header.plan_id,
                journal=str(self.journal.path),
                dry_run=False,
                steps=tuple(self.reports),
                seconds=time.perf_counter() - started,
                kernel=_kernel_record(self.plan),
                container_id=self.host.container_id,
            )
        )

    async def _step(self, index: int, step: Step) -> None:
        started = time.perf_counter()
        prior = await self.host.observe(step.effect)
        self.journal.intent(index, step.stage, step.effect, prior)
        self.intents.append(
            Intent(index=index, stage=step.stage, effect=step.effect, prior=prior)
        )
        if self.options.on_step is not None:
            self.options.on_step(index, step)
        outcome = await self.host.apply(step.effect, prior)
        seconds = time.perf_counter() - started
        self.journal.append({"kind": "done", "index": index, "seconds": seconds})
        self.reports.append(
            StepReport(
                index=index,
                stage=step.stage,
                effect=describe(step.effect),
                outcome=outcome,
                seconds=seconds,
            )
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


async def _undo_shielded(
    intents: Iterable[Intent], host: Host, journal: JournalWriter
) -> RollbackOutcome:
    """Roll back in a task of its own that the caller's cancellation cannot stop."""
    task = asyncio.create_task(_rollback(list(intents), host, journal))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # Cancelled again while undoing: give the undo a bounded time, then go on
        # cancelling; whatever it could not undo stays in the journal.
        await asyncio.wait({task}, timeout=CLEANUP_TIMEOUT)
        raise


async def _rollback(
    intents: list[Intent], host: Host, journal: JournalWriter
) -> RollbackOutcome:
    """Undo ``intents`` last first; try every action; record every failure."""
    undone, failures = 0, []
    for intent in reversed(intents):
        step_failures = []
        for action in inverse_of(intent.effect, intent.prior):
            try:
                async with asyncio.timeout(UNDO_TIMEOUT):
                    await host.undo(action)
            except Exception as exc:  # noqa: BLE001  (recorded below and reported, never dropped)
                failure = RollbackFailure(
                    index=intent.index,
                    action=describe_undo(action),
                    reason=_reason(exc),
                )
                step_failures.append(failure)
                journal.append(
                    {
                        "kind": "undo-failed",
                        "index": intent.index,
                        "action": failure.action,
                        "reason": failure.reason,
                    }
                )
        if not step_failures:
            undone += 1
            journal.append({"kind": "undone", "index": intent.index})
        failures += step_failures
    outcome = RollbackOutcome(undone=undone, failures=tuple(failures))
    journal.append(
        {
            "kind": "end",
            "outcome": "rolled-back" if outcome.complete else "rollback-incomplete",
        }
    )
    return outcome


def _reason(exc: Exception) -> str:
    """``Type: message``, and for a timeout what the waited-for operation did."""
    if not isinstance(exc, TimeoutError):
        return f"{type(exc).__name__}: {exc}"
    notes = getattr(exc.__cause__, "__notes__", [])
    return "; ".join([f"TimeoutError: took longer than {UNDO_TIMEOUT} s", *notes])


async def rollback_journal(
    path: Path, tools: Tools, docker_url: str | None = None
) -> RollbackOutcome:
    """Undo what a journal's apply did, from the journal alone (safe to run twice)."""
    state = read_journal(path)
    if state.outcome == "rolled-back":
        return RollbackOutcome(undone=0, failures=())
    url = docker_url or state.docker
    fs = ScratchRoot(state.scratch_root, tools, private_dir(path))
    journal = JournalWriter.reopen(path)
    try:
        async with AsyncExitStack() as stack:
            docker = None
            if url is not None:
                docker = await stack.enter_async_context(DockerHost(url, state.plan_id))
            host = Host(fs, docker, {}, state.kernel_id)
            pending = list(state.pending_undo())
            return await _undo_shielded(reversed(pending), host, journal)
    finally:
        journal.close()
        fs.close()
        _remove_private(fs.private)


def model_apply(plan: Plan, before: Tree) -> Result[ApplyReport, str]:
    """``--dry-run``: apply to the pure model and report like a real apply."""
    match project(plan, before):
        case Failure(error):
            return Failure(str(error))
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
