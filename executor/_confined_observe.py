"""Observe the prior state a step's undo needs, on the confined scratch root.

One function per filesystem effect (``executor._records`` has the values). They
change nothing in the scratch; ``observe_file`` copies the old content of a file
that will be written over into the journal's private directory, and refuses a
file with a second hard link before reading it (§16 H36). Something in the way (a
file where a directory goes, a socket or FIFO where a file goes, an existing host
key or image) is a ``HostError`` naming the effect's path: the step is refused
before it changed anything.
"""

from __future__ import annotations

import stat
from pathlib import PurePosixPath

from effects import GenerateHostKey, MountScratch

from ._confined_fs import ScratchRoot, check_single_link, kind_of, stamp_of
from ._records import DirPrior, FilePrior, HostKeyPrior, MetaPrior, MountPrior
from .errors import HostError

__all__ = [
    "observe_dir",
    "observe_file",
    "observe_host_key",
    "observe_meta",
    "observe_mount",
]


def observe_dir(fs: ScratchRoot, path: PurePosixPath, staging: str) -> DirPrior:
    """Prior of ``MakeDir``: is a directory there (anything else is an error)."""
    info = fs.lstat(path)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        reason = f"exists and is {kind_of(info.st_mode)}, not a directory"
        raise HostError("mkdir", str(path), reason)
    existed = info is not None
    return DirPrior(existed=existed, staging=None if existed else staging)


def observe_file(
    fs: ScratchRoot, path: PurePosixPath, staging: str, saved: str
) -> FilePrior:
    """Prior of ``WriteFile``: absent, or the old file with its content saved."""
    info = fs.lstat(path)
    if info is None:
        return FilePrior(old=None, saved=None, staging=staging)
    if not stat.S_ISREG(info.st_mode):
        reason = f"{kind_of(info.st_mode)}, cannot write a file over it"
        raise HostError("write", str(path), reason)
    private = fs.need_private("write", path)
    with fs.node(path, "write") as (fd, node):
        check_single_link("write", path, node)
        copy = private.save(saved, fd)
    return FilePrior(old=stamp_of(node, copy.sha256), saved=copy, staging=None)


def observe_meta(fs: ScratchRoot, path: PurePosixPath, operation: str) -> MetaPrior:
    """Prior of ``Chmod``/``Chown``: the path's stamp (its mode and owner)."""
    with fs.node(path, operation) as (_, info):
        check_single_link(operation, path, info)
        return MetaPrior(old=stamp_of(info, None))


def observe_host_key(
    fs: ScratchRoot, effect: GenerateHostKey, staging: str, public_staging: str
) -> HostKeyPrior:
    """Prior of ``GenerateHostKey``: the key must be absent; is ``.pub`` there?"""
    if fs.lstat(effect.path) is not None:
        raise HostError("generate host key", str(effect.path), "already exists")
    public_existed = fs.lstat(effect.public_path) is not None
    return HostKeyPrior(
        staging=staging, public_staging=None if public_existed else public_staging
    )


def observe_mount(fs: ScratchRoot, effect: MountScratch, staging: str) -> MountPrior:
    """Prior of ``MountScratch``: a dir to mount on (its device), no image yet."""
    info = fs.lstat(effect.path)
    if info is None or not stat.S_ISDIR(info.st_mode):
        reason = "the mount point is not a directory"
        raise HostError("mount", str(effect.path), reason)
    if effect.image is not None and fs.lstat(effect.image) is not None:
        raise HostError("mount", str(effect.image), "the image file already exists")
    return MountPrior(
        dev=info.st_dev, staging=None if effect.image is None else staging
    )
