"""``kplan graph``: the plan's dependency graph, of steps or of stages.

At the ``effect`` level the nodes are the steps and the edges the plan's own
(``planner._edges``: a step after the latest earlier steps on its paths, the
host's steps in one chain). At the ``stage`` level a stage depends on another when
one of its steps depends on one of the other's; each edge carries how many step
edges it stands for. Stages run in plan order and edges point forward, so the
stage graph is acyclic. A stage with no edge (the kernel record is data only) is
a node alone. Stages that are not built in (plugins) are drawn dashed.

Formats: DOT, Mermaid, JSON (``{"nodes", "edges"}``; at the stage level each edge
is ``[from, to, step_edges]``) and text (DOT for steps, one line per stage).
``svg`` renders the DOT with Graphviz's ``dot``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import orjson

from effects import Plan, describe, dumps
from planner import FIRST_RUN, STAGES, stage_names

__all__ = ["StageGraph", "render_graph", "render_svg", "stage_graph"]

BUILT_IN = frozenset(stage_names(STAGES))
SVG_TIMEOUT = 60.0


class StageGraph:
    """Stages in plan order, and which depends on which (with step-edge counts)."""

    def __init__(self, stages: list[str], edges: Counter[tuple[str, str]]) -> None:
        self.stages = stages
        self.edges = edges

    def depends_on(self, stage: str) -> list[str]:
        """The stages ``stage`` depends on, in plan order."""
        return [s for s in self.stages if (s, stage) in self.edges]


def stage_graph(plan: Plan) -> StageGraph:
    """The stage graph of ``plan`` (module docstring)."""
    stages = list(dict.fromkeys(step.stage for step in plan.steps))
    edges: Counter[tuple[str, str]] = Counter()
    for before, after in plan.edges:
        a, b = plan.steps[before].stage, plan.steps[after].stage
        if a != b:
            edges[a, b] += 1
    return StageGraph(stages, edges)


def _is_plugin(stage: str) -> bool:
    return stage.removeprefix(FIRST_RUN) not in BUILT_IN


def _quoted(text: str) -> str:
    return orjson.dumps(text).decode()


def render_graph(plan: Plan, level: str, fmt: str) -> bytes:
    """``plan``'s graph at ``level`` (``effect``/``stage``) in ``fmt``."""
    if level == "stage":
        return _stages(stage_graph(plan), fmt)
    return _steps(plan, fmt)


def _steps(plan: Plan, fmt: str) -> bytes:
    labels = [f"{i}: {s.stage}: {describe(s.effect)}" for i, s in enumerate(plan.steps)]
    if fmt == "json":
        document = {"nodes": labels, "edges": [list(edge) for edge in plan.edges]}
        return dumps(document)
    if fmt == "mermaid":
        lines = ["graph TD"] + [f"  s{i}[{_quoted(t)}]" for i, t in enumerate(labels)]
        lines += [f"  s{a} --> s{b}" for a, b in plan.edges]
        return ("\n".join(lines) + "\n").encode()
    lines = ["digraph plan {", "  rankdir=TB;"]
    lines += [f"  s{i} [label={_quoted(t)}];" for i, t in enumerate(labels)]
    lines += [f"  s{a} -> s{b};" for a, b in plan.edges]
    return ("\n".join([*lines, "}"]) + "\n").encode()


def _stages(graph: StageGraph, fmt: str) -> bytes:
    ids = {stage: f"n{i}" for i, stage in enumerate(graph.stages)}
    position = {stage: i for i, stage in enumerate(graph.stages)}
    ordered = sorted(
        graph.edges.items(),
        key=lambda item: (position[item[0][0]], position[item[0][1]]),
    )
    if fmt == "json":
        document = {
            "level": "stage",
            "nodes": graph.stages,
            "edges": [[a, b, count] for (a, b), count in ordered],
        }
        return dumps(document)
    if fmt == "mermaid":
        lines = ["graph TD"]
        lines += [f"  {ids[stage]}[{_quoted(stage)}]" for stage in graph.stages]
        lines += [f"  {ids[a]} --> {ids[b]}" for (a, b), _ in ordered]
        plugins = [ids[s] for s in graph.stages if _is_plugin(s)]
        if plugins:
            lines.append("  classDef plugin stroke-dasharray: 5 5")
            lines.append(f"  class {','.join(plugins)} plugin")
        return ("\n".join(lines) + "\n").encode()
    if fmt == "text":
        lines = []
        for stage in graph.stages:
            after = graph.depends_on(stage)
            mark = " (plugin)" if _is_plugin(stage) else ""
            tail = f" after {', '.join(after)}" if after else ""
            lines.append(f"{stage}{mark}{tail}")
        return ("\n".join(lines) + "\n").encode()
    lines = ["digraph stages {", "  rankdir=TB;", "  node [shape=box];"]
    for stage in graph.stages:
        style = ", style=dashed" if _is_plugin(stage) else ""
        lines.append(f"  {ids[stage]} [label={_quoted(stage)}{style}];")
    lines += [
        f'  {ids[a]} -> {ids[b]} [tooltip="{count} step edges"];'
        for (a, b), count in ordered
    ]
    return ("\n".join([*lines, "}"]) + "\n").encode()


def render_svg(plan: Plan, level: str, path: Path) -> str | None:
    """Render the DOT graph to ``path`` with Graphviz; why not, or ``None``."""
    dot = shutil.which("dot")
    if dot is None:
        return "--svg needs Graphviz's dot: apt-get install graphviz"
    source = render_graph(plan, level, "dot")
    try:
        done = subprocess.run(  # noqa: S603  (Graphviz found on PATH, our own DOT)
            [dot, "-Tsvg", "-o", str(path)],
            input=source,
            capture_output=True,
            timeout=SVG_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"dot took longer than {SVG_TIMEOUT:.0f} s"
    if done.returncode != 0:
        message = " ".join(done.stderr.decode(errors="replace").split())
        return f"dot exited {done.returncode}: {message}"
    return None
