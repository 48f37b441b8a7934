"""What one apply or rollback holds, opened in order and released in reverse.

The scratch root (opened once: every path below is reached from it), the kernel's
lock (``executor._kernel_lock``), the journal and its private directory
(``executor._private_dir``; checked free at once, made when first needed). Opening
one may fail for reasons of the host rather
than of kplan: the scratch root missing, the kernel locked by another kplan,
``--journal`` naming an existing file or a directory, a state directory that cannot
be made, a planted ``<journal>.private``. Each is a one-line reason, given before
anything changed.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self, final

from returns.result import Failure, Result, Success

from effects import Header

from ._confined_fs import ScratchRoot
from ._journal import JournalWriter
from ._kernel_lock import KernelLock
from ._private_dir import PrivateDir, private_dir
from ._tools import Tools
from .errors import HostError

__all__ = ["Workspace"]


@final
class Workspace:
    """An open scratch root, a held kernel lock, a journal, a private directory."""

    def __init__(
        self, fs: ScratchRoot, journal: JournalWriter, stack: ExitStack
    ) -> None:
        self.fs = fs
        self.journal = journal
        self._stack = stack

    @property
    def private(self) -> PrivateDir | None:
        """The private directory, once there is one (an apply makes it when a step
        first needs it: most never do, and an inode less is a lot on a slow disk)."""
        return self.fs.private

    @classmethod
    def for_apply(
        cls, header: Header, journal: Path, tools: Tools, *, durable: bool
    ) -> Result[Workspace, str]:
        """Everything an apply of a plan with ``header`` needs, or why not."""
        with ExitStack() as stack:
            try:
                fs = cls._root(stack, Path(str(header.scratch_root)), tools, durable)
                cls._lock(stack, fs, header.kernel_id)
                JournalWriter.check_new(journal)
                PrivateDir.check_free(private_dir(journal))
                writer = JournalWriter.create(journal, durable=durable)
                stack.callback(writer.close)
            except HostError as exc:
                return Failure(str(exc))
            fs.defer_private(private_dir(journal))
            return Success(cls(fs, writer, stack.pop_all()))

    @classmethod
    def for_rollback(
        cls,
        scratch_root: Path,
        kernel_id: str,
        journal: Path,
        tools: Tools,
        *,
        durable: bool,
    ) -> Result[Workspace, str]:
        """Everything a rollback of ``journal`` needs, or why not (``durable``: as
        for an apply, fsync each journal write and each file put back)."""
        with ExitStack() as stack:
            try:
                if not scratch_root.is_dir():
                    return Failure(f"its scratch root {scratch_root} does not exist")
                fs = cls._root(stack, scratch_root, tools, durable=durable)
                cls._lock(stack, fs, kernel_id)
                private = PrivateDir.open_existing(
                    private_dir(journal), durable=durable
                )
                if private is not None:
                    stack.callback(private.close)
                writer = JournalWriter.reopen(journal, durable=durable)
                stack.callback(writer.close)
            except HostError as exc:
                return Failure(str(exc))
            fs.private = private
            return Success(cls(fs, writer, stack.pop_all()))

    @staticmethod
    def _root(stack: ExitStack, root: Path, tools: Tools, durable: bool) -> ScratchRoot:  # noqa: FBT001
        fs = ScratchRoot(root, tools, durable=durable)
        stack.callback(fs.close)
        return fs

    @staticmethod
    def _lock(stack: ExitStack, fs: ScratchRoot, kernel_id: str) -> None:
        lock = KernelLock.acquire(fs.root, kernel_id, fs.root_fd)
        stack.callback(lock.release)

    def close(self) -> None:
        """Release everything, last opened first (the lock last)."""
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
