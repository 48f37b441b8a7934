"""The worker's own exception (its other failures are legacy's, reported as results)."""

from __future__ import annotations


class ConfinementError(RuntimeError):
    """The sandbox could not be established; legacy must not run."""
