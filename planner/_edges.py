"""Dependency edges between plan steps (architecture.md §2, §7 "Parallelism").

Two filesystem steps depend on each other when their paths are equal or one lies
under the other; each step gets an edge from the latest earlier step on every such
path, which is enough because steps on one path are already chained. A mount hides
its whole subtree and creates its image, so both paths count. Container steps run
after every filesystem step they could observe: ``CreateContainer`` after the last
step on every path and after ``PullImage``; start after create; verify after start.
Data-only effects (container mounts, config fragments, the kernel record) have no
edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from effects import (
    Chmod,
    Chown,
    CreateContainer,
    Effect,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    PullImage,
    StartContainer,
    Step,
    VerifyContainer,
    WriteFile,
)

__all__ = ["edges_of", "paths_of"]


def paths_of(effect: Effect) -> tuple[PurePosixPath, ...]:
    """The scratch paths a filesystem effect touches (none for container effects)."""
    match effect:
        case MakeDir(path=p) | WriteFile(path=p) | Chmod(path=p) | Chown(path=p):
            return (p,)
        case GenerateHostKey(path=p):
            return (p, effect.public_path)
        case MountScratch(path=p, image=image):
            return (p,) if image is None else (p, image)
        case _:
            return ()


def edges_of(steps: Sequence[Step]) -> list[tuple[int, int]]:
    """The dependency edges of ``steps`` (see the module docstring)."""
    edges: set[tuple[int, int]] = set()
    last: dict[PurePosixPath, int] = {}
    container: dict[type, int] = {}
    for index, step in enumerate(steps):
        effect = step.effect
        for path in paths_of(effect):
            edges.update((before, index) for before in _related(last, path))
        for path in paths_of(effect):
            last[path] = index
        edges.update(_container_edges(effect, index, last, container))
    return sorted(edges)


def _related(last: dict[PurePosixPath, int], path: PurePosixPath) -> set[int]:
    return {
        index
        for other, index in last.items()
        if other == path or other in path.parents or path in other.parents
    }


def _container_edges(
    effect: Effect, index: int, last: dict[PurePosixPath, int], seen: dict[type, int]
) -> set[tuple[int, int]]:
    edges: set[tuple[int, int]] = set()
    if isinstance(effect, CreateContainer):
        edges.update((before, index) for before in last.values())
        if PullImage in seen:
            edges.add((seen[PullImage], index))
    elif isinstance(effect, StartContainer) and CreateContainer in seen:
        edges.add((seen[CreateContainer], index))
    elif isinstance(effect, VerifyContainer) and StartContainer in seen:
        edges.add((seen[StartContainer], index))
    if isinstance(
        effect, PullImage | CreateContainer | StartContainer | VerifyContainer
    ):
        seen[type(effect)] = index
    return edges
