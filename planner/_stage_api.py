"""The stage API: what a stage sees, and how it builds what it contributes.

A stage is a plain function ``(Context, Upstream) -> Result[Part, errors]``
(architecture.md §3.2). Stages decide like legacy does, by asking "does this exist,
is it a file?". The answer depends on the facts and on every effect emitted before,
in earlier stages and earlier in the same stage. ``Upstream`` is the compiler's view
after earlier stages: the projected nodes, every known content, the values threaded
so far (``planner._threaded``) and this run's effects. ``Draft`` extends it while
one stage adds effects and threaded values. The compiler projects the stage's part
afterwards, so the draft only needs to know which paths exist and as what: it keeps
what the stage changed and looks everything else up in ``Upstream.nodes``.

Cost: building an ``Upstream`` or a ``Draft`` copies nothing (``nodes`` and
``effects`` are views of the compiler's state, valid while the stage runs), so a
plan's compile time is linear in its effects (architecture.md §3.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property, lru_cache
from pathlib import PurePosixPath
from typing import final, overload

import attrs
from returns.result import Failure, Result, Success

from effects import (
    Blob,
    Chmod,
    Effect,
    MakeDir,
    Node,
    NodeType,
    Step,
    Tree,
    WriteFile,
    blob_of,
)

from ._context import Context
from ._layout import KERNEL_PATHS
from ._ownership import own
from ._threaded import Mount, Threaded
from .errors import ErrorCode, PlanError

__all__ = ["Draft", "EffectsView", "Part", "Upstream"]


@final
@attrs.frozen(kw_only=True)
class Part:
    """What one stage contributes: effects in order and the blobs they write."""

    effects: tuple[Effect, ...] = ()
    blobs: tuple[Blob, ...] = ()
    threaded: Threaded | None = None  # None: the stage threads nothing new


@final
class EffectsView(Sequence[Effect]):
    """A read-only view of the effects of ``steps[start:]`` (nothing copied)."""

    __slots__ = ("_start", "_steps")

    def __init__(self, steps: Sequence[Step], start: int = 0) -> None:
        self._steps = steps
        self._start = start

    def __len__(self) -> int:
        return max(len(self._steps) - self._start, 0)

    @overload
    def __getitem__(self, index: int) -> Effect: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Effect]: ...

    def __getitem__(self, index: int | slice) -> Effect | Sequence[Effect]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._steps[self._start + index].effect

    def __iter__(self) -> Iterator[Effect]:
        steps = self._steps
        return (steps[i].effect for i in range(self._start, len(steps)))


@final
@attrs.frozen(kw_only=True)
class Upstream:
    """What earlier stages left: the model's nodes, known contents, threaded values.

    ``nodes`` and ``effects`` are views of the compiler's state, valid while the
    stage runs; ``tree`` freezes ``nodes`` (``O(n log n)``: ask only when needed).
    """

    nodes: Mapping[PurePosixPath, Node]
    contents: Mapping[str, bytes]
    threaded: Threaded
    quirks: frozenset[str]
    options: frozenset[str] = frozenset()  # what the caller asked for (wait-ready)
    # this run's effects so far (the container stage reads the config fragments)
    effects: Sequence[Effect] = ()

    @cached_property
    def tree(self) -> Tree:
        """The model tree after the earlier stages."""
        return Tree.of(self.nodes)

    @property
    def mounts(self) -> tuple[Mount, ...]:
        """The mount list so far (``resource_spec.mounts``)."""
        return self.threaded.mounts

    def content(self, path: PurePosixPath) -> bytes | None:
        """The bytes of the regular file at ``path``, when known."""
        node = self.nodes.get(path)
        if node is None or node.type != "file" or node.sha256 is None:
            return None
        return self.contents.get(node.sha256)


@final
class Draft:
    """Mutable builder for one stage's ``Part`` (local to one provisioner call)."""

    def __init__(self, ctx: Context, up: Upstream, stage: str) -> None:
        self.ctx = ctx
        self.up = up
        self.stage = stage
        # What this stage made, by path text: a new path's first hash costs more
        # than its text, which the model and the encoder need anyway.
        self._kinds: dict[str, NodeType] = {}
        self._effects: list[Effect] = []
        self._blobs: list[Blob] = []
        self._errors: list[PlanError] = []
        self.threaded = up.threaded
        self._threads = False

    def thread(self, **changes: object) -> None:
        """Set threaded values for the stages after this one."""
        self.threaded = attrs.evolve(self.threaded, **changes)  # type: ignore[arg-type]
        self._threads = True

    def kind(self, path: PurePosixPath) -> NodeType | None:
        """What ``path`` is at this point of the plan, or ``None``."""
        made = self._kinds.get(str(path))
        if made is not None:
            return made
        node = self.up.nodes.get(path)
        return None if node is None else node.type

    def add(self, *effects: Effect) -> None:
        """Append effects whose tree impact the caller has accounted for."""
        self._effects.extend(effects)

    def mkdir(self, path: PurePosixPath, mode: int) -> None:
        """``path.mkdir(exist_ok=True)``: the parent must exist."""
        kind = self.kind(path)
        if kind is None:
            self._effects.append(MakeDir(path=path, mode=mode))
            self._kinds[str(path)] = "dir"
        elif kind != "dir":
            self.fail(
                "crash",
                str(path),
                kind,
                "exists and is not a directory: legacy's mkdir raises FileExistsError",
            )

    def makedirs(self, path: PurePosixPath, mode: int) -> None:
        """``path.mkdir(parents=True, exist_ok=True)``."""
        # A deep path's lineage holds depth² parts: built each time, not kept.
        shallow = len(path.parts) <= _KEPT_DEPTH
        lineage = _lineage(path) if shallow else _lineage.__wrapped__(path)
        for ancestor in lineage:
            self.mkdir(ancestor, mode)

    def write(self, path: PurePosixPath, data: bytes, mode: int) -> bool:
        """Create (with ``mode``) or overwrite ``path``; True if it existed before."""
        kind = self.kind(path)
        if kind not in {None, "file"}:
            self.fail(
                "crash",
                str(path),
                str(kind),
                "is not a regular file: "
                "legacy's write raises IsADirectoryError or follows a symlink",
            )
            return False
        blob = self.ctx.facts.known_blob(data) or blob_of(data)
        self._blobs.append(blob)
        self._effects.append(WriteFile(path=path, blob=blob.digest, mode=mode))
        self._kinds[str(path)] = "file"
        return kind == "file"

    def copy(self, path: PurePosixPath, data: bytes, mode: int) -> None:
        """``shutil.copy``: content, then the source's permission bits."""
        if self.write(path, data, mode):
            self.add(Chmod(path=path, mode=mode))

    def chmod(self, path: PurePosixPath, mode: int) -> None:
        """``path.chmod(mode)``."""
        self.add(Chmod(path=path, mode=mode))

    def own(self, paths: Iterable[PurePosixPath]) -> None:
        """OWN(paths) (§1.3)."""
        self.add(*own(self.ctx, paths))

    @property
    def failed(self) -> bool:
        """True once the stage has recorded a problem."""
        return bool(self._errors)

    def fail(self, code: ErrorCode, field: str, value: str, reason: str) -> None:
        """Record a problem; the stage keeps going so every problem is reported."""
        self._errors.append(
            PlanError(
                stage=self.stage, code=code, field=field, value=value, reason=reason
            )
        )

    def result(self) -> Result[Part, tuple[PlanError, ...]]:
        """The stage's part, or every problem it found."""
        if self._errors:
            return Failure(tuple(self._errors))
        return Success(
            Part(
                effects=tuple(self._effects),
                blobs=tuple(self._blobs),
                threaded=self.threaded if self._threads else None,
            )
        )


_KEPT_DEPTH = 16


@lru_cache(maxsize=KERNEL_PATHS)
def _lineage(path: PurePosixPath) -> tuple[PurePosixPath, ...]:
    """``path``'s ancestors below the scratch root, top first, then ``path``:
    built once, as stages make the same directories on every compile."""
    return (*reversed(path.parents[:-1]), path)
