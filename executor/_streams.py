"""Streaming file copies and digests in fixed-size chunks: memory stays bounded.

A prior content may be a 200 MiB sparse ``.vimrc``: it is copied into the journal's
private directory, and back on rollback, one chunk at a time. All-zero chunks are
skipped with ``lseek`` and the size set at the end, so a sparse file stays sparse
(a hole costs neither memory nor disk). ``os.write`` may write less than asked (a
signal, a full disk, a file size limit): the rest is written again until all is
written or the write fails.

A copy hashes each whole chunk in a helper thread while it writes that chunk:
sha256 releases the interpreter lock, and it costs more than the read and the
write together (a 5 MiB copy on tmpfs here: 9.3 ms one after the other, hashing
5.4 of them; 7.3 ms beside). The chunks are hashed in order, one at a time; a
short chunk (a small file, a file's end) is hashed in place, where a hand-over
would cost more.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["CHUNK", "copy_stream", "digest_of", "holds", "pwrite_all", "write_all"]

CHUNK = 1 << 20
_ZERO = bytes(CHUNK)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` at the current offset (short writes are continued)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pwrite_all(fd: int, data: bytes | memoryview, offset: int = 0) -> None:
    """Write all of ``data`` at ``offset`` (the descriptor's own offset untouched)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def copy_stream(source: int, target: int) -> tuple[str, int]:
    """Copy ``source`` from its offset to the end into ``target``: sha256 and size.

    ``target`` must be empty at its offset 0 (new, or truncated).
    """
    digest, size = hashlib.sha256(), 0
    hashing: Future[None] | None = None  # the chunk before, hashed beside
    try:
        while chunk := os.read(source, CHUNK):
            if hashing is not None:
                hashing.result()  # in order: the next update after this one
                hashing = None
            whole = len(chunk) == CHUNK
            if whole:
                hashing = _hasher().submit(digest.update, chunk)
            else:
                digest.update(chunk)
            size += len(chunk)
            if whole and chunk == _ZERO:
                os.lseek(target, CHUNK, os.SEEK_CUR)  # a hole: nothing to write
            else:
                write_all(target, chunk)
    finally:
        if hashing is not None:  # never left running on a digest given up
            hashing.result()
    os.ftruncate(target, size)  # a trailing hole still counts in the size
    return digest.hexdigest(), size


_hashers: ThreadPoolExecutor | None = None  # made on the first large copy
_hashers_lock = threading.Lock()


def _hasher() -> ThreadPoolExecutor:
    """The process's hashing threads (one per core, at most four: lanes of
    kernels applied at once share them)."""
    global _hashers  # noqa: PLW0603  (one pool per process, made when first needed)
    with _hashers_lock:
        if _hashers is None:
            workers = min(os.cpu_count() or 1, 4)
            _hashers = ThreadPoolExecutor(workers, thread_name_prefix="kplan-hash")
        return _hashers


def _forget_hashers() -> None:
    # A forked child has none of its parent's threads: a pool it inherited would
    # take work and never run it, a lock held in the fork never be released.
    global _hashers, _hashers_lock
    _hashers, _hashers_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_hashers)


def digest_of(fd: int, size: int | None = None) -> tuple[str, int]:
    """sha256 and size of what ``fd`` holds (read with ``pread``, offset untouched).

    ``size`` (the file's ``st_size``, if the caller has it) saves the read that
    would see the end: a short read of a regular file at or past it is the end.
    """
    digest, offset = hashlib.sha256(), 0
    while chunk := os.pread(fd, CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
        if size is not None and len(chunk) < CHUNK and offset >= size:
            break
    return digest.hexdigest(), offset


def holds(fd: int, size: int, data: bytes) -> bool:
    """Whether ``fd``, a regular file of ``st_size`` ``size``, holds exactly ``data``.

    Compared a chunk at a time (read with ``pread``, offset untouched), without a
    digest: for content whose bytes the caller has at hand, reading and comparing
    cost an eighth of hashing. The last read asks for one byte more than ``data``
    has left, so a file grown since its ``fstat`` is told apart without another.
    """
    if size != len(data):
        return False
    offset = 0
    while True:
        want = min(CHUNK, size - offset + 1)
        chunk = os.pread(fd, want, offset)
        if chunk != data[offset : offset + want]:
            return False
        offset += len(chunk)
        if len(chunk) < want:
            return offset == size
