"""Confined filesystem work under one scratch root (the only ``os`` user for it).

Theory of operation
-------------------
*Walking.* The scratch root is opened once; every other path is reached by opening
one component at a time relative to its parent's descriptor with ``O_NOFOLLOW``, so
a symlink planted anywhere in the scratch (``work/.ssh -> /root/.ssh``) stops the
operation with ``ELOOP`` instead of redirecting it.

*Changing.* A write, chmod or chown goes through a descriptor of the target itself,
opened only after ``lstat`` showed a regular file or a directory (a socket or a
FIFO is never opened: that fails or blocks) and checked again on the descriptor:
it must be the entry the prior state observed, and a regular file must have one
link only. An inode with a second link may be a file outside the scratch (a
hardlink planted as ``work/.bashrc``), so kplan refuses the effect, naming it and
the path, and the apply rolls back (§16 H36); replacing the entry instead would
silently break the user's own links.

*Creating.* A new file or directory is made under a staging name of the apply's own
(``.kplan-<token>-<step>``), announced with its device and inode (the journal's
``created`` record), filled and given its exact mode, then renamed to its final
name with ``RENAME_NOREPLACE``: it never replaces anything, appears whole, and even
after a crash the rollback knows which entries are the step's (``executor._records``).
A directory that is there by then is kept; a file is refused.

*Mounts* name their target as ``/proc/<pid>/fd/<fd>`` of a descriptor opened the
same way, so ``mount`` cannot be sent elsewhere by a path swap either. External
commands are checked by exit code (``!= 0``) and report their stderr.

*Caching.* Walking costs two syscalls per component, per operation. So the
thread that applies the filesystem steps (``executor._fs_lane``), and later the
rollback's (``caching``), keep the directory descriptors they walked (``dir_fd``): each
directory is opened once per apply, one component at a time with ``O_NOFOLLOW``
as above, and everything below it is reached from that descriptor. It pins the
directory that was there when it was first reached; the scratch is the kernel's
own while kplan holds its lock and its container is not running, and a mount on
a path, or the removal of a directory, drops the descriptors at and below it
(``forget``). The cache is trimmed to a bound (least recently used first) only
between batches (``trim``), so a descriptor a batch holds is never closed under it,
and emptied by the lane's thread once its last step finished (``forget_all``).

Every method is synchronous and may block; the async layer runs them in a thread.
What observes, applies and undoes each effect is built on these primitives in
``executor._confined_observe``, ``executor._confined_apply`` and
``executor._confined_undo``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import stat
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path, PurePath, PurePosixPath
from typing import final

from ._private_dir import PrivateDir
from ._process import process_id
from ._records import (
    Created,
    EntryKind,
    Stamp,
)
from ._streams import digest_of, holds
from ._tools import Tools
from .errors import HostError, MissingPathError

__all__ = [
    "WRITE",
    "Announce",
    "ScratchRoot",
    "check_file_or_dir",
    "check_same",
    "check_single_link",
    "fchown_keeping",
    "host_error",
    "kind_of",
    "proc_path",
    "rename_noreplace",
    "stamp_of",
]

Announce = Callable[[Created], None]
Fill = Callable[[int], str | None]  # writes a new file's content: its sha256

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NODE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
WRITE = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS: tuple[tuple[Callable[[int], bool], EntryKind, str], ...] = (
    (stat.S_ISDIR, "dir", "a directory"),
    (stat.S_ISREG, "file", "a regular file"),
    (stat.S_ISLNK, "symlink", "a symlink"),
    (stat.S_ISSOCK, "socket", "a socket"),
    (stat.S_ISFIFO, "fifo", "a FIFO"),
)
_LIBC = ctypes.CDLL(None, use_errno=True)
_RENAMEAT2 = _LIBC.renameat2
_RENAMEAT2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
_RENAMEAT2.argtypes += (ctypes.c_uint,)
_RENAMEAT2.restype = ctypes.c_int
_RENAME_NOREPLACE = 1
_TOP = PurePosixPath()  # the scratch root itself


@cache  # once per process: a syscall, on every apply's path otherwise
def cache_bound() -> int:
    """How many directory descriptors one apply keeps between batches.

    A share of the soft ``RLIMIT_NOFILE`` (an agent applies dozens of kernels at
    once in one process), between 8 and 64.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 64
    return max(8, min(64, soft // 128))


def host_error(operation: str, path: PurePath | str, exc: OSError) -> HostError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno == errno.ELOOP:
        reason = "a symlink is in the way (kplan never follows symlinks in the scratch)"
    if exc.errno == errno.ENOENT:
        return MissingPathError(operation, str(path), reason)
    return HostError(operation, str(path), reason)


def kind_of(st_mode: int) -> str:
    """What an entry is, for messages: ``a directory``, ``a socket``..."""
    return next((text for is_kind, _, text in _KINDS if is_kind(st_mode)), "a device")


def _entry_kind(st_mode: int) -> EntryKind:
    for is_kind, kind, _ in _KINDS:
        if is_kind(st_mode):
            return kind
    return "device"


def stamp_of(info: os.stat_result, sha256: str | None) -> Stamp:
    """The stamp of an entry from its ``stat`` (and its digest, for a tracked file)."""
    return Stamp(
        kind=_entry_kind(info.st_mode),
        dev=info.st_dev,
        ino=info.st_ino,
        mode=stat.S_IMODE(info.st_mode),
        uid=info.st_uid,
        gid=info.st_gid,
        sha256=sha256,
    )


def check_file_or_dir(
    operation: str, path: PurePosixPath, info: os.stat_result
) -> None:
    """Refuse anything but a regular file or a directory (a socket's or a FIFO's
    open has side effects or blocks; a symlink is never followed)."""
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        reason = f"is {kind_of(info.st_mode)}: kplan changes only files and directories"
        raise HostError(operation, str(path), reason)


def check_single_link(
    operation: str, path: PurePosixPath, info: os.stat_result
) -> None:
    """Refuse a regular file with more than one hard link (§16 H36)."""
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        reason = (
            f"has {info.st_nlink} hard links: another may be outside the scratch, so"
            " kplan never writes, chmods or chowns it (H36)"
        )
        raise HostError(operation, str(path), reason)


def check_same(
    operation: str, path: PurePosixPath, info: os.stat_result, old: Stamp
) -> None:
    if not old.is_entry(info.st_dev, info.st_ino):
        reason = "another entry is there than the one kplan observed before the step"
        raise HostError(operation, str(path), reason)


def fchown_keeping(fd: int, uid: int | None, gid: int | None) -> None:
    """``fchown`` the open entry; a ``None`` id is kept (``-1``), as in ``Chown``."""
    os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)


def rename_noreplace(directory: int, old: str, new: str) -> bool:
    """``renameat2(RENAME_NOREPLACE)`` within one directory; False if ``new`` exists."""
    result = _RENAMEAT2(
        directory, os.fsencode(old), directory, os.fsencode(new), _RENAME_NOREPLACE
    )
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error == errno.EEXIST:
        return False
    raise OSError(error, os.strerror(error), new)


@final
class ScratchRoot:
    """File operations confined to one scratch root directory."""

    def __init__(self, root: Path, tools: Tools, *, durable: bool = False) -> None:
        """Open ``root``; ``private`` (the journal's private directory) is set later."""
        try:
            self._fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise host_error("open scratch root", root, exc) from exc
        self.root = root
        self.tools = tools
        self.durable = durable
        # The contents this process's apply wrote, by digest: an undo compares a
        # file with the bytes it is to hold instead of hashing it (``looking``).
        self.written: Mapping[str, bytes] = {}
        self.private: PrivateDir | None = None
        self._private_path: Path | None = None  # where to make it on first need
        self._private_lock = threading.Lock()  # the lane's and the host key's
        self._dirs: OrderedDict[str, int] = OrderedDict()  # path text -> fd
        self._bound = cache_bound()
        # Whether ``parent`` (and so every walk) uses the cache: only while one
        # thread alone works on the root (a rollback), never beside the lane.
        self.caching = False

    @property
    def root_fd(self) -> int:
        """The descriptor of the scratch root (owned by this object)."""
        return self._fd

    def close(self) -> None:
        """Release the cached descriptors, a private directory made on first need
        (the directory stays), and the root descriptor."""
        self.forget_all()
        if self._private_path is not None and self.private is not None:
            self.private.close()
        os.close(self._fd)

    # --- the descriptor cache (see *Caching*; one thread at a time) ------------

    def dir_fd(self, path: PurePosixPath | str) -> int:
        """A cached descriptor of the directory ``path`` (empty: the root),
        reached one component at a time without following symlinks.

        Keyed by the path's text: hashing ``PurePosixPath`` values is most of the
        cost of a lookup, and the lane looks up every step's parent.
        """
        key = path if isinstance(path, str) else str(path)
        if key in {"", "."}:
            return self._fd
        cached = self._dirs.get(key)
        if cached is not None:
            self._dirs.move_to_end(key)
            return cached
        head, _, name = key.rpartition("/")
        parent = self.dir_fd(head)
        try:
            fd = os.open(name, _DIR, dir_fd=parent)
        except OSError as exc:
            raise host_error("open", key, exc) from exc
        self._dirs[key] = fd
        return fd

    def cached(self, key: str) -> int | None:
        """The cached descriptor of the directory at ``key``, if there is one."""
        if key in {"", "."}:
            return self._fd
        fd = self._dirs.get(key)
        if fd is not None:
            self._dirs.move_to_end(key)
        return fd

    def adopt_dir(self, key: str, fd: int) -> None:
        """Cache ``fd`` (a directory the caller opened) as ``key``'s; takes it."""
        old = self._dirs.pop(key, None)
        if old is not None:
            os.close(old)
        self._dirs[key] = fd

    def forget(self, path: PurePosixPath) -> None:
        """Drop (and close) the cached descriptors of ``path`` and all below it."""
        if not path.parts:
            gone = list(self._dirs)
        else:
            top, below = str(path), f"{path}/"
            gone = [k for k in self._dirs if k == top or k.startswith(below)]
        for key in gone:
            os.close(self._dirs.pop(key))

    def forget_all(self) -> None:
        """Drop (and close) every cached descriptor (walks open them again)."""
        self.forget(_TOP)

    def trim(self) -> None:
        """Close the least recently used descriptors beyond the bound."""
        while len(self._dirs) > self._bound:
            _, fd = self._dirs.popitem(last=False)
            os.close(fd)

    # --- walking -------------------------------------------------------------

    def parent(self, path: PurePosixPath) -> AbstractContextManager[int]:
        """A descriptor of ``path``'s parent, reached without following symlinks.

        From the cache while ``caching`` (see *Caching*), else walked anew. The
        cached one is looked up by this call (a ``HostError`` is raised here, as
        the ``with`` begins) and held by the cache, so leaving closes nothing.
        """
        if self.caching:
            return nullcontext(self.dir_fd(str(path).rpartition("/")[0]))
        return self._walked_parent(path)

    @contextmanager
    def _walked_parent(self, path: PurePosixPath) -> Iterator[int]:
        fd = os.dup(self._fd)
        try:
            for name in path.parts[:-1]:
                try:
                    child = os.open(name, _DIR, dir_fd=fd)
                except OSError as exc:
                    raise host_error("open", path.parent, exc) from exc
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def node(
        self, path: PurePosixPath, operation: str, flags: int = _NODE
    ) -> Iterator[tuple[int, os.stat_result]]:
        """A descriptor of ``path`` itself: a regular file or directory, never a link.

        The entry's type is checked before it is opened (a socket or FIFO is never
        opened) and again on the descriptor, in case it was swapped in between.
        """
        with self.parent(path) as parent:
            try:
                entry = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
                check_file_or_dir(operation, path, entry)
                fd = os.open(path.name, flags, 0o600, dir_fd=parent)
            except OSError as exc:
                raise host_error(operation, path, exc) from exc
            try:
                info = os.fstat(fd)
                check_file_or_dir(operation, path, info)
                yield fd, info
            finally:
                os.close(fd)

    def lstat(self, path: PurePosixPath) -> os.stat_result | None:
        """``lstat`` of ``path`` (parents never followed), or ``None`` if absent."""
        with self.parent(path) as parent:
            try:
                return os.stat(path.name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise host_error("stat", path, exc) from exc

    def stamp(
        self, path: PurePosixPath, *, digest: bool, expect: str | None = None
    ) -> Stamp | None:
        """What ``path`` is now (a regular file's digest if asked, ``expect`` as
        for ``looking``); None if absent."""
        looked = self.looking(path, digest=digest, open_dir=False, expect=expect)
        with looked as (stamp, _, _):
            return stamp

    @contextmanager
    def looking(
        self,
        path: PurePosixPath,
        *,
        digest: bool,
        open_dir: bool,
        expect: str | None = None,
    ) -> Iterator[tuple[Stamp | None, int, os.stat_result | None]]:
        """What ``path`` is now (``None``: absent, its parent too), and a
        descriptor of it (-1: none) if it is a regular file, or a directory and
        ``open_dir``, with its ``fstat``: the undo's look, and then its act on the
        very entry.

        One ``lstat``, and one open only where the digest is asked or the caller
        acts: the entry's type is checked before it is opened (a socket or FIFO
        is never opened) and again on the descriptor, as ``node`` does; the stamp
        is the descriptor's. ``expect``: the digest the caller expects there; if
        this process wrote that content (``written``), a file holding exactly
        those bytes gets it without being hashed.
        """
        # No ExitStack: the undo looks once per step (see ``parent`` for what
        # a cached descriptor's context does).
        try:
            held = self.parent(path)
            parent = held.__enter__()
        except MissingPathError:
            yield None, -1, None
            return
        try:
            info = self._lstat_at(parent, path)
            if info is None:
                yield None, -1, None
                return
            regular = stat.S_ISREG(info.st_mode)
            wanted = (regular and (digest or open_dir)) or (
                open_dir and stat.S_ISDIR(info.st_mode)
            )
            if not wanted:
                yield stamp_of(info, None), -1, None
                return
            fd = self._open_at(parent, path)
            try:
                opened = os.fstat(fd)
                check_file_or_dir("read", path, opened)
                sha = None
                if digest and stat.S_ISREG(opened.st_mode):
                    sha = self._digest(fd, opened.st_size, expect)
                yield stamp_of(opened, sha), fd, opened
            finally:
                os.close(fd)
        finally:
            held.__exit__(None, None, None)

    def _digest(self, fd: int, size: int, expect: str | None) -> str:
        if expect is not None:
            data = self.written.get(expect)
            if data is not None and holds(fd, size, data):
                return expect  # byte for byte what was written: that digest
        return digest_of(fd, size)[0]

    @staticmethod
    def _open_at(parent: int, path: PurePosixPath) -> int:
        try:
            return os.open(path.name, _NODE, dir_fd=parent)
        except OSError as exc:
            raise host_error("read", path, exc) from exc

    @staticmethod
    def _lstat_at(parent: int, path: PurePosixPath) -> os.stat_result | None:
        try:
            return os.stat(path.name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise host_error("stat", path, exc) from exc

    def defer_private(self, path: Path) -> None:
        """Make the private directory at ``path`` when a step first needs it."""
        self._private_path = path

    def need_private(self, operation: str, path: PurePosixPath) -> PrivateDir:
        """The journal's private directory, made now if it is not yet (an apply
        always has one; ``HostError`` if its name was taken since the check)."""
        with self._private_lock:
            if self.private is None and self._private_path is not None:
                self.private = PrivateDir.create(
                    self._private_path, durable=self.durable
                )
            if self.private is None:
                raise HostError(operation, str(path), "no private directory to work in")
            return self.private

    # --- apply -------------------------------------------------------------------

    def create(
        self,
        path: PurePosixPath,
        staging: str,
        mode: int,
        fill: Fill | None,
        *,
        announce: Announce,
        operation: str,
        owner: tuple[int | None, int | None] = (None, None),
    ) -> Stamp | None:
        """Make ``path`` new (see *Creating* above); ``fill`` None makes a directory.
        ``owner``: its uid and gid (``None`` keeps the creator's), given before
        its mode.

        Returns what it made, or ``None`` if an entry had that name by then (left as
        it is, the staging entry removed).
        """
        directory = fill is None
        with self.parent(path) as parent:
            try:
                fd = _make_staging(parent, staging, directory=directory)
                try:
                    made = os.fstat(fd)
                    announce(Created(path=path, dev=made.st_dev, ino=made.st_ino))
                    digest = None if fill is None else fill(fd)
                    if owner != (None, None):
                        fchown_keeping(fd, *owner)
                    os.fchmod(fd, mode)  # exact: the umask does not apply
                    if self.durable:
                        os.fsync(fd)
                    if not rename_noreplace(parent, staging, path.name):
                        _remove_name(parent, staging, directory=directory)
                        return None
                    return stamp_of(os.fstat(fd), digest)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise host_error(operation, path, exc) from exc

    # --- helpers ----------------------------------------------------------------------

    def run(self, operation: str, path: PurePosixPath, command: list[str]) -> None:
        """Run an external command; ``HostError`` with its stderr unless it exits 0."""
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=300
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HostError(operation, str(path), f"{command[0]}: {exc}") from exc
        if done.returncode != 0:  # a positive code is a failure too (unlike legacy, H6)
            reason = (
                f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}"
            )
            raise HostError(operation, str(path), reason)


def _make_staging(parent: int, staging: str, *, directory: bool) -> int:
    if not directory:
        return os.open(staging, _NEW_FILE, 0o600, dir_fd=parent)
    os.mkdir(staging, 0o700, dir_fd=parent)
    return os.open(staging, _DIR, dir_fd=parent)


def _remove_name(parent: int, name: str, *, directory: bool) -> None:
    if directory:
        os.rmdir(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def proc_path(fd: int) -> str:
    """``/proc/<pid>/fd/<fd>``: a path that names exactly the open entry."""
    return f"/proc/{process_id()}/fd/{fd}"
