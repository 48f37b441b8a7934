"""``kplan diff`` as a pure function: a compiled plan against another outcome.

The other side is a tree (from the legacy worker, a tree file or a snapshot), a way
to read its small files back, and, for legacy, its container-config fragments.
Differences on paths an enabled quirk changes are labelled with the quirk, found by
planning the same context with and without each quirk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath

from returns.result import Success

from effects import Plan, Tree, project

from ._compile import FIRST_RUN, compile_plan
from ._context import Context
from ._diff import Diff, diff_json, diff_trees
from ._docker_merge import fragments_of

__all__ = [
    "compare",
    "container_fragments",
    "expected_tree",
    "plan_reader",
    "quirk_labels",
]


def expected_tree(ctx: Context, plan: Plan) -> Tree:
    """The tree ``plan`` leaves on the facts' scratch (compiled plans project)."""
    return project(plan, ctx.facts.scratch_tree).unwrap()


def plan_reader(
    ctx: Context, plan: Plan, tree: Tree
) -> Callable[[PurePosixPath], bytes | None]:
    """Read back the content the plan (or the facts) leave at a path."""
    known = {**ctx.facts.content_table, **plan.blob_table}

    def read(path: PurePosixPath) -> bytes | None:
        node = tree.nodes.get(path)
        return None if node is None or node.sha256 is None else known.get(node.sha256)

    return read


def quirk_labels(ctx: Context, quirks: Iterable[str]) -> dict[str, str]:
    """Path -> the enabled quirk that changes what the plan leaves there."""
    enabled = sorted(set(quirks))
    if not enabled:
        return {}
    baseline = _tree_with(ctx, ())
    labels: dict[str, str] = {}
    for quirk in enabled:
        changed = _tree_with(ctx, (quirk,))
        if baseline is None or changed is None:
            continue
        for path in set(baseline.nodes) | set(changed.nodes):
            if baseline.nodes.get(path) != changed.nodes.get(path):
                labels.setdefault(str(path), quirk)
    return labels


def _tree_with(ctx: Context, quirks: tuple[str, ...]) -> Tree | None:
    match compile_plan(ctx, quirks):
        case Success(plan):
            return expected_tree(ctx, plan)
        case _:
            return None


def compare(
    ctx: Context,
    plan: Plan,
    other: Tree,
    *,
    other_content: Callable[[PurePosixPath], bytes | None],
    other_fragments: list[object] | None = None,
    quirks: Iterable[str] = (),
) -> Diff:
    """Every difference between what ``plan`` leaves and ``other``."""
    tree = expected_tree(ctx, plan)
    labels: Mapping[str, str] = quirk_labels(ctx, quirks)
    result = diff_trees(
        tree,
        other,
        plan_content=plan_reader(ctx, plan, tree),
        other_content=other_content,
        quirks=labels,
    )
    if other_fragments is None:
        return result
    config = diff_json(container_fragments(plan), other_fragments)
    return Diff(
        differences=result.differences + tuple(config), normalised=result.normalised
    )


def container_fragments(plan: Plan) -> list[dict[str, object]]:
    """Legacy's ``ctx.container_configs`` for ``plan``, in append order.

    A restart planned after its first run (``first-run/`` stages) has the fragments
    of the restart only, as legacy's restarted context does.
    """
    return fragments_of(
        [s.effect for s in plan.steps if not s.stage.startswith(FIRST_RUN)]
    )
