"""Snapshots of real directories in the shared tree format (``kplan snapshot``).

Entries are read with ``lstat`` and never followed, so a symlink is reported as a
symlink (its digest is that of its target text). Sockets and FIFOs (tmux, ssh-agent
and jupyter leave them in ``work/``) are reported by type, mode and owner and never
opened: opening a FIFO blocks, opening a socket fails. Mount points are crossed: a
snapshot shows what a process inside the scratch root sees.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from effects import Node, NodeType, Tree

__all__ = ["Snapshot", "snapshot"]

Snapshot = tuple[Tree, dict[str, bytes]]
_CHUNK = 1 << 20
_NAMES_ONLY: tuple[tuple[Callable[[int], bool], NodeType], ...] = (
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISFIFO, "fifo"),
)


def snapshot(
    root: Path,
    *,
    include: Callable[[PurePosixPath], bool] = lambda _path: True,
    keep_content: Callable[[PurePosixPath, int], bool] = lambda _path, _size: False,
) -> Snapshot:
    """The tree below ``root`` and the contents ``keep_content`` asks for.

    ``include`` filters top-level names (a whole subtree is in or out).
    """
    nodes: dict[PurePosixPath, Node] = {}
    contents: dict[str, bytes] = {}
    for child in sorted(root.iterdir()):
        relative = PurePosixPath(child.name)
        if include(relative):
            _walk(child, relative, nodes, contents, keep_content)
    return Tree.of(nodes), contents


def _walk(
    path: Path,
    relative: PurePosixPath,
    nodes: dict[PurePosixPath, Node],
    contents: dict[str, bytes],
    keep_content: Callable[[PurePosixPath, int], bool],
) -> None:
    info = path.lstat()
    mode, owner = stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)
    if stat.S_ISDIR(info.st_mode):
        nodes[relative] = Node(type="dir", mode=mode, uid=owner[0], gid=owner[1])
        for child in sorted(path.iterdir()):
            _walk(child, relative / child.name, nodes, contents, keep_content)
    elif stat.S_ISLNK(info.st_mode):
        target = str(path.readlink()).encode()
        nodes[relative] = Node(
            type="symlink",
            mode=mode,
            uid=owner[0],
            gid=owner[1],
            size=len(target),
            sha256=hashlib.sha256(target).hexdigest(),
        )
    elif stat.S_ISREG(info.st_mode):
        digest, data = _digest(path, keep_content(relative, info.st_size))
        if data is not None:
            contents[digest] = data
        nodes[relative] = Node(
            type="file",
            mode=mode,
            uid=owner[0],
            gid=owner[1],
            size=info.st_size,
            sha256=digest,
        )
    else:
        nodes[relative] = Node(
            type=_name_only_type(path, info.st_mode),
            mode=mode,
            uid=owner[0],
            gid=owner[1],
        )


def _name_only_type(path: Path, st_mode: int) -> NodeType:
    for is_type, name in _NAMES_ONLY:
        if is_type(st_mode):
            return name
    msg = f"{path}: not a directory, regular file, symlink, socket or fifo"
    raise ValueError(msg)


def _digest(path: Path, keep: bool) -> tuple[str, bytes | None]:  # noqa: FBT001
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        if keep:
            data = handle.read()
            return hashlib.sha256(data).hexdigest(), data
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
        return digest.hexdigest(), None
