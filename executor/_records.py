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
others          ``NoPrior``
=============== =================================================================

Every value has one explicit journal encoding below (``encode_prior``,
``decode_prior``, never a generic dump); a decoder raises ``Invalid`` naming the
field that is wrong, and ``read_journal`` adds the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Literal, TypeAlias, assert_never, final

import attrs

from effects import (
    Chmod,
    Chown,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    Effect,
    GenerateHostKey,
    Invalid,
    MakeDir,
    MountScratch,
    PullImage,
    Reader,
    RegisterKernel,
    StartContainer,
    VerifyContainer,
    WriteFile,
    mode_text,
    rel,
)

__all__ = [
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
    "SavedFile",
    "Stamp",
    "StepRecord",
    "creatable_paths",
    "decode_created",
    "decode_left",
    "decode_prior",
    "encode_created",
    "encode_left",
    "encode_prior",
    "require_left",
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
_SAVED = re.compile(r"prior-[0-9]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


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
    """``MakeDir``: was a directory there already; else the staging name to use."""

    existed: bool
    staging: str | None


@final
@attrs.frozen(kw_only=True)
class FilePrior:
    """``WriteFile``: the old file (stamp, saved content), or a new file's staging."""

    old: Stamp | None
    saved: SavedFile | None
    staging: str | None


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
@attrs.frozen
class NoPrior:
    """Effects whose undo needs nothing observed (or that change nothing)."""


Prior: TypeAlias = (
    DirPrior | FilePrior | MetaPrior | HostKeyPrior | MountPrior | ImagePrior | NoPrior
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


# --- encoding -------------------------------------------------------------------


def _stamp_json(stamp: Stamp | None) -> dict[str, object] | None:
    if stamp is None:
        return None
    return {
        "kind": stamp.kind,
        "dev": stamp.dev,
        "ino": stamp.ino,
        "mode": mode_text(stamp.mode),
        "uid": stamp.uid,
        "gid": stamp.gid,
        "sha256": stamp.sha256,
    }


def encode_prior(prior: Prior) -> dict[str, object]:  # noqa: PLR0911  (one per kind)
    """The journal's JSON for ``prior`` (the effect says which kind it is)."""
    match prior:
        case DirPrior(existed=existed, staging=staging):
            return {"existed": existed, "staging": staging}
        case FilePrior(old=old, saved=saved, staging=staging):
            saved_json = (
                None
                if saved is None
                else {"name": saved.name, "sha256": saved.sha256, "size": saved.size}
            )
            return {"old": _stamp_json(old), "saved": saved_json, "staging": staging}
        case MetaPrior(old=old):
            return {"old": _stamp_json(old)}
        case HostKeyPrior(staging=staging, public_staging=public):
            return {"staging": staging, "public_staging": public}
        case MountPrior(dev=dev, staging=staging):
            return {"dev": dev, "staging": staging}
        case ImagePrior(present=present):
            return {"present": present}
        case NoPrior():
            return {}
        case _:
            raise AssertionError(prior)  # the union is closed


def encode_created(created: Created) -> dict[str, object]:
    """The ``path``, ``dev`` and ``ino`` fields of a ``created`` record."""
    return {"path": str(created.path), "dev": created.dev, "ino": created.ino}


def encode_left(left: Left) -> list[dict[str, object]]:
    """The ``left`` list of a ``done`` record."""
    return [{"path": str(path), "stamp": _stamp_json(stamp)} for path, stamp in left]


# --- decoding -------------------------------------------------------------------


def decode_prior(effect: Effect, prior: Reader) -> Prior:
    """Decode the prior of ``effect``; raises ``Invalid`` naming the bad field."""
    match effect:
        case MakeDir():
            decoded: Prior = DirPrior(
                existed=prior.boolean("existed"), staging=_staging(prior, "staging")
            )
        case WriteFile():
            decoded = _file_prior(prior)
        case Chmod() | Chown():
            decoded = MetaPrior(old=_stamp(prior.child("old")))
        case GenerateHostKey():
            staging = _staging(prior, "staging")
            if staging is None:
                prior.fail("staging", "is required")
            public = _staging(prior, "public_staging")
            decoded = HostKeyPrior(staging=staging, public_staging=public)
        case MountScratch():
            decoded = MountPrior(
                dev=prior.integer("dev", 0), staging=_staging(prior, "staging")
            )
        case PullImage():
            decoded = ImagePrior(present=prior.boolean("present"))
        case (
            CreateContainer()
            | StartContainer()
            | VerifyContainer()
            | ContainerMount()
            | ContainerConfig()
            | RegisterKernel()
        ):
            decoded = NoPrior()
        case _:
            assert_never(effect)
    prior.done()
    return decoded


def _file_prior(prior: Reader) -> FilePrior:
    old, saved = prior.optional("old"), prior.optional("saved")
    staging = _staging(prior, "staging")
    if (old is None) != (saved is None) or (old is None) == (staging is None):
        prior.fail("old", "a write's prior has old and saved, or a staging name")
    return FilePrior(
        old=None if old is None else _stamp(Reader(old, prior.field("old"))),
        saved=None if saved is None else _saved(Reader(saved, prior.field("saved"))),
        staging=staging,
    )


def _staging(reader: Reader, key: str) -> str | None:
    name = reader.opt_text(key)
    if name is not None and STAGING.fullmatch(name) is None:
        reader.fail(key, f"{name!r} is not a kplan staging name")
    return name


def _saved(saved: Reader) -> SavedFile:
    name = saved.text("name")
    if _SAVED.fullmatch(name) is None:
        saved.fail("name", f"{name!r} is not a kplan prior-content name")
    value = SavedFile(
        name=name, sha256=_digest(saved, "sha256"), size=saved.integer("size", 0)
    )
    saved.done()
    return value


def _digest(reader: Reader, key: str) -> str:
    text = reader.text(key)
    if _SHA256.fullmatch(text) is None:
        reader.fail(key, f"expected a sha256 hex digest, got {text!r}")
    return text


def _stamp(stamp: Reader) -> Stamp:
    kind = stamp.text("kind")
    if kind not in ENTRY_KINDS:
        stamp.fail("kind", f"unknown entry kind {kind!r}")
    digest = None if stamp.optional("sha256") is None else _digest(stamp, "sha256")
    value = Stamp(
        kind=kind,
        dev=stamp.integer("dev", 0),
        ino=stamp.integer("ino", 0),
        mode=stamp.mode("mode"),
        uid=stamp.integer("uid", 0),
        gid=stamp.integer("gid", 0),
        sha256=digest,
    )
    stamp.done()
    return value


def _path(reader: Reader, key: str, allowed: Iterable[PurePosixPath]) -> PurePosixPath:
    text = reader.text(key)
    try:
        path = rel(text)
    except ValueError as exc:
        reader.fail(key, str(exc))
    if path not in set(allowed):
        reader.fail(key, f"{text!r} is not a path this step touches")
    return path


def decode_created(effect: Effect, created: Reader) -> Created:
    """Decode a ``created`` record's fields for a step of ``effect``."""
    return Created(
        path=_path(created, "path", creatable_paths(effect)),
        dev=created.integer("dev", 0),
        ino=created.integer("ino", 0),
    )


def decode_left(effect: Effect, done: Reader) -> Left:
    """Decode a ``done`` record's ``left`` list for a step of ``effect``."""
    allowed = (*creatable_paths(effect), *_changed_in_place(effect))
    entries = []
    for number, item in enumerate(done.array("left")):
        entry = Reader(item, done.field(f"left[{number}]"))
        entries.append((_path(entry, "path", allowed), _stamp(entry.child("stamp"))))
        entry.done()
    return tuple(entries)


def _changed_in_place(effect: Effect) -> tuple[PurePosixPath, ...]:
    match effect:
        case WriteFile(path=path) | Chmod(path=path) | Chown(path=path):
            return (path,)
        case MountScratch(path=path):
            return (path,)
        case _:
            return ()


def require_left(record: StepRecord, field: str) -> None:
    """A finished in-place change must say what it left at its path."""
    match record.effect, record.prior:
        case (WriteFile(path=path), FilePrior(old=Stamp())) | (
            (Chmod(path=path) | Chown(path=path)),
            MetaPrior(),
        ):
            if record.stamp_left(path) is None:
                raise Invalid(field, f"has no stamp for {str(path)!r}")
        case _:
            return
