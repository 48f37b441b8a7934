"""The other side of ``kplan diff``: the real legacy code, a tree file, or a directory.

Against legacy, the worker runs the real methods in a fresh temporary scratch root;
the context is then planned again with that root as its scratch root, so both sides
hold the same absolute paths (in mount sources and resource.txt) and compare byte
for byte. A legacy exception on an input kplan planned is itself a difference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

import attrs
from returns.result import Failure, Result, Success

from effects import Tree, decode_tree, kernel_entries, tree_from_document
from executor import snapshot
from legacy import LegacyBridge
from planner import Context, Diff, Difference, compare, compile_plan

from ._input_files import read_input_file

__all__ = ["LegacyOutcome", "against_legacy", "against_tree", "kernel_subtrees"]

Reader = Callable[[PurePosixPath], bytes | None]
TEXT_LIMIT = 64 * 1024


@attrs.frozen(kw_only=True)
class LegacyOutcome:
    """What the worker reported besides the tree: refusals, its error, its log lines."""

    refused: list[object]
    error: Mapping[str, object] | None
    logs: list[object]


def kernel_subtrees(tree: Tree, kernel_id: str) -> Tree:
    """Only the kernel's own entries of a scratch root (other kernels are ignored)."""
    names = set(kernel_entries(kernel_id))
    return Tree([(p, n) for p, n in tree.entries if p.parts[0] in names])


def against_tree(ctx: Context, quirks: tuple[str, ...], target: Path) -> Diff | str:
    """Compare with a tree file or a real scratch root directory; or an error text."""
    plan = compile_plan(ctx, quirks).unwrap()
    match _other_side(target):
        case Success((tree, reader)):
            other = kernel_subtrees(tree, ctx.kernel_id)
            return compare(ctx, plan, other, other_content=reader, quirks=quirks)
        case Failure(error):
            return str(error)
        case _:
            raise AssertionError("unreachable")  # returns#1361


def _other_side(target: Path) -> Result[tuple[Tree, Reader], str]:
    """The tree of a directory (with its small files) or of a tree file."""
    if not target.is_dir():
        return read_input_file(target).bind(_decoded_tree(target))
    try:
        tree, contents = snapshot(
            target, keep_content=lambda _p, size: size <= TEXT_LIMIT
        )
    except OSError as exc:  # an unreadable entry: name it, as one line
        return Failure(f"{exc.filename or target}: cannot read it: {exc.strerror}")
    return Success((tree, _digest_reader(tree, contents)))


def _decoded_tree(target: Path) -> Callable[[bytes], Result[tuple[Tree, Reader], str]]:
    def decoded(data: bytes) -> Result[tuple[Tree, Reader], str]:
        match decode_tree(data):
            case Success(tree):
                return Success((tree, _no_content))
            case Failure(error):
                return Failure(f"{target}: {error}")
            case _:
                raise AssertionError("unreachable")  # returns#1361

    return decoded


def against_legacy(
    ctx: Context,
    document: Mapping[str, object],
    quirks: tuple[str, ...],
    bridge: LegacyBridge,
) -> tuple[Diff | None, LegacyOutcome]:
    """Run legacy on ``document`` and compare; ``None`` if the worker refused it."""
    reply = bridge.run(document)
    error = reply.get("error")
    outcome = LegacyOutcome(
        refused=_list(reply, "refused"),
        error=error if isinstance(error, dict) else None,
        logs=_list(reply, "logs"),
    )
    root = reply.get("scratch_root")
    if outcome.refused or not isinstance(root, str):
        return None, outcome
    moved = _at_root(ctx, PurePosixPath(root))
    plan = compile_plan(moved, quirks).unwrap()
    tree = tree_from_document(reply.get("tree"))
    contents = reply.get("contents")
    diff = compare(
        moved,
        plan,
        tree,
        other_content=_text_reader(contents if isinstance(contents, dict) else {}),
        other_fragments=_list(reply, "container_configs"),
        quirks=quirks,
    )
    if outcome.error is not None:
        error = Difference(
            kind="legacy-error",
            path=str(outcome.error.get("step")),
            plan="planned without error",
            other=f"{outcome.error.get('type')}: {outcome.error.get('message')}",
        )
        diff = Diff(differences=(*diff.differences, error), normalised=diff.normalised)
    return diff, outcome


def _list(reply: Mapping[str, object], key: str) -> list[object]:
    value = reply.get(key)
    return list(value) if isinstance(value, list) else []


def _at_root(ctx: Context, root: PurePosixPath) -> Context:
    local = attrs.evolve(ctx.local, scratch_root=root)
    facts = attrs.evolve(ctx.facts, scratch_root_resolved=root)
    return attrs.evolve(ctx, local=local, facts=facts)


def _digest_reader(tree: Tree, contents: Mapping[str, bytes]) -> Reader:
    def read(path: PurePosixPath) -> bytes | None:
        node = tree.nodes.get(path)
        return (
            None if node is None or node.sha256 is None else contents.get(node.sha256)
        )

    return read


def _text_reader(contents: Mapping[str, str]) -> Reader:
    def read(path: PurePosixPath) -> bytes | None:
        text = contents.get(str(path))
        return None if text is None else text.encode()

    return read


def _no_content(_path: PurePosixPath) -> bytes | None:
    return None
