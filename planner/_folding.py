"""Mode and owner changes a plan can do without: the compiler's last pass.

Legacy makes an entry and then chmods it (``mkdir`` then ``chmod 0755``, a key
written 0644 then chmodded 0600); its dotfiles walk chmods and chowns every
directory from the file up to ``work`` for each dotfile (§12.5, H3), and OWN
(§1.3) repeats for shared ones, so a directory holding forty dotfiles gets forty
chmods and forty chowns, of which the last of each decides. ``fold`` gives the
same plan with

* every chmod or chown a later one overrides left out: a chmod of a path by a
  later chmod of it, a chown by a later chown that sets every id it sets;
* every chmod, chown or write that leaves an entry of the facts as they saw it
  (its mode, its ids, its content), before any other step changed it: a restart
  chmods, chowns and writes again what its first run left;
* the first chmod of an entry the plan makes new folded into the step that makes
  it (the ``MakeDir`` or ``WriteFile`` creates it with that mode), and likewise
  its first chown (it creates the entry with that owner): legacy chowns what it
  has just made, so a new kernel's chowns mostly go (each cost the apply as much
  as a mkdir: an intent, a prior, a done).

The outcome, every mode and owner of the tree, is the same (``effects.project``
of both plans is equal; the legacy comparison is unchanged), with fewer steps to
journal and run. It holds only where the order of the steps cannot tell: the plan
runs as root (permission bits restrict neither kplan nor legacy), and no mode
involved, an entry's before or any chmod of it, has a set-user-ID, set-group-ID
or sticky bit (a chown clears set-ids, which makes chmods and chowns of one path
depend on their order; a set-group-ID directory gives new entries its group;
the kernel may refuse a set-group-ID bit). A mount on a path or above it starts
over: what was below it is hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import attrs

from effects import (
    EFFECT_TYPES,
    Chmod,
    Chown,
    MakeDir,
    MountScratch,
    Node,
    Step,
    Tree,
    WriteFile,
    changed_maker,
    staged,
)

__all__ = ["fold"]

_SPECIAL = 0o7000


def fold(steps: Sequence[Step], before: Tree, *, as_root: bool) -> list[Step]:
    """``steps`` without the chmods and chowns they can do without (see above)."""
    if not as_root:
        return list(steps)
    special = _special_paths(steps, before)
    gone = _overridden(steps, special) | _unchanged(steps, before, special)
    kept = [step for index, step in enumerate(steps) if index not in gone]
    return _folded(kept, before, special)


def _unchanged(steps: Sequence[Step], before: Tree, special: set[str]) -> set[int]:
    """The chmods, chowns and writes that leave an entry as the facts saw it,
    before any other step changed it: a restart chmods, chowns and writes again
    what its first run left (a write over a file keeps its mode and owner)."""
    if not before.entries:
        return set()  # a new kernel's: nothing there to leave as it is
    nodes = {str(path): node for path, node in before.entries}
    touched: set[str] = set()  # its mode or owner may differ from the facts' now
    mounts: list[str] = []  # what a mount hides is not the facts' any more
    found: set[int] = set()
    for index, step in enumerate(steps):
        effect = step.effect
        kind = type(effect)
        if kind in _PATHLESS:
            continue
        key = str(getattr(effect, "path", ""))
        seen = nodes.get(key)  # as the facts saw it, and still so
        if key in touched or key in special or any(map(key.startswith, mounts)):
            seen = None
        if kind is MountScratch:
            mounts.append(f"{key}/")
        if kind in _MAKERS and seen is not None and seen.type == _MADE[kind]:
            if kind is WriteFile and seen.sha256 == cast("WriteFile", effect).blob:
                found.add(index)  # the content it holds: nothing to write
            continue  # an existing directory kept, a file written over: as they were
        if kind not in _CHANGES:
            touched.update(_paths_made(step))
        elif seen is not None and _leaves_as_is(cast("Chmod | Chown", effect), seen):
            found.add(index)
        else:
            touched.add(key)
    return found


_MADE: dict[type, str] = {MakeDir: "dir", WriteFile: "file"}


def _leaves_as_is(change: Chmod | Chown, node: Node) -> bool:
    if node.type not in {"file", "dir"}:
        return False  # the model refuses the others
    if isinstance(change, Chmod):
        return change.mode == node.mode
    return change.uid in {None, node.uid} and change.gid in {None, node.gid}


def _overridden(steps: Sequence[Step], special: set[str]) -> set[int]:
    moded: set[str] = set()  # a later chmod sets the mode
    owned_uid: set[str] = set()  # a later chown sets the uid
    owned_gid: set[str] = set()
    found: set[int] = set()
    # isinstance chains, not class patterns with captures (twice as slow): the
    # compile's last pass meets every step.
    for index in range(len(steps) - 1, -1, -1):
        effect = steps[index].effect
        if isinstance(effect, Chmod):
            key = str(effect.path)
            if key not in special:
                if key in moded:
                    found.add(index)
                moded.add(key)
        elif isinstance(effect, Chown):
            key = str(effect.path)
            if key not in special and _owned_later(effect, key, owned_uid, owned_gid):
                found.add(index)
        elif isinstance(effect, MountScratch):
            _forget_below(str(effect.path), moded, owned_uid, owned_gid)
    return found


def _owned_later(
    effect: Chown, key: str, owned_uid: set[str], owned_gid: set[str]
) -> bool:
    """Whether later chowns (walking back) set every id ``effect`` sets; then
    record the ids it sets."""
    uid, gid = effect.uid, effect.gid
    later = (uid is None or key in owned_uid) and (gid is None or key in owned_gid)
    if uid is not None:
        owned_uid.add(key)
    if gid is not None:
        owned_gid.add(key)
    return later


def _folded(steps: list[Step], before: Tree, special: set[str]) -> list[Step]:
    """Fold each new entry's first chmod and first chown into the step that
    made it."""
    existing = {str(path) for path, _ in before.entries}
    made: dict[str, int] = {}  # a new entry not chmodded yet -> its maker's index
    unowned: dict[str, int] = {}  # and not chowned yet
    folded: dict[int, MakeDir | WriteFile] = {}  # a maker's index -> its effect now
    result: list[Step] = []
    for step in steps:
        effect = step.effect
        if type(effect) in _PATHLESS:  # the classes are final
            pass  # a mount entry, a config fragment, the container
        elif type(effect) in _MAKERS:
            key = str(cast("MakeDir | WriteFile", effect).path)
            if key not in existing and key not in special:
                made[key] = unowned[key] = len(result)
            existing.add(key)
        elif type(effect) in _CHANGES:
            change = cast("Chmod | Chown", effect)
            makers = unowned if type(change) is Chown else made
            maker = makers.pop(str(change.path), None)
            if maker is not None:  # the maker makes the entry as the change leaves it
                into = folded.get(maker) or cast(
                    "MakeDir | WriteFile", result[maker].effect
                )
                folded[maker] = changed_maker(into, change)
                continue
            existing.add(str(change.path))
        elif isinstance(effect, MountScratch):
            top = str(effect.path)
            _forget_below(top, existing, made, unowned)  # hidden: what was there
            existing.add(top)
            if effect.image is not None:
                existing.add(str(effect.image))
        else:
            existing.update(_paths_made(step))
        result.append(step)
    for index, effect in folded.items():  # each maker's step built once
        (result[index],) = staged(result[index].stage, (effect,))
    return result


_MAKERS = frozenset({MakeDir, WriteFile})  # final classes: a set lookup, no isinstance

# The effects with no scratch path at all (``paths_of`` gives none): a third of a
# plan's steps, which make no entry.
_PATHLESS = frozenset(
    kind
    for kind in EFFECT_TYPES
    if "path" not in attrs.fields_dict(kind) and not hasattr(kind, "public_path")
)


_CHANGES = frozenset({Chmod, Chown})


def _paths_made(step: Step) -> tuple[str, ...]:
    """Entries a step other than MakeDir, WriteFile and mounts may make (the host
    key and its public half): they exist from then on."""
    path = getattr(step.effect, "path", None)
    public = getattr(step.effect, "public_path", None)
    return tuple(str(p) for p in (path, public) if p is not None)


def _special_paths(steps: Sequence[Step], before: Tree) -> set[str]:
    """Paths with a set-id or sticky bit before, or made or chmodded with one."""
    found = {str(p) for p, node in before.entries if node.mode & _SPECIAL}
    for step in steps:
        effect = step.effect
        if type(effect) in _MODED:
            moded = cast("Chmod | MakeDir | WriteFile", effect)
            if moded.mode & _SPECIAL:
                found.add(str(moded.path))
    return found


_MODED = frozenset({Chmod, MakeDir, WriteFile})  # the effects that set a mode


def _forget_below(top: str, *seen: set[str] | dict[str, int]) -> None:
    below = f"{top}/"
    for paths in seen:
        for key in [k for k in paths if k == top or k.startswith(below)]:
            if isinstance(paths, set):
                paths.discard(key)
            else:
                del paths[key]
