"""Dependency edges between plan steps (architecture.md §2, architecture.md §3.3).

The ordering rule: two filesystem steps are ordered when their paths are equal or
one lies under the other (a mount hides its whole subtree and creates its image,
so both its paths count; a host key and its public half are both its paths). The
host's other steps (socket proxies, the pull, host ports, the container's create,
start, sudo, networks, checks and readiness) form one chain in plan order, each
after the one before; ``CreateContainer`` also runs after every filesystem step
before it (its mounts observe them all), and ``AppendContainerId`` is also a step
on its file. Data-only effects (container mounts, config fragments, the kernel
record) have no edges.

The edges are the rule's *covering* relation, not all of it: an edge ``(i, j)`` is
emitted only when ``i`` is not already ordered before ``j`` through other edges,
so a plan of ``n`` steps has ``O(n)`` edges and ``edges_of`` runs in ``O(n * d)``
for paths ``d`` components deep (architecture.md §3.3). The transitive closure is
exactly the rule's, which the property tests check against the quadratic
definition.

Why it works: steps on related paths are always ordered (the later one depends on
the latest earlier one on each related path, and steps on one path are chained),
so the steps on a path and its ancestors form one chain and only their latest one,
``m``, needs an edge. Below the path, only the steps nothing later covers yet (the
*frontier*, an antichain) need one, and of those only the ones after ``m``. Each
trie node keeps its latest step and the frontier of its subtree; a step on a path
empties the path's frontier and replaces, in every ancestor's frontier, what it
covers by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from effects import (
    CONTAINER_SIDE,
    DATA_EFFECTS,
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
    """The dependency edges of ``steps``, sorted (see the module docstring)."""
    trie = _PathTrie()
    node_of, follows, touch, one = trie.node, trie.follows, trie.touch, trie.one
    edges: list[tuple[int, int]] = []
    host: int | None = None  # the latest step of the host chain
    for index, step in enumerate(steps):
        effect = step.effect
        kind = type(effect)
        if kind in _ONE_PATH:  # most steps: one path, no host chain
            one(str(effect.path), index, edges)  # type: ignore[union-attr]
            continue
        if kind in _NO_EDGES:  # the next most: mount entries, config fragments
            continue
        # What the step follows on each of its paths, found before any is updated.
        nodes = [node_of(str(path)) for path in paths_of(effect)]
        found = [(node, follows(node)) for node in nodes]
        before: set[int] = set()
        for _, covered in found:
            before |= covered
        if kind is CreateContainer:
            before |= trie.frontier[_ROOT]
        if kind in _HOST_CHAIN:
            if host is not None:
                before.add(host)
            host = index
        before.discard(-1)
        edges.extend((earlier, index) for earlier in before)
        for node, covered in found:
            touch(node, index, covered)
    edges.sort()
    return edges


# The effects on one scratch path and on nothing else (``paths_of``): edges_of's
# fast path. The classes are final, so their type says it.
_ONE_PATH = frozenset({MakeDir, WriteFile, Chmod, Chown})
# Data effects touch no path and are on no chain (a third of a plan's steps).
_NO_EDGES = DATA_EFFECTS
_HOST_CHAIN = CONTAINER_SIDE


_ROOT = 0  # the trie's root: the scratch root itself, on which no step acts


class _PathTrie:
    """Path text -> node id, each node's ancestors, latest step and frontier.

    ``frontier[n]`` holds the steps strictly below node ``n`` that no later step
    covers yet. A node below a path that just got a step may keep stale entries
    (covered since): they are all older than the latest step on the node's own
    chain, so ``follows`` drops them by comparing with it. ``above[n]`` is the
    node's ancestors, nearest first, the root last: each step walks them twice,
    so they are kept as one tuple (a node ``d`` deep holds ``d`` ids, as many as
    the steps on its walk already cost).
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.above: list[tuple[int, ...]] = [()]
        self.last: list[int] = [-1]  # -1: no step on the node yet
        self.frontier: list[set[int]] = [set()]

    def node(self, text: str) -> int:
        """The node of a relative path's text, made with its missing ancestors."""
        found = self.ids.get(text)
        if found is not None:
            return found
        head, _, _ = text.rpartition("/")
        parent = self.node(head) if head else _ROOT
        made = len(self.above)
        self.ids[text] = made
        self.above.append((parent, *self.above[parent]))
        self.last.append(-1)
        self.frontier.append(set())
        return made

    def follows(self, node: int) -> set[int]:
        """The steps a new step on ``node`` must follow directly (-1: none): the
        latest on its chain of ancestors, and the frontier after that one."""
        last = self.last
        latest = max(last[node], *(last[up] for up in self.above[node]))
        covered = {step for step in self.frontier[node] if step > latest}
        covered.add(latest)
        return covered

    def touch(self, node: int, index: int, covered: set[int]) -> None:
        """Record step ``index`` on ``node``, which follows ``covered`` (``follows``):
        it replaces them, and its ancestors' latest steps, in every frontier above."""
        last, frontier = self.last, self.frontier
        gone = set(covered)
        last[node] = index
        frontier[node] = set()
        for up in self.above[node]:
            above = frontier[up]
            above -= gone
            above.add(index)
            gone.add(last[up])

    def one(self, text: str, index: int, edges: list[tuple[int, int]]) -> None:
        """``follows`` and then ``touch`` for step ``index`` on the path ``text``
        alone, its edges appended to ``edges``: the same rule in one pass without
        its sets where it can (most steps are these; plans have hundreds)."""
        node = self.ids.get(text)
        if node is None:
            node = self.node(text)
        last, frontier, chain = self.last, self.frontier, self.above[node]
        latest = last[node]
        for up in chain:  # a comparison, not a call of max per ancestor
            if last[up] > latest:  # noqa: PLR1730
                latest = last[up]
        below = frontier[node]
        gone: set[int] = set()
        if below:  # a directory with steps below it since its latest
            gone = {step for step in below if step > latest}
            edges.extend((earlier, index) for earlier in gone)
            frontier[node] = set()
        if latest >= 0:
            edges.append((latest, index))
            gone.add(latest)
        last[node] = index
        for up in chain:
            above = frontier[up]
            if gone:
                above -= gone
            above.add(index)
            gone.add(last[up])
