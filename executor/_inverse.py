"""What undoes an effect, decided from the state observed before it ran (pure).

Theory of operation
-------------------
Before applying an effect the executor observes the prior state its inverse needs
and records it in the journal; ``inverse_of(effect, prior)`` turns the two into undo
actions. Every action is idempotent and tolerates a half-applied effect (the process
may have died between recording the intent and finishing the effect), so the same
journal can be rolled back after a crash, and twice:

============= ============================= ========================================
effect        prior                         undo
============= ============================= ========================================
MakeDir       existed?                      remove the dir if it is new and there
WriteFile     existed? old bytes/mode/owner restore them, or remove the new file
Chmod         old mode                      set it back
Chown         old owner and mode            set them back (the chown cleared set-ids)
HostKey       did ``.pub`` exist?           remove ``.pub`` (if new), remove the key
MountScratch  (nothing)                     unmount if mounted, remove the image
PullImage     was the image present?        remove the image if it was not
Create        (nothing)                     remove the container (force)
others        (nothing)                     nothing: they change nothing on the host
============= ============================= ========================================
"""

from __future__ import annotations

import base64
from pathlib import PurePosixPath
from typing import TypeAlias, assert_never, final

import attrs

from effects import (
    Chmod,
    Chown,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    Effect,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    PullImage,
    RegisterKernel,
    StartContainer,
    VerifyContainer,
    WriteFile,
)

__all__ = [
    "Prior",
    "RemoveContainer",
    "RemoveDir",
    "RemoveFile",
    "RemoveImage",
    "RestoreFile",
    "SetMode",
    "SetOwner",
    "Undo",
    "Unmount",
    "describe_undo",
    "inverse_of",
]

Prior: TypeAlias = dict[str, object]


@final
@attrs.frozen
class RemoveDir:
    """Remove an (empty) directory the plan created."""

    path: PurePosixPath


@final
@attrs.frozen
class RemoveFile:
    """Remove a file the plan created."""

    path: PurePosixPath


@final
@attrs.frozen(kw_only=True)
class RestoreFile:
    """Put back a file's old bytes, mode and owner."""

    path: PurePosixPath
    content: bytes = attrs.field(repr=False)
    mode: int
    uid: int
    gid: int


@final
@attrs.frozen
class SetMode:
    """Set a path's old permission bits."""

    path: PurePosixPath
    mode: int


@final
@attrs.frozen
class SetOwner:
    """Set a path's old owner and group."""

    path: PurePosixPath
    uid: int
    gid: int


@final
@attrs.frozen
class Unmount:
    """Unmount what the plan mounted on a path (if it is still mounted)."""

    path: PurePosixPath


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


Undo: TypeAlias = (
    RemoveDir
    | RemoveFile
    | RestoreFile
    | SetMode
    | SetOwner
    | Unmount
    | RemoveImage
    | RemoveContainer
)


def _int(prior: Prior, key: str) -> int:
    value = prior[key]
    if not isinstance(value, int):
        msg = f"journal prior {key!r} is not an int: {value!r}"
        raise TypeError(msg)
    return value


def inverse_of(effect: Effect, prior: Prior) -> tuple[Undo, ...]:  # noqa: PLR0911
    """The undo actions for ``effect`` given its ``prior`` (see the table above)."""
    match effect:
        case MakeDir(path=path):
            return () if prior.get("existed") else (RemoveDir(path),)
        case WriteFile(path=path):
            return (
                (_restore(path, prior),)
                if prior.get("existed")
                else (RemoveFile(path),)
            )
        case Chmod(path=path):
            return (SetMode(path, _int(prior, "mode")),)
        case Chown(path=path):
            # A chown clears set-user-ID (and set-group-ID): put the mode back after it.
            return (
                SetOwner(path, _int(prior, "uid"), _int(prior, "gid")),
                SetMode(path, _int(prior, "mode")),
            )
        case GenerateHostKey(path=path):
            new_public = (
                () if prior.get("public_existed") else (RemoveFile(effect.public_path),)
            )
            return (*new_public, RemoveFile(path))
        case MountScratch(path=path, image=image):
            return (Unmount(path),) + (() if image is None else (RemoveFile(image),))
        case PullImage(ref=ref):
            return () if prior.get("present") else (RemoveImage(ref),)
        case CreateContainer(name=name):
            return (RemoveContainer(name),)
        case (
            StartContainer()
            | VerifyContainer()
            | ContainerMount()
            | ContainerConfig()
            | RegisterKernel()
        ):
            return ()
        case _:
            assert_never(effect)


def _restore(path: PurePosixPath, prior: Prior) -> RestoreFile:
    content = prior["content"]
    if not isinstance(content, str):
        msg = "journal prior 'content' is not base64 text"
        raise TypeError(msg)
    return RestoreFile(
        path=path,
        content=base64.b64decode(content),
        mode=_int(prior, "mode"),
        uid=_int(prior, "uid"),
        gid=_int(prior, "gid"),
    )


def describe_undo(action: Undo) -> str:  # noqa: PLR0911  (one line per action type)
    """One line for reports: ``remove-dir k/work``."""
    match action:
        case RemoveDir(path=path):
            return f"remove-dir {path}"
        case RemoveFile(path=path):
            return f"remove-file {path}"
        case RestoreFile(path=path, mode=mode, uid=uid, gid=gid):
            return f"restore-file {path} mode=0o{mode:o} owner={uid}:{gid}"
        case SetMode(path=path, mode=mode):
            return f"set-mode {path} 0o{mode:o}"
        case SetOwner(path=path, uid=uid, gid=gid):
            return f"set-owner {path} {uid}:{gid}"
        case Unmount(path=path):
            return f"unmount {path}"
        case RemoveImage(ref=ref):
            return f"remove-image {ref}"
        case RemoveContainer(name=name):
            return f"remove-container {name}"
        case _:
            assert_never(action)
