"""The mount table as this process sees it, and bulk read-only remounts / unmounts."""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .libc import (
    MNT_DETACH,
    MS_BIND,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_RELATIME,
    MS_REMOUNT,
    MS_STRICTATIME,
    sys_mount,
    sys_umount,
)

# per-mount flags that a bind remount must repeat, or they would be cleared
_PRESERVED_MOUNT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo."""

    mount_id: int
    parent_id: int
    mount_point: str
    options: frozenset[str]


def _unescape_mountinfo(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def read_mountinfo() -> list[MountEntry]:
    """Every mount of this process's namespace, in the kernel's order."""
    entries = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            entries.append(
                MountEntry(
                    mount_id=int(fields[0]),
                    parent_id=int(fields[1]),
                    mount_point=_unescape_mountinfo(fields[4]),
                    options=frozenset(fields[5].split(",")),
                )
            )
    return entries


def visible_mounts(entries: Sequence[MountEntry]) -> list[MountEntry]:
    """Drop mounts that are hidden by a mount stacked on the same mount point."""
    by_id = {e.mount_id: e for e in entries}
    hidden = {
        e.parent_id
        for e in entries
        if e.parent_id in by_id
        and by_id[e.parent_id].mount_point == e.mount_point
        and e.parent_id != e.mount_id
    }
    return [e for e in entries if e.mount_id not in hidden]


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it (text only, no resolution)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def remount_readonly(entry: MountEntry, extra_flags: int = 0) -> None:
    """Bind-remount one mount read-only, repeating its per-mount flags (else lost)."""
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | extra_flags
    for name, bit in _PRESERVED_MOUNT_FLAGS.items():
        if name in entry.options:
            flags |= bit
    sys_mount(None, entry.mount_point, flags)


def remount_readonly_below(root: str, extra_flags: int = 0) -> None:
    """Remount every mount at or below ``root`` read-only (a bind copies rw flags)."""
    for entry in visible_mounts(read_mountinfo()):
        if is_within(entry.mount_point, root):
            remount_readonly(entry, extra_flags)


def unmount_below(root: str) -> list[str]:
    """Lazily unmount every mount at or below ``root``, deepest first; return errors."""
    errors = []
    targets = [
        e.mount_point for e in read_mountinfo() if is_within(e.mount_point, root)
    ]
    for target in sorted(targets, key=len, reverse=True):
        try:
            sys_umount(target, MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOENT):
                errors.append(str(exc))
    return errors
