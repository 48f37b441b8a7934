"""One apply or rollback per kernel at a time: an ``flock`` beside the scratch root.

Two applies of one kernel at once would each roll back over the other's work. So an
apply and a rollback hold an exclusive ``flock`` on the kernel's lock file for their
whole run, taken without waiting: a second one is refused at once, naming the
process that holds it. The kernel releases the lock when its holder dies, so a
``kplan rollback`` after a crash is never blocked by a stale lock.

The lock file is ``<parent>/.kplan-locks/<root name>.<kernel id>.lock`` where
``<parent>/<root name>`` is the scratch root with symlinks resolved: every process
that can change a kernel's scratch can reach it, whatever spelling of the root it
was given, and it is outside the scratch root, so no snapshot ever shows it. The
files are kept (removing a lock file races with the next taker).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import final

from ._process import process_id
from .errors import HostError

__all__ = ["KernelLock", "lock_path"]

LOCK_DIR = ".kplan-locks"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PID_WIDTH = 20


def lock_path(scratch_root: Path, kernel_id: str, root_fd: int | None = None) -> Path:
    """The lock file of ``kernel_id`` under ``scratch_root`` (see the module doc).

    ``root_fd``, a descriptor of the scratch root, gives its resolved path with one
    ``readlink`` of ``/proc/self/fd/<fd>`` instead of an ``lstat`` per component;
    without ``/proc`` (or for a root removed since), ``realpath``.
    """
    real = Path(_resolved(scratch_root, root_fd))
    return real.parent / LOCK_DIR / f"{real.name or 'root'}.{kernel_id}.lock"


def _resolved(scratch_root: Path, root_fd: int | None) -> str:
    if root_fd is not None:
        try:
            resolved = str(Path(f"/proc/self/fd/{root_fd}").readlink())
        except OSError:
            resolved = ""  # no /proc here: realpath below, as ever
        if resolved.startswith("/") and not resolved.endswith(" (deleted)"):
            return resolved
    return os.path.realpath(scratch_root)


@final
class KernelLock:
    """A held kernel lock; ``release`` (or the process's death) lets it go."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self.path = path

    @classmethod
    def acquire(
        cls, scratch_root: Path, kernel_id: str, root_fd: int | None = None
    ) -> KernelLock:
        """Take the lock at once, or raise ``HostError`` saying who holds it
        (``root_fd``: a descriptor of the scratch root, as for ``lock_path``)."""
        path = lock_path(scratch_root, kernel_id, root_fd)
        fd = _open_lock_file(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            os.close(fd)
            reason = (
                f"kernel {kernel_id} is being applied or rolled back by another"
                f" kplan process (pid {holder or '?'}); try again when it ends"
            )
            raise HostError("lock", str(path), reason) from None
        except OSError as exc:
            os.close(fd)
            raise HostError("lock", str(path), exc.strerror or str(exc)) from exc
        # Padded to a width no pid reaches, so it overwrites whatever an earlier
        # holder wrote without an ftruncate (the reader strips the padding).
        os.pwrite(fd, f"{process_id():<{_PID_WIDTH}}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        """Let the lock go."""
        os.close(self._fd)


def _open_lock_file(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        directory = _open_lock_dir(path.parent)
        try:
            return os.open(path.name, flags, 0o600, dir_fd=directory)
        finally:
            os.close(directory)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in {errno.ELOOP, errno.ENOTDIR}:
            reason = "a symlink or non-directory is in the way (never followed)"
        raise HostError("lock", str(path), reason) from exc


def _open_lock_dir(directory: Path) -> int:
    """The lock directory, opened without following a link; made on first use
    (an earlier apply made it: most applies open it at once)."""
    try:
        return os.open(directory, _DIR)
    except FileNotFoundError:
        pass
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass  # made meanwhile by another kplan; opened below like any other
    except OSError as exc:
        raise HostError("lock", str(directory), exc.strerror or str(exc)) from exc
    return os.open(directory, _DIR)
