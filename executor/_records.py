"""What the journal holds for each step: its prior state, what it created, what it left.

Theory of operation
-------------------
Before an effect runs, the executor observes the *prior* state its undo needs: one
frozen value per effect kind (the table). While the effect runs, every entry it
makes new is *announced* (``Created``: its device and inode) while it still has a
staging name of the apply's own, before it is renamed into place; so even after a
crash the rollback tells the step's own entries from anybody else's, and never
removes what the step did not create. When the step finished, its *left* stamps
say what each path it touched is now; the rollback undoes a path only while it is
still exactly that (``executor._inverse``).

=============== =================================================================
effect          prior
=============== =================================================================
MakeDir         ``DirPrior``: was a directory there; else the staging name
WriteFile       ``FilePrior``: the old file's stamp and its content saved in the
                journal's private directory, or the staging name of a new one
Chmod, Chown    ``MetaPrior``: the path's stamp (its old mode and owner)
GenerateHostKey ``HostKeyPrior``: the staging names of the key and of ``.pub``
                (``None`` when a ``.pub`` was there: dropbear's is not copied in)
MountScratch    ``MountPrior``: the mount point's device; the image's staging name
PullImage       ``ImagePrior``: was the image present
ServeSocketProxy ``ProxyPrior``: the socket's directories that were missing (the
                apply makes them, as legacy does; the undo removes them if empty)
AppendContainer ``FilePrior`` of the file it appends to (its stamp and content)
others          ``NoPrior``
=============== =================================================================

Every value has one explicit journal encoding (``executor._record_codec``), never
a generic dump.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal, TypeAlias, final

import attrs

from effects import Effect, GenerateHostKey, MakeDir, MountScratch, WriteFile

__all__ = [
    "ENTRY_KINDS",
    "SAVED",
    "STAGING",
    "Created",
    "DirPrior",
    "EntryKind",
    "FilePrior",
    "HostKeyPrior",
    "ImagePrior",
    "Left",
    "MetaPrior",
    "MountPrior",
    "NoPrior",
    "Prior",
    "ProxyPrior",
    "SavedFile",
    "Stamp",
    "StepRecord",
    "creatable_paths",
]

EntryKind = Literal["dir", "file", "symlink", "socket", "fifo", "device"]
ENTRY_KINDS: tuple[EntryKind, ...] = (
    "dir",
    "file",
    "symlink",
    "socket",
    "fifo",
    "device",
)
# Staging names are the apply's own (a random token per apply): the rollback removes
# an entry of such a name without further checks, so a journal may name no other.
STAGING = re.compile(r"\.kplan-[0-9a-f]{12}-[0-9]+(-pub)?")
SAVED = re.compile(r"prior-[0-9]+")


@final
@attrs.frozen(kw_only=True)
class Stamp:
    """What one path is: which entry (device, inode), its type, mode, owner, digest.

    ``sha256`` is set for regular files whose content is tracked, and ``None`` for
    everything else (a scratch image's content is its filesystem's business).
    """

    kind: EntryKind
    dev: int
    ino: int
    mode: int
    uid: int
    gid: int
    sha256: str | None = None

    def is_entry(self, dev: int, ino: int) -> bool:
        """True if this is the entry ``(dev, ino)``."""
        return (self.dev, self.ino) == (dev, ino)


@final
@attrs.frozen(kw_only=True)
class SavedFile:
    """A file's old content, copied into the journal's private directory."""

    name: str
    sha256: str
    size: int


@final
@attrs.frozen(kw_only=True)
class DirPrior:
    """``MakeDir``: was a directory there already; else the staging name to use,
    or none for one made at its name inside a directory new in the same batch
    (``executor._fs_lane``, *Nested*)."""

    existed: bool
    staging: str | None


@final
@attrs.frozen(kw_only=True)
class FilePrior:
    """``WriteFile``: the old file (stamp, saved content), or a new file's staging
    (none: made nested, as a ``DirPrior`` without one).

    An old file without saved content is one that held the planned content
    already (``old.sha256`` is the effect's blob): nothing was written over it,
    so there is nothing to put back (``unchanged``).
    """

    old: Stamp | None
    saved: SavedFile | None
    staging: str | None

    @property
    def unchanged(self) -> bool:
        """Whether the old file held the content already (nothing written)."""
        return self.old is not None and self.saved is None


@final
@attrs.frozen(kw_only=True)
class MetaPrior:
    """``Chmod``/``Chown``: the path as it was (its mode and owner go back)."""

    old: Stamp


@final
@attrs.frozen(kw_only=True)
class HostKeyPrior:
    """``GenerateHostKey``: staging names of the key and of a new ``.pub``."""

    staging: str
    public_staging: str | None


@final
@attrs.frozen(kw_only=True)
class MountPrior:
    """``MountScratch``: the mount point's device before; the image's staging name."""

    dev: int
    staging: str | None


@final
@attrs.frozen(kw_only=True)
class ImagePrior:
    """``PullImage``: was the image there before."""

    present: bool


@final
@attrs.frozen(kw_only=True)
class ProxyPrior:
    """``ServeSocketProxy``: the missing directories the apply creates, outermost
    first (absolute host paths: the proxy socket lives outside the scratch)."""

    made: tuple[str, ...]


@final
@attrs.frozen
class NoPrior:
    """Effects whose undo needs nothing observed (or that change nothing)."""


Prior: TypeAlias = (
    DirPrior
    | FilePrior
    | MetaPrior
    | HostKeyPrior
    | MountPrior
    | ImagePrior
    | ProxyPrior
    | NoPrior
)
Left: TypeAlias = tuple[tuple[PurePosixPath, Stamp], ...]


@final
@attrs.frozen(kw_only=True)
class Created:
    """An entry a step made new, announced before it got its final name."""

    path: PurePosixPath
    dev: int
    ino: int


@final
@attrs.frozen(kw_only=True)
class StepRecord:
    """One step as journaled: intent and prior, entries created, stamps left.

    ``left`` is ``None`` for a step that never finished (it failed, or the process
    died in it); ``line`` is the journal line of its intent (0 for an apply in
    progress, which has it in memory).
    """

    index: int
    stage: str
    effect: Effect
    prior: Prior
    line: int = 0
    created: tuple[Created, ...] = ()
    left: Left | None = None

    def stamp_left(self, path: PurePosixPath) -> Stamp | None:
        """The stamp the finished step left at ``path``, if it left one there."""
        return next((stamp for p, stamp in self.left or () if p == path), None)

    def created_at(self, path: PurePosixPath) -> Created | None:
        """The entry the step announced at ``path``, if any."""
        return next((c for c in self.created if c.path == path), None)


def creatable_paths(effect: Effect) -> tuple[PurePosixPath, ...]:
    """The paths at which ``effect`` may create an entry (what it may announce)."""
    match effect:
        case MakeDir(path=path) | WriteFile(path=path):
            return (path,)
        case GenerateHostKey(path=path):
            return (path, effect.public_path)
        case MountScratch(image=image):
            return () if image is None else (image,)
        case _:
            return ()
