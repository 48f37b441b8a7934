"""The journal's private directory, ``<journal>.private``: kplan's own, never a link.

It holds the prior contents of the files an apply writes over (``prior-<step>``,
copied in by streaming, so memory stays bounded whatever their size) and tool output
(dropbearkey's key before it is copied in). An apply checks the name is free
before any change and makes it new with ``mkdir`` (0700) when a step first needs
it, so an entry planted under that name, a symlink above all, is refused and
never followed; from then on it is used through a descriptor opened with
``O_NOFOLLOW`` (``/proc/<pid>/fd/<n>`` for the tools), so it cannot be swapped
either. A successful apply keeps it while it holds prior contents (a later
``kplan rollback`` needs them); a complete rollback removes it; an incomplete one
keeps it for the next try.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import final

from ._process import process_id
from ._records import SavedFile
from ._streams import copy_stream, digest_of, write_all
from .errors import HostError

__all__ = ["PrivateDir", "private_dir"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TAKEN = (
    "exists already; kplan makes it new for each apply and never uses one it did"
    " not make"
)


def private_dir(journal: Path) -> Path:
    """Where an apply keeps prior contents and tool output: next to its journal."""
    return journal.with_name(f"{journal.name}.private")


def _open_error(path: Path, exc: OSError) -> HostError:
    reason = exc.strerror or str(exc)
    if exc.errno in {errno.ELOOP, errno.ENOTDIR}:
        reason = "not a directory (kplan never follows a symlink there)"
    return HostError("open private dir", str(path), reason)


@final
class PrivateDir:
    """One open private directory (see the module docstring)."""

    def __init__(self, path: Path, fd: int, *, durable: bool) -> None:
        self.path = path
        self._fd = fd
        self._durable = durable
        self.pinned = Path(f"/proc/{process_id()}/fd/{fd}")

    @staticmethod
    def check_free(path: Path) -> None:
        """``HostError`` if anything (a symlink too) has the name already."""
        if os.path.lexists(path):
            raise HostError("create private dir", str(path), _TAKEN)

    @classmethod
    def create(cls, path: Path, *, durable: bool) -> PrivateDir:
        """Make it new; ``HostError`` if anything (a symlink too) has that name."""
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            raise HostError("create private dir", str(path), _TAKEN) from None
        except OSError as exc:
            raise HostError(
                "create private dir", str(path), exc.strerror or str(exc)
            ) from exc
        return cls._open(path, durable=durable)

    @classmethod
    def open_existing(cls, path: Path, *, durable: bool) -> PrivateDir | None:
        """Open it for a rollback: ``None`` if absent, ``HostError`` if not a dir."""
        try:
            fd = os.open(path, _DIR)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _open_error(path, exc) from exc
        return cls(path, fd, durable=durable)

    @classmethod
    def _open(cls, path: Path, *, durable: bool) -> PrivateDir:
        try:
            fd = os.open(path, _DIR)
        except OSError as exc:
            raise _open_error(path, exc) from exc
        return cls(path, fd, durable=durable)

    def close(self) -> None:
        """Release the descriptor (the directory stays)."""
        os.close(self._fd)

    def save(self, name: str, source: int) -> SavedFile:
        """Copy what ``source`` holds into ``name`` (streamed, sparse-preserving).

        Raises ``HostError`` if it cannot be saved (the disk is full, say): the step
        is refused before it changed anything.
        """
        with self._saving(name) as target:
            os.lseek(source, 0, os.SEEK_SET)
            digest, size = copy_stream(source, target)
        return SavedFile(name=name, sha256=digest, size=size)

    def save_bytes(self, name: str, data: bytes, digest: str) -> SavedFile:
        """Keep ``data`` (whose sha256 is ``digest``) as ``name``: a file this apply
        wrote itself is saved from the plan's bytes instead of read back."""
        with self._saving(name) as target:
            write_all(target, data)
        return SavedFile(name=name, sha256=digest, size=len(data))

    @contextmanager
    def _saving(self, name: str) -> Iterator[int]:
        """A new file ``name`` to write a saved content into (fsynced when
        durable); an ``OSError`` on the way is the ``HostError`` of ``save``."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            target = os.open(name, flags, 0o600, dir_fd=self._fd)
            try:
                yield target
                if self._durable:
                    os.fsync(target)
            finally:
                os.close(target)
        except OSError as exc:
            reason = f"cannot save the old content: {exc.strerror or exc}"
            raise HostError(
                "save prior content", str(self.path / name), reason
            ) from exc

    @contextmanager
    def reading(self, saved: SavedFile) -> Iterator[int]:
        """A descriptor of a saved content, for restoring it."""
        fd = os.open(
            saved.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._fd
        )
        try:
            yield fd
        finally:
            os.close(fd)

    def problem(self, saved: SavedFile) -> str | None:
        """Why ``saved`` cannot be restored (missing, not a file, other content)."""
        try:
            with self.reading(saved) as fd:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    return f"{saved.name} in {self.path} is not a regular file"
                digest, size = digest_of(fd)
        except OSError as exc:
            return f"{saved.name} in {self.path}: {exc.strerror}"
        if (digest, size) != (saved.sha256, saved.size):
            return f"{saved.name} in {self.path} does not hold what the journal names"
        return None

    @contextmanager
    def tool_dir(self, prefix: str) -> Iterator[Path]:
        """A fresh directory for a tool's output, inside this one (removed after)."""
        with tempfile.TemporaryDirectory(prefix=prefix, dir=self.pinned) as made:
            yield Path(made)

    def remove(self) -> None:
        """Remove the directory and all it holds (it is ours: checked by identity)."""
        mine = os.fstat(self._fd)
        there = os.lstat(self.path)
        if (there.st_dev, there.st_ino) != (mine.st_dev, mine.st_ino):
            reason = "it was replaced since kplan made it; left as it is"
            raise HostError("remove private dir", str(self.path), reason)
        try:
            self.path.rmdir()  # most applies leave it empty: one syscall
        except OSError as exc:
            if exc.errno not in {errno.ENOTEMPTY, errno.EEXIST}:
                raise
            shutil.rmtree(self.path)
