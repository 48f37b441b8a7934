"""The tree value: what a scratch root holds, in the format every command shares.

A tree maps scratch-relative paths to nodes (type, mode, owner, size, digest). The
JSON form (architecture.md §2) is a list sorted by path of objects with ``path``,
``type`` (dir|file|symlink|socket|fifo), ``mode`` ("0o755"), ``uid``, ``gid``,
``size``, ``sha256`` and ``volatile``. Directories, sockets and FIFOs have ``size``
and ``sha256`` null: they hold no content (the sockets and FIFOs tmux, ssh-agent and
jupyter leave in ``work/`` are there only as names, types, modes and owners); a
symlink's are those of its target text; a volatile file (a generated host key) has
unknown content, so both are null in a model and ignored by diffs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Literal, final

import attrs
import orjson
from returns.result import Failure, Result, Success

from ._encoding import dumps, mode_text
from ._fs import HOST_KEY_NAME, public_key_path
from ._paths import check_relative, rel
from ._reader import Invalid, Reader
from ._validators import id_field, is_sha256, mode_field
from .errors import DecodeError

__all__ = [
    "Node",
    "NodeType",
    "Tree",
    "decode_tree",
    "encode_tree",
    "is_volatile_path",
    "tree_document",
    "without_volatile_content",
]

NodeType = Literal["dir", "file", "symlink", "socket", "fifo"]
NODE_TYPES: tuple[NodeType, ...] = ("dir", "file", "symlink", "socket", "fifo")
_WITHOUT_CONTENT = {"dir": "a directory", "socket": "a socket", "fifo": "a fifo"}
_DOCUMENT = "(document)"


def _content_fields(instance: Node, _attribute: object, _value: bool) -> None:  # noqa: FBT001
    has_content = instance.size is not None or instance.sha256 is not None
    empty = _WITHOUT_CONTENT.get(instance.type)
    if empty is not None and (has_content or instance.volatile):
        msg = f"{empty} node has no size, digest or volatile content"
        raise ValueError(msg)
    if empty is None and not instance.volatile:
        if not isinstance(instance.size, int) or instance.size < 0:
            msg = f"a {instance.type} node needs a size >= 0"
            raise ValueError(msg)
        if not is_sha256(instance.sha256):
            msg = f"a {instance.type} node needs a sha256 digest"
            raise ValueError(msg)


@final
@attrs.frozen(kw_only=True)
class Node:
    """One filesystem entry below the scratch root."""

    type: NodeType = attrs.field(validator=attrs.validators.in_(NODE_TYPES))
    mode: int = attrs.field(validator=mode_field)
    uid: int = attrs.field(validator=id_field)
    gid: int = attrs.field(validator=id_field)
    size: int | None = None
    sha256: str | None = None
    volatile: bool = attrs.field(default=False, validator=_content_fields)


_NEW = object.__new__
_SET = object.__setattr__


def checked_node(  # noqa: PLR0917  (Node's fields, in order)
    type: NodeType,  # noqa: A002
    mode: int,
    uid: int,
    gid: int,
    size: int | None = None,
    sha256: str | None = None,
    volatile: bool = False,  # noqa: FBT001, FBT002
) -> Node:
    """A ``Node`` of fields the caller has already checked: no validators run.

    For the model, which builds a node for nearly every effect from the fields of
    effects (validated when they were made) and of nodes already in a tree.
    """
    node = _NEW(Node)
    _SET(node, "type", type)
    _SET(node, "mode", mode)
    _SET(node, "uid", uid)
    _SET(node, "gid", gid)
    _SET(node, "size", size)
    _SET(node, "sha256", sha256)
    _SET(node, "volatile", volatile)
    return node


def _to_entries(
    values: Iterable[tuple[PurePosixPath, Node]],
) -> tuple[tuple[PurePosixPath, Node], ...]:
    return tuple(sorted(values, key=lambda entry: str(entry[0])))


def _closed(
    _instance: object, _attribute: object, value: tuple[tuple[PurePosixPath, Node], ...]
) -> None:
    kinds = {}
    for path, node in value:
        check_relative(path)
        if path in kinds:
            msg = f"duplicate tree entry {str(path)!r}"
            raise ValueError(msg)
        kinds[path] = node.type
    for path in kinds:
        parent = path.parent
        if parent != PurePosixPath() and kinds.get(parent) != "dir":
            msg = f"tree entry {str(path)!r} has no parent directory in the tree"
            raise ValueError(msg)


@final
@attrs.frozen
class Tree:
    """A scratch root's content: entries sorted by path, every parent a dir in it."""

    entries: tuple[tuple[PurePosixPath, Node], ...] = attrs.field(
        converter=_to_entries, validator=_closed, default=()
    )

    @cached_property
    def nodes(self) -> Mapping[PurePosixPath, Node]:
        """Read-only path -> node lookup."""
        return MappingProxyType(dict(self.entries))

    @classmethod
    def of(cls, nodes: Mapping[PurePosixPath, Node]) -> Tree:
        """Build a tree from a path -> node mapping."""
        return cls(tuple(nodes.items()))


HOST_KEY_NAMES = frozenset(
    {HOST_KEY_NAME, public_key_path(PurePosixPath(HOST_KEY_NAME)).name}
)


def is_volatile_path(path: PurePosixPath) -> bool:
    """Paths whose content kplan never predicts: the generated dropbear host key and
    its public half under ``<kernel>/config/ssh``, and a hostfile scratch image."""
    if len(path.parts) == 1:
        return path.suffix == ".img"
    kernel = path.parts[0]
    return (
        path.parent == PurePosixPath(kernel, "config", "ssh")
        and path.name in HOST_KEY_NAMES
    )


def without_volatile_content(tree: Tree) -> Tree:
    """``tree`` with the content of volatile files (``is_volatile_path``) unknown,
    as the model has it: what ``kplan snapshot`` prints, so it reads like ``expect``."""
    return Tree(
        [
            (path, attrs.evolve(node, size=None, sha256=None, volatile=True))
            if node.type == "file" and is_volatile_path(path)
            else (path, node)
            for path, node in tree.entries
        ]
    )


def tree_document(tree: Tree) -> list[dict[str, object]]:
    """The tree as plain JSON data (architecture.md §2 tree format)."""
    return [
        {
            "path": str(path),
            "type": node.type,
            "mode": mode_text(node.mode),
            "uid": node.uid,
            "gid": node.gid,
            "size": node.size,
            "sha256": node.sha256,
            "volatile": node.volatile,
        }
        for path, node in tree.entries
    ]


def encode_tree(tree: Tree) -> bytes:
    """Canonical JSON bytes of ``tree``."""
    return dumps(tree_document(tree))


def decode_tree(data: bytes | str) -> Result[Tree, DecodeError]:
    """Parse a tree document, naming the first bad field."""
    try:
        document = orjson.loads(data)
        return Success(tree_from_document(document))
    except orjson.JSONDecodeError as exc:
        return Failure(DecodeError(field="(document)", reason=f"not JSON: {exc}"))
    except Invalid as exc:
        return Failure(DecodeError(field=exc.field, reason=exc.reason))


def tree_from_document(document: object) -> Tree:
    """Build a tree from parsed JSON; raises ``Invalid`` naming the bad field."""
    if not isinstance(document, list):
        raise Invalid(_DOCUMENT, "a tree is a JSON list of entries")
    entries = [_decode_entry(item, f"[{index}]") for index, item in enumerate(document)]
    try:
        return Tree(entries)
    except ValueError as exc:
        raise Invalid(_DOCUMENT, str(exc)) from exc


def _decode_entry(value: object, where: str) -> tuple[PurePosixPath, Node]:
    entry = Reader(value, where)
    try:
        path = rel(entry.text("path"))
    except ValueError as exc:
        entry.fail("path", str(exc))
    try:
        node = Node(
            type=entry.text("type"),  # type: ignore[arg-type]  # checked by the validator
            mode=entry.mode("mode"),
            uid=entry.integer("uid", 0),
            gid=entry.integer("gid", 0),
            size=entry.opt_integer("size", 0),
            sha256=entry.opt_text("sha256"),
            volatile=entry.boolean("volatile"),
        )
    except (TypeError, ValueError) as exc:
        raise Invalid(where, str(exc)) from exc
    entry.done()
    return path, node
