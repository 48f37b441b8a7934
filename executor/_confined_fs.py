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

Every method is synchronous and may block; the async layer runs them in a thread.
The undo operations are in ``executor._confined_undo``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath, PurePosixPath
from typing import final

from effects import GenerateHostKey, MountScratch

from ._private_dir import PrivateDir
from ._records import (
    Created,
    DirPrior,
    EntryKind,
    FilePrior,
    HostKeyPrior,
    Left,
    MetaPrior,
    MountPrior,
    Stamp,
)
from ._streams import copy_stream, digest_of, write_all
from ._tools import Tools
from .errors import HostError, MissingPathError

__all__ = [
    "Announce",
    "ScratchRoot",
    "check_single_link",
    "kind_of",
    "proc_path",
    "rename_noreplace",
    "stamp_of",
]

Announce = Callable[[Created], None]
Fill = Callable[[int], str | None]  # writes a new file's content: its sha256

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NODE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_WRITE = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS: tuple[tuple[Callable[[int], bool], EntryKind, str], ...] = (
    (stat.S_ISDIR, "dir", "a directory"),
    (stat.S_ISREG, "file", "a regular file"),
    (stat.S_ISLNK, "symlink", "a symlink"),
    (stat.S_ISSOCK, "socket", "a socket"),
    (stat.S_ISFIFO, "fifo", "a FIFO"),
)
_LIBC = ctypes.CDLL(None, use_errno=True)
_RENAME_NOREPLACE = 1


def _host_error(operation: str, path: PurePath | str, exc: OSError) -> HostError:
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


def _check_file_or_dir(
    operation: str, path: PurePosixPath, info: os.stat_result
) -> None:
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


def _check_same(
    operation: str, path: PurePosixPath, info: os.stat_result, old: Stamp
) -> None:
    if not old.is_entry(info.st_dev, info.st_ino):
        reason = "another entry is there than the one kplan observed before the step"
        raise HostError(operation, str(path), reason)


def rename_noreplace(directory: int, old: str, new: str) -> bool:
    """``renameat2(RENAME_NOREPLACE)`` within one directory; False if ``new`` exists."""
    result = _LIBC.renameat2(
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
            raise _host_error("open scratch root", root, exc) from exc
        self.root = root
        self.tools = tools
        self.durable = durable
        self.private: PrivateDir | None = None

    def close(self) -> None:
        """Release the root descriptor."""
        os.close(self._fd)

    # --- walking -------------------------------------------------------------

    @contextmanager
    def parent(self, path: PurePosixPath) -> Iterator[int]:
        """A descriptor of ``path``'s parent, reached without following symlinks."""
        fd = os.dup(self._fd)
        try:
            for name in path.parts[:-1]:
                try:
                    child = os.open(name, _DIR, dir_fd=fd)
                except OSError as exc:
                    raise _host_error("open", path.parent, exc) from exc
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
                _check_file_or_dir(operation, path, entry)
                fd = os.open(path.name, flags, 0o600, dir_fd=parent)
            except OSError as exc:
                raise _host_error(operation, path, exc) from exc
            try:
                info = os.fstat(fd)
                _check_file_or_dir(operation, path, info)
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
                raise _host_error("stat", path, exc) from exc

    def stamp(self, path: PurePosixPath, *, digest: bool) -> Stamp | None:
        """What ``path`` is now (a regular file's digest if asked); None if absent."""
        try:
            info = self.lstat(path)
            if info is None or not digest or not stat.S_ISREG(info.st_mode):
                return None if info is None else stamp_of(info, None)
            with self.node(path, "read") as (fd, opened):
                return stamp_of(opened, digest_of(fd)[0])
        except MissingPathError:
            return None

    def need_private(self, operation: str, path: PurePosixPath) -> PrivateDir:
        """The journal's private directory (an apply always has one)."""
        if self.private is None:
            raise HostError(operation, str(path), "no private directory to work in")
        return self.private

    # --- observe ---------------------------------------------------------------

    def observe_dir(self, path: PurePosixPath, staging: str) -> DirPrior:
        """Prior of ``MakeDir``: is a directory there (anything else is an error)."""
        info = self.lstat(path)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            reason = f"exists and is {kind_of(info.st_mode)}, not a directory"
            raise HostError("mkdir", str(path), reason)
        existed = info is not None
        return DirPrior(existed=existed, staging=None if existed else staging)

    def observe_file(self, path: PurePosixPath, staging: str, saved: str) -> FilePrior:
        """Prior of ``WriteFile``: absent, or the old file with its content saved."""
        info = self.lstat(path)
        if info is None:
            return FilePrior(old=None, saved=None, staging=staging)
        if not stat.S_ISREG(info.st_mode):
            reason = f"{kind_of(info.st_mode)}, cannot write a file over it"
            raise HostError("write", str(path), reason)
        private = self.need_private("write", path)
        with self.node(path, "write") as (fd, node):
            check_single_link("write", path, node)
            copy = private.save(saved, fd)
        return FilePrior(old=stamp_of(node, copy.sha256), saved=copy, staging=None)

    def observe_meta(self, path: PurePosixPath, operation: str) -> MetaPrior:
        """Prior of ``Chmod``/``Chown``: the path's stamp (its mode and owner)."""
        with self.node(path, operation) as (_, info):
            check_single_link(operation, path, info)
            return MetaPrior(old=stamp_of(info, None))

    def observe_host_key(
        self, effect: GenerateHostKey, staging: str, public_staging: str
    ) -> HostKeyPrior:
        """Prior of ``GenerateHostKey``: the key must be absent; is ``.pub`` there?"""
        if self.lstat(effect.path) is not None:
            raise HostError("generate host key", str(effect.path), "already exists")
        public_existed = self.lstat(effect.public_path) is not None
        return HostKeyPrior(
            staging=staging, public_staging=None if public_existed else public_staging
        )

    def observe_mount(self, effect: MountScratch, staging: str) -> MountPrior:
        """Prior of ``MountScratch``: a dir to mount on (its device), no image yet."""
        info = self.lstat(effect.path)
        if info is None or not stat.S_ISDIR(info.st_mode):
            reason = "the mount point is not a directory"
            raise HostError("mount", str(effect.path), reason)
        if effect.image is not None and self.lstat(effect.image) is not None:
            raise HostError("mount", str(effect.image), "the image file already exists")
        return MountPrior(
            dev=info.st_dev, staging=None if effect.image is None else staging
        )

    # --- apply -------------------------------------------------------------------

    def create(  # noqa: PLR0917  (what to make, how, and who is told)
        self,
        path: PurePosixPath,
        staging: str,
        mode: int,
        fill: Fill | None,
        announce: Announce,
        operation: str,
    ) -> Stamp | None:
        """Make ``path`` new (see *Creating* above); ``fill`` None makes a directory.

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
                raise _host_error(operation, path, exc) from exc

    def make_dir(
        self, path: PurePosixPath, mode: int, staging: str, announce: Announce
    ) -> Left:
        """Create one directory with exactly ``mode``; one there by then is kept."""
        made = self.create(path, staging, mode, None, announce, "mkdir")
        if made is not None:
            return ((path, made),)
        info = self.lstat(path)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            reason = f"exists and is {kind_of(info.st_mode)}, not a directory"
            raise HostError("mkdir", str(path), reason)
        return ()

    def write_new(  # noqa: PLR0917  (the WriteFile fields plus how it is announced)
        self,
        path: PurePosixPath,
        data: bytes,
        digest: str,
        mode: int,
        staging: str,
        announce: Announce,
    ) -> Left:
        """Create a file with ``data`` and exactly ``mode``; never replace one."""

        def fill(fd: int) -> str:
            write_all(fd, data)
            return digest

        made = self.create(path, staging, mode, fill, announce, "write")
        if made is None:
            reason = (
                "exists already: it appeared after kplan looked, and is never replaced"
            )
            raise HostError("write", str(path), reason)
        return ((path, made),)

    def write_over(
        self, path: PurePosixPath, data: bytes, digest: str, old: Stamp
    ) -> Left:
        """Replace the content of the file the prior observed; keep mode and owner."""
        with self.node(path, "write", _WRITE) as (fd, info):
            _check_same("write", path, info, old)
            check_single_link("write", path, info)
            try:
                os.ftruncate(fd, 0)
                write_all(fd, data)
                if self.durable:
                    os.fsync(fd)
                return ((path, stamp_of(os.fstat(fd), digest)),)
            except OSError as exc:
                raise _host_error("write", path, exc) from exc

    def change_meta(
        self,
        path: PurePosixPath,
        old: Stamp,
        mode: int | None,
        owner: tuple[int | None, int | None] | None,
    ) -> Left:
        """``fchmod`` (``mode``) or ``fchown`` (``owner``) the entry observed before."""
        operation = "chmod" if owner is None else "chown"
        with self.node(path, operation) as (fd, info):
            _check_same(operation, path, info, old)
            check_single_link(operation, path, info)
            try:
                if mode is not None:
                    os.fchmod(fd, mode)
                if owner is not None:
                    uid, gid = owner
                    os.fchown(
                        fd, -1 if uid is None else uid, -1 if gid is None else gid
                    )
                now = os.fstat(fd)
                digest = digest_of(fd)[0] if stat.S_ISREG(now.st_mode) else None
            except OSError as exc:
                raise _host_error(operation, path, exc) from exc
            return ((path, stamp_of(now, digest)),)

    def copy_new(
        self,
        path: PurePosixPath,
        source: Path,
        staging: str,
        announce: Announce,
        operation: str,
    ) -> Stamp | None:
        """Create ``path`` (0600) with the content of kplan's own file ``source``."""
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise _host_error(operation, source, exc) from exc

        def fill(target: int) -> str:
            return copy_stream(fd, target)[0]

        try:
            return self.create(path, staging, 0o600, fill, announce, operation)
        finally:
            os.close(fd)

    def host_key(
        self, effect: GenerateHostKey, prior: HostKeyPrior, announce: Announce
    ) -> Left:
        """Run dropbearkey in the private directory, then copy the key pair in."""
        operation = "generate host key"
        if self.tools.dropbearkey is None:
            raise HostError(operation, str(effect.path), "no dropbearkey available")
        private = self.need_private(operation, effect.path)
        with private.tool_dir("hostkey-") as out:
            target = out / "key"
            kind, bits = effect.kind, str(effect.bits)
            command = [
                *self.tools.dropbearkey,
                "-t",
                kind,
                "-s",
                bits,
                "-f",
                str(target),
            ]
            self.run(operation, effect.path, command)
            key = self.copy_new(effect.path, target, prior.staging, announce, operation)
            if key is None:
                raise HostError(operation, str(effect.path), "already exists")
            left: Left = ((effect.path, key),)
            public = out / "key.pub"
            if prior.public_staging is not None and public.exists():
                made = self.copy_new(
                    effect.public_path,
                    public,
                    prior.public_staging,
                    announce,
                    operation,
                )
                # One there by now is left alone, as dropbear leaves an existing one.
                left += () if made is None else ((effect.public_path, made),)
        return left

    def mount(
        self, effect: MountScratch, prior: MountPrior, announce: Announce
    ) -> Left:
        """Mount a tmpfs, or make, format and loop-mount an ext4 image."""
        left: Left = ()
        if effect.image is not None and effect.image_mode is not None:
            left = self._image(effect, prior, announce)
        else:
            with self.node(effect.path, "mount") as (target, _):
                options = f"size={effect.size}"
                command = [self.tools.mount, "-t", "tmpfs", "-o", options, "tmpfs"]
                self.run("mount", effect.path, [*command, proc_path(target)])
        mounted = self.stamp(effect.path, digest=False)
        if mounted is None:
            raise HostError("mount", str(effect.path), "the mount point is gone")
        return (*left, (effect.path, mounted))

    def _image(
        self, effect: MountScratch, prior: MountPrior, announce: Announce
    ) -> Left:
        image, mode = effect.image, effect.image_mode
        assert image is not None  # noqa: S101  (checked by mount)
        assert mode is not None  # noqa: S101
        if prior.staging is None:
            raise HostError(
                "mount", str(image), "the journal has no staging name for it"
            )

        def sparse(fd: int) -> None:
            os.ftruncate(fd, effect.size)  # its content is the filesystem's: untracked

        made = self.create(image, prior.staging, mode, sparse, announce, "create image")
        if made is None:
            raise HostError("mount", str(image), "the image file already exists")
        with self.node(image, "mkfs", _WRITE) as (fd, info):
            _check_same("mkfs", image, info, made)
            self.run("mkfs", image, [self.tools.mkfs, "-q", "-F", proc_path(fd)])
            with self.node(effect.path, "mount") as (target, _):
                command = [
                    self.tools.mount,
                    "-o",
                    "loop",
                    proc_path(fd),
                    proc_path(target),
                ]
                self.run("mount", effect.path, command)
        return ((image, made),)

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
    return f"/proc/{os.getpid()}/fd/{fd}"
