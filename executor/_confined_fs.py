"""Confined filesystem work under one scratch root (the only ``os`` user for it).

Theory of operation
-------------------
The scratch root is opened once; every other path is reached by opening one
component at a time relative to its parent's descriptor with ``O_NOFOLLOW``, so a
symlink planted anywhere in the scratch (``work/.ssh -> /root/.ssh``) stops the
operation with ``ELOOP`` instead of redirecting it. Metadata changes go through a
descriptor of the target itself (``fchmod``/``fchown``), opened without following.
Mounts name their target as ``/proc/<pid>/fd/<fd>`` of a descriptor opened the same
way, so ``mount`` cannot be sent elsewhere by a path swap either. External commands
are checked by exit code (``!= 0``) and report their stderr.

Every method is synchronous and may block; the async layer runs them in a thread.
"""

from __future__ import annotations

import base64
import errno
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath, PurePosixPath
from typing import final

from effects import GenerateHostKey, MountScratch, public_key_path

from ._inverse import Prior
from ._tools import Tools
from .errors import HostError, MissingPathError

__all__ = ["ScratchRoot"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NODE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _host_error(operation: str, path: PurePath | str, exc: OSError) -> HostError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno == errno.ELOOP:
        reason = "a symlink is in the way (kplan never follows symlinks in the scratch)"
    if exc.errno == errno.ENOENT:
        return MissingPathError(operation, str(path), reason)
    return HostError(operation, str(path), reason)


@final
class ScratchRoot:
    """File operations confined to one scratch root directory."""

    def __init__(
        self, root: Path, tools: Tools, private: Path, *, durable: bool = False
    ) -> None:
        """Open ``root``; ``private`` is a directory of kplan's own for tool output
        (a host key before it is copied in), removed with the journal's apply."""
        try:
            self._fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise _host_error("open scratch root", root, exc) from exc
        self.root = root
        self.private = private
        self.tools = tools
        self.durable = durable

    def close(self) -> None:
        """Release the root descriptor."""
        os.close(self._fd)

    # --- walking -------------------------------------------------------------

    @contextmanager
    def _parent(self, path: PurePosixPath) -> Iterator[int]:
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
    def _node(self, path: PurePosixPath) -> Iterator[tuple[int, os.stat_result]]:
        """A descriptor of ``path`` itself (a regular file or a dir, never a link).

        The entry's type is checked before it is opened: a socket or a FIFO is never
        opened (the open fails or, for a FIFO, may block), and again on the opened
        descriptor, in case the entry was swapped in between.
        """
        with self._parent(path) as parent:
            try:
                entry = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
            except OSError as exc:
                raise _host_error("open", path, exc) from exc
            _check_file_or_dir(path, entry)
            fd = _open_at(parent, path, _NODE, "open")
            try:
                info = os.fstat(fd)
                _check_file_or_dir(path, info)
                yield fd, info
            finally:
                os.close(fd)

    def lstat(self, path: PurePosixPath) -> os.stat_result | None:
        """``lstat`` of ``path`` (parents never followed), or ``None`` if absent."""
        with self._parent(path) as parent:
            try:
                return os.stat(path.name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise _host_error("stat", path, exc) from exc

    # --- observe ---------------------------------------------------------------

    def observe_dir(self, path: PurePosixPath) -> Prior:
        """Prior of ``MakeDir``: did a directory exist (anything else is an error)."""
        info = self.lstat(path)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            raise HostError("mkdir", str(path), "exists and is not a directory")
        return {"existed": info is not None}

    def observe_file(self, path: PurePosixPath) -> Prior:
        """Prior of ``WriteFile``: the old bytes, mode and owner, if it existed."""
        info = self.lstat(path)
        if info is None:
            return {"existed": False}
        if not stat.S_ISREG(info.st_mode):
            kind = kind_of(info.st_mode)
            raise HostError("write", str(path), f"{kind}, cannot write a file over it")
        with self._node(path) as (fd, node):
            content = _read_all(fd)
        return {
            "existed": True,
            "content": base64.b64encode(content).decode("ascii"),
            "mode": stat.S_IMODE(node.st_mode),
            "uid": node.st_uid,
            "gid": node.st_gid,
        }

    def observe_meta(self, path: PurePosixPath) -> Prior:
        """Prior of ``Chmod``/``Chown``: the current mode and owner."""
        with self._node(path) as (_, info):
            return {
                "mode": stat.S_IMODE(info.st_mode),
                "uid": info.st_uid,
                "gid": info.st_gid,
            }

    def observe_host_key(self, effect: GenerateHostKey) -> Prior:
        """Prior of ``GenerateHostKey``: the key must be absent; is ``.pub`` there?"""
        if self.lstat(effect.path) is not None:
            raise HostError("generate host key", str(effect.path), "already exists")
        return {"public_existed": self.lstat(effect.public_path) is not None}

    def observe_mount(self, effect: MountScratch) -> Prior:
        """Prior of ``MountScratch``: a dir to mount on, no image file yet."""
        info = self.lstat(effect.path)
        if info is None or not stat.S_ISDIR(info.st_mode):
            raise HostError(
                "mount", str(effect.path), "the mount point is not a directory"
            )
        if effect.image is not None and self.lstat(effect.image) is not None:
            raise HostError("mount", str(effect.image), "the image file already exists")
        return {}

    # --- apply -------------------------------------------------------------------

    def make_dir(self, path: PurePosixPath, mode: int) -> None:
        """Create one directory with exactly ``mode`` (an existing dir is kept)."""
        with self._parent(path) as parent:
            try:
                os.mkdir(path.name, 0o700, dir_fd=parent)
            except FileExistsError:
                info = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    return
                raise HostError(
                    "mkdir", str(path), "exists and is not a directory"
                ) from None
            except OSError as exc:
                raise _host_error("mkdir", path, exc) from exc
        self.chmod(path, mode)

    def write_file(
        self, path: PurePosixPath, data: bytes, mode: int, *, existed: bool
    ) -> None:
        """Create with ``mode``, or replace the content keeping mode and owner."""
        flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        flags |= os.O_TRUNC if existed else os.O_CREAT | os.O_EXCL
        with self._parent(path) as parent:
            fd = _open_at(parent, path, flags, "write")
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise HostError("write", str(path), "not a regular file")
                _write_all(fd, data)
                if not existed:
                    os.fchmod(fd, mode)  # exact: the umask does not apply
                if self.durable:
                    os.fsync(fd)
            except OSError as exc:
                raise _host_error("write", path, exc) from exc
            finally:
                os.close(fd)

    def chmod(self, path: PurePosixPath, mode: int) -> None:
        """``fchmod`` of ``path`` itself."""
        with self._node(path) as (fd, _):
            try:
                os.fchmod(fd, mode)
            except OSError as exc:
                raise _host_error("chmod", path, exc) from exc

    def chown(self, path: PurePosixPath, uid: int | None, gid: int | None) -> None:
        """``fchown`` of ``path`` itself; ``None`` keeps that side."""
        with self._node(path) as (fd, _):
            try:
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
            except OSError as exc:
                raise _host_error("chown", path, exc) from exc

    def host_key(self, effect: GenerateHostKey, *, public_existed: bool) -> None:
        """Run dropbearkey in a private directory, then copy the key pair in."""
        if self.tools.dropbearkey is None:
            raise HostError(
                "generate host key", str(effect.path), "no dropbearkey available"
            )
        self.private.mkdir(mode=0o700, exist_ok=True)
        with tempfile.TemporaryDirectory(
            prefix="hostkey-", dir=self.private
        ) as private:
            target = Path(private) / "key"
            command = [
                *self.tools.dropbearkey,
                "-t",
                effect.kind,
                "-s",
                str(effect.bits),
                "-f",
                str(target),
            ]
            self._run("generate host key", effect.path, command)
            self.write_file(effect.path, target.read_bytes(), 0o600, existed=False)
            public = Path(public_key_path(PurePosixPath(target)))
            if not public_existed and public.exists():
                self.write_file(
                    effect.public_path, public.read_bytes(), 0o600, existed=False
                )

    def mount(self, effect: MountScratch) -> None:
        """Mount a tmpfs, or make, format and loop-mount an ext4 image."""
        if effect.image is not None and effect.image_mode is not None:
            with self._new_image(effect.image, effect.image_mode, effect.size) as fd:
                self._run(
                    "mkfs", effect.image, [self.tools.mkfs, "-q", "-F", _proc(fd)]
                )
                with self._node(effect.path) as (target, _):
                    self._run(
                        "mount",
                        effect.path,
                        [self.tools.mount, "-o", "loop", _proc(fd), _proc(target)],
                    )
            return
        with self._node(effect.path) as (target, _):
            self._run(
                "mount",
                effect.path,
                [
                    self.tools.mount,
                    "-t",
                    "tmpfs",
                    "-o",
                    f"size={effect.size}",
                    "tmpfs",
                    _proc(target),
                ],
            )

    @contextmanager
    def _new_image(self, path: PurePosixPath, mode: int, size: int) -> Iterator[int]:
        """A new sparse file of ``size`` bytes with exactly ``mode``, held open."""
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with self._parent(path) as parent:
            fd = _open_at(parent, path, flags, "create image")
        try:
            os.fchmod(fd, mode)
            os.ftruncate(fd, size)
            yield fd
        finally:
            os.close(fd)

    # --- undo ---------------------------------------------------------------------

    def remove_dir(self, path: PurePosixPath) -> None:
        """Remove an empty dir; a missing one is fine (undo is idempotent)."""
        try:
            with self._parent(path) as parent:
                os.rmdir(path.name, dir_fd=parent)
        except (FileNotFoundError, MissingPathError):
            return
        except OSError as exc:
            raise _host_error("rmdir", path, exc) from exc

    def remove_file(self, path: PurePosixPath) -> None:
        """Unlink a file (never a directory); a missing one is fine."""
        try:
            with self._parent(path) as parent:
                os.unlink(path.name, dir_fd=parent)
        except (FileNotFoundError, MissingPathError):
            return  # the file, or its directory, is already gone
        except OSError as exc:
            raise _host_error("unlink", path, exc) from exc

    def restore_file(
        self, path: PurePosixPath, content: bytes, mode: int, uid: int, gid: int
    ) -> None:
        """Put back a file's old bytes, mode and owner (recreating it if needed)."""
        existed = self.lstat(path) is not None
        self.write_file(path, content, mode, existed=existed)
        self.chown(path, uid, gid)
        self.chmod(path, mode)  # after the chown, which clears set-user-ID

    def unmount(self, path: PurePosixPath) -> None:
        """Unmount what is mounted on ``path``; nothing mounted there is fine."""
        try:
            with self._parent(path) as parent:
                try:
                    info = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    return
                if info.st_dev == os.fstat(parent).st_dev:
                    return  # same filesystem as its parent: not a mount point
                # The parent's descriptor names the mount point without pinning it.
                self._run(
                    "umount", path, [self.tools.umount, f"{_proc(parent)}/{path.name}"]
                )
        except MissingPathError:
            return

    # --- helpers ----------------------------------------------------------------------

    def _run(self, operation: str, path: PurePosixPath, command: list[str]) -> None:
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


_KINDS = (
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(st_mode: int) -> str:
    """What an entry that is not a regular file or directory is, for messages."""
    for is_kind, name in _KINDS:
        if is_kind(st_mode):
            return name
    return "not a regular file or directory"


def _check_file_or_dir(path: PurePosixPath, info: os.stat_result) -> None:
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        reason = f"is {kind_of(info.st_mode)}: kplan changes only files and directories"
        raise HostError("open", str(path), reason)


def _open_at(parent: int, path: PurePosixPath, flags: int, operation: str) -> int:
    """Open ``path``'s last component under ``parent`` (new files start 0600)."""
    try:
        return os.open(path.name, flags, 0o600, dir_fd=parent)
    except OSError as exc:
        raise _host_error(operation, path, exc) from exc


def _proc(fd: int) -> str:
    return f"/proc/{os.getpid()}/fd/{fd}"


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
