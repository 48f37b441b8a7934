"""The plan value: a header, staged effects, a blob table and dependency edges.

Theory of operation
-------------------
A plan is what the compiler hands to ``kplan diff`` and to the executor. Content
lives once in the blob table, keyed by SHA-256, so 240 KB of runner fonts does not
repeat and a text rendering can show digests. Effects are kept in the canonical
order the compiler chose; each is tagged with the stage that emitted it. An edge
``(i, j)`` says step ``j`` must not start before step ``i`` has finished, which
lets the executor run independent steps concurrently.

The plan id is the SHA-256 of the canonical encoding with the id left out and each
blob standing by its digest (format 2); build plans with ``seal``
(``effects._encoding``) so the id is always right, and ``decode`` checks it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import TypeAlias, final

import attrs

from ._container import (
    AllocateHostPorts,
    AppendContainerId,
    ConnectNetworks,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    ProvisionSudo,
    PullImage,
    RegisterKernel,
    ServeSocketProxy,
    StartContainer,
    VerifyContainer,
    WaitKernelReady,
)
from ._fs import Chmod, Chown, GenerateHostKey, MakeDir, MountScratch, WriteFile
from ._paths import check_absolute
from ._validators import check_text, id_field, is_sha256, non_empty

__all__ = [
    "FORMAT_VERSION",
    "Blob",
    "Effect",
    "Header",
    "Plan",
    "Step",
    "assembled",
    "blob_of",
    "plan_parts",
    "staged",
]

FORMAT_VERSION = 2  # 1 hashed the blobs' contents into the plan id

Effect: TypeAlias = (
    MakeDir
    | WriteFile
    | Chmod
    | Chown
    | GenerateHostKey
    | MountScratch
    | ContainerMount
    | ContainerConfig
    | ServeSocketProxy
    | PullImage
    | AllocateHostPorts
    | CreateContainer
    | AppendContainerId
    | StartContainer
    | ProvisionSudo
    | ConnectNetworks
    | VerifyContainer
    | WaitKernelReady
    | RegisterKernel
)

EFFECT_TYPES: tuple[type, ...] = Effect.__args__  # every effect class, each final
_EFFECT_SET = frozenset(EFFECT_TYPES)


def _absolute(_instance: object, _attribute: object, value: PurePosixPath) -> None:
    check_absolute(value)


def _plan_id(_instance: object, _attribute: object, value: str) -> None:
    if value != "" and not is_sha256(value):
        msg = f"plan_id must be empty or a sha256 hex digest, got {value!r}"
        raise ValueError(msg)


@final
@attrs.frozen(kw_only=True)
class Header:
    """Who and where: the plan's sandbox and the identity it must be applied as."""

    scratch_root: PurePosixPath = attrs.field(validator=_absolute)
    kernel_id: str = attrs.field(validator=non_empty)
    run_as_uid: int = attrs.field(validator=id_field)
    run_as_gid: int = attrs.field(validator=id_field)
    plan_id: str = attrs.field(default="", validator=_plan_id)
    format_version: int = attrs.field(default=FORMAT_VERSION)

    @format_version.validator
    def _known_version(self, _attribute: object, value: int) -> None:
        if value != FORMAT_VERSION:
            msg = f"unsupported plan format version {value!r}"
            raise ValueError(msg)


def _is_effect(_instance: object, _attribute: object, value: Effect) -> None:
    if type(value) not in _EFFECT_SET:  # every effect class is final
        msg = f"not an effect: {type(value).__name__}"
        raise TypeError(msg)


@final
@attrs.frozen(kw_only=True)
class Step:
    """One effect, tagged with the stage that emitted it."""

    stage: str = attrs.field(validator=non_empty)
    effect: Effect = attrs.field(validator=_is_effect)


def staged(stage: str, effects: Iterable[Effect]) -> list[Step]:
    """``Step(stage=stage, effect=e)`` for each of ``effects``, checked as ``Step``
    checks them: ``stage`` once, each effect's class inline (a compile tags every
    effect of every stage)."""
    check_text("stage", stage)
    steps = []
    for effect in effects:
        if type(effect) not in _EFFECT_SET:  # the common case without a call
            _is_effect(None, None, effect)  # raises as Step would
        step = _NEW(Step)
        _SET(step, "stage", stage)
        _SET(step, "effect", effect)
        steps.append(step)
    return steps


_NEW = object.__new__
_SET = object.__setattr__


def _digest_matches(instance: Blob, _attribute: object, value: str) -> None:
    if hashlib.sha256(instance.data).hexdigest() != value:
        msg = f"blob digest {value} does not match its data"
        raise ValueError(msg)


@final
@attrs.frozen(kw_only=True)
class Blob:
    """File content, addressed by its SHA-256."""

    digest: str = attrs.field(validator=_digest_matches)
    data: bytes = attrs.field(validator=attrs.validators.instance_of(bytes), repr=False)


def blob_of(data: bytes) -> Blob:
    """Wrap ``data`` into a ``Blob`` with its digest.

    Hashes ``data`` once: the validator's check would be this very hash again, which
    for the runner's fonts is most of a compile, so the value is built directly.
    """
    given: object = data  # callers from untyped code may pass anything
    if not isinstance(given, bytes):
        msg = f"blob data must be bytes, got {type(given).__name__}"
        raise TypeError(msg)
    blob = object.__new__(Blob)
    object.__setattr__(blob, "digest", hashlib.sha256(data).hexdigest())
    object.__setattr__(blob, "data", data)
    return blob


def plan_parts(
    steps: Iterable[Step],
    blobs: Iterable[Blob],
    edges: Iterable[tuple[int, int]],
) -> tuple[tuple[Step, ...], tuple[Blob, ...], tuple[tuple[int, int], ...]]:
    """Steps, blobs and edges as a ``Plan`` keeps them (its converters)."""
    return _to_steps(steps), _to_blobs(blobs), _to_edges(edges)


def _to_steps(values: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(values)


def _to_blobs(values: Iterable[Blob]) -> tuple[Blob, ...]:
    unique = {blob.digest: blob for blob in values}
    return tuple(unique[digest] for digest in sorted(unique))


def _to_edges(values: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(set(values)))


def assembled(
    header: Header,
    steps: tuple[Step, ...],
    blobs: tuple[Blob, ...],
    edges: tuple[tuple[int, int], ...],
) -> Plan:
    """``Plan(...)`` of parts ``plan_parts`` gave, without converting them again
    (the blobs' and edges' sorts): its consistency checks still run."""
    plan = _NEW(Plan)
    _SET(plan, "header", header)
    _SET(plan, "steps", steps)
    _SET(plan, "blobs", blobs)
    _SET(plan, "edges", edges)
    plan.__attrs_post_init__()
    return plan


@final
@attrs.frozen(kw_only=True)
class Plan:
    """A complete, self-contained plan (see the module docstring)."""

    header: Header
    steps: tuple[Step, ...] = attrs.field(converter=_to_steps)
    blobs: tuple[Blob, ...] = attrs.field(converter=_to_blobs, default=())
    edges: tuple[tuple[int, int], ...] = attrs.field(converter=_to_edges, default=())

    def __attrs_post_init__(self) -> None:
        referenced = {
            s.effect.blob for s in self.steps if isinstance(s.effect, WriteFile)
        }
        stored = {blob.digest for blob in self.blobs}
        if referenced - stored:
            msg = f"effects reference missing blobs: {sorted(referenced - stored)}"
            raise ValueError(msg)
        if stored - referenced:
            msg = f"blob table holds unreferenced blobs: {sorted(stored - referenced)}"
            raise ValueError(msg)
        count = len(self.steps)
        for before, after in self.edges:
            if not 0 <= before < after < count:
                msg = f"edge {(before, after)} must satisfy 0 <= i < j < {count}"
                raise ValueError(msg)

    @cached_property
    def blob_table(self) -> Mapping[str, bytes]:
        """Read-only digest -> content lookup."""
        return MappingProxyType({blob.digest: blob.data for blob in self.blobs})

    @property
    def effects(self) -> tuple[Effect, ...]:
        """The effects in plan order, without their stage tags."""
        return tuple(step.effect for step in self.steps)
