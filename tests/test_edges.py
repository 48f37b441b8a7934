"""Dependency edges: the ordering rule's covering relation, linear in the steps.

``planner._edges`` emits only the edges not implied by others. Their transitive
closure must be exactly the rule's (checked against its quadratic definition, kept
here as the oracle), and their number must grow linearly with the plan (issue 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath as P

from hypothesis import given
from hypothesis import strategies as st

from effects import (
    EMPTY,
    AppendContainerId,
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
    WriteFile,
    blob_of,
    is_container_effect,
)
from planner import compile_plan
from planner._edges import edges_of, paths_of

from .contexts import context

BLOB = blob_of(b"x").digest
DOTFILES = "kernel_config.internal_data.dotfiles"


def _rule(steps: Sequence[Step]) -> set[tuple[int, int]]:
    """The ordering rule as first written: an edge from the latest earlier step on
    every related path (quadratic), the host chain, and Create after everything."""
    edges: set[tuple[int, int]] = set()
    last: dict[P, int] = {}
    host = None
    for index, step in enumerate(steps):
        effect = step.effect
        for path in paths_of(effect):
            edges.update(
                (before, index)
                for other, before in last.items()
                if other == path or other in path.parents or path in other.parents
            )
        if isinstance(effect, CreateContainer):
            edges.update((before, index) for before in last.values())
        if is_container_effect(effect):
            if host is not None:
                edges.add((host, index))
            host = index
        for path in paths_of(effect):
            last[path] = index
    return edges


def _closure(count: int, edges: set[tuple[int, int]]) -> list[set[int]]:
    after: list[set[int]] = [set() for _ in range(count)]
    for before, later in edges:
        after[before].add(later)
    reach: list[set[int]] = [set() for _ in range(count)]
    for index in reversed(range(count)):
        for later in after[index]:
            reach[index] |= {later, *reach[later]}
    return reach


PATHS = st.lists(st.sampled_from("abc"), min_size=1, max_size=4).map(
    lambda parts: P(*parts)
)


@st.composite
def _effects(draw: st.DrawFn) -> Effect:
    path = draw(PATHS)
    choices: list[Effect] = [
        MakeDir(path=path, mode=0o755),
        WriteFile(path=path, blob=BLOB, mode=0o644),
        Chmod(path=path, mode=0o600),
        Chown(path=path, uid=1, gid=None),
        GenerateHostKey(path=path, kind="rsa", bits=1024),
        MountScratch(
            kind="loopfile",
            path=path,
            size=1 << 20,
            image=P(f"{path.parts[0]}.img"),
            image_mode=0o644,
        ),
        AppendContainerId(path=path, name="c"),
        CreateContainer(name="c", config=EMPTY),
        PullImage(ref="r", digest=None),
        StartContainer(name="c"),
    ]
    return draw(st.sampled_from(choices))


@given(st.lists(_effects(), max_size=30))
def test_the_edges_order_steps_exactly_as_the_rule_does(effects: list[Effect]) -> None:
    steps = [Step(stage="s", effect=effect) for effect in effects]
    edges = edges_of(steps)
    rule = _rule(steps)
    assert set(edges) <= rule  # only edges the rule has
    assert _closure(len(steps), set(edges)) == _closure(len(steps), rule)
    assert edges == sorted(set(edges))


def test_edges_link_paths_to_their_parents_and_containers_to_everything() -> None:
    steps = [
        Step(stage="s", effect=effect)
        for effect in (
            MakeDir(path=P("k"), mode=0o755),
            MakeDir(path=P("x"), mode=0o755),
            WriteFile(path=P("k/f"), blob=BLOB, mode=0o644),
            CreateContainer(name="c", config=EMPTY),
            StartContainer(name="c"),
        )
    ]
    edges = set(edges_of(steps))
    reach = _closure(len(steps), edges)
    assert (0, 2) in edges
    assert 2 not in reach[1]  # disjoint subtrees are independent
    assert all(3 in reach[index] for index in range(3))  # the create sees them all
    assert (3, 4) in edges
    assert (0, 3) not in edges  # implied by (0, 2) and (2, 3)


def _dotfiles(count: int, depth: int) -> list[dict[str, str]]:
    inner = "/".join(f"p{level}" for level in range(depth - 1))
    return [
        {
            "path": f".cfg/d{index % 7}/{inner}/f{index}".replace("//", "/"),
            "perm": "640",
        }
        | {"data": f"x={index}"}
        for index in range(count)
    ]


def test_a_plan_has_at_most_two_edges_per_step_however_many_dotfiles() -> None:
    # The rule relates every chmod of .cfg to every file below it: quadratic edges;
    # its covering relation stays linear.
    for count, depth in ((10, 1), (300, 1), (30, 20)):
        plan = compile_plan(context(**{DOTFILES: _dotfiles(count, depth)})).unwrap()
        assert len(plan.edges) <= 2 * len(plan.steps), (count, depth)


def test_a_path_three_hundred_deep_plans_with_linear_edges() -> None:
    plan = compile_plan(context(**{DOTFILES: _dotfiles(1, 300)})).unwrap()
    assert len(plan.steps) > 300  # a mkdir per level, its mode and owner folded in
    assert len(plan.edges) <= 2 * len(plan.steps)
