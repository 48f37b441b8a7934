"""The threads filesystem lanes run in: one process-wide pool, one thread by default.

A lane is mostly Python between short syscalls, so lanes in several threads
contend for the interpreter's lock, and each syscall hands it over: 32 kernels
applied at once took twice as long with six threads as one after another, and
as long with one thread (issue 12). So every apply's lane runs in this pool, of
``KPLAN_LANE_THREADS`` threads (default 1): the kernels' file work goes one
batch run at a time, while their host keys, pulls and containers, which wait on
processes and Docker, still run alongside in the event loop and its own pool.
More threads pay off only where the file work waits on the disk.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["lane_pool"]

_POOL: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()


def lane_pool() -> ThreadPoolExecutor:
    """The process's pool for lanes (made on first use)."""
    global _POOL  # noqa: PLW0603  (one pool per process, made lazily)
    with _LOCK:
        if _POOL is None:
            threads = int(os.environ.get("KPLAN_LANE_THREADS", "1"))
            _POOL = ThreadPoolExecutor(
                max_workers=max(threads, 1), thread_name_prefix="kplan-lane"
            )
        return _POOL
