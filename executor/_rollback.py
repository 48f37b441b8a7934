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

Consecutive steps whose undo is quick filesystem work (``QUICK``) are undone in one
worker thread (``_undo_quick``) over the cached directory descriptors, one journal
write per step: its ``undoing``, with the ``undone`` of the one before (an
``undone`` may lag: without it a later rollback retries the step, which finds it
as it was before). Unforced, the undo of chmods and chowns of an entry the group
removes anyway is folded into the removal: one look, against what the last of
them left (``executor._undo_fold``). An unmount, a container's removal, a proxy's
stop, the ports' release each run on their own, under ``UNDO_TIMEOUT``.

``rollback_journal`` does the same from a journal file alone, after a crash or a
successful apply: it validates the whole journal and the private copies it names
first, and refuses (a ``RollbackRefused`` naming what is wrong) before undoing
anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from pathlib import Path

from returns.result import Failure, Result, Success

from ._confined_fs import ScratchRoot
from ._confined_undo import overrides_permissions, undo_folded, undo_on
from ._host import Host, to_completion
from ._inverse import (
    RemoveEntry,
    RemoveStaging,
    RestoreFile,
    SetMeta,
    Undo,
    describe_undo,
    inverse_of,
    single_changes,
    undo_path,
)
from ._journal import JournalState, JournalWriter, read_journal
from ._port_pool import HostPortPool
from ._private_dir import PrivateDir
from ._records import FilePrior, StepRecord
from ._tools import Tools
from ._undo_fold import Fold, Pending, fold_chains, mark_removed_later
from ._workspace import Workspace
from .errors import ChangedPath, RollbackFailure, RollbackOutcome, RollbackRefused

__all__ = ["CLEANUP_TIMEOUT", "UNDO_TIMEOUT", "rollback_journal", "undo_shielded"]

UNDO_TIMEOUT = 60.0
CLEANUP_TIMEOUT = 600.0
# Undo actions that are a few syscalls on the scratch root: run together in one
# thread (an unmount runs an external command, under its own timeout).
QUICK = (RemoveStaging, RemoveEntry, RestoreFile, SetMeta)


async def undo_shielded(
    records: Iterable[StepRecord],
    host: Host,
    journal: JournalWriter,
    *,
    force: bool = False,
    in_loop: bool = False,
) -> RollbackOutcome:
    """Undo ``records`` (last first) in a task of its own the caller cannot stop.

    ``in_loop``: the quick undo runs in the event loop's thread, as the lane of
    the apply being undone did (``executor.lane_in_loop``: small plain work).
    """
    task = asyncio.create_task(
        _rollback(list(records), host, journal, force=force, in_loop=in_loop)
    )
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # Cancelled again while undoing: give the undo a bounded time, then go on
        # cancelling; whatever it could not undo stays in the journal.
        await asyncio.wait({task}, timeout=CLEANUP_TIMEOUT)
        raise


async def _rollback(
    records: list[StepRecord],
    host: Host,
    journal: JournalWriter,
    *,
    force: bool,
    in_loop: bool,
) -> RollbackOutcome:
    tally = _Tally()
    quick: list[Pending] = []
    for record, actions in mark_removed_later([(r, inverse_of(r)) for r in records]):
        if all(isinstance(action, QUICK) for action in actions):
            quick.append((record, actions))
            continue
        await _undo_quick(quick, host, journal, tally, force=force, in_loop=in_loop)
        quick = []
        journal.append({"kind": "undoing", "index": record.index})
        step_failures, step_changed = await _undo_step(
            record, actions, host, journal, force
        )
        tally.step(record, step_failures, step_changed, journal)
    await _undo_quick(quick, host, journal, tally, force=force, in_loop=in_loop)
    outcome = RollbackOutcome(
        undone=tally.undone,
        failures=tuple(tally.failures),
        changed=tuple(tally.changed),
    )
    state = "rolled-back" if outcome.complete else "rollback-incomplete"
    journal.append({"kind": "end", "outcome": state})
    return outcome


class _Tally:
    """What a rollback undid, and what it could not or would not."""

    def __init__(self) -> None:
        self.undone = 0
        self.failures: list[RollbackFailure] = []
        self.changed: list[ChangedPath] = []

    def step(
        self,
        record: StepRecord,
        failures: list[RollbackFailure],
        changed: list[ChangedPath],
        journal: JournalWriter,
    ) -> None:
        """Take in one step's undo (its ``undone`` may lag: it is deferred)."""
        if not failures and not changed:
            self.undone += 1
            journal.defer({"kind": "undone", "index": record.index})
        else:
            journal.defer({"kind": "not-undone", "index": record.index})
        self.failures += failures
        self.changed += changed


async def _undo_quick(
    group: list[Pending],
    host: Host,
    journal: JournalWriter,
    tally: _Tally,
    *,
    force: bool,
    in_loop: bool,
) -> None:
    """Undo consecutive steps whose undo is quick filesystem work, in one thread
    (``in_loop``: the event loop's).

    Each step's ``undoing`` is written before its first action (with what was
    deferred, so one write per step); its ``undone`` is deferred, as are the
    reports of what failed or changed (without ``undone`` a later rollback
    retries the step). Unforced, the undo of chmods and chowns of an entry the
    group removes is folded into the removal (``executor._undo_fold``): their
    records are taken with its. Each action is timed: one past ``UNDO_TIMEOUT``
    is reported as a ``TimeoutError`` once it ended, as the asynchronous path
    reports one (a thread is never abandoned). The walks use the cached
    directory descriptors: nothing else works on the root meanwhile.
    """
    if not group:
        return
    if in_loop:
        results = _undo_group(group, host.fs, journal, force)
    else:
        results = await to_completion(
            asyncio.to_thread(_undo_group, group, host.fs, journal, force)
        )
    for (record, _), (step_failures, step_changed) in zip(group, results, strict=True):
        tally.step(record, step_failures, step_changed, journal)


_Result = tuple[list[RollbackFailure], list[ChangedPath]]


def _undo_group(
    group: list[Pending],
    fs: ScratchRoot,
    journal: JournalWriter,
    force: bool,  # noqa: FBT001
) -> list[_Result]:
    folds = {} if force else fold_chains(group, fold_dirs=overrides_permissions())
    held = {position for fold in folds.values() for position in fold.folded}
    results: list[_Result] = [([], []) for _ in group]
    fs.caching = True
    try:
        for position, (record, actions) in enumerate(group):
            if position in held:
                continue  # undone with the removal of its entry, below
            fold = folds.get(position)
            if fold is not None:
                if _undo_fold(record, fold, fs, journal, results[position]):
                    continue
                for folded in fold.folded:  # step by step: exactly as unfolded
                    results[folded] = _undo_one(*group[folded], fs, journal, force)
            results[position] = _undo_one(record, actions, fs, journal, force)
    finally:
        fs.caching = False
        fs.trim()
    return results


def _undo_fold(
    record: StepRecord,
    fold: Fold,
    fs: ScratchRoot,
    journal: JournalWriter,
    result: _Result,
) -> bool:
    """The folded removal: True if done (one past ``UNDO_TIMEOUT`` is reported on
    the removal's step, as it finished); False to undo the chain step by step."""
    started = time.monotonic()
    if not undo_folded(fs, fold.action):
        return False
    if time.monotonic() - started > UNDO_TIMEOUT:
        _failed(record, fold.action, _LATE, result[0], journal.defer)
    return True


def _undo_one(
    record: StepRecord,
    actions: tuple[Undo, ...],
    fs: ScratchRoot,
    journal: JournalWriter,
    force: bool,  # noqa: FBT001
) -> _Result:
    """One step's undo actions, each tried, timed and reported."""
    # A step of single changes needs no bracket: after a crash each change is
    # done or not begun, and either is judged rightly again
    # (``executor._inverse``, *One change or more*).
    if actions and (force or not all(map(single_changes, actions))):
        journal.append({"kind": "undoing", "index": record.index})
    failures: list[RollbackFailure] = []
    changed: list[ChangedPath] = []
    for action in actions:
        started = time.monotonic()
        try:
            left = undo_on(fs, action, force=force)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001  (recorded, reported, never dropped)
            reason = f"{type(exc).__name__}: {exc}"
            _failed(record, action, reason, failures, journal.defer)
            continue
        if time.monotonic() - started > UNDO_TIMEOUT:
            _failed(record, action, _LATE, failures, journal.defer)
        elif left is not None:
            _changed(record, action, left.reason, changed, journal.defer)
    return failures, changed


_LATE = (
    f"TimeoutError: took longer than {UNDO_TIMEOUT} s; "
    "kplan: the interrupted operation finished"
)


def _failed(
    record: StepRecord,
    action: Undo,
    reason: str,
    failures: list[RollbackFailure],
    write: Callable[[dict[str, object]], None],
) -> None:
    """Keep and journal (``write``: deferred or at once) an action that failed."""
    failure = RollbackFailure(
        index=record.index, action=describe_undo(action), reason=reason
    )
    failures.append(failure)
    write(
        {
            "kind": "undo-failed",
            "index": record.index,
            "action": failure.action,
            "reason": failure.reason,
        }
    )


def _changed(
    record: StepRecord,
    action: Undo,
    reason: str,
    changed: list[ChangedPath],
    write: Callable[[dict[str, object]], None],
) -> None:
    """Keep and journal (``write``) a path left alone: changed since the apply."""
    path = undo_path(action)
    changed.append(ChangedPath(index=record.index, path=path, reason=reason))
    write({"kind": "changed", "index": record.index, "path": path, "reason": reason})


async def _undo_step(
    record: StepRecord,
    actions: tuple[Undo, ...],
    host: Host,
    journal: JournalWriter,
    force: bool,  # noqa: FBT001
) -> _Result:
    failures: list[RollbackFailure] = []
    changed: list[ChangedPath] = []
    for action in actions:
        try:
            async with asyncio.timeout(UNDO_TIMEOUT):
                left = await host.undo(action, force=force)
        except Exception as exc:  # noqa: BLE001  (recorded, reported, never dropped)
            _failed(record, action, _reason(exc), failures, journal.append)
            continue
        if left is not None:
            _changed(record, action, left.reason, changed, journal.append)
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
    durable: bool = False,
    in_loop: bool = False,
) -> Result[RollbackOutcome, RollbackRefused]:
    """Undo what a journal's apply did, from the journal alone (safe to run twice).

    Args:
        path: the journal.
        tools: the external programs (umount) the undo may run.
        docker_url: the Docker endpoint; the journal's own when ``None``.
        force: put back also the paths that changed since the apply.
        ports: the agent's pool the apply took host ports from (``ApplyOptions``);
            without one they went back with the removed container.
        durable: as ``ApplyOptions.durable``: fsync each journal write and each
            file put back, for power loss. Without it the records are ``write()``s
            on the ``O_APPEND`` journal, as an apply's: they survive the death of
            the process, which is what a rollback run again after a crash needs
            (after a power loss the scratch's own changes are no more durable
            than the records, and a rollback run again looks at every path
            before it touches it).
        in_loop: undo the quick filesystem work in the event loop's thread, not a
            worker's, for a caller whose loop serves nothing else (``kplan
            rollback``): the hand-over costs more than a small undo. An agent's
            loop keeps the default: the journal's files may be large.

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
    opened = Workspace.for_rollback(
        state.scratch_root, state.kernel_id, path, tools, durable=durable
    )
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
            state,
            workspace,
            docker_url or state.docker,
            force=force,
            ports=ports,
            in_loop=in_loop,
        )
        if outcome.complete and workspace.private is not None:
            workspace.private.remove()
    return Success(outcome)


async def _undo_journal(
    state: JournalState,
    workspace: Workspace,
    url: str | None,
    *,
    force: bool,
    ports: HostPortPool | None,
    in_loop: bool,
) -> RollbackOutcome:
    async with AsyncExitStack() as stack:
        docker = None
        if url is not None:
            # On first need: aiodocker's import (``executor._docker_host``).
            from ._docker_host import DockerHost  # noqa: PLC0415

            docker = await stack.enter_async_context(DockerHost(url, state.plan_id))
        host = Host(workspace.fs, docker, {}, state.kernel_id, ports=ports)
        return await undo_shielded(
            state.pending_undo(), host, workspace.journal, force=force, in_loop=in_loop
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
