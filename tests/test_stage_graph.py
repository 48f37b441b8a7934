"""``kplan graph --level stage``: which stage depends on which, from the step edges."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from kplan._graph import stage_graph
from planner import compile_plan

from .commands import kplan
from .contexts import context
from .test_cli import context_file


def test_stage_edges_are_the_step_edges_between_stages_and_point_forward() -> None:
    plan = compile_plan(context()).unwrap()
    graph = stage_graph(plan)
    assert graph.stages == list(dict.fromkeys(s.stage for s in plan.steps))
    position = {stage: i for i, stage in enumerate(graph.stages)}
    crossing = [
        (plan.steps[a].stage, plan.steps[b].stage)
        for a, b in plan.edges
        if plan.steps[a].stage != plan.steps[b].stage
    ]
    assert sum(graph.edges.values()) == len(crossing)
    for (before, after), count in graph.edges.items():
        assert position[before] < position[after]  # acyclic: plan order
        assert count == crossing.count((before, after))
    # the container's create observes every path: it depends on the scratch
    assert "scratch" in graph.depends_on("container")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("dot", ["digraph stages {", 'n0 [label="scratch"];', " -> "]),
        ("mermaid", ["graph TD", '  n0["scratch"]', " --> "]),
        ("text", ["scratch\n", "container after scratch"]),
    ],
)
def test_stage_graph_formats(tmp_path: Path, fmt: str, expected: list[str]) -> None:
    done = kplan(
        "graph", str(context_file(tmp_path)), "--level", "stage", "--format", fmt
    )
    assert done.returncode == 0, done.stderr
    for piece in expected:
        assert piece in done.stdout


def test_stage_graph_json_names_stages_and_counts(tmp_path: Path) -> None:
    done = kplan(
        "graph", str(context_file(tmp_path)), "--level", "stage", "--format", "json"
    )
    graph = orjson.loads(done.stdout)
    assert graph["level"] == "stage"
    assert graph["nodes"][0] == "scratch"
    assert all(
        a in graph["nodes"] and b in graph["nodes"] for a, b, _ in graph["edges"]
    )
    assert all(isinstance(count, int) and count > 0 for *_, count in graph["edges"])


def test_the_effect_level_is_the_default_and_unchanged(tmp_path: Path) -> None:
    ctx = str(context_file(tmp_path))
    default = kplan("graph", ctx, "--format", "json").stdout
    assert (
        default == kplan("graph", ctx, "--level", "effect", "--format", "json").stdout
    )
    graph = orjson.loads(default)
    assert set(graph) == {"nodes", "edges"}
    assert graph["nodes"][0].startswith("0: scratch: mkdir ")


def test_svg_is_rendered_with_graphviz(tmp_path: Path) -> None:
    svg = tmp_path / "stages.svg"
    done = kplan(
        "graph", str(context_file(tmp_path)), "--level", "stage", "--svg", str(svg)
    )
    assert done.returncode == 0, done.stderr
    text = svg.read_text()
    assert text.startswith("<?xml")
    assert "<svg" in text
    assert ">container</text>" in text


def test_svg_without_graphviz_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    svg = tmp_path / "stages.svg"
    done = kplan(
        "graph",
        str(context_file(tmp_path)),
        "--svg",
        str(svg),
        env={"PATH": str(empty)},
    )
    assert done.returncode == 1
    assert (
        done.stderr == "kplan: --svg needs Graphviz's dot: apt-get install graphviz\n"
    )
    assert not svg.exists()
