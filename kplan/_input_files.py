"""Reading the files kplan is given (contexts, plans, trees): regular files, bounded.

``kplan plan /dev/zero`` would read until memory runs out, and opening a FIFO blocks
until a writer comes. So an input file is opened with ``O_NONBLOCK`` (a FIFO opens
at once and a terminal does not become the controlling one), checked with ``fstat``
to be a regular file, and read up to ``INPUT_LIMIT`` bytes; anything else, or a
larger file, is refused with a reason naming the kind or the limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from returns.result import Failure, Result, Success

__all__ = ["INPUT_LIMIT", "read_input_file"]

MIB = 1 << 20
INPUT_LIMIT = 64 * MIB  # plans and contexts are kilobytes; the runner's fonts ~300 KB
_CHUNK = MIB
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_input_file(path: Path, limit: int = INPUT_LIMIT) -> Result[bytes, str]:
    """The bytes of the regular file ``path``, or why not (the reason names ``path``).

    Never blocks on a FIFO and never reads more than ``limit`` + 1 bytes.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return Failure(f"{path}: {exc.strerror}")
    try:
        return _read_regular(fd, path, limit)
    except OSError as exc:
        return Failure(f"{path}: {exc.strerror}")
    finally:
        os.close(fd)


def _read_regular(fd: int, path: Path, limit: int) -> Result[bytes, str]:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for is_kind, name in _KINDS if is_kind(info.st_mode)), None)
        return Failure(f"{path}: {kind + ', ' if kind else ''}not a regular file")
    too_big = Failure(
        f"{path}: larger than the {limit // MIB} MiB limit for input files"
    )
    if info.st_size > limit:
        return too_big
    chunks, size = [], 0
    while size <= limit and (chunk := os.read(fd, min(_CHUNK, limit + 1 - size))):
        chunks.append(chunk)
        size += len(chunk)
    return too_big if size > limit else Success(b"".join(chunks))
