"""Comparing what a plan produces with what something else produced.

architecture.md §3.5 says what is compared and what is normalised.

Trees are compared path by path: present on one side only, then type, mode, owner
and content. Content is compared by digest, with a unified diff for small text
files. Only documented normalisations apply:

* volatile content (the generated host key and its ``.pub``) is not compared;
* set-like values whose legacy order is random (H22): the ``ADDITIONAL_GIDS``
  value in environ files compares as a set, ``SLOTS`` in resource files as a JSON
  object;
* resource.txt's ``CID=`` lines, which only the container's create fills in.

Container configs are compared as JSON documents; a difference names its JSON
path (``[1].HostConfig.Mounts[0].ReadOnly``). A difference on a path that an
enabled quirk changes is labelled with that quirk.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Literal, final

import attrs
import orjson

from effects import Node, Tree
from effects.decoding import mode_text

__all__ = ["Diff", "Difference", "DifferenceKind", "diff_json", "diff_trees"]

DifferenceKind = Literal[
    "only-in-plan",
    "only-in-other",
    "type",
    "mode",
    "owner",
    "content",
    "container-config",
    "create-body",
    "environ",
    "service-ports",
    "kernel",
    "legacy-error",
]
TEXT_LIMIT = 64 * 1024
Reader = Callable[[PurePosixPath], bytes | None]


@final
@attrs.frozen(kw_only=True)
class Difference:
    """One way the two sides disagree."""

    kind: DifferenceKind
    path: str
    plan: str | None
    other: str | None
    quirk: str | None = None
    detail: str | None = None


@final
@attrs.frozen(kw_only=True)
class Diff:
    """All differences, and the normalisations that made values compare equal."""

    differences: tuple[Difference, ...]
    normalised: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        """True if nothing differs."""
        return not self.differences


def diff_trees(
    plan: Tree,
    other: Tree,
    *,
    plan_content: Reader,
    other_content: Reader,
    quirks: Mapping[str, str],
    equal: Mapping[str, str] | None = None,
) -> Diff:
    """Compare two trees (see the module docstring).

    ``quirks`` maps paths to the quirk that explains them; ``equal`` maps paths whose
    content the caller found equal by other means to the note that says how.
    """
    equal = equal or {}
    found: list[Difference] = []
    notes: list[str] = []
    for path in sorted(set(plan.nodes) | set(other.nodes), key=str):
        mine, theirs = plan.nodes.get(path), other.nodes.get(path)
        label = quirks.get(str(path))
        if mine is None or theirs is None:
            kind: DifferenceKind = "only-in-other" if mine is None else "only-in-plan"
            node = theirs if mine is None else mine
            assert node is not None  # noqa: S101  (one side is present)
            found.append(
                Difference(
                    kind=kind,
                    path=str(path),
                    plan=_summary(mine),
                    other=_summary(theirs),
                    quirk=label,
                )
            )
            continue
        found += _node_differences(path, mine, theirs, label)
        if str(path) in equal:
            notes.append(f"{path}: {equal[str(path)]}")
        elif mine.type == theirs.type == "file" and not mine.volatile:
            found += _content(
                path, mine, theirs, plan_content, other_content, label, notes
            )
    return Diff(differences=tuple(found), normalised=tuple(notes))


def _summary(node: Node | None) -> str | None:
    if node is None:
        return None
    return f"{node.type} {mode_text(node.mode)} {node.uid}:{node.gid}"


def _node_differences(
    path: PurePosixPath, mine: Node, theirs: Node, label: str | None
) -> list[Difference]:
    where = str(path)
    if mine.type != theirs.type:
        return [
            Difference(
                kind="type", path=where, plan=mine.type, other=theirs.type, quirk=label
            )
        ]
    found = []
    if mine.mode != theirs.mode:
        found.append(
            Difference(
                kind="mode",
                path=where,
                plan=mode_text(mine.mode),
                other=mode_text(theirs.mode),
                quirk=label,
            )
        )
    if (mine.uid, mine.gid) != (theirs.uid, theirs.gid):
        found.append(
            Difference(
                kind="owner",
                path=where,
                plan=f"{mine.uid}:{mine.gid}",
                other=f"{theirs.uid}:{theirs.gid}",
                quirk=label,
            )
        )
    return found


def _content(  # noqa: PLR0917  (both sides of one comparison)
    path: PurePosixPath,
    mine: Node,
    theirs: Node,
    plan_content: Reader,
    other_content: Reader,
    label: str | None,
    notes: list[str],
) -> list[Difference]:
    if mine.sha256 == theirs.sha256 and mine.size == theirs.size:
        return []
    left, right = plan_content(path), other_content(path)
    if (
        left is not None
        and right is not None
        and _normalise(path, left) == _normalise(path, right)
    ):
        notes.append(f"{path}: equal once set-like values are compared as sets (H22)")
        return []
    return [
        Difference(
            kind="content",
            path=str(path),
            plan=f"sha256:{mine.sha256} ({mine.size} bytes)",
            other=f"sha256:{theirs.sha256} ({theirs.size} bytes)",
            quirk=label,
            detail=_unified(str(path), left, right),
        )
    ]


def _normalise(path: PurePosixPath, data: bytes) -> object:
    name = path.name
    if not name.startswith(("environ", "resource")):
        return data
    lines: list[tuple[str, object]] = []
    for line in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key == "CID" and name.startswith("resource"):
            continue  # only the container's create knows the id (§14.5)
        if sep and key == "ADDITIONAL_GIDS":
            lines.append((key, tuple(sorted(value.split(",")))))
        elif sep and key == "SLOTS":
            lines.append((key, _json_object(value)))
        else:
            lines.append((line, ()))
    return lines


def _json_object(text: str) -> object:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _unified(name: str, left: bytes | None, right: bytes | None) -> str | None:
    if left is None or right is None or max(len(left), len(right)) > TEXT_LIMIT:
        return None
    try:
        before, after = left.decode(), right.decode()
    except UnicodeDecodeError:
        return None
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"plan/{name}",
        tofile=f"other/{name}",
    )
    return "".join(lines)


def diff_json(plan: object, other: object, where: str = "") -> list[Difference]:
    """Differences between two JSON documents, by JSON path."""
    if isinstance(plan, dict) and isinstance(other, dict):
        found = []
        for key in sorted(set(plan) | set(other)):
            found += _member(plan, other, key, f"{where}.{key}" if where else str(key))
        return found
    if isinstance(plan, list) and isinstance(other, list):
        found = []
        for index in range(max(len(plan), len(other))):
            found += _item(plan, other, index, f"{where}[{index}]")
        return found
    if plan == other and type(plan) is type(other):
        return []
    return [_json_difference(where, plan, other)]


def _member(
    plan: dict[str, object], other: dict[str, object], key: str, where: str
) -> list[Difference]:
    if key not in other:
        return [_json_difference(where, plan[key], _MISSING)]
    if key not in plan:
        return [_json_difference(where, _MISSING, other[key])]
    return diff_json(plan[key], other[key], where)


def _item(
    plan: Sequence[object], other: Sequence[object], index: int, where: str
) -> list[Difference]:
    if index >= len(other):
        return [_json_difference(where, plan[index], _MISSING)]
    if index >= len(plan):
        return [_json_difference(where, _MISSING, other[index])]
    return diff_json(plan[index], other[index], where)


_MISSING = object()


def _json_difference(where: str, plan: object, other: object) -> Difference:
    def show(value: object) -> str | None:
        return None if value is _MISSING else orjson.dumps(value).decode()

    return Difference(
        kind="container-config",
        path=where or "(document)",
        plan=show(plan),
        other=show(other),
    )
