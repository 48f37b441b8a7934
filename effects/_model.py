"""The pure filesystem model: what a plan does to a tree.

``project(plan, before)`` is the dry run, the thing ``kplan diff`` compares with
legacy, and the model the real executor is checked against, so its rules are the
executor's rules (see ``effects._fs`` for each effect's meaning):

* every ancestor of a target must exist as a directory; a symlink anywhere on the
  way is an error, because the executor never follows symlinks;
* ``MakeDir`` fails on an existing non-directory and keeps an existing directory;
* ``WriteFile`` fails on anything but a regular file (a directory, a symlink, a
  socket or a FIFO) and keeps mode and owner on replace;
* a new entry is owned by the identity the plan runs as, or by the ``uid``/``gid``
  its ``MakeDir`` or ``WriteFile`` names, with exactly its mode (an existing one
  keeps its owner);
* ``Chmod``/``Chown`` fail on a missing path, a symlink, a socket or a FIFO: the
  executor changes only regular files and directories (it never opens a socket or a
  FIFO, whose open has side effects or blocks);
* ``Chown`` of a regular file clears set-user-ID, and set-group-ID when group-execute
  is set, as the kernel does even for root (chown(2), Linux since 2.2.13; without
  group-execute the set-group-ID bit means mandatory locking and stays): legacy's
  chmod-then-chown of a ``4755`` dotfile leaves ``0o755``;
* a mount hides what was below its mount point; container effects change nothing
  below the scratch root (``AppendContainerId``'s line is left out: only Docker
  knows it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import PurePath, PurePosixPath
from typing import Any, final

from returns.result import Failure, Result, Success

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
from ._encoding import describe
from ._fs import (
    Chmod,
    Chown,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    WriteFile,
    public_key_path,
)
from ._plan import EFFECT_TYPES, Plan, Step
from ._tree import Node, Tree, checked_node
from .errors import EffectError

__all__ = ["LOST_FOUND_MODE", "TMPFS_ROOT_MODE", "Projection", "project"]

S_ISUID, S_ISGID, S_IXGRP = 0o4000, 0o2000, 0o0010
TMPFS_ROOT_MODE = 0o1777  # a fresh tmpfs root is world-writable and sticky
EXT4_ROOT_MODE = 0o755  # mkfs.ext4 makes its root directory 0755, owned by root
LOST_FOUND_MODE = 0o700
_ABSENT = None  # an undo-log entry for a path that had no node


class _Refused(Exception):  # noqa: N818  (internal signal, turned into EffectError)
    def __init__(self, path: PurePosixPath, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def project(plan: Plan, before: Tree) -> Result[Tree, EffectError]:
    """Apply ``plan`` to ``before`` in the model; fail at the first refused effect."""
    model = Projection(before, (plan.header.run_as_uid, plan.header.run_as_gid))
    sizes = {digest: len(data) for digest, data in plan.blob_table.items()}
    error = model.apply(plan.steps, sizes)
    return Success(model.tree()) if error is None else Failure(error)


@final
class Projection:
    """A tree changed in place, one run of steps at a time: the compiler's model.

    ``apply`` is all or nothing: a run with a refused effect leaves the nodes as
    they were and returns the error. ``nodes`` is a live read-only view (valid
    until the next ``apply``); ``tree`` freezes the current state into a ``Tree``.
    Each effect costs ``O(1)`` (a mount ``O(nodes)``): only a path's parent is
    looked up, because a tree holds every ancestor of a node as a directory.
    """

    def __init__(self, before: Tree, owner: tuple[int, int]) -> None:
        # Keyed by the paths' text: a path value's hash and equality are Python
        # code, run for every lookup; the path values are kept for ``tree``.
        self._nodes: dict[str, Node] = {str(p): n for p, n in before.entries}
        self._paths: dict[str, PurePosixPath] = {str(p): p for p, _ in before.entries}
        self._owner = owner
        self.nodes: Mapping[PurePosixPath, Node] = _PathView(self._nodes, self._paths)

    def apply(
        self, steps: Sequence[Step], sizes: Mapping[str, int]
    ) -> EffectError | None:
        """Apply ``steps`` in order; on a refused one undo them all and say why."""
        log = _Log(self._nodes, self._paths)
        owner, changes = self._owner, _CHANGES
        for index, step in enumerate(steps):
            effect = step.effect
            change = changes.get(type(effect))  # the effect classes are final
            if change is None:
                continue  # nothing below the scratch root changes (_NO_CHANGE)
            try:
                change(log, effect, owner, sizes)
            except _Refused as refused:
                log.revert()
                return EffectError(
                    index=index,
                    stage=step.stage,
                    effect=describe(step.effect),
                    path=str(refused.path),
                    reason=refused.reason,
                )
        return None

    def tree(self) -> Tree:
        """The current state as a tree."""
        paths = self._paths
        return Tree(tuple((paths[text], node) for text, node in self._nodes.items()))


@final
class _PathView(Mapping[PurePosixPath, Node]):
    """``Projection.nodes``: the nodes by path value, read-only and live."""

    __slots__ = ("_nodes", "_paths")

    def __init__(self, nodes: dict[str, Node], paths: dict[str, PurePosixPath]) -> None:
        self._nodes, self._paths = nodes, paths

    # Only path values are keys (a text is not): as a dict of them would answer.
    def __getitem__(self, path: object) -> Node:
        node = self._nodes.get(str(path)) if isinstance(path, PurePath) else None
        if node is None:
            raise KeyError(path)
        return node

    def get(self, path: object, default: Any = None) -> Any:  # noqa: ANN401
        """The node at ``path``, else ``default`` (as ``dict.get``)."""
        if not isinstance(path, PurePath):
            return default
        return self._nodes.get(str(path), default)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, PurePath) and str(path) in self._nodes

    def __iter__(self) -> Iterator[PurePosixPath]:
        return iter(self._paths.values())

    def __len__(self) -> int:
        return len(self._nodes)


@final
class _Log:
    """The nodes with an undo log of one ``apply`` (reverted on a refusal);
    keyed by a path's text, each with its path value beside it."""

    __slots__ = ("_undo", "nodes", "paths")

    def __init__(self, nodes: dict[str, Node], paths: dict[str, PurePosixPath]) -> None:
        self.nodes, self.paths = nodes, paths
        self._undo: list[tuple[str, Node | None, PurePosixPath | None]] = []

    def get(self, text: str) -> Node | None:
        return self.nodes.get(text)

    def put(self, path: PurePosixPath, node: Node) -> None:
        text = str(path)  # a path keeps its text once made: no second formatting
        self._undo.append((text, self.nodes.get(text, _ABSENT), self.paths.get(text)))
        self.nodes[text] = node
        self.paths[text] = path

    def drop(self, text: str) -> None:
        self._undo.append((text, self.nodes.pop(text), self.paths.pop(text)))

    def revert(self) -> None:
        for text, old, path in reversed(self._undo):
            if old is _ABSENT or path is None:  # both or neither: put together
                self.nodes.pop(text, None)
                self.paths.pop(text, None)
            else:
                self.nodes[text] = old
                self.paths[text] = path
        self._undo.clear()


def _apply_mkdir(
    nodes: _Log, effect: MakeDir, owner: tuple[int, int], _sizes: Mapping[str, int]
) -> None:
    _make_dir(nodes, effect.path, effect.mode, _made_by(effect, owner))


def _apply_write(
    nodes: _Log, effect: WriteFile, owner: tuple[int, int], sizes: Mapping[str, int]
) -> None:
    made_by = _made_by(effect, owner)
    _write(nodes, effect.path, effect.blob, sizes[effect.blob], effect.mode, made_by)


def _made_by(effect: MakeDir | WriteFile, owner: tuple[int, int]) -> tuple[int, int]:
    """The owner of the entry ``effect`` makes: the one it names, else the plan's."""
    uid, gid = effect.uid, effect.gid
    if uid is None and gid is None:
        return owner
    return (owner[0] if uid is None else uid, owner[1] if gid is None else gid)


def _apply_chmod(
    nodes: _Log, effect: Chmod, _owner: tuple[int, int], _sizes: Mapping[str, int]
) -> None:
    node = _changeable(nodes, effect.path)
    nodes.put(effect.path, _changed(node, effect.mode, node.uid, node.gid))


def _apply_chown(
    nodes: _Log, effect: Chown, _owner: tuple[int, int], _sizes: Mapping[str, int]
) -> None:
    node = _changeable(nodes, effect.path)
    uid, gid = effect.uid, effect.gid
    nodes.put(
        effect.path,
        _changed(
            node,
            mode_after_chown(node),
            node.uid if uid is None else uid,
            node.gid if gid is None else gid,
        ),
    )


def _apply_host_key(
    nodes: _Log,
    effect: GenerateHostKey,
    owner: tuple[int, int],
    _sizes: Mapping[str, int],
) -> None:
    _host_key(nodes, effect.path, owner)


def _apply_mount(
    nodes: _Log, effect: MountScratch, owner: tuple[int, int], _sizes: Mapping[str, int]
) -> None:
    _mount(nodes, effect, owner)


def _apply_container_id(
    nodes: _Log,
    effect: AppendContainerId,
    _owner: tuple[int, int],
    _sizes: Mapping[str, int],
) -> None:
    # The line's text is Docker's answer, unknown to the model, which keeps the
    # file as the plan wrote it (diffs compare without CID lines).
    _existing(nodes, effect.path)


# What each effect does to the model, by its (final) class.
_CHANGES: dict[type, Callable[[_Log, Any, tuple[int, int], Mapping[str, int]], None]]
_CHANGES = {
    MakeDir: _apply_mkdir,
    WriteFile: _apply_write,
    Chmod: _apply_chmod,
    Chown: _apply_chown,
    GenerateHostKey: _apply_host_key,
    MountScratch: _apply_mount,
    AppendContainerId: _apply_container_id,
}
# Nothing below the scratch root changes for these.
_NO_CHANGE = frozenset(
    {
        ContainerMount,
        ContainerConfig,
        ServeSocketProxy,
        PullImage,
        AllocateHostPorts,
        CreateContainer,
        StartContainer,
        ProvisionSudo,
        ConnectNetworks,
        VerifyContainer,
        WaitKernelReady,
        RegisterKernel,
    }
)
# A new effect must say what it does to the model: the import fails until it does.
assert set(_CHANGES) | _NO_CHANGE == set(EFFECT_TYPES)  # noqa: S101
assert not set(_CHANGES) & _NO_CHANGE  # noqa: S101


def _changed(node: Node, mode: int, uid: int, gid: int) -> Node:
    """``node`` with a new mode and owner (``attrs.evolve``, without its
    introspection: the model changes a node for every chmod and chown)."""
    return checked_node(
        node.type, mode, uid, gid, node.size, node.sha256, node.volatile
    )


def _check_parents(nodes: _Log, path: PurePosixPath) -> None:
    parent = str(path).rpartition("/")[0]
    if not parent:
        return  # directly below the scratch root
    node = nodes.get(parent)
    if node is not None and node.type == "dir":
        return  # and so are all its ancestors: a tree holds them as directories
    for ancestor in reversed(path.parents[:-1]):  # name the topmost problem
        node = nodes.get(str(ancestor))
        if node is None:
            raise _Refused(path, f"parent directory {str(ancestor)!r} does not exist")
        if node.type == "symlink":
            raise _Refused(path, f"{str(ancestor)!r} is a symlink (never followed)")
        if node.type != "dir":
            raise _Refused(path, f"{str(ancestor)!r} is not a directory")


def _existing(nodes: _Log, path: PurePosixPath) -> Node:
    text = str(path)
    _check_parents(nodes, path)
    node = nodes.get(text)
    if node is None:
        raise _Refused(path, "does not exist")
    if node.type == "symlink":
        raise _Refused(path, "is a symlink (never followed)")
    return node


def mode_after_chown(node: Node) -> int:
    """The mode a chown leaves (the kernel's rule, see the module docstring)."""
    if node.type != "file":
        return node.mode
    mode = node.mode & ~S_ISUID
    return mode & ~S_ISGID if mode & S_IXGRP else mode


def _changeable(nodes: _Log, path: PurePosixPath) -> Node:
    """An existing regular file or directory whose mode or owner may change."""
    node = _existing(nodes, path)
    if node.type not in {"file", "dir"}:
        raise _Refused(path, f"is a {node.type}: only files and directories change")
    return node


def _make_dir(
    nodes: _Log, path: PurePosixPath, mode: int, owner: tuple[int, int]
) -> None:
    text = str(path)
    _check_parents(nodes, path)
    node = nodes.get(text)
    if node is None:
        nodes.put(path, checked_node("dir", mode, owner[0], owner[1]))
    elif node.type != "dir":
        raise _Refused(path, f"exists and is a {node.type}, not a directory")


def _write(  # noqa: PLR0917  (mirrors the WriteFile fields plus the model state)
    nodes: _Log,
    path: PurePosixPath,
    digest: str,
    size: int,
    mode: int,
    owner: tuple[int, int],
) -> None:
    text = str(path)
    _check_parents(nodes, path)
    node = nodes.get(text)
    if node is None:
        nodes.put(path, checked_node("file", mode, owner[0], owner[1], size, digest))
    elif node.type != "file":
        raise _Refused(path, f"is a {node.type}, cannot write a file over it")
    else:
        replaced = checked_node("file", node.mode, node.uid, node.gid, size, digest)
        nodes.put(path, replaced)


def _volatile_file(owner: tuple[int, int], mode: int) -> Node:
    return Node(type="file", mode=mode, uid=owner[0], gid=owner[1], volatile=True)


def _host_key(nodes: _Log, path: PurePosixPath, owner: tuple[int, int]) -> None:
    text = str(path)
    _check_parents(nodes, path)
    if nodes.get(text) is not None:
        raise _Refused(path, "already exists; dropbearkey refuses to overwrite a key")
    nodes.put(path, _volatile_file(owner, 0o600))
    public = public_key_path(path)
    # dropbearkey writes the public half only when nothing is there yet.
    if nodes.get(str(public)) is None:
        nodes.put(public, _volatile_file(owner, 0o600))


def _mount(nodes: _Log, effect: MountScratch, owner: tuple[int, int]) -> None:
    image = effect.image
    if image is not None and effect.image_mode is not None:
        _check_parents(nodes, image)
        if nodes.get(str(image)) is not None:
            raise _Refused(image, "already exists; a new image file is expected")
        nodes.put(image, _volatile_file(owner, effect.image_mode))
    node = _existing(nodes, effect.path)
    if node.type != "dir":
        raise _Refused(effect.path, "mount point is not a directory")
    below = f"{effect.path}/"
    for hidden in [text for text in nodes.nodes if text.startswith(below)]:
        nodes.drop(hidden)
    if effect.kind == "tmpfs":
        nodes.put(
            effect.path,
            Node(type="dir", mode=TMPFS_ROOT_MODE, uid=owner[0], gid=owner[1]),
        )
    else:
        nodes.put(effect.path, Node(type="dir", mode=EXT4_ROOT_MODE, uid=0, gid=0))
        nodes.put(
            effect.path / "lost+found",
            Node(type="dir", mode=LOST_FOUND_MODE, uid=0, gid=0),
        )
