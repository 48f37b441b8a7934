"""Properties of the planner over generated contexts (issue 3, item 7)."""

from __future__ import annotations

import copy
from pathlib import PurePosixPath
from typing import Any

from hypothesis import given

from effects import MakeDir, MountScratch, Tree, WriteFile, encode, project
from planner import context_from_document
from planner._edges import paths_of

from .applying import HOST, RUNNER, planned
from .strategies import context_documents

DOCUMENTS = context_documents(
    HOST, RUNNER, scratch_types=("hostdir", "memory", "hostfile")
)


def _plan(document: dict[str, Any]) -> Any:
    ctx = context_from_document(copy.deepcopy(document)).unwrap()
    return ctx, planned(ctx)


@given(DOCUMENTS)
def test_planning_is_deterministic(document: dict[str, Any]) -> None:
    _, first = _plan(document)
    _, second = _plan(document)
    assert encode(first) == encode(second)


@given(DOCUMENTS)
def test_every_path_is_inside_the_kernels_part_of_the_scratch_root(
    document: dict[str, Any],
) -> None:
    ctx, plan = _plan(document)
    allowed = {ctx.kernel_id, f"{ctx.kernel_id}_tmp", f"{ctx.kernel_id}.img"}
    for step in plan.steps:
        for path in paths_of(step.effect):
            assert not path.is_absolute()
            assert ".." not in path.parts
            assert path.parts[0] in allowed


@given(DOCUMENTS)
def test_parents_are_created_before_children(document: dict[str, Any]) -> None:
    ctx, plan = _plan(document)
    present = {
        path for path, node in ctx.facts.scratch_tree.entries if node.type == "dir"
    }
    for step in plan.steps:
        effect = step.effect
        if isinstance(effect, MakeDir | WriteFile | MountScratch):
            parent = effect.path.parent
            assert parent == PurePosixPath() or parent in present, step
        if isinstance(effect, MakeDir):
            present.add(effect.path)


@given(DOCUMENTS)
def test_projecting_a_valid_context_never_fails(document: dict[str, Any]) -> None:
    ctx, plan = _plan(document)
    tree = project(plan, ctx.facts.scratch_tree).unwrap()
    assert isinstance(tree, Tree)
    assert ctx.kernel_id in {str(path) for path, _ in tree.entries}
