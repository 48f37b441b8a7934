"""The few syscalls the sandbox needs that ``os`` lacks (ctypes over libc).

``mount(2)``, ``umount2(2)`` and ``prctl(2)`` (die with the parent, child subreaper),
plus ``unshare(CLONE_NEWNS)`` through ``os``. Failures raise ``OSError`` with errno.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MNT_DETACH = 0x2
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


def _check_libc(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def sys_mount(
    source: str | None,
    target: str,
    flags: int,
    fstype: str | None = None,
    data: str | None = None,
) -> None:
    """``mount(2)`` (bind / remount / propagation; tmpfs with ``fstype``/``data``)."""
    result = _libc.mount(
        os.fsencode(source) if source else None,
        os.fsencode(target),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    _check_libc(result, f"mount {target}")


def sys_umount(target: str, flags: int = 0) -> None:
    """``umount2(2)``."""
    _check_libc(_libc.umount2(os.fsencode(target), flags), f"umount {target}")


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Die with the parent (so a crashed bridge leaves no sandbox running)."""
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def set_child_subreaper() -> None:
    """Orphaned descendants are re-parented to this process (so it can reap them)."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def unshare_mount_namespace() -> None:
    """Move this process into a new mount namespace (``unshare(CLONE_NEWNS)``)."""
    if sys.version_info >= (3, 12):
        os.unshare(os.CLONE_NEWNS)
    else:  # os.unshare is new in 3.12; the legacy interpreter is 3.13
        raise OSError(errno.ENOSYS, "os.unshare needs Python 3.12 or later")
