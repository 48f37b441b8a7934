"""The executor's error values and its one root exception (architecture.md §7.2).

``HostError`` is an expected, environmental failure (EPERM, ENOSPC, a symlink in
the way, Docker 409, a non-zero exit code, a kernel locked by another kplan);
adapters raise it with the effect and the cause attached, ``raise HostError(...)
from exc``, and the library entry points turn it into a value. Everything else is
a bug and propagates as it is. ``ApplyFailed``, ``RollbackOutcome`` (with its
``RollbackFailure``s and ``ChangedPath``s), ``RollbackRefused`` and
``JournalError`` are values.
"""

from __future__ import annotations

from typing import final

import attrs

__all__ = [
    "ApplyFailed",
    "ChangedPath",
    "ExecutorError",
    "HostError",
    "JournalError",
    "MissingPathError",
    "RollbackFailure",
    "RollbackOutcome",
    "RollbackRefused",
]


class ExecutorError(Exception):
    """The root of the executor's exceptions."""


class HostError(ExecutorError):
    """The host refused an operation: what, on which path, and why."""

    def __init__(self, operation: str, target: str, reason: str) -> None:
        super().__init__(f"{operation} {target}: {reason}")
        self.operation = operation
        self.target = target
        self.reason = reason


class MissingPathError(HostError):
    """A path (or one of its parents) does not exist."""


@final
@attrs.frozen(kw_only=True)
class RollbackFailure:
    """One inverse that could not be applied; ``index`` is the plan step it undoes."""

    index: int
    action: str
    reason: str

    def __str__(self) -> str:
        return f"undo of step {self.index} ({self.action}) failed: {self.reason}"


@final
@attrs.frozen(kw_only=True)
class ChangedPath:
    """A path not undone because it is no longer what the apply left there."""

    index: int
    path: str
    reason: str

    def __str__(self) -> str:
        return (
            f"step {self.index}: {self.path} changed since the apply ({self.reason}):"
            " left as it is (kplan rollback --force puts it back all the same)"
        )


@final
@attrs.frozen(kw_only=True)
class RollbackOutcome:
    """What rollback did: steps undone, inverses that failed, paths left as changed.

    ``undone`` counts the steps that changed the host; a data step
    (``effects.DATA_EFFECTS``) has nothing to undo and is not counted.
    """

    undone: int
    failures: tuple[RollbackFailure, ...]
    changed: tuple[ChangedPath, ...] = ()

    @property
    def complete(self) -> bool:
        """True if every step was undone: no inverse failed, no path was left."""
        return not self.failures and not self.changed

    def summary(self) -> str:
        """``rollback complete: 3 steps undone`` or what kept it incomplete."""
        if self.complete:
            return f"rollback complete: {self.undone} steps undone"
        parts = [f"{self.undone} steps undone"]
        if self.failures:
            parts.append(f"{len(self.failures)} undo actions failed")
        if self.changed:
            parts.append(f"{len(self.changed)} paths changed since the apply, left")
        return f"rollback INCOMPLETE: {', '.join(parts)}"


@final
@attrs.frozen(kw_only=True)
class JournalError:
    """A journal that cannot be rolled back as it is: which line, which field, why."""

    journal: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        if not self.line:
            return f"{self.journal}: {self.reason}"  # the file as a whole
        return f"{self.journal} line {self.line}: {self.field}: {self.reason}"


@final
@attrs.frozen(kw_only=True)
class RollbackRefused:
    """A rollback refused before it undid anything, and why."""

    journal: str
    reason: str

    def __str__(self) -> str:
        return f"cannot roll back {self.journal}: {self.reason} (nothing was undone)"


@final
@attrs.frozen(kw_only=True)
class ApplyFailed:
    """An apply that failed and was rolled back (completely or not), or refused.

    ``index`` is -1 for an apply refused before its first step (nothing changed);
    ``journal`` is empty when nothing ran (a refusal, a dry run).
    """

    index: int
    stage: str
    effect: str
    cause: str
    rollback: RollbackOutcome
    journal: str

    def __str__(self) -> str:
        if self.index < 0:
            return f"refused before any change: {self.cause}"
        failed = f"step {self.index} ({self.stage}: {self.effect}) failed: {self.cause}"
        if not self.journal:
            return failed  # nothing ran (a dry run), nothing to roll back
        lines = [failed, f"{self.rollback.summary()} (journal {self.journal})"]
        lines += [f"  {failure}" for failure in self.rollback.failures]
        lines += [f"  {changed}" for changed in self.rollback.changed]
        return "\n".join(lines)
