"""``kplan``: plan, expect, graph, diff, snapshot, apply, rollback, demo.

Exit codes (documented in the README): 0 ok or no difference, 1 error or refused
input, 2 differences found, 130 and 143 an apply stopped by SIGINT or SIGTERM (and
rolled back). JSON goes to stdout as one document; messages go to
stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from planner import QUIRKS

from ._exit import Exit

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kplan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("plan", "compile a context into a plan"),
        ("expect", "the scratch tree the plan leaves"),
        ("graph", "the plan's steps or stages and their dependency edges"),
    ):
        command = commands.add_parser(name, help=help_text)
        _context_arguments(command)
        if name == "plan":
            command.add_argument(
                "-o", "--output", type=Path, help="write the plan JSON here"
            )
        if name == "graph":
            command.add_argument(
                "--level",
                choices=("effect", "stage"),
                default="effect",
                help="nodes are steps (effect) or stages, which depend on each other "
                "when their steps do",
            )
            command.add_argument(
                "--svg", type=Path, help="also render the graph to this SVG (Graphviz)"
            )

    diff = commands.add_parser("diff", help="compare the plan's outcome with another")
    _context_arguments(diff)
    diff.add_argument(
        "--against",
        required=True,
        help="'legacy', a tree JSON file, or a scratch root directory",
    )
    shot = commands.add_parser("snapshot", help="a real directory's tree")
    shot.add_argument("directory", type=Path)
    _format(shot)
    demo = commands.add_parser("demo", help="plan, expect and diff the built-in sample")
    _format(demo)
    apply = commands.add_parser("apply", help="apply a context or a plan file")
    apply.add_argument(
        "target", type=Path, help="a context file, a plan file, or 'sample'"
    )
    apply.add_argument("--quirk", action="append", default=[], choices=sorted(QUIRKS))
    apply.add_argument("--dry-run", action="store_true", help="apply to the pure model")
    apply.add_argument("--journal", type=Path, help="where to write the journal")
    where = apply.add_mutually_exclusive_group()
    where.add_argument(
        "--docker",
        help="Docker endpoint for the container (default: DOCKER_HOST, else "
        "unix:///var/run/docker.sock)",
    )
    where.add_argument(
        "--scratch-only",
        action="store_true",
        help="apply only the filesystem stages: no container, no host ports",
    )
    apply.add_argument(
        "--durable",
        action="store_true",
        help="fsync the journal and files per effect (power-loss safety)",
    )
    _metrics(apply)
    _format(apply)
    undo = commands.add_parser("rollback", help="undo an apply from its journal")
    undo.add_argument("journal", type=Path)
    undo.add_argument("--docker", help="Docker endpoint (default: the journal's)")
    undo.add_argument(
        "--force",
        action="store_true",
        help="also put back paths changed since the apply (their changes are lost)",
    )
    undo.add_argument(
        "--durable",
        action="store_true",
        help="fsync the journal and restored files per undo (power-loss safety)",
    )
    _metrics(undo)
    _format(undo)
    return parser


def _metrics(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--metrics",
        type=Path,
        metavar="FILE",
        help="write Prometheus metrics (per stage and effect: durations, outcomes) "
        "to FILE in the text exposition format",
    )


def _format(
    command: argparse.ArgumentParser, choices: Sequence[str] = ("text", "json")
) -> None:
    command.add_argument("--format", choices=choices, default=choices[0])


def _context_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "context",
        type=Path,
        help="context file ('sample' for the built-in sample kernel)",
    )
    command.add_argument(
        "--quirk",
        action="append",
        default=[],
        choices=sorted(QUIRKS),
        help="turn on a named fix of a legacy defect (repeatable)",
    )
    command.add_argument(
        "--docker",
        help="read Docker's facts (image, volumes, free host ports) from this "
        "endpoint; without it the image counts as unknown and the whole port "
        "range as free",
    )
    graph = command.prog.endswith("graph")
    _format(command, ("text", "json", "dot", "mermaid") if graph else ("text", "json"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one kplan command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return _handler(args.command)(args)
    except KeyboardInterrupt:  # outside an apply, which rolls back and says so itself
        sys.stderr.write("\nkplan: interrupted\n")
        return Exit.INTERRUPTED


# Where each command's handler lives: imported when it runs, so that planning
# does not load the apply machinery (the journal, Docker, Prometheus) and a
# rollback loads no planner, bridge or terminal renderer.
_HANDLERS = {
    "plan": "._commands",
    "expect": "._commands",
    "graph": "._commands",
    "diff": "._commands",
    "demo": "._commands",
    "apply": "._apply_cmd",
    "rollback": "._rollback_cmd",
    "snapshot": "._snapshot_cmd",
}


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module = importlib.import_module(_HANDLERS[command], __package__)
    handler: Callable[[argparse.Namespace], int] = getattr(module, command)
    return handler


if __name__ == "__main__":
    raise SystemExit(main())
