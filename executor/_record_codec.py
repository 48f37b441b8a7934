"""The journal encoding of step records: one explicit encoder and decoder per value.

Field names are chosen for a reader of the journal, never derived from the attrs
classes (``executor._records`` has the values); modes are ``"0o755"`` strings. A
decoder raises ``Invalid`` naming the field that is wrong (``prior.old.mode``) and
``read_journal`` adds the line. Names a rollback acts on without further checks are
validated here: a staging name must be one of kplan's (``.kplan-<token>-<step>``), a
saved copy's name ``prior-<step>``, a path one the step's effect touches.

*Fast paths.* A rollback reads the whole journal before it undoes anything, and a
``Reader`` costs a few method calls per field. So the values every step writes
(stamps, ``left`` lists, ``created`` fields, the priors of files, directories and
modes) are first checked directly on the parsed JSON (``quick_*``): exactly the
fields the encoder writes, each of its type and in range. What passes is exactly
what the ``Reader`` path accepts, with the same value (a test holds the two equal
on real and mangled journals); anything else, an error above all, is decoded again
by the ``Reader`` path, which names the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import assert_never

from effects import (
    AllocateHostPorts,
    AppendContainerId,
    Chmod,
    Chown,
    ConnectNetworks,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    Effect,
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
)
from effects.decoding import Invalid, Reader, mode_text, parse_mode, rel

from ._records import (
    ENTRY_KINDS,
    SAVED,
    STAGING,
    Created,
    DirPrior,
    FilePrior,
    HostKeyPrior,
    ImagePrior,
    Left,
    MetaPrior,
    MountPrior,
    NoPrior,
    Prior,
    ProxyPrior,
    SavedFile,
    Stamp,
    StepRecord,
    creatable_paths,
)

__all__ = [
    "decode_created",
    "decode_left",
    "decode_prior",
    "encode_created",
    "encode_left",
    "encode_prior",
    "missing_left",
    "quick_created",
    "quick_left",
    "quick_prior",
    "quick_stamp",
    "require_left",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_STAMP_KEYS = frozenset({"kind", "dev", "ino", "mode", "uid", "gid", "sha256"})
_LEFT_KEYS = frozenset({"path", "stamp"})
_DIR_PRIOR_KEYS = frozenset({"existed", "staging"})
_FILE_PRIOR_KEYS = frozenset({"old", "saved", "staging"})
_META_PRIOR_KEYS = frozenset({"old"})
_SAVED_KEYS = frozenset({"name", "sha256", "size"})


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
        case ProxyPrior(made=made):
            return {"made": list(made)}
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


def decode_prior(effect: Effect, prior: Reader) -> Prior:  # noqa: C901  (one per effect)
    """Decode the prior of ``effect``; raises ``Invalid`` naming the bad field."""
    match effect:
        case MakeDir():
            decoded: Prior = DirPrior(
                existed=prior.boolean("existed"), staging=_staging(prior, "staging")
            )
        case WriteFile(blob=blob):
            decoded = _file_prior(prior, blob)
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
        case ServeSocketProxy(path=path):
            decoded = ProxyPrior(made=_made_dirs(prior, PurePosixPath(path)))
        case AppendContainerId():
            decoded = _file_prior(prior, None)
            if decoded.old is None:
                prior.fail("old", "an append's prior is the file it appends to")
        case (
            CreateContainer()
            | StartContainer()
            | VerifyContainer()
            | ContainerMount()
            | ContainerConfig()
            | RegisterKernel()
            | AllocateHostPorts()
            | ProvisionSudo()
            | ConnectNetworks()
            | WaitKernelReady()
        ):
            decoded = NoPrior()
        case _:
            assert_never(effect)
    prior.done()
    return decoded


def _file_prior(prior: Reader, blob: str | None) -> FilePrior:
    """``blob``: the content a write puts there (an append's: ``None``)."""
    old, saved = prior.optional("old"), prior.optional("saved")
    staging = _staging(prior, "staging")
    # A new file has no old one, and a staging name unless it was made nested
    # (``executor._fs_lane``, *Nested*).
    if (old is not None and staging is not None) or (old is None and saved is not None):
        prior.fail("old", "a write's prior has old and saved, or a staging name")
    if old is None and staging is None and not prior.has("staging"):
        prior.fail("staging", "is required for a new file (null: made nested)")
    decoded = FilePrior(
        old=None if old is None else _stamp(Reader(old, prior.field("old"))),
        saved=None if saved is None else _saved(Reader(saved, prior.field("saved"))),
        staging=staging,
    )
    old_stamp = decoded.old
    if saved is None and old_stamp is not None and old_stamp.sha256 != blob:
        prior.fail("saved", "is required unless the old file held the write's content")
    return decoded


def _made_dirs(prior: Reader, socket: PurePosixPath) -> tuple[str, ...]:
    """The directories a proxy's apply made: ancestors of its socket, outermost
    first (a journal may name no other path: the undo removes them)."""
    made = []
    ancestors = {str(p) for p in socket.parents if p != PurePosixPath("/")}
    for number, item in enumerate(prior.array("made")):
        if not isinstance(item, str) or item not in ancestors:
            prior.fail(f"made[{number}]", f"{item!r} is not a parent of {socket}")
        made.append(item)
    if made != sorted(made, key=len):
        prior.fail("made", "the directories are not outermost first")
    return tuple(made)


def _staging(reader: Reader, key: str) -> str | None:
    name = reader.opt_text(key)
    if name is not None and STAGING.fullmatch(name) is None:
        reader.fail(key, f"{name!r} is not a kplan staging name")
    return name


def _saved(saved: Reader) -> SavedFile:
    name = saved.text("name")
    if SAVED.fullmatch(name) is None:
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
        case (
            WriteFile(path=path)
            | Chmod(path=path)
            | Chown(path=path)
            | AppendContainerId(path=path)
        ):
            return (path,)
        case MountScratch(path=path):
            return (path,)
        case _:
            return ()


def require_left(record: StepRecord, field: str) -> None:
    """A finished in-place change must say what it left at its path."""
    missing = missing_left(record.effect, record.prior, record.left or ())
    if missing is not None:
        raise Invalid(field, f"has no stamp for {str(missing)!r}")


def missing_left(effect: Effect, prior: Prior, left: Left) -> PurePosixPath | None:
    """The path of an in-place change that ``left`` has no stamp for, if so."""
    # By class (all final), not class patterns: a journal read meets every step.
    if isinstance(effect, WriteFile | AppendContainerId):
        if not isinstance(prior, FilePrior) or prior.old is None:
            return None
    elif not isinstance(effect, Chmod | Chown) or not isinstance(prior, MetaPrior):
        return None
    path = effect.path
    return None if any(p == path for p, _ in left) else path


# --- fast paths (see *Fast paths*): None sends the value to the Reader path -------


def _natural(value: object) -> bool:
    """An integer >= 0, not a bool (the Reader's ``integer(key, 0)``)."""
    return type(value) is int and value >= 0


# The modes met so far, by the text the encoder writes for each (``mode_text``):
# at most 4,096 short keys, filled as journals are read (not at import: every
# kplan process imports this, few read a journal).
_MODE_OF: dict[str, int] = {}


def _quick_mode(value: object) -> int | None:
    try:
        mode = parse_mode(value, "")
    except Invalid:
        return None
    if type(value) is str and value == mode_text(mode):
        _MODE_OF[value] = mode  # the encoder's form: found at once next time
    return mode


def quick_stamp(value: object) -> Stamp | None:
    """``_stamp`` of a stamp object in the encoder's form, else ``None``."""
    if type(value) is not dict or value.keys() != _STAMP_KEYS:
        return None
    kind, dev, ino = value["kind"], value["dev"], value["ino"]
    uid, gid, digest = value["uid"], value["gid"], value["sha256"]
    text = value["mode"]
    # The encoder's own text first (a journal holds hundreds of stamps), inline.
    mode = _MODE_OF.get(text) if type(text) is str else None
    if mode is None:
        mode = _quick_mode(text)
    if (
        mode is None
        or kind not in ENTRY_KINDS
        or type(dev) is not int
        or type(ino) is not int
        or type(uid) is not int
        or type(gid) is not int
        or min(dev, ino, uid, gid) < 0
        or not (
            digest is None
            or (type(digest) is str and _SHA256.fullmatch(digest) is not None)
        )
    ):
        return None
    return Stamp(
        kind=kind,
        dev=dev,
        ino=ino,
        mode=mode,
        uid=uid,
        gid=gid,
        sha256=digest,
    )


def _quick_path(
    value: object, allowed: tuple[PurePosixPath, ...]
) -> PurePosixPath | None:
    """The allowed path whose canonical text ``value`` is (what ``rel`` accepts)."""
    if type(value) is str:
        for path in allowed:
            if str(path) == value:
                return path
    return None


def quick_left(effect: Effect, value: object) -> Left | None:
    """``decode_left`` of a ``left`` list in the encoder's form, else ``None``."""
    if type(value) is not list:
        return None
    if not value:
        return ()  # most steps: a data effect's, or one that left nothing stamped
    allowed = (*creatable_paths(effect), *_changed_in_place(effect))
    entries = []
    for item in value:
        if type(item) is not dict or item.keys() != _LEFT_KEYS:
            return None
        path = _quick_path(item["path"], allowed)
        stamp = quick_stamp(item["stamp"])
        if path is None or stamp is None:
            return None
        entries.append((path, stamp))
    return tuple(entries)


def quick_created(
    effect: Effect, path: object, dev: object, ino: object
) -> Created | None:
    """``decode_created`` of a ``created`` record's fields, else ``None``."""
    found = _quick_path(path, creatable_paths(effect))
    if found is None or not (_natural(dev) and _natural(ino)):
        return None
    return Created(path=found, dev=dev, ino=ino)  # type: ignore[arg-type]  # checked


def _quick_staging(value: object) -> tuple[bool, str | None]:
    """(valid, name) of an optional staging name."""
    if value is None:
        return True, None
    if type(value) is str and STAGING.fullmatch(value) is not None:
        return True, value
    return False, None


def _quick_saved(value: object) -> SavedFile | None:
    if type(value) is not dict or value.keys() != _SAVED_KEYS:
        return None
    name, digest, size = value["name"], value["sha256"], value["size"]
    if (
        type(name) is not str
        or SAVED.fullmatch(name) is None
        or type(digest) is not str
        or _SHA256.fullmatch(digest) is None
        or not _natural(size)
    ):
        return None
    return SavedFile(name=name, sha256=digest, size=size)


def quick_prior(effect: Effect, value: object) -> Prior | None:
    """``decode_prior`` of the prior of a file, directory or mode change in the
    encoder's form; the other kinds through the Reader; ``None`` if not valid."""
    if type(value) is not dict:
        return None
    kind = type(effect)  # the effect classes are final: dispatch by class
    if not value and kind in _WITHOUT_PRIOR:
        return _NO_PRIOR  # a mount entry's, a config fragment's: most of the rest
    if kind in _FS_PRIOR:
        return _quick_fs_prior(effect, value)
    try:
        return decode_prior(effect, Reader(value, "prior"))
    except Invalid:
        return None


# The effects ``decode_prior`` gives a ``NoPrior`` (the classes are final).
_WITHOUT_PRIOR = frozenset(
    {
        CreateContainer,
        StartContainer,
        VerifyContainer,
        ContainerMount,
        ContainerConfig,
        RegisterKernel,
        AllocateHostPorts,
        ProvisionSudo,
        ConnectNetworks,
        WaitKernelReady,
    }
)
_NO_PRIOR = NoPrior()


_FS_PRIOR = frozenset({MakeDir, WriteFile, Chmod, Chown})


def _quick_fs_prior(effect: Effect, value: dict[str, object]) -> Prior | None:
    kind, keys = type(effect), value.keys()
    if kind is MakeDir and keys == _DIR_PRIOR_KEYS:
        existed = value["existed"]
        valid, staging = _quick_staging(value["staging"])
        if type(existed) is not bool or not valid:
            return None
        return DirPrior(existed=existed, staging=staging)
    if isinstance(effect, WriteFile) and keys == _FILE_PRIOR_KEYS:
        return _quick_file_prior(value, effect.blob)
    if (kind is Chmod or kind is Chown) and keys == _META_PRIOR_KEYS:
        old = quick_stamp(value["old"])
        return None if old is None else MetaPrior(old=old)
    return None


def _quick_file_prior(value: dict[str, object], blob: str) -> FilePrior | None:
    valid, staging = _quick_staging(value["staging"])
    old_value, saved_value = value["old"], value["saved"]
    if not valid or (old_value is not None and staging is not None):
        return None
    if old_value is None:  # a new file: its staging name alone, or none (nested)
        if saved_value is not None:
            return None
        return FilePrior(old=None, saved=None, staging=staging)
    old = quick_stamp(old_value)
    if old is None:
        return None
    if saved_value is None:  # it held the content already: only the blob's
        unchanged = old.sha256 == blob
        return FilePrior(old=old, saved=None, staging=None) if unchanged else None
    saved = _quick_saved(saved_value)
    return None if saved is None else FilePrior(old=old, saved=saved, staging=staging)
