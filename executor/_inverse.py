"""What undoes a step, decided from its journal record (pure).

Theory of operation
-------------------
``inverse_of(record)`` turns a step's record (``executor._records``) into undo
actions. An action names the entry it may touch by a *guard*: the device and inode
the step made or changed and, when the step finished, the whole stamp it left
there. Before acting, the host observes the path and ``judge_*`` decides:

* **nothing to do**: the path is already as it was before the step (a step that
  never took effect, on a read-only or immutable scratch say, is no failure to
  undo), or an entry the step would remove is absent or is not the step's own (a
  mkdir that met an existing directory, an exclusive create that lost a race);
* **changed since the apply**: the path is no longer what the step left (the user
  edited, chmodded or replaced it): it is left as it is and reported, and the
  rollback is incomplete unless forced (``kplan rollback --force``);
* **proceed**.

Entries under the apply's staging names are its own by their name and are removed
without further checks; only an unfinished step's: a step journaled ``done`` renamed
its staging entry into place or removed it before it finished. Every action is
idempotent, so a journal can be rolled back after a crash, and twice.

*One change or more.* Most actions make one change (an ``unlink``, an ``rmdir``,
the ``fchown`` or the ``fchmod`` of a mode change's undo): after a crash each is
either done, and the path is as before the step, or not begun, and the path is as
the step left it. A rollback run again judges either rightly, so such a step needs
no ``undoing`` record (``single_changes``). A restore (truncate, copy, owner,
mode), a forced undo and the undo of an unfinished step may be cut short between
two changes; they are bracketed (``executor._rollback``).

An in-place undo (``RestoreFile``, ``SetMeta``) of an entry that a later undo of
the same rollback removes is marked ``removed_later``: found gone, it needs
nothing (``executor._undo_fold``), which is also what the undo of chmods and
chowns folded into that removal relies on.

============= ==================================================================
effect        undo
============= ==================================================================
MakeDir       remove its staging entry; remove the directory if the step made it
WriteFile     a new file: as MakeDir; over a file: put its content, owner, mode
              back (nothing if it held the content already: nothing written)
Chmod, Chown  put the owner, then the mode back (a chown clears set-ids)
HostKey       remove a new ``.pub`` and the key (and their staging entries)
MountScratch  unmount what the step mounted; remove the image it made
PullImage     remove the image if it was not present
SocketProxy   remove the proxy's socket (its process then exits by itself) and
              the directories the step made, if empty
HostPorts     give the ports back to the pool
Create        remove the container (force; only one carrying the plan's label)
AppendCID     put the file's content, owner and mode back, as WriteFile
others        nothing: start, sudo, networks and checks act inside the container,
              which the undo of Create removes
============= ==================================================================
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal, TypeAlias, assert_never, final

import attrs

from effects import (
    AllocateHostPorts,
    AppendContainerId,
    Chmod,
    Chown,
    ConnectNetworks,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    ProvisionSudo,
    PullImage,
    RegisterKernel,
    ServeSocketProxy,
    StartContainer,
    VerifyContainer,
    WaitKernelReady,
    WriteFile,
    describe,
)
from effects.decoding import mode_text

from ._records import (
    DirPrior,
    FilePrior,
    HostKeyPrior,
    ImagePrior,
    MetaPrior,
    MountPrior,
    NoPrior,
    ProxyPrior,
    SavedFile,
    Stamp,
    StepRecord,
)

__all__ = [
    "Changed",
    "Guard",
    "ReleasePorts",
    "RemoveContainer",
    "RemoveEntry",
    "RemoveImage",
    "RemoveStaging",
    "RestoreFile",
    "SetMeta",
    "StopProxy",
    "Undo",
    "Unmount",
    "Verdict",
    "describe_undo",
    "inverse_of",
    "judge_in_place",
    "judge_removal",
    "judge_unmount",
    "left_digest",
    "meta_changes",
    "needs_digest",
    "single_changes",
    "undo_path",
]


@final
@attrs.frozen(kw_only=True)
class Guard:
    """Which entry an undo may touch, and (for a finished step) what it left."""

    dev: int
    ino: int
    left: Stamp | None


@final
@attrs.frozen(kw_only=True)
class RemoveStaging:
    """Remove an entry under the apply's staging name (the apply's own)."""

    path: PurePosixPath


@final
@attrs.frozen(kw_only=True)
class RemoveEntry:
    """Remove a file or (empty) directory the step made."""

    path: PurePosixPath
    guard: Guard
    directory: bool


@final
@attrs.frozen(kw_only=True)
class RestoreFile:
    """Put back a file's old content (from the private directory), owner and mode.

    ``removed_later``: a later undo of the same rollback removes this very entry
    (``executor._undo_fold``), so a path already gone needs nothing.
    """

    path: PurePosixPath
    saved: SavedFile
    old: Stamp
    guard: Guard
    removed_later: bool = False


@final
@attrs.frozen(kw_only=True)
class SetMeta:
    """Put back a path's old owner and mode (``removed_later``: as ``RestoreFile``)."""

    path: PurePosixPath
    old: Stamp
    guard: Guard
    removed_later: bool = False


@final
@attrs.frozen(kw_only=True)
class Unmount:
    """Unmount what the step mounted on a path (``mounted``: its device, if known)."""

    path: PurePosixPath
    dev_before: int
    mounted: int | None


@final
@attrs.frozen
class RemoveImage:
    """Remove an image the plan pulled."""

    ref: str


@final
@attrs.frozen
class RemoveContainer:
    """Remove (force) the plan's container."""

    name: str


@final
@attrs.frozen(kw_only=True)
class StopProxy:
    """Remove a proxy's socket (so its process exits) and the dirs the step made."""

    path: str
    made: tuple[str, ...]


@final
@attrs.frozen
class ReleasePorts:
    """Give host ports back to the pool."""

    ports: tuple[int, ...]


Undo: TypeAlias = (
    RemoveStaging
    | RemoveEntry
    | RestoreFile
    | SetMeta
    | Unmount
    | RemoveImage
    | RemoveContainer
    | StopProxy
    | ReleasePorts
)


@final
@attrs.frozen
class Changed:
    """The path is no longer what the apply left there: why."""

    reason: str


Verdict: TypeAlias = Literal["proceed", "nothing"] | Changed
_SPECIAL = 0o7000  # set-user-ID, set-group-ID, sticky: a chown may clear them


def inverse_of(record: StepRecord) -> tuple[Undo, ...]:  # noqa: C901, PLR0911, PLR0912  (one per effect)
    """The undo actions for one journaled step (see the table above)."""
    match record.effect, record.prior:
        case MakeDir(path=path), DirPrior(staging=staging):
            return (
                *_staged(record, path, staging),
                *_removal(record, path, directory=True),
            )
        case WriteFile(path=path), FilePrior(old=None, staging=staging):
            return (
                *_staged(record, path, staging),
                *_removal(record, path, directory=False),
            )
        case (
            (WriteFile(path=path) | AppendContainerId(path=path)),
            FilePrior(old=Stamp() as old, saved=SavedFile() as s),
        ):
            guard = _guard(record, path, old)
            return (RestoreFile(path=path, saved=s, old=old, guard=guard),)
        case WriteFile(), FilePrior(old=Stamp(), saved=None):
            return ()  # it held the content already: the step wrote nothing
        case ((Chmod(path=path) | Chown(path=path)), MetaPrior(old=old)):
            return (SetMeta(path=path, old=old, guard=_guard(record, path, old)),)
        case GenerateHostKey(path=path) as key, HostKeyPrior() as prior:
            return _host_key(record, key, prior)
        case MountScratch() as mount, MountPrior() as prior:
            return _mount(record, mount, prior)
        case PullImage(ref=ref), ImagePrior(present=present):
            return () if present else (RemoveImage(ref),)
        case CreateContainer(name=name), NoPrior():
            return (RemoveContainer(name),)
        case ServeSocketProxy(path=path), ProxyPrior(made=made):
            return (StopProxy(path=str(path), made=made),)
        case AllocateHostPorts(ports=ports), NoPrior():
            return (ReleasePorts(ports),)
        case (
            (
                StartContainer()
                | VerifyContainer()
                | ContainerMount()
                | ContainerConfig()
                | RegisterKernel()
                | ProvisionSudo()
                | ConnectNetworks()
                | WaitKernelReady()
            ),
            NoPrior(),
        ):
            return ()
        case _:
            msg = (
                f"a {type(record.prior).__name__} cannot undo {describe(record.effect)}"
            )
            raise AssertionError(msg)  # the journal decoder pairs them


def _mount(
    record: StepRecord, effect: MountScratch, prior: MountPrior
) -> tuple[Undo, ...]:
    left = record.stamp_left(effect.path)
    mounted = None if left is None else left.dev
    unmount = Unmount(path=effect.path, dev_before=prior.dev, mounted=mounted)
    if effect.image is None:
        return (unmount,)
    image = _removal(record, effect.image, directory=False)
    return (unmount, *_staged(record, effect.image, prior.staging), *image)


def _host_key(
    record: StepRecord, effect: GenerateHostKey, prior: HostKeyPrior
) -> tuple[Undo, ...]:
    public: tuple[Undo, ...] = ()
    if prior.public_staging is not None:
        public = (
            *_staged(record, effect.public_path, prior.public_staging),
            *_removal(record, effect.public_path, directory=False),
        )
    key = _removal(record, effect.path, directory=False)
    key = (*_staged(record, effect.path, prior.staging), *key)
    return (*public, *key)


def _staged(
    record: StepRecord, path: PurePosixPath, staging: str | None
) -> tuple[Undo, ...]:
    """Remove the staging entry of an unfinished step (see the module docstring)."""
    if staging is None or record.left is not None:
        return ()
    return (RemoveStaging(path=path.with_name(staging)),)


def _removal(
    record: StepRecord,
    path: PurePosixPath,
    directory: bool,  # noqa: FBT001
) -> tuple[Undo, ...]:
    """Remove what the step made at ``path``: what it left, or (unfinished) made."""
    if record.left is not None:
        stamp = record.stamp_left(path)
        if stamp is None:
            return ()  # it made nothing there (a directory was kept)
        guard = Guard(dev=stamp.dev, ino=stamp.ino, left=stamp)
        return (RemoveEntry(path=path, guard=guard, directory=directory),)
    created = record.created_at(path)
    if created is None:
        return ()  # it never made an entry there
    guard = Guard(dev=created.dev, ino=created.ino, left=None)
    return (RemoveEntry(path=path, guard=guard, directory=directory),)


def _guard(record: StepRecord, path: PurePosixPath, old: Stamp) -> Guard:
    """For an in-place change: what the finished step left, or the entry it found."""
    left = record.stamp_left(path)
    if left is not None:
        return Guard(dev=left.dev, ino=left.ino, left=left)
    return Guard(dev=old.dev, ino=old.ino, left=None)


# --- judging what is there now -----------------------------------------------------


def judge_removal(guard: Guard, now: Stamp | None) -> Verdict:
    """May an entry the step made be removed, seeing ``now`` at its path?"""
    if now is None:
        return "nothing"
    if not now.is_entry(guard.dev, guard.ino):
        if guard.left is None:
            return "nothing"  # an unfinished step: the entry there is not its own
        return Changed("it was replaced by another entry since the apply")
    return _as_left(guard.left, now)


def judge_in_place(action: RestoreFile | SetMeta, now: Stamp | None) -> Verdict:
    """May a changed file or directory be put back, seeing ``now`` at its path?

    A path that is gone is a change since the apply, unless a later undo of the
    rollback removes that entry anyway (``removed_later``): then it needs nothing.
    """
    if now is not None and _is_as_before(action, now):
        return "nothing"
    if now is None:
        # Gone, and a later undo would remove it: nothing is lost, and this is
        # what a rollback run again after a crash finds once that removal was
        # done (its records had not reached the journal).
        return "nothing" if action.removed_later else Changed("it is gone")
    if not now.is_entry(action.guard.dev, action.guard.ino):
        return Changed("it was replaced by another entry since the apply")
    return _as_left(action.guard.left, now)


def _is_as_before(action: RestoreFile | SetMeta, now: Stamp) -> bool:
    old = action.old
    same = now.is_entry(old.dev, old.ino) and (now.mode, now.uid, now.gid) == (
        old.mode,
        old.uid,
        old.gid,
    )
    if isinstance(action, RestoreFile):
        return same and now.sha256 == action.saved.sha256
    return same


def _as_left(left: Stamp | None, now: Stamp) -> Verdict:
    if left is None:
        return "proceed"  # an unfinished step: its own entry, in whatever state
    found = []
    if now.kind != left.kind:
        found.append(f"it is a {now.kind} now")
    if now.mode != left.mode:
        found.append(f"its mode is {mode_text(now.mode)}, not {mode_text(left.mode)}")
    if (now.uid, now.gid) != (left.uid, left.gid):
        found.append(f"its owner is {now.uid}:{now.gid}, not {left.uid}:{left.gid}")
    if left.sha256 is not None and now.sha256 != left.sha256:
        found.append("its content is not what the apply wrote")
    return Changed("; ".join(found)) if found else "proceed"


def judge_unmount(action: Unmount, now_dev: int | None) -> Verdict:
    """May the filesystem on the mount point (``now_dev``) be unmounted?"""
    if now_dev is None or now_dev == action.dev_before:
        return "nothing"  # gone, or nothing mounted there by the step
    if action.mounted is None or now_dev == action.mounted:
        return "proceed"
    return Changed("another filesystem is mounted there now")


def single_changes(action: Undo) -> bool:
    """Whether ``action`` makes at most one change, unforced (module docstring)."""
    match action:
        case RemoveStaging() | RemoveEntry():
            return True
        case SetMeta(old=old, guard=Guard(left=Stamp() as left)):
            # Unforced, it acts only on the path as the step left it.
            return not all(meta_changes(old, left))
        case _:
            return False


def meta_changes(old: Stamp, now: Stamp) -> tuple[bool, bool]:
    """Whether putting ``old``'s owner and mode back over ``now`` needs an
    ``fchown``, and then an ``fchmod`` (a chown may clear set-id bits)."""
    chown = (now.uid, now.gid) != (old.uid, old.gid)
    chmod = now.mode != old.mode or (chown and bool(old.mode & _SPECIAL))
    return chown, chmod


def needs_digest(action: Undo) -> bool:
    """Whether judging ``action`` needs the digest of the file at its path: a
    restore's always (the old content may be back), the others' where the step
    left a digest to compare with (``left_digest``)."""
    return isinstance(action, RestoreFile) or left_digest(action) is not None


def left_digest(action: Undo) -> str | None:
    """The digest the step left at the action's path, if its judgement compares
    the content with it (``ScratchRoot.looking``'s ``expect``)."""
    match action:
        case RemoveEntry(guard=guard) | SetMeta(guard=guard) | RestoreFile(guard=guard):
            return None if guard.left is None else guard.left.sha256
        case _:
            return None


def undo_path(action: Undo) -> str:
    """The path (or image, or container) an action is about, for reports."""
    match action:
        case RemoveImage(ref=ref):
            return ref
        case RemoveContainer(name=name):
            return name
        case ReleasePorts(ports=ports):
            return ",".join(map(str, ports))
        case _:
            return str(action.path)


def _meta(stamp: Stamp) -> str:
    return f"mode={mode_text(stamp.mode)} owner={stamp.uid}:{stamp.gid}"


def describe_undo(action: Undo) -> str:  # noqa: PLR0911  (one line per action type)
    """One line for reports: ``remove-dir k/work``."""
    match action:
        case RemoveStaging(path=path):
            return f"remove-staging {path}"
        case RemoveEntry(path=path, directory=directory):
            return f"remove-{'dir' if directory else 'file'} {path}"
        case RestoreFile(path=path, old=old):
            return f"restore-file {path} {_meta(old)}"
        case SetMeta(path=path, old=old):
            return f"set-meta {path} {_meta(old)}"
        case Unmount(path=path):
            return f"unmount {path}"
        case RemoveImage(ref=ref):
            return f"remove-image {ref}"
        case RemoveContainer(name=name):
            return f"remove-container {name}"
        case StopProxy(path=path):
            return f"stop-socket-proxy {path}"
        case ReleasePorts(ports=ports):
            return f"release-host-ports {','.join(map(str, ports))}"
        case _:
            assert_never(action)
