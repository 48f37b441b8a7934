"""What each of kplan's syscalls in a marked window is for, read from strace's lines.

An apply makes the floor's tree (``tree``: mkdir, the exclusive create, the content,
the owner, the close) and pays for its guarantees on top: a look at each path before
acting on it (``observe``), the device and inode of every new entry for its
announcement (``identity``, one ``fstat``), the rename from its staging name
(``staging``), a descriptor of every directory it works under (``descriptors``,
never a path walk), the journal with the kernel's lock and the private copies
(``journal``), and the worker thread's hand-offs with the event loop (``runtime``).
The purposes follow from each call and its arguments; a descriptor's ``close`` or
``write`` goes by what it was opened for.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable

__all__ = ["PURPOSES", "purposes"]

PURPOSES = (
    "tree",
    "observe",
    "identity",
    "staging",
    "descriptors",
    "journal",
    "runtime",
    "other",
)

_LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(.*)$")
_CALL = re.compile(r"^([a-z_0-9]+)\((.*)\)\s+=\s+(-?\d+|\?)")
_UNFINISHED = re.compile(r"^([a-z_0-9]+)\((.*)\s<unfinished \.\.\.>$")
_RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)\)\s+=\s+(-?\d+|\?)")
# Calls whose purpose their name says (mkdir: the private directory's; the
# scratch's entries are made with mkdirat).
_BY_NAME = {
    **dict.fromkeys(
        ("futex", "epoll_wait", "epoll_ctl", "sendto", "recvfrom", "getpid"),
        "runtime",
    ),
    **dict.fromkeys(("mmap", "munmap", "mprotect", "madvise", "brk"), "runtime"),
    "renameat2": "staging",
    **dict.fromkeys(
        ("flock", "readlink", "getrandom", "fsync", "fdatasync", "mkdir"), "journal"
    ),
    **dict.fromkeys(
        ("mkdirat", "fchown", "fchmod", "geteuid", "getegid", "unlinkat"), "tree"
    ),
}
_BY_DESCRIPTOR = frozenset({"close", "write", "pwrite64", "ftruncate"})


def purposes(lines: Iterable[str]) -> collections.Counter[str]:
    """Counts by purpose of the syscalls in ``lines`` (one traced window)."""
    counts: collections.Counter[str] = collections.Counter()
    fds: dict[int, str] = {}  # descriptor -> what it was opened for
    pending: dict[str, tuple[str, str]] = {}  # pid -> unfinished (name, args)
    for raw in lines:
        line = raw.strip()
        found = _LINE.match(line)
        pid, text = (found.group(1), found.group(2)) if found else ("", line)
        call = _call(text, pid, pending)
        if call is None:
            continue
        name, args, result = call
        counts[_purpose(name, args, result, fds)] += 1
    return counts


def _call(
    text: str, pid: str, pending: dict[str, tuple[str, str]]
) -> tuple[str, str, int | None] | None:
    """One whole call (a resumed one joined to its start), else ``None``."""
    unfinished = _UNFINISHED.match(text)
    if unfinished is not None:
        pending[pid] = (unfinished.group(1), unfinished.group(2))
        return None
    resumed = _RESUMED.match(text)
    if resumed is not None:
        name, args = pending.pop(pid, (resumed.group(1), ""))
        return name, args + resumed.group(2), _number(resumed.group(3))
    whole = _CALL.match(text)
    if whole is None:
        return None  # a signal, an exit
    return whole.group(1), whole.group(2), _number(whole.group(3))


def _number(text: str) -> int | None:
    return None if text == "?" else int(text)


def _first_fd(args: str) -> int | None:
    head = args.split(",", 1)[0].strip()
    return int(head) if head.isdigit() else None


def _purpose(  # noqa: PLR0911  (one answer per kind of call)
    name: str, args: str, result: int | None, fds: dict[int, str]
) -> str:
    known = _BY_NAME.get(name)
    if known is not None:
        return known
    if name in {"newfstatat", "fstat", "statx"}:
        if '""' in args and "AT_EMPTY_PATH" in args:
            return "identity"
        return "journal" if args.startswith("AT_FDCWD") else "observe"
    if name == "openat":
        purpose = _opened(args)
        if result is not None and result >= 0:
            fds[result] = purpose
        return purpose
    if name in _BY_DESCRIPTOR:
        fd = _first_fd(args)
        if fd is None:
            return "other"
        return fds.pop(fd, "journal") if name == "close" else fds.get(fd, "journal")
    return "other"


def _opened(args: str) -> str:
    """What an ``openat`` is for, by its path and flags."""
    if ".kplan-locks" in args or ".lock" in args or ".private" in args:
        return "journal"
    if '"prior-' in args or "O_APPEND" in args:
        return "journal"
    if "O_DIRECTORY" in args:
        return "descriptors"
    return "tree"
