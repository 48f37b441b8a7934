"""Dependency edges between plan steps (architecture.md §2, §7 "Parallelism").

Two filesystem steps depend on each other when their paths are equal or one lies
under the other; each step gets an edge from the latest earlier step on every such
path, which is enough because steps on one path are already chained. A mount hides
its whole subtree and creates its image, so both paths count. The host's other
steps (socket proxies, the pull, host ports, the container's create, start, sudo,
networks, checks and readiness) form one chain in plan order, each after the one
before; ``CreateContainer`` also runs after the last step on every path (its
mounts observe them all), and ``AppendContainerId`` is also a step on its file.
Data-only effects (container mounts, config fragments, the kernel record) have no
edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from effects import (
    AppendContainerId,
    Chmod,
    Chown,
    CreateContainer,
    Effect,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    Step,
    WriteFile,
    is_container_effect,
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
        case AppendContainerId(path=p):
            return (p,)
        case _:
            return ()


def edges_of(steps: Sequence[Step]) -> list[tuple[int, int]]:
    """The dependency edges of ``steps`` (see the module docstring)."""
    edges: set[tuple[int, int]] = set()
    last: dict[PurePosixPath, int] = {}
    host: int | None = None  # the latest step of the host chain
    for index, step in enumerate(steps):
        effect = step.effect
        for path in paths_of(effect):
            edges.update((before, index) for before in _related(last, path))
        if isinstance(effect, CreateContainer):
            edges.update((before, index) for before in last.values())
        if is_container_effect(effect):
            if host is not None:
                edges.add((host, index))
            host = index
        for path in paths_of(effect):
            last[path] = index
    return sorted(edges)


def _related(last: dict[PurePosixPath, int], path: PurePosixPath) -> set[int]:
    return {
        index
        for other, index in last.items()
        if other == path or other in path.parents or path in other.parents
    }
