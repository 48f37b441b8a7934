"""Roll back: undo journaled steps last first, shielded, bounded, every one tried.

Theory of operation
-------------------
The rollback runs as its own task behind ``asyncio.shield``: a cancellation of the
caller cannot interrupt it; if the caller is cancelled again, the undo gets
``CLEANUP_TIMEOUT`` more and whatever it could not undo stays in the journal. Each
undo action is bounded by ``UNDO_TIMEOUT`` (a worker thread past it is waited for,
never abandoned: ``Host.undo``). Every action is tried; a failure is recorded in the
journal (``undo-failed``) and the outcome, never dropped; a path that changed since
the apply is left as it is and recorded too (``changed``), unless forced. Each step
is bracketed by ``undoing`` and ``undone`` (all its actions were: a later rollback
skips it) or ``not-undone`` (a later rollback retries it). A step whose bracket a
crash left open may be half put back (a restore cut short): the next rollback
checks it by identity only, not against the stamps the apply left.

``rollback_journal`` does the same from a journal file alone, after a crash or a
successful apply: it validates the whole journal and the private copies it names
first, and refuses (a ``RollbackRefused`` naming what is wrong) before undoing
anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import AsyncExitStack
from pathlib import Path

from returns.result import Failure, Result, Success

from ._docker_host import DockerHost
from ._host import Host
from ._inverse import describe_undo, inverse_of, undo_path
from ._journal import JournalState, JournalWriter, read_journal
from ._port_pool import HostPortPool
from ._private_dir import PrivateDir
from ._records import FilePrior, StepRecord
from ._tools import Tools
from ._workspace import Workspace
from .errors import ChangedPath, RollbackFailure, RollbackOutcome, RollbackRefused

__all__ = ["CLEANUP_TIMEOUT", "UNDO_TIMEOUT", "rollback_journal", "undo_shielded"]

UNDO_TIMEOUT = 60.0
CLEANUP_TIMEOUT = 600.0


async def undo_shielded(
    records: Iterable[StepRecord],
    host: Host,
    journal: JournalWriter,
    *,
    force: bool = False,
) -> RollbackOutcome:
    """Undo ``records`` (last first) in a task of its own the caller cannot stop."""
    task = asyncio.create_task(_rollback(list(records), host, journal, force=force))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # Cancelled again while undoing: give the undo a bounded time, then go on
        # cancelling; whatever it could not undo stays in the journal.
        await asyncio.wait({task}, timeout=CLEANUP_TIMEOUT)
        raise


async def _rollback(
    records: list[StepRecord], host: Host, journal: JournalWriter, *, force: bool
) -> RollbackOutcome:
    undone, failures, changed = 0, [], []
    for record in records:
        journal.append({"kind": "undoing", "index": record.index})
        step_failures, step_changed = await _undo_step(record, host, journal, force)
        if not step_failures and not step_changed:
            undone += 1
            journal.append({"kind": "undone", "index": record.index})
        else:
            journal.append({"kind": "not-undone", "index": record.index})
        failures += step_failures
        changed += step_changed
    outcome = RollbackOutcome(
        undone=undone, failures=tuple(failures), changed=tuple(changed)
    )
    state = "rolled-back" if outcome.complete else "rollback-incomplete"
    journal.append({"kind": "end", "outcome": state})
    return outcome


async def _undo_step(
    record: StepRecord,
    host: Host,
    journal: JournalWriter,
    force: bool,  # noqa: FBT001
) -> tuple[list[RollbackFailure], list[ChangedPath]]:
    failures, changed = [], []
    for action in inverse_of(record):
        try:
            async with asyncio.timeout(UNDO_TIMEOUT):
                left = await host.undo(action, force=force)
        except Exception as exc:  # noqa: BLE001  (recorded below and reported, never dropped)
            failure = RollbackFailure(
                index=record.index, action=describe_undo(action), reason=_reason(exc)
            )
            failures.append(failure)
            journal.append(
                {
                    "kind": "undo-failed",
                    "index": record.index,
                    "action": failure.action,
                    "reason": failure.reason,
                }
            )
            continue
        if left is not None:
            path = undo_path(action)
            changed.append(
                ChangedPath(index=record.index, path=path, reason=left.reason)
            )
            journal.append(
                {
                    "kind": "changed",
                    "index": record.index,
                    "path": path,
                    "reason": left.reason,
                }
            )
    return failures, changed


def _reason(exc: Exception) -> str:
    """``Type: message``, and for a timeout what the waited-for operation did."""
    if not isinstance(exc, TimeoutError):
        return f"{type(exc).__name__}: {exc}"
    notes = getattr(exc.__cause__, "__notes__", [])
    return "; ".join([f"TimeoutError: took longer than {UNDO_TIMEOUT} s", *notes])


async def rollback_journal(
    path: Path,
    tools: Tools,
    docker_url: str | None = None,
    *,
    force: bool = False,
    ports: HostPortPool | None = None,
) -> Result[RollbackOutcome, RollbackRefused]:
    """Undo what a journal's apply did, from the journal alone (safe to run twice).

    Args:
        path: the journal.
        tools: the external programs (umount) the undo may run.
        docker_url: the Docker endpoint; the journal's own when ``None``.
        force: put back also the paths that changed since the apply.
        ports: the agent's pool the apply took host ports from (``ApplyOptions``);
            without one they went back with the removed container.

    Returns:
        The outcome: complete, or which undo actions failed and which paths were
        left because they changed since the apply (a later call retries them). Or a
        ``RollbackRefused`` before anything was undone: a malformed journal (naming
        the line and the field), its scratch root or a private copy missing, the
        kernel locked by another kplan, a planted private directory.

    Raises:
        asyncio.CancelledError: unchanged, after the undo ran (or ran out of time).
    """
    match read_journal(path):
        case Failure(error):
            return Failure(RollbackRefused(journal=str(path), reason=str(error)))
        case Success(state):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    if state.outcome == "rolled-back":
        return Success(RollbackOutcome(undone=0, failures=()))
    opened = Workspace.for_rollback(state.scratch_root, state.kernel_id, path, tools)
    match opened:
        case Failure(reason):
            return Failure(RollbackRefused(journal=str(path), reason=str(reason)))
        case Success(workspace):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    with workspace:
        problem = _missing_copy(state, workspace.private)
        if problem is not None:
            return Failure(RollbackRefused(journal=str(path), reason=problem))
        outcome = await _undo_journal(
            state, workspace, docker_url or state.docker, force, ports
        )
        if outcome.complete and workspace.private is not None:
            workspace.private.remove()
    return Success(outcome)


async def _undo_journal(
    state: JournalState,
    workspace: Workspace,
    url: str | None,
    force: bool,  # noqa: FBT001
    ports: HostPortPool | None,
) -> RollbackOutcome:
    async with AsyncExitStack() as stack:
        docker = None
        if url is not None:
            docker = await stack.enter_async_context(DockerHost(url, state.plan_id))
        host = Host(workspace.fs, docker, {}, state.kernel_id, ports=ports)
        return await undo_shielded(
            state.pending_undo(), host, workspace.journal, force=force
        )


def _missing_copy(state: JournalState, private: PrivateDir | None) -> str | None:
    """Why a prior content a pending undo needs cannot be read back, if so."""
    for step in state.pending_undo():
        prior = step.prior
        if not isinstance(prior, FilePrior) or prior.saved is None:
            continue
        where = f"line {step.line}: prior.saved"
        if private is None:
            return f"{where}: the private directory with {prior.saved.name} is gone"
        problem = private.problem(prior.saved)
        if problem is not None:
            return f"{where}: {problem}"
    return None
