"""The executor's error values and its one root exception (architecture.md §7.2).

``HostError`` is an expected, environmental failure (EPERM, ENOSPC, a symlink in
the way, Docker 409, a non-zero exit code); adapters raise it with the effect and
the cause attached, ``raise HostError(...) from exc``. Everything else is a bug and
propagates as it is. ``ApplyFailed`` and ``RollbackFailure`` are values.
"""

from __future__ import annotations

from typing import final

import attrs

__all__ = [
    "ApplyFailed",
    "ExecutorError",
    "HostError",
    "MissingPathError",
    "RollbackFailure",
    "RollbackOutcome",
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
class RollbackOutcome:
    """What rollback did: how many steps it undid and every inverse that failed."""

    undone: int
    failures: tuple[RollbackFailure, ...]

    @property
    def complete(self) -> bool:
        """True if every inverse succeeded."""
        return not self.failures


@final
@attrs.frozen(kw_only=True)
class ApplyFailed:
    """An apply that failed and was rolled back (completely or not)."""

    index: int
    stage: str
    effect: str
    cause: str
    rollback: RollbackOutcome
    journal: str

    def __str__(self) -> str:
        state = "complete" if self.rollback.complete else "INCOMPLETE"
        lines = [
            f"step {self.index} ({self.stage}: {self.effect}) failed: {self.cause}",
            (
                f"rollback {state}: {self.rollback.undone} steps undone"
                f" (journal {self.journal})"
            ),
        ]
        lines += [f"  {failure}" for failure in self.rollback.failures]
        return "\n".join(lines)
