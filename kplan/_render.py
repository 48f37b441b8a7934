"""Text renderings for humans: plans, trees, errors and diffs.

JSON output goes through the canonical encoders instead; these are for terminals.
Colour comes from rich, and only when the stream is a terminal (rich's own rules:
``NO_COLOR`` turns it off, ``FORCE_COLOR`` on); otherwise the text is exactly the
same without its styles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

import orjson

from effects import (
    AppendContainerId,
    CreateContainer,
    Effect,
    Plan,
    Tree,
    describe,
    thaw_object,
)
from effects.decoding import mode_text

from ._terminal import may_be_terminal

if TYPE_CHECKING:  # types only: rendering loads no planner, rich only for a terminal
    from rich.console import Console

    from planner import ContextError, Diff, PlanError

__all__ = ["Palette", "render_diff", "render_errors", "render_plan", "render_tree"]


class Palette:
    """rich styles for a stream, or none when it is not a colour terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._console: Console | None = None
        self.on = False
        if not may_be_terminal(stream):
            return  # rich left unimported: it would say no terminal
        from rich.console import Console  # noqa: PLC0415  (kplan._terminal)

        console = Console(file=stream, highlight=False, soft_wrap=True)
        self._console = console
        self.on = bool(
            console.is_terminal and console.color_system and not console.no_color
        )

    def paint(self, style: str, text: str) -> str:
        """``text`` in rich ``style`` (``"bold red"``) when colour is on."""
        if not self.on or not text or not style or self._console is None:
            return text
        from rich.text import Text  # noqa: PLC0415  (imported with the console)

        with self._console.capture() as captured:
            self._console.print(Text(text, style=style), end="")
        return captured.get()


def render_plan(plan: Plan) -> str:
    """The plan header, one line per step and the blob sizes."""
    header = plan.header
    lines = [
        f"plan {header.plan_id}",
        (
            f"kernel {header.kernel_id} in {header.scratch_root}"
            f" (applied as {header.run_as_uid}:{header.run_as_gid})"
        ),
        (
            f"{len(plan.steps)} steps, {len(plan.blobs)} blobs"
            f" ({sum(len(b.data) for b in plan.blobs)} bytes), {len(plan.edges)} edges"
        ),
        "",
    ]
    width = max((len(step.stage) for step in plan.steps), default=0)
    for index, step in enumerate(plan.steps):
        lines.append(f"{index:3d}  {step.stage:<{width}}  {describe(step.effect)}")
        lines += _details(step.effect, " " * (width + 7))
    return "\n".join(lines) + "\n"


def _details(effect: Effect, indent: str) -> list[str]:
    """What one line cannot hold: the whole create body; what only apply knows."""
    match effect:
        case CreateContainer(config=config):
            body = orjson.dumps(thaw_object(config), option=orjson.OPT_INDENT_2)
            return [f"{indent}{line}" for line in body.decode().splitlines()]
        case AppendContainerId(path=path):
            note = (
                f"{indent}appends 'CID=<id>' to {path}: the id is Docker's answer to "
                "the create, known only when the plan is applied"
            )
            return [note]
        case _:
            return []


def render_tree(tree: Tree) -> str:
    """One line per entry: mode, owner, type, size and path."""
    lines = []
    for path, node in tree.entries:
        size = (
            "volatile"
            if node.volatile
            else ("" if node.size is None else str(node.size))
        )
        lines.append(
            f"{mode_text(node.mode):>7} {node.uid:>5}:{node.gid:<5} "
            f"{node.type:<7} {size:>8}  {path}"
        )
    return "\n".join(lines) + "\n"


def render_errors(errors: Iterable[PlanError | ContextError]) -> str:
    """Every refusal, one per line."""
    items = list(errors)
    lines = [f"kplan: refused, {len(items)} problem{'s' if len(items) != 1 else ''}:"]
    lines += [f"  - {error}" for error in items]
    return "\n".join(lines) + "\n"


_MARKS = {"only-in-plan": "+", "only-in-other": "-"}


def render_diff(diff: Diff, palette: Palette, other: str) -> str:
    """A readable diff with a summary line of counts."""
    lines = []
    for item in diff.differences:
        mark = _MARKS.get(item.kind, "~")
        colour = {"+": "green", "-": "red"}.get(mark, "yellow")
        label = f"  [explained by quirk {item.quirk}]" if item.quirk else ""
        values = f"plan={item.plan or '(absent)'}  {other}={item.other or '(absent)'}"
        lines.append(
            palette.paint(f"bold {colour}", f"{mark} {item.kind:<16} {item.path}")
            + f"\n      {values}"
            + palette.paint("cyan", label)
        )
        if item.detail:
            lines += [
                f"      {palette.paint(_detail_style(line), line)}"
                for line in item.detail.rstrip("\n").split("\n")
            ]
    lines += [palette.paint("dim", f"  note: {note}") for note in diff.normalised]
    summary = _summary(diff, other)
    lines.append(palette.paint("bold green" if diff.same else "bold", summary))
    return "\n".join(lines) + "\n"


def _detail_style(line: str) -> str:
    """A unified diff's colours: added green, removed red, hunk headers cyan."""
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return "cyan" if line.startswith("@@") else ""


def _summary(diff: Diff, other: str) -> str:
    if diff.same:
        return f"no differences between the plan and {other}"
    counts = Counter(item.kind for item in diff.differences)
    explained = sum(1 for item in diff.differences if item.quirk)
    parts = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    tail = f" ({explained} explained by enabled quirks)" if explained else ""
    return f"{len(diff.differences)} differences from {other}: {parts}{tail}"
