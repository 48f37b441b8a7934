"""The scratch tree after a run: the shared tree format plus small files' text.

Entries are lstat'ed (symlinks never followed) and sorted by path. Regular files
carry their sha256 and, when at most ``CONTENT_SIZE_LIMIT`` bytes of UTF-8, their text
in ``contents``. ``snapshot_rules`` names the entries reported ``volatile``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .context_facts import parse_id
from .protocol import JSONObject

CONTENT_SIZE_LIMIT = 65536


@dataclass
class Snapshot:
    """What ``snapshot_tree`` found: entries, texts, and what it could not read."""

    tree: list[JSONObject] = field(default_factory=list)
    contents: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotRules:
    """Regular files reported ``volatile``; ``unhashed`` ones also with sha256 null."""

    volatile: frozenset[str] = frozenset()
    unhashed: frozenset[str] = frozenset()


def snapshot_rules(context: Mapping[str, Any]) -> SnapshotRules:
    """Volatile entries of one kernel: the hostfile image and dropbear's host key.

    The image (``<kid>.img``, §4.1) is not hashed: reading a sparse
    multi-GB image is what made hostfile runs slow, and its bytes (a fresh ext4) are
    not compared anyway. The host key pair (§8 step 3) is random: digest kept, marked
    volatile. Names as legacy makes them (UUID ids lower-cased, see
    ``context_facts.parse_id``).
    """
    kid = str(parse_id(str(context.get("kernel_id"))))
    image = f"{kid}.img"
    host_key = f"{kid}/config/ssh/dropbear_rsa_host_key"
    return SnapshotRules(
        volatile=frozenset({image, host_key, f"{host_key}.pub"}),
        unhashed=frozenset({image}),
    )


def snapshot_tree(root: str, rules: SnapshotRules) -> Snapshot:
    """Every entry below ``root`` (lstat, no symlink following), sorted by path."""
    snap = Snapshot()
    pending: list[tuple[str, str]] = [(root, "")]
    while pending:
        directory, rel_dir = pending.pop()
        try:
            names = os.listdir(directory)
        except OSError as exc:
            snap.problems.append(f"cannot list {rel_dir or '.'!r}: {exc}")
            continue
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            abs_path = os.path.join(directory, name)
            try:
                if _snapshot_one(abs_path, rel, snap, rules):
                    pending.append((abs_path, rel))
            except OSError as exc:
                snap.problems.append(f"cannot snapshot {rel!r}: {exc}")
    snap.tree.sort(key=lambda e: e["path"])
    return snap


def _snapshot_one(
    abs_path: str, rel: str, snap: Snapshot, rules: SnapshotRules
) -> bool:
    """Record one entry; return True when it is a directory to descend into."""
    st = os.lstat(abs_path)
    if stat.S_ISDIR(st.st_mode):
        snap.tree.append(_entry(rel, "dir", st, None, None))
        return True
    if stat.S_ISLNK(st.st_mode):
        target = os.fsencode(os.readlink(abs_path))
        snap.tree.append(
            _entry(rel, "symlink", st, len(target), hashlib.sha256(target).hexdigest())
        )
        return False
    if stat.S_ISREG(st.st_mode):
        _snapshot_file(abs_path, rel, st, snap, rules)
        return False
    snap.problems.append(f"skipped special file {rel!r} (mode {oct(st.st_mode)})")
    return False


def _snapshot_file(
    abs_path: str, rel: str, st: os.stat_result, snap: Snapshot, rules: SnapshotRules
) -> None:
    """Record a regular file: digest (unless ``unhashed``) and text content if small."""
    if rel in rules.unhashed:
        snap.tree.append(_entry(rel, "file", st, st.st_size, None, volatile=True))
        return
    sha, data = _hash_file(abs_path, st.st_size)
    volatile = rel in rules.volatile
    snap.tree.append(_entry(rel, "file", st, st.st_size, sha, volatile=volatile))
    if data is not None:
        with contextlib.suppress(UnicodeDecodeError):  # binary: digest only
            snap.contents[rel] = data.decode("utf-8")


def _hash_file(path: str, size: int) -> tuple[str, bytes | None]:
    """sha256 of a regular file (no symlink following) and its bytes if small."""
    digest = hashlib.sha256()
    keep: bytearray | None = bytearray() if size <= CONTENT_SIZE_LIMIT else None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
            if keep is not None:
                keep.extend(chunk)
                if len(keep) > CONTENT_SIZE_LIMIT:
                    keep = None
    finally:
        os.close(fd)
    return digest.hexdigest(), bytes(keep) if keep is not None else None


def _entry(
    rel: str,
    kind: str,
    st: os.stat_result,
    size: int | None,
    sha: str | None,
    *,
    volatile: bool = False,
) -> JSONObject:
    """One entry of the shared tree format."""
    return {
        "path": rel,
        "type": kind,
        "mode": "0o" + format(stat.S_IMODE(st.st_mode), "o"),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": size,
        "sha256": sha,
        "volatile": volatile,
    }
