"""The other side of ``kplan diff``: the real legacy code, a tree file, or a directory.

Against legacy, the worker runs the real methods in a fresh temporary scratch root;
the context is then planned again with that root as its scratch root, so both sides
hold the same absolute paths (in mount sources and resource.txt) and compare byte
for byte. A legacy exception on an input kplan planned is itself a difference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import attrs
from returns.result import Failure, Result, Success

from effects import Tree, decode_tree, kernel_entries, tree_from_document
from executor import snapshot
from legacy import LegacyBridge
from planner import (
    STAGES,
    Context,
    Diff,
    Difference,
    Outcome,
    PlanError,
    Stages,
    compare,
    compile_plan,
    legacy_inputs,
)

from ._input_files import read_input_file

__all__ = [
    "LegacyOutcome",
    "against_legacy",
    "against_tree",
    "crash_diff",
    "kernel_subtrees",
    "known_image",
    "legacy_outcome",
    "only_crashes",
]

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


def against_tree(
    ctx: Context, quirks: tuple[str, ...], target: Path, stages: Stages = STAGES
) -> Diff | str:
    """Compare with a tree file or a real scratch root directory; or an error text."""
    plan = compile_plan(ctx, quirks, stages=stages).unwrap()
    match _other_side(target):
        case Success((tree, reader)):
            other = Outcome(tree=kernel_subtrees(tree, ctx.kernel_id), content=reader)
            return compare(ctx, plan, other, quirks=quirks, stages=stages)
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
    stages: Stages = STAGES,
) -> tuple[Diff | None, LegacyOutcome]:
    """Run legacy on ``document`` and compare; ``None`` if the worker refused it.

    ``ctx`` plans, or every refusal of its plan is a ``crash`` (``only_crashes``):
    then the diff is empty exactly when legacy raises a predicted exception class.

    ``document`` is the completed context document (facts included); legacy gets
    its normalised inputs (``planner.legacy_inputs``), exactly what kplan planned.
    """
    reply = bridge.run(known_image({**document, **legacy_inputs(ctx)}, ctx))
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
    match compile_plan(moved, quirks, stages=stages):
        case Success(plan):
            diff = compare(
                moved, plan, legacy_outcome(reply), quirks=quirks, stages=stages
            )
        case Failure(errors):
            return crash_diff(errors, outcome.error), outcome
        case _:
            raise AssertionError("unreachable")  # returns#1361
    if outcome.error is not None:
        error = Difference(
            kind="legacy-error",
            path=str(outcome.error.get("step")),
            plan="planned without error",
            other=f"{outcome.error.get('type')}: {outcome.error.get('message')}",
        )
        diff = Diff(differences=(*diff.differences, error), normalised=diff.normalised)
    return diff, outcome


def only_crashes(errors: Sequence[PlanError]) -> bool:
    """True if every refusal predicts a legacy exception (nothing legacy would damage).

    Such a context may be run through legacy: the diff then checks that legacy
    raises what the plan predicts.
    """
    return all(error.code == "crash" for error in errors)


def crash_diff(errors: Sequence[PlanError], error: Mapping[str, object] | None) -> Diff:
    """The plan predicts legacy raises; the same if it raised one of the classes."""
    if not only_crashes(errors):
        msg = f"against_legacy got a context kplan refuses: {errors[0]}"
        raise ValueError(msg)
    predicted = {e.raises for e in errors}
    first = errors[0]
    if error is None:
        other = "ran without error"
    elif None in predicted or error.get("type") in predicted:
        return Diff(differences=(), normalised=())
    else:
        other = f"{error.get('type')}: {error.get('message')}"
    named = sorted(p for p in predicted if p is not None) or ["an exception"]
    plan = f"legacy raises {' or '.join(named)} ({first})"
    return Diff(
        differences=(
            Difference(kind="legacy-error", path=first.field, plan=plan, other=other),
        ),
        normalised=(),
    )


def known_image(document: dict[str, object], ctx: Context) -> dict[str, object]:
    """An image not known to be missing counts as present and current, as the plan
    has it (it pulls nothing; the executor looks again): legacy must be told."""
    facts = document.get("facts")
    if not isinstance(facts, dict) or facts.get("image_present") is not None:
        return document
    known = {"image_present": True, "image_id": ctx.image.digest}
    return {**document, "facts": {**facts, **known}}


def legacy_outcome(reply: Mapping[str, object]) -> Outcome:
    """What the worker's reply says legacy left, as ``compare`` takes it."""
    contents = reply.get("contents")
    environ = reply.get("environ")
    kernel = reply.get("kernel")
    ports = reply.get("service_ports")
    return Outcome(
        tree=tree_from_document(reply.get("tree")),
        content=_text_reader(contents if isinstance(contents, dict) else {}),
        create=_create(reply.get("create")),
        first_create=_create(reply.get("first_create")),
        environ=None
        if not isinstance(environ, list)
        else tuple((str(k), str(v)) for k, v in environ),
        service_ports=ports if isinstance(ports, list) else None,
        kernel=kernel if isinstance(kernel, dict) else None,
        kconfig=reply.get("kconfig"),
    )


def _create(value: object) -> tuple[str, object] | None:
    if not isinstance(value, dict):
        return None
    return str(value.get("name")), value.get("config")


def _list(reply: Mapping[str, object], key: str) -> list[object]:
    value = reply.get(key)
    return list(value) if isinstance(value, list) else []


def _at_root(ctx: Context, root: PurePosixPath) -> Context:
    container = attrs.evolve(ctx.local.container, scratch_root=str(root))
    local = attrs.evolve(ctx.local, container=container)
    facts = attrs.evolve(ctx.facts, scratch_root_resolved=str(root))
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
