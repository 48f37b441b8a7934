"""Confinement: a private mount namespace in which only the run's own dirs are writable.

Theory of operation
-------------------
``prepare_sandbox`` runs in the supervisor (root). ``confine_to`` unshares the mount
namespace, makes ``/`` rprivate (nothing propagates back to the host), binds the
temp dir onto itself and bind-remounts every other mount read-only
(``MS_BIND|MS_REMOUNT`` changes the per-mount flag only, never the shared
superblock). Then the namespace-only substitutions are installed: the runner overlay
(input substitution 2), the container-opts files and the proxy dir (substitutions 4
and 3, ``host_places``) and, for a non-root runner, read-only views of the
interpreter (patch 10, ``expose_runtime``). A last ``verify_confinement`` checks
that nothing but the temp dir and the proxy dir (a namespace-only tmpfs) is
writable; any gap raises ``ConfinementError`` and legacy never runs.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .context_facts import runner_assets, runner_identity
from .errors import ConfinementError
from .host_places import install_container_opts, install_proxy_dir
from .legacy_modules import Legacy
from .libc import (
    MS_BIND,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    sys_mount,
    unshare_mount_namespace,
)
from .mount_table import is_within, read_mountinfo, remount_readonly, visible_mounts
from .protocol import as_dict, log
from .run_dirs import RunPaths
from .runner_overlay import install_runner_overlay


@dataclass(frozen=True)
class Sandbox:
    """What ``prepare_sandbox`` made: notes for the log, the proxy dir (if any)."""

    notes: list[str]
    proxy_dirs: list[str]


def prepare_sandbox(
    legacy: Legacy, context: Mapping[str, Any], paths: RunPaths
) -> Sandbox:
    """Confine, then make the namespace-only changes.

    Order: the private read-only namespace first (``confine_to``), then the runner
    overlay (substitution 2; its mounts are remounted read-only), the container-opts
    files (substitution 4), the proxy dir (substitution 3), then the non-root views
    of the interpreter (patch 10), then one final check that only ``paths.base`` and
    the proxy dir are writable.

    Raises:
        ConfinementError: (or ``OSError``) the sandbox is incomplete.
    """
    facts = as_dict(context.get("facts"))
    identity = runner_identity(facts)
    confine_to(paths.base)
    if identity is not None:
        for path in (paths.base, paths.scratch, paths.aux, paths.home):
            os.chown(path, *identity)
    notes: list[str] = []
    owner = identity or (0, 0)
    assets = runner_assets(facts)
    if assets is not None:
        notes += install_runner_overlay(legacy, assets, paths, owner)
    install_container_opts(facts, paths, owner)
    proxy_dirs = install_proxy_dir(legacy, context, owner)
    if identity is not None:
        covered = expose_runtime(*identity)
        log.debug(
            "read-only views over %s let uid %d reach the interpreter",
            covered,
            identity[0],
        )
    verify_confinement([paths.base, *proxy_dirs])
    return Sandbox(notes=notes, proxy_dirs=proxy_dirs)


def confine_to(writable_root: str) -> None:
    """Make ``writable_root`` the only writable place for this process and its children.

    Raises:
        ConfinementError: the namespace cannot be made, or a mount stays writable.
    """
    try:
        unshare_mount_namespace()
        sys_mount(None, "/", MS_REC | MS_PRIVATE)
        sys_mount(writable_root, writable_root, MS_BIND)
    except OSError as exc:
        msg = f"cannot create the private mount namespace: {exc}"
        raise ConfinementError(msg) from exc
    failures = []
    for entry in visible_mounts(read_mountinfo()):
        if is_within(entry.mount_point, writable_root) or "ro" in entry.options:
            continue
        try:
            remount_readonly(entry)
        except OSError as exc:
            failures.append(f"{entry.mount_point}: {exc}")
    verify_confinement([writable_root], failures)


def verify_confinement(
    writable_roots: Sequence[str], failures: Sequence[str] = ()
) -> None:
    """Raise ``ConfinementError`` if a reachable mount outside the roots is writable."""
    still_writable = [
        e.mount_point
        for e in visible_mounts(read_mountinfo())
        if not any(is_within(e.mount_point, root) for root in writable_roots)
        and "ro" not in e.options
    ]
    if still_writable:
        msg = (
            f"mounts still writable: {still_writable}; remount errors: {list(failures)}"
        )
        raise ConfinementError(msg)


def expose_runtime(uid: int, gid: int) -> list[str]:
    """Let an unprivileged runner reach the legacy interpreter (in the namespace only).

    The legacy venv and its base Python may live below a directory the target user
    cannot traverse (here ``/root``, mode 0700). Changing that directory's mode would
    change the host, so instead, inside the private namespace only, each such directory
    is covered by a small read-only tmpfs (mode 0755) holding read-only bind mounts of
    just the children on the way to the interpreter. Returns the directories covered.
    """
    targets = sorted(
        {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.executable)}
    )
    blocked = _blocking_ancestors(targets, uid, gid)
    for ancestor in sorted(blocked, key=len):
        _cover_with_views(ancestor, blocked[ancestor])
    return sorted(blocked)


def _can_search(st: os.stat_result, uid: int, gid: int) -> bool:
    """Whether uid:gid (no supplementary groups) may traverse a directory."""
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _blocking_ancestors(
    targets: Sequence[str], uid: int, gid: int
) -> dict[str, list[str]]:
    """Ancestors of ``targets`` that uid:gid cannot traverse -> the children needed."""
    blocked: dict[str, list[str]] = {}
    for target in targets:
        parts = Path(target).parts
        for depth in range(1, len(parts)):
            ancestor = os.path.join(*parts[:depth])
            if not _can_search(os.stat(ancestor), uid, gid):
                children = blocked.setdefault(ancestor, [])
                if parts[depth] not in children:
                    children.append(parts[depth])
    return blocked


def _cover_with_views(ancestor: str, children: Sequence[str]) -> None:
    """A read-only tmpfs over ``ancestor`` showing read-only binds of ``children``."""
    fds = {
        child: os.open(os.path.join(ancestor, child), os.O_PATH) for child in children
    }
    try:
        sys_mount("tmpfs", ancestor, 0, "tmpfs", "mode=0755,size=64k")
        for child, fd in fds.items():
            _bind_view(fd, os.path.join(ancestor, child))
        sys_mount(None, ancestor, MS_REMOUNT | MS_BIND | MS_RDONLY)
    finally:
        for fd in fds.values():
            os.close(fd)


def _bind_view(fd: int, target: str) -> None:
    """A read-only bind of the entry open as ``fd`` (O_PATH) onto a new ``target``."""
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    sys_mount(f"/proc/self/fd/{fd}", target, MS_BIND | MS_REC)
    sys_mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)
