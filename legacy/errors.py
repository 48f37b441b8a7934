"""The exceptions of the legacy bridge (architecture.md §7.2)."""

from __future__ import annotations

__all__ = ["LegacyError", "LegacyUnavailableError", "WorkerError"]


class LegacyError(Exception):
    """The root of the legacy bridge's exceptions."""


class LegacyUnavailableError(LegacyError):
    """No Python 3.13 was found, or the legacy venv could not be built."""


class WorkerError(LegacyError):
    """The worker process died, stopped answering or broke the protocol."""
