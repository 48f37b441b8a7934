"""Overridden mode and owner changes: the chmods and chowns a later one undoes.

Legacy's dotfiles walk chmods and chowns every directory from the file up to
``work`` for each dotfile (§12.5, H3), and OWN (§1.3) repeats for shared ones: a
directory holding forty dotfiles gets forty chmods and forty chowns, of which the
last of each decides what it is. ``overridden`` finds the others, so the compiler
can leave them out: the plan's outcome (the tree, every mode and owner) is the
same, with fewer steps to journal and run.

A chmod of a path is overridden by a later chmod of it; a chown by a later chown
that sets every id it sets. That holds only where the order of the steps between
cannot tell: the plan runs as root (permission bits restrict neither the
executor nor legacy), and neither the path's mode before nor any chmod of it has a
set-user-ID, set-group-ID or sticky bit (a chown clears set-ids, which makes
chmods and chowns of one path depend on their order; a set-group-ID directory
gives new entries its group). A mount on a path or above it starts over: what was
below it is hidden, so a step after it overrides nothing before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from effects import Chmod, Chown, MakeDir, MountScratch, Step, Tree, WriteFile

__all__ = ["overridden"]

_SPECIAL = 0o7000


def overridden(steps: Sequence[Step], before: Tree, *, as_root: bool) -> set[int]:
    """The indices of the chmods and chowns a later step of ``steps`` overrides."""
    if not as_root:
        return set()
    special = _special_paths(steps, before)
    moded: set[str] = set()  # a later chmod sets the mode
    owned_uid: set[str] = set()  # a later chown sets the uid
    owned_gid: set[str] = set()
    found: set[int] = set()
    for index in range(len(steps) - 1, -1, -1):
        effect = steps[index].effect
        match effect:
            case Chmod(path=path):
                key = str(path)
                if key in special:
                    continue
                if key in moded:
                    found.add(index)
                moded.add(key)
            case Chown(path=path, uid=uid, gid=gid):
                key = str(path)
                if key in special:
                    continue
                if (uid is None or key in owned_uid) and (
                    gid is None or key in owned_gid
                ):
                    found.add(index)
                if uid is not None:
                    owned_uid.add(key)
                if gid is not None:
                    owned_gid.add(key)
            case MountScratch(path=path):
                _forget_below(path, moded, owned_uid, owned_gid)
            case _:
                pass
    return found


def _special_paths(steps: Sequence[Step], before: Tree) -> set[str]:
    """Paths with a set-id or sticky bit before, or made or chmodded with one."""
    found = {str(p) for p, node in before.entries if node.mode & _SPECIAL}
    for step in steps:
        effect = step.effect
        if isinstance(effect, Chmod | MakeDir | WriteFile) and effect.mode & _SPECIAL:
            found.add(str(effect.path))
    return found


def _forget_below(path: PurePosixPath, *seen: set[str]) -> None:
    top, below = str(path), f"{path}/"
    for paths in seen:
        for key in [k for k in paths if k == top or k.startswith(below)]:
            paths.discard(key)
