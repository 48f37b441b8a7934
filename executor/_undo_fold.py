"""Folding a rollback's undo of chmods and chowns into the removal of their entry.

Theory of operation
-------------------
Most entries a new kernel's apply makes are chowned (some chmodded) by later
steps. Undone one by one, last first, each such entry is looked at twice: the
undo of the chown puts the owner back (``lstat``, ``open``, ``fstat``, a file's
digest, ``fchown``), then the undo of the step that made it looks again and
removes it. When the same rollback removes the entry anyway, the first look buys
nothing: the undo of those chmods and chowns is *folded* into the removal, which
looks once, against the stamp the last of them left (what the apply finally left
there), and removes the entry.

A chain folds (``fold_chains``) when, in one group of quick undos
(``executor._rollback``), unforced:

* the removal is a finished step's whose whole undo is that one ``RemoveEntry``
  (a ``MakeDir``, a new file's ``WriteFile``), of a file whose content the apply
  tracks, or of a directory where directories fold (below);
* each folded step is a finished chmod or chown whose whole undo is one
  ``SetMeta`` of that path and entry (device and inode);
* their stamps chain: the first folded step (in apply order) found what the
  removal's step left, each next one what the one before it left. Undone one by
  one over the entry as the last one left it, each would proceed and the entry
  would come back to what its maker left, which the removal then removes: folded,
  the outcome is the same;
* no step between them undoes anything else at that path.

*The folded undo* (``executor._confined_undo.undo_folded``) looks once. The entry
as the last folded step left it (and a file with one link): removed, every step of
the chain undone. Gone: nothing to do for any of them (``removed_later``).
Anything else (changed since the apply, replaced, a second hard link, a removal
that fails: a directory holding entries the apply did not make) changes nothing
and the chain is undone step by step, exactly as without folding: the same acts,
the same reports. A forced rollback never folds.

*Directories.* Undone one by one, a directory's mode and owner go back before its
children are removed; folded, only after. Without the capabilities that override
permission checks (``CAP_DAC_OVERRIDE`` and, for a sticky directory,
``CAP_FOWNER``: root's), a mode the apply left (0o555, say) could then refuse the
removal of its children, so directories fold only with both (``fold_dirs``).
Files always may: removing a file asks its directory, not the file.

*Journal.* The folded steps' ``undone`` records are taken with the removal's, after
it, deferred as every quick undo's (``executor._journal``, *Batching*); no folded
step is journaled ``undone`` while its entry is still there. A crash before the
removal leaves the chain pending as it was, and a rollback run again folds it
again; a crash after it, before the records were written, leaves an entry gone
that the chain's undo then finds gone. That an in-place undo finds its entry gone
is no change since the apply when a later undo of the same rollback removes that
very entry (``mark_removed_later``): nothing is lost, and the rollback cannot
tell that removal from a user's deletion, which it would otherwise report (as it
never reported a deleted entry the apply made and left unchanged). This holds
unfolded too (a restore between a creation and a chown, a directory that does
not fold).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import TypeAlias, final

import attrs

from ._inverse import Guard, RemoveEntry, RemoveStaging, RestoreFile, SetMeta, Undo
from ._records import StepRecord

__all__ = ["Fold", "Pending", "fold_chains", "mark_removed_later"]

Pending: TypeAlias = tuple[StepRecord, tuple[Undo, ...]]
_Entry: TypeAlias = tuple[PurePosixPath, int, int]  # path, device, inode


@final
@attrs.frozen(kw_only=True)
class Fold:
    """A removal that takes in the undo of the chmods and chowns of its entry.

    ``removal`` and ``folded`` are positions in the group (``folded`` in the
    group's order: the step applied last first); ``action`` is the removal judged
    against the stamp the last folded step left.
    """

    removal: int
    folded: tuple[int, ...]
    action: RemoveEntry


def mark_removed_later(pending: Sequence[Pending]) -> list[Pending]:
    """``pending`` (last first) with ``removed_later`` set on each in-place undo
    of an entry that a later undo of the same rollback removes."""
    removed: set[_Entry] = set()
    marked: list[Pending] = []
    for record, actions in reversed(pending):  # the apply's order: makers first
        marked.append((record, tuple(_marked(action, removed) for action in actions)))
        removed |= {
            (a.path, a.guard.dev, a.guard.ino)
            for a in actions
            if isinstance(a, RemoveEntry)
        }
    marked.reverse()
    return marked


def _marked(action: Undo, removed: set[_Entry]) -> Undo:
    if isinstance(action, RestoreFile | SetMeta) and _entry(action) in removed:
        return attrs.evolve(action, removed_later=True)
    return action


def _entry(action: RestoreFile | SetMeta | RemoveEntry) -> _Entry:
    return (action.path, action.guard.dev, action.guard.ino)


def fold_chains(group: Sequence[Pending], *, fold_dirs: bool) -> dict[int, Fold]:
    """The folds of one group of quick undos (last first), by their removal's
    position (see the module docstring)."""
    chains: dict[PurePosixPath, list[tuple[int, SetMeta]]] = {}  # folded so far
    folds: dict[int, Fold] = {}
    for position, (_, actions) in enumerate(group):
        match actions:
            case (SetMeta(guard=Guard(left=left)) as meta,) if left is not None:
                _extend(chains, meta, position)
            case (RemoveEntry(guard=Guard(left=left)) as removal,) if (
                left is not None and (fold_dirs or left.sha256 is not None)
            ):
                fold = _fold(removal, position, chains.pop(removal.path, []))
                if fold is not None:
                    folds[position] = fold
            case _:
                for path in _paths(actions):
                    chains.pop(path, None)  # another undo at that path: no fold
    return folds


def _paths(actions: tuple[Undo, ...]) -> set[PurePosixPath]:
    return {
        action.path
        for action in actions
        if isinstance(action, RemoveStaging | RemoveEntry | RestoreFile | SetMeta)
    }


def _extend(
    chains: dict[PurePosixPath, list[tuple[int, SetMeta]]],
    meta: SetMeta,
    position: int,
) -> None:
    """Add a chmod's or chown's undo to its path's chain, or start one there."""
    chain = chains.get(meta.path)
    # The one applied after it found what it left: one by one, that one is undone
    # first, and this one then finds what it left.
    if chain is not None and chain[-1][1].old == meta.guard.left:
        chain.append((position, meta))
    else:
        chains[meta.path] = [(position, meta)]


def _fold(
    removal: RemoveEntry, position: int, chain: list[tuple[int, SetMeta]]
) -> Fold | None:
    """The fold of ``chain`` into ``removal``, if their stamps and entry chain."""
    if not chain:
        return None
    first, last = chain[-1][1], chain[0][1]  # in the apply's order
    entry = _entry(removal)
    if first.old != removal.guard.left or any(_entry(m) != entry for _, m in chain):
        return None
    guard = attrs.evolve(removal.guard, left=last.guard.left)
    return Fold(
        removal=position,
        folded=tuple(p for p, _ in chain),
        action=attrs.evolve(removal, guard=guard),
    )
