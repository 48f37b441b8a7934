"""Apply the filesystem effects on the confined scratch root.

Each function changes one path as its effect says and returns what it left there
(``Left``: the stamps the undo checks). New entries go through
``ScratchRoot.create`` (staged, announced, renamed without replacing anything);
changes in place go through a descriptor of the entry the prior observed, checked
to be that very entry and, for a regular file, to have one link only (§16 H36).
The external tools (dropbearkey, mkfs, mount) are run by exit code and given
descriptors as ``/proc/<pid>/fd/<n>`` paths, never a path that could be swapped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from effects import GenerateHostKey, MountScratch

from ._confined_fs import (
    WRITE,
    Announce,
    ScratchRoot,
    check_same,
    check_single_link,
    fchown_keeping,
    host_error,
    kind_of,
    proc_path,
    stamp_of,
)
from ._records import HostKeyPrior, Left, MountPrior, Stamp
from ._streams import copy_stream, digest_of, write_all
from .errors import HostError

__all__ = [
    "append_line",
    "change_meta",
    "copy_new",
    "host_key",
    "make_dir",
    "mount",
    "write_new",
    "write_over",
]


def make_dir(  # noqa: PLR0917  (MakeDir's fields, where and who is told)
    fs: ScratchRoot,
    path: PurePosixPath,
    mode: int,
    staging: str,
    announce: Announce,
    owner: tuple[int | None, int | None] = (None, None),
) -> Left:
    """Create one directory with ``owner`` and exactly ``mode``; one there by
    then is kept."""
    made = fs.create(
        path, staging, mode, None, announce=announce, operation="mkdir", owner=owner
    )
    if made is not None:
        return ((path, made),)
    info = fs.lstat(path)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        reason = f"exists and is {kind_of(info.st_mode)}, not a directory"
        raise HostError("mkdir", str(path), reason)
    return ()


def write_new(
    fs: ScratchRoot,
    path: PurePosixPath,
    data: bytes,
    *,
    digest: str,
    mode: int,
    staging: str,
    announce: Announce,
    owner: tuple[int | None, int | None] = (None, None),
) -> Left:
    """Create a file with ``data``, ``owner`` and exactly ``mode``; never replace
    one."""

    def fill(fd: int) -> str:
        write_all(fd, data)
        return digest

    made = fs.create(
        path, staging, mode, fill, announce=announce, operation="write", owner=owner
    )
    if made is None:
        reason = "exists already: it appeared after kplan looked, and is never replaced"
        raise HostError("write", str(path), reason)
    return ((path, made),)


def write_over(
    fs: ScratchRoot, path: PurePosixPath, data: bytes, digest: str, old: Stamp
) -> Left:
    """Replace the content of the file the prior observed; keep mode and owner."""
    with fs.node(path, "write", WRITE) as (fd, info):
        check_same("write", path, info, old)
        check_single_link("write", path, info)
        try:
            os.ftruncate(fd, 0)
            write_all(fd, data)
            if fs.durable:
                os.fsync(fd)
            return ((path, stamp_of(os.fstat(fd), digest)),)
        except OSError as exc:
            raise host_error("write", path, exc) from exc


def append_line(fs: ScratchRoot, path: PurePosixPath, line: bytes, old: Stamp) -> Left:
    """Append ``line`` to the file the prior observed (legacy's ``CID=`` line)."""
    with fs.node(path, "append", WRITE) as (fd, info):
        check_same("append", path, info, old)
        check_single_link("append", path, info)
        try:
            os.lseek(fd, 0, os.SEEK_END)
            write_all(fd, line)
            if fs.durable:
                os.fsync(fd)
            digest, _ = digest_of(fd)
            return ((path, stamp_of(os.fstat(fd), digest)),)
        except OSError as exc:
            raise host_error("append", path, exc) from exc


def change_meta(
    fs: ScratchRoot,
    path: PurePosixPath,
    old: Stamp,
    mode: int | None,
    owner: tuple[int | None, int | None] | None,
) -> Left:
    """``fchmod`` (``mode``) or ``fchown`` (``owner``) the entry observed before."""
    operation = "chmod" if owner is None else "chown"
    with fs.node(path, operation) as (fd, info):
        check_same(operation, path, info, old)
        check_single_link(operation, path, info)
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            if owner is not None:
                fchown_keeping(fd, *owner)
            now = os.fstat(fd)
            digest = digest_of(fd)[0] if stat.S_ISREG(now.st_mode) else None
        except OSError as exc:
            raise host_error(operation, path, exc) from exc
        return ((path, stamp_of(now, digest)),)


def copy_new(
    fs: ScratchRoot,
    path: PurePosixPath,
    source: Path,
    *,
    staging: str,
    announce: Announce,
    operation: str,
) -> Stamp | None:
    """Create ``path`` (0600) with the content of kplan's own file ``source``."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise host_error(operation, source, exc) from exc

    def fill(target: int) -> str:
        return copy_stream(fd, target)[0]

    try:
        return fs.create(
            path, staging, 0o600, fill, announce=announce, operation=operation
        )
    finally:
        os.close(fd)


def host_key(
    fs: ScratchRoot, effect: GenerateHostKey, prior: HostKeyPrior, announce: Announce
) -> Left:
    """Run dropbearkey in the private directory, then copy the key pair in."""
    operation = "generate host key"
    if fs.tools.dropbearkey is None:
        raise HostError(operation, str(effect.path), "no dropbearkey available")
    private = fs.need_private(operation, effect.path)
    with private.tool_dir("hostkey-") as out:
        target = out / "key"
        kind, bits = effect.kind, str(effect.bits)
        command = [
            *fs.tools.dropbearkey,
            "-t",
            kind,
            "-s",
            bits,
            "-f",
            str(target),
        ]
        fs.run(operation, effect.path, command)
        key = copy_new(
            fs,
            effect.path,
            target,
            staging=prior.staging,
            announce=announce,
            operation=operation,
        )
        if key is None:
            raise HostError(operation, str(effect.path), "already exists")
        left: Left = ((effect.path, key),)
        public = out / "key.pub"
        if prior.public_staging is not None and public.exists():
            made = copy_new(
                fs,
                effect.public_path,
                public,
                staging=prior.public_staging,
                announce=announce,
                operation=operation,
            )
            # One there by now is left alone, as dropbear leaves an existing one.
            left += () if made is None else ((effect.public_path, made),)
    return left


def mount(
    fs: ScratchRoot, effect: MountScratch, prior: MountPrior, announce: Announce
) -> Left:
    """Mount a tmpfs, or make, format and loop-mount an ext4 image."""
    left: Left = ()
    if effect.image is not None and effect.image_mode is not None:
        left = _image(fs, effect, prior, announce)
    else:
        with fs.node(effect.path, "mount") as (target, _):
            options = f"size={effect.size}"
            command = [fs.tools.mount, "-t", "tmpfs", "-o", options, "tmpfs"]
            fs.run("mount", effect.path, [*command, proc_path(target)])
    mounted = fs.stamp(effect.path, digest=False)
    if mounted is None:
        raise HostError("mount", str(effect.path), "the mount point is gone")
    return (*left, (effect.path, mounted))


def _image(
    fs: ScratchRoot, effect: MountScratch, prior: MountPrior, announce: Announce
) -> Left:
    image, mode = effect.image, effect.image_mode
    assert image is not None  # noqa: S101  (checked by mount)
    assert mode is not None  # noqa: S101
    if prior.staging is None:
        raise HostError("mount", str(image), "the journal has no staging name for it")

    def sparse(fd: int) -> None:
        os.ftruncate(fd, effect.size)  # its content is the filesystem's: untracked

    made = fs.create(
        image, prior.staging, mode, sparse, announce=announce, operation="create image"
    )
    if made is None:
        raise HostError("mount", str(image), "the image file already exists")
    with fs.node(image, "mkfs", WRITE) as (fd, info):
        check_same("mkfs", image, info, made)
        fs.run("mkfs", image, [fs.tools.mkfs, "-q", "-F", proc_path(fd)])
        with fs.node(effect.path, "mount") as (target, _):
            command = [
                fs.tools.mount,
                "-o",
                "loop",
                proc_path(fd),
                proc_path(target),
            ]
            fs.run("mount", effect.path, command)
    return ((image, made),)
