"""Paths that exist (or are hidden) in the private mount namespace only.

Theory of operation
-------------------
Some places legacy reads or writes lie outside the run's temp dir: the
domain-socket proxy dir ``<ipc_base_path>/proxy`` (written) and
``/etc/backend.ai/agent-docker-container-opts.json`` (read). They are arranged in
the supervisor's namespace, after ``confine_to``, without touching the host:

* ``create_in_namespace(path, create)``: the deepest existing ancestor of ``path``
  is covered by a tmpfs that shows every one of its entries as before (a recursive
  bind of each child, which keeps its mount flags, so the run's temp dir stays
  writable and everything else read-only; symlinks are recreated with the same
  text); the missing directories and ``create(path)`` are made on the tmpfs, which
  is then remounted read-only. ``/`` itself is never covered.
* ``writable_dir(path, owner)``: a small tmpfs owned by ``owner`` at ``path``
  (created first when absent): the one writable place outside the temp dir.
* ``bind_file(source, path)``: a file shown at an existing path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from .errors import ConfinementError
from .libc import MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT, sys_mount


def deepest_existing(path: str) -> str:
    """The longest existing prefix of an absolute ``path`` (symlinks resolved)."""
    current = os.path.realpath(path)
    while not os.path.lexists(current):
        current = os.path.dirname(current)
    return current


def create_in_namespace(path: str, create: Callable[[str], None]) -> None:
    """Make the absent ``path`` exist in this namespace only (module docstring).

    Raises:
        ConfinementError: the ancestor to cover is ``/`` or not a directory.
    """
    target = os.path.realpath(path)
    ancestor = deepest_existing(target)
    if ancestor == "/" or not os.path.isdir(ancestor):
        msg = f"cannot make {path} in the namespace: would cover {ancestor}"
        raise ConfinementError(msg)
    _cover_with_views(ancestor)
    try:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        create(target)
    finally:
        sys_mount(None, ancestor, MS_REMOUNT | MS_BIND | MS_RDONLY)


def writable_dir(path: str, owner: tuple[int, int]) -> str:
    """A fresh tmpfs at ``path`` owned by ``owner``; returns its mount point."""
    target = os.path.realpath(path)
    if not os.path.lexists(target):
        create_in_namespace(target, lambda p: os.mkdir(p, 0o755))
    elif not os.path.isdir(target):
        msg = f"{path} exists and is not a directory"
        raise ConfinementError(msg)
    options = f"mode=0755,uid={owner[0]},gid={owner[1]},size=1m"
    sys_mount("tmpfs", target, 0, "tmpfs", options)
    return target


def bind_file(source: str, path: str) -> None:
    """Show the file ``source`` at the existing non-directory ``path``."""
    sys_mount(source, path, MS_BIND)


def _cover_with_views(directory: str) -> None:
    """A writable tmpfs over ``directory`` showing all its entries (see module)."""
    st = os.stat(directory)
    names = sorted(os.listdir(directory))
    fds: dict[str, int] = {}
    links: dict[str, str] = {}
    try:
        for name in names:
            child = os.path.join(directory, name)
            try:
                if os.path.islink(child):
                    links[name] = os.readlink(child)
                else:
                    fds[name] = os.open(child, os.O_PATH | os.O_NOFOLLOW)
            except FileNotFoundError:
                continue  # removed meanwhile (another run's temp dir): not shown
        mode = stat.S_IMODE(st.st_mode)
        options = f"mode={mode:o},uid={st.st_uid},gid={st.st_gid},size=1m"
        sys_mount("tmpfs", directory, 0, "tmpfs", options)
        for name, text in links.items():
            os.symlink(text, os.path.join(directory, name))
        for name, fd in fds.items():
            _bind_entry(fd, os.path.join(directory, name))
    finally:
        for fd in fds.values():
            os.close(fd)


def _bind_entry(fd: int, target: str) -> None:
    """A recursive bind of the entry open as ``fd`` (O_PATH) onto a new ``target``."""
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    sys_mount(f"/proc/self/fd/{fd}", target, MS_BIND | MS_REC)
