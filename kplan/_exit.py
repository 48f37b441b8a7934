"""kplan's exit codes, in one place (architecture.md §6; the README lists them)."""

from __future__ import annotations

import enum

__all__ = ["Exit"]


class Exit(enum.IntEnum):
    """What a kplan command's exit status means."""

    OK = 0  # done, or no differences found
    ERROR = 1  # an error, or input refused (every problem is on stderr)
    DIFFERENT = 2  # kplan diff found differences
    INTERRUPTED = 130  # SIGINT (128 + 2): an apply was rolled back first
    TERMINATED = 143  # SIGTERM (128 + 15): an apply was rolled back first
