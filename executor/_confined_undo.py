"""The undo actions on the confined scratch root: look first, then act or report.

Each function observes the path (``lstat``, and the digest of a regular file when
the judgement needs it; a byte compare instead where the process holds the content
the step left there: ``ScratchRoot.written``), asks ``executor._inverse`` whether
to act, and then acts through the same confined descriptors as an apply. It
returns ``None`` when the path is as it was before the step (acted or nothing to
do) and a ``Changed`` when the path is left as it is because it changed since the
apply. ``force`` acts anyway, except where acting would lose data that is not the
apply's (a directory that holds entries the apply did not make); a path the user
deleted is brought back only where kplan holds its old content (a file written
over), and otherwise stays deleted (there is no mode or owner to put back on
nothing). Looking before acting makes the undo of something that never happened a
no-op, even on a read-only or immutable scratch where removing an absent entry
fails.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import AbstractContextManager
from functools import cache
from typing import assert_never

from ._confined_fs import ScratchRoot, check_single_link, host_error, proc_path
from ._inverse import (
    Changed,
    RemoveEntry,
    RemoveStaging,
    RestoreFile,
    SetMeta,
    Unmount,
    Verdict,
    judge_in_place,
    judge_removal,
    judge_unmount,
    left_digest,
    meta_changes,
    needs_digest,
)
from ._private_dir import PrivateDir
from ._records import Stamp
from ._streams import copy_stream
from .errors import HostError, MissingPathError

__all__ = ["FsUndo", "overrides_permissions", "undo_folded", "undo_on"]

FsUndo = RemoveStaging | RemoveEntry | RestoreFile | SetMeta | Unmount
_WRITE = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TREE = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CAP_DAC_OVERRIDE, _CAP_FOWNER = 1, 3  # capability numbers (linux/capability.h)


def undo_on(fs: ScratchRoot, action: FsUndo, *, force: bool) -> Changed | None:
    """Run one filesystem undo action (see the module docstring)."""
    match action:
        case RemoveStaging():
            _remove_staging(fs, action)
            return None
        case RemoveEntry():
            return _remove_entry(fs, action, force=force)
        case RestoreFile():
            return _restore_file(fs, action, force=force)
        case SetMeta():
            return _set_meta(fs, action, force=force)
        case Unmount():
            return _unmount(fs, action, force=force)
        case _:
            assert_never(action)


def undo_folded(fs: ScratchRoot, action: RemoveEntry) -> bool:
    """The removal a chain of chmods' and chowns' undo is folded into
    (``executor._undo_fold``): True if it is done (the entry removed, or gone
    already); False, having changed nothing, if the chain must be undone step by
    step instead, which then meets and reports whatever stopped it here.

    ``action``'s guard holds the stamp the last folded step left: one look, one
    ``unlink`` or ``rmdir``.
    """
    try:
        with _looking(fs, action, open_dir=False) as (now, _, info):
            if now is None:
                return True  # gone: nothing to put back on it, nothing to remove
            if judge_removal(action.guard, now) != "proceed":
                return False
            if info is not None and info.st_nlink > 1:
                return False  # step by step, the chown's undo refuses it (H36)
        return _remove(fs, action, directory=action.directory) is None
    except (HostError, OSError):
        # Not dropped: the step-by-step undo does the same look and the same
        # removal, and records what fails there as it always has.
        return False


@cache  # once per process: the capabilities do not change under kplan
def overrides_permissions() -> bool:
    """Whether this process's permission checks are overridden (root's
    ``CAP_DAC_OVERRIDE`` and ``CAP_FOWNER``): a directory's mode then cannot
    stop the removal of its children (``executor._undo_fold``, *Directories*)."""
    with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123
        for line in status:
            if line.startswith("CapEff:"):
                effective = int(line.split()[1], 16)
                wanted = (1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_FOWNER)
                return effective & wanted == wanted
    return False


_Judged = RemoveEntry | RestoreFile | SetMeta  # the undos judged by a look


def _looking(
    fs: ScratchRoot, action: _Judged, *, open_dir: bool
) -> AbstractContextManager[tuple[Stamp | None, int, os.stat_result | None]]:
    """``ScratchRoot.looking`` at the action's path, with the digest its judgement
    needs, compared with the one the step left where the process holds it."""
    return fs.looking(
        action.path,
        digest=needs_digest(action),
        open_dir=open_dir,
        expect=left_digest(action),
    )


def _now(fs: ScratchRoot, action: _Judged) -> Stamp | None:
    """What the action's path is now, as ``_looking`` sees it (no descriptor)."""
    return fs.stamp(
        action.path, digest=needs_digest(action), expect=left_digest(action)
    )


def _acts(verdict: Verdict, *, force: bool) -> bool:
    return verdict == "proceed" or (isinstance(verdict, Changed) and force)


def _reported(verdict: Verdict) -> Changed | None:
    return verdict if isinstance(verdict, Changed) else None


def _remove_staging(fs: ScratchRoot, action: RemoveStaging) -> None:
    """An entry under the apply's own staging name: remove it if it is there.

    A staging directory may hold the entries the apply made nested in it
    (``executor._fs_lane``, *Nested*), its own as well: removed with it."""
    try:
        info = fs.lstat(action.path)
    except MissingPathError:
        return  # its directory is gone: so is it
    if info is None:
        return
    if not stat.S_ISDIR(info.st_mode):
        _remove(fs, action, directory=False)
        return
    with fs.parent(action.path) as parent:
        try:
            _remove_tree(parent, action.path.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise host_error("rmdir", action.path, exc) from exc
    fs.forget(action.path)


def _remove_tree(parent: int, name: str) -> None:
    """Remove the directory ``name`` in ``parent`` and all it holds, through
    descriptors, following no symlink. Only for a staging directory: everything
    in it is the apply's, so a mode that would refuse the removal is widened."""
    fd = os.open(name, _TREE, dir_fd=parent)
    try:
        if os.fstat(fd).st_mode & stat.S_IRWXU != stat.S_IRWXU:
            os.fchmod(fd, stat.S_IRWXU)
        with os.scandir(fd) as entries:
            inside = [
                (entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries
            ]
        for entry, directory in inside:
            if directory:
                _remove_tree(fd, entry)
            else:
                os.unlink(entry, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def _remove_entry(
    fs: ScratchRoot, action: RemoveEntry, *, force: bool
) -> Changed | None:
    now = _now(fs, action)
    verdict = judge_removal(action.guard, now)
    if not _acts(verdict, force=force):
        return _reported(verdict)
    return _remove(fs, action, directory=action.directory)


def _remove(
    fs: ScratchRoot, action: RemoveEntry | RemoveStaging, *, directory: bool
) -> Changed | None:
    path = action.path
    with fs.parent(path) as parent:
        try:
            if directory:
                os.rmdir(path.name, dir_fd=parent)
                fs.forget(path)  # a descriptor of it may be cached: it is gone
            else:
                os.unlink(path.name, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in {errno.ENOTEMPTY, errno.EEXIST}:
                return Changed("it holds entries the apply did not make")
            operation = "rmdir" if directory else "unlink"
            raise host_error(operation, path, exc) from exc
    return None


def _restore_file(
    fs: ScratchRoot, action: RestoreFile, *, force: bool
) -> Changed | None:
    now = _now(fs, action)
    verdict = judge_in_place(action, now)
    if not _acts(verdict, force=force):
        return _reported(verdict)
    private = fs.need_private("restore", action.path)
    if now is None:
        with fs.parent(action.path) as parent:
            try:
                fd = os.open(action.path.name, _NEW, 0o600, dir_fd=parent)
            except OSError as exc:
                raise host_error("restore", action.path, exc) from exc
        _put_back(fd, action, private)
        return None
    with fs.node(action.path, "restore", _WRITE) as (fd, info):
        check_single_link("restore", action.path, info)
        _put_back(os.dup(fd), action, private)
    return None


def _put_back(fd: int, action: RestoreFile, private: PrivateDir) -> None:
    """Content (streamed from the private copy), owner, then mode; closes ``fd``."""
    old = action.old
    try:
        with private.reading(action.saved) as source:
            os.ftruncate(fd, 0)
            copy_stream(source, fd)
        os.fchown(fd, old.uid, old.gid)
        os.fchmod(fd, old.mode)  # after the chown, which clears set-user-ID
    except OSError as exc:
        raise host_error("restore", action.path, exc) from exc
    finally:
        os.close(fd)


def _set_meta(fs: ScratchRoot, action: SetMeta, *, force: bool) -> Changed | None:
    """Look through the descriptor it then acts on (one open), and change only
    what differs: most undos of a chmod or a chown are one syscall."""
    path, old = action.path, action.old
    with _looking(fs, action, open_dir=True) as (now, fd, info):
        verdict = judge_in_place(action, now)
        if not _acts(verdict, force=force):
            return _reported(verdict)
        if now is None:
            return None  # forced: nothing to set; a write's undo may bring it back
        if info is None:  # forced over what is no longer a file or a directory
            reason = f"is a {now.kind}: kplan changes only files and directories"
            raise HostError("set-meta", str(path), reason)
        check_single_link("set-meta", path, info)
        chown, chmod = meta_changes(old, now)
        try:
            if chown:
                os.fchown(fd, old.uid, old.gid)
            if chmod:
                os.fchmod(fd, old.mode)  # after the chown, which clears set-user-ID
        except OSError as exc:
            raise host_error("set-meta", path, exc) from exc
    return None


def _unmount(fs: ScratchRoot, action: Unmount, *, force: bool) -> Changed | None:
    path = action.path
    try:
        with fs.parent(path) as parent:
            try:
                info = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                return None
            verdict = judge_unmount(action, info.st_dev)
            if not _acts(verdict, force=force):
                return _reported(verdict)
            # The parent's descriptor names the mount point without pinning it;
            # a cached descriptor at or below it would (EBUSY): closed first.
            fs.forget(path)
            command = [fs.tools.umount, f"{proc_path(parent)}/{path.name}"]
            fs.run("umount", path, command)
    except MissingPathError:
        return None
    return None
