"""Filesystem effects: the verbs a plan uses on its scratch root (architecture.md §2).

Each effect is inert data. What it means is defined twice and checked against
itself: by the pure model (``effects._model.project``) and by the executor. The
semantics follow POSIX, because that is what the legacy code relies on:

* ``MakeDir`` creates one directory with exactly ``mode``; the parent must exist.
  An existing directory is left as it is (legacy always uses ``exist_ok=True``).
* ``WriteFile`` creates a file with exactly ``mode``, or replaces the content of an
  existing file and keeps its mode and owner (``open(O_TRUNC)`` semantics).
* Both may name the owner of the entry they make (``uid``, ``gid``; ``None`` is
  the identity the plan runs as): it is made with that owner and then exactly
  ``mode``, as a ``Chown`` right after would leave it without a set-id bit. An
  existing entry keeps its owner, as it keeps its mode. The compiler folds the
  first chown of a new entry in (``planner._folding``).
* ``Chmod`` / ``Chown`` change one existing path; ``None`` owner fields are kept.
* ``GenerateHostKey`` is the one nondeterministic effect: dropbear writes the key
  (0600) and, only when absent, ``<key>.pub`` (0600); both contents are volatile.
* ``MountScratch`` mounts a ``tmpfs`` on ``path`` or, for ``loopfile``, creates a
  sparse ``image`` of ``size`` bytes, formats it ext4 and mounts it on ``path``.

New entries are owned by the identity the plan runs as (``Header.run_as_*``).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal, TypeVar, final

import attrs

from ._paths import inside_scratch
from ._validators import (
    check_id,
    check_positive,
    mode_field,
    non_empty,
    optional_id,
    sha256_hex,
)

__all__ = [
    "HOST_KEY_NAME",
    "Chmod",
    "Chown",
    "GenerateHostKey",
    "MakeDir",
    "MountScratch",
    "WriteFile",
    "changed_maker",
    "meta_after",
    "public_key_path",
]

ScratchKind = Literal["tmpfs", "loopfile"]
SCRATCH_KINDS: tuple[ScratchKind, ...] = ("tmpfs", "loopfile")


def _owner_ids(_instance: object, _attribute: object, value: int | None) -> None:
    # One validator for both ids, on the last field: attrs runs one per field,
    # and a compile makes a hundred of these effects.
    check_id("uid", getattr(_instance, "uid", None), optional=True)
    check_id("gid", value, optional=True)


@final
@attrs.frozen(kw_only=True)
class MakeDir:
    """Create one directory with exactly ``mode`` (no-op if it is already a dir),
    owned by ``uid``/``gid`` (``None``: the plan's identity)."""

    path: PurePosixPath = attrs.field(validator=inside_scratch)
    mode: int = attrs.field(validator=mode_field)
    uid: int | None = None
    gid: int | None = attrs.field(default=None, validator=_owner_ids)


@final
@attrs.frozen(kw_only=True)
class WriteFile:
    """Create (with ``mode``, owned by ``uid``/``gid``: ``None`` is the plan's
    identity) or overwrite (keeping mode and owner) one file."""

    path: PurePosixPath = attrs.field(validator=inside_scratch)
    blob: str = attrs.field(validator=sha256_hex)
    mode: int = attrs.field(validator=mode_field)
    uid: int | None = None
    gid: int | None = attrs.field(default=None, validator=_owner_ids)


@final
@attrs.frozen(kw_only=True)
class Chmod:
    """Set the permission bits of one existing path (never through a symlink)."""

    path: PurePosixPath = attrs.field(validator=inside_scratch)
    mode: int = attrs.field(validator=mode_field)


def _gid_of_some_owner(
    instance: Chown, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    # One validator, not attrs' chain of two: a compile makes a chown per OWN.
    optional_id(instance, attribute, value)
    if instance.uid is None and value is None:
        msg = f"Chown of {str(instance.path)!r} keeps both uid and gid: nothing to do"
        raise ValueError(msg)


@final
@attrs.frozen(kw_only=True)
class Chown:
    """Set owner and group of one existing path; ``None`` keeps that side."""

    path: PurePosixPath = attrs.field(validator=inside_scratch)
    uid: int | None = attrs.field(validator=optional_id)
    gid: int | None = attrs.field(validator=_gid_of_some_owner)


_Id = TypeVar("_Id", int, int | None)


def meta_after(
    change: Chmod | Chown, mode: int, uid: _Id, gid: _Id
) -> tuple[int, _Id | int, _Id | int]:
    """The mode and ids ``change`` leaves an entry with ``mode``, ``uid`` and
    ``gid`` in: a chmod's mode; the ids a chown sets (``None`` keeps one). Set-id
    bits a chown clears are not this function's: callers that fold or foresee
    a change leave those modes out."""
    if isinstance(change, Chmod):
        return change.mode, uid, gid
    return (
        mode,
        uid if change.uid is None else change.uid,
        gid if change.gid is None else change.gid,
    )


def changed_maker(
    effect: MakeDir | WriteFile, change: Chmod | Chown
) -> MakeDir | WriteFile:
    """``effect`` (a ``MakeDir`` or ``WriteFile``) making its entry as ``change``
    then leaves it (``meta_after``): the compiler's fold of a new entry's first
    chmod and chown. Built without the validators: every field comes from an
    effect that passed them (a compile folds most of a new kernel's entries)."""
    mode, uid, gid = meta_after(change, effect.mode, effect.uid, effect.gid)
    made: MakeDir | WriteFile = _NEW(type(effect))
    _SET(made, "path", effect.path)
    if isinstance(effect, WriteFile):
        _SET(made, "blob", effect.blob)
    _SET(made, "mode", mode)
    _SET(made, "uid", uid)
    _SET(made, "gid", gid)
    return made


_NEW = object.__new__
_SET = object.__setattr__


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_positive(attribute.name, value)


HOST_KEY_NAME = "dropbear_rsa_host_key"  # under config/ssh (§8 step 3)


@final
@attrs.frozen(kw_only=True)
class GenerateHostKey:
    """Generate a dropbear host key at ``path`` (absent before) and its public half."""

    path: PurePosixPath = attrs.field(validator=inside_scratch)
    kind: str = attrs.field(validator=non_empty)
    bits: int = attrs.field(validator=_positive)

    @property
    def public_path(self) -> PurePosixPath:
        """Where dropbearkey writes the public half: ``<path>.pub``."""
        return public_key_path(self.path)


def public_key_path(key: PurePosixPath) -> PurePosixPath:
    """The public half of the key file ``key``: ``<key>.pub`` beside it."""
    return key.with_name(f"{key.name}.pub")


def _image_matches_kind(
    instance: MountScratch, _attribute: object, value: PurePosixPath | None
) -> None:
    if (instance.kind == "loopfile") != (value is not None):
        msg = "MountScratch needs an image path exactly when kind is 'loopfile'"
        raise ValueError(msg)
    if value is not None:
        inside_scratch(instance, _attribute, value)


def _image_mode(instance: MountScratch, attribute: object, value: int | None) -> None:
    if (instance.image is None) != (value is None):
        msg = "MountScratch needs image_mode exactly when it has an image"
        raise ValueError(msg)
    if value is not None:
        mode_field(instance, attribute, value)


@final
@attrs.frozen(kw_only=True)
class MountScratch:
    """Mount a ``tmpfs`` or an ext4 ``loopfile`` of ``size`` bytes on ``path``."""

    kind: ScratchKind = attrs.field(
        validator=attrs.validators.in_(("tmpfs", "loopfile"))
    )
    path: PurePosixPath = attrs.field(validator=inside_scratch)
    size: int = attrs.field(validator=_positive)
    image: PurePosixPath | None = attrs.field(
        default=None, validator=_image_matches_kind
    )
    image_mode: int | None = attrs.field(default=None, validator=_image_mode)
