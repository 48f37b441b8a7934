"""This process's id, read once: ``os.getpid`` is a syscall (glibc caches it no
more), and an apply asks for it on its path (the journal's ``begin``, the lock,
``/proc/<pid>/fd`` paths). A forked child reads its own."""

from __future__ import annotations

import os

__all__ = ["process_id"]

_pid = os.getpid()


def _forked() -> None:
    global _pid  # noqa: PLW0603  (the one cached value, renewed in a child)
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def process_id() -> int:
    """``os.getpid()``, without the syscall."""
    return _pid
