"""The planning commands: plan, expect, graph, diff and demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from returns.result import Failure, Success

from effects import Plan, dumps, encode, encode_tree
from legacy import (
    LegacyBridge,
    LegacyUnavailableError,
    WorkerError,
    legacy_runner_dir,
)
from planner import Context, Diff, compile_plan, context_from_document, expected_tree

from ._against import LegacyOutcome, against_legacy, against_tree, only_crashes
from ._completion import (
    Refusal,
    compile_document,
    complete_document,
    known_stages,
    refusals,
)
from ._exit import Exit
from ._graph import render_graph, render_svg
from ._load import load_document
from ._render import Palette, render_diff, render_errors, render_plan, render_tree
from ._runner_location import SAMPLE_KERNEL

__all__ = ["demo", "diff", "expect", "graph", "plan"]


def _compiled(args: argparse.Namespace) -> tuple[Context, Plan] | int:
    """Load and compile the context, or report why not (exit code)."""
    match (
        load_document(args.context)
        .alt(refusals)
        .bind(lambda doc: compile_document(doc, args.quirk, docker_url=args.docker))
    ):
        case Success((ctx, plan)):
            for note in ctx.notes:
                sys.stderr.write(f"kplan: note: {note}\n")
            return ctx, plan
        case Failure(errors):
            return _refused(args, errors)
        case _:
            raise AssertionError("unreachable")  # returns#1361


def _refused(args: argparse.Namespace, errors: Sequence[Refusal]) -> int:
    sys.stderr.write(render_errors(errors))
    if args.format == "json":
        document = {"ok": False, "errors": [_error_json(error) for error in errors]}
        sys.stdout.buffer.write(dumps(document))
    return Exit.ERROR


def _error_json(error: object) -> dict[str, object]:
    fields = ("stage", "code", "field", "value", "reason")
    return {name: getattr(error, name) for name in fields if hasattr(error, name)}


def plan(args: argparse.Namespace) -> int:
    """``kplan plan CTX [--format text|json] [-o PLAN]``."""
    compiled = _compiled(args)
    if isinstance(compiled, int):
        return compiled
    _, result = compiled
    if args.output is not None:
        args.output.write_bytes(encode(result))
    if args.format == "json":
        sys.stdout.buffer.write(encode(result))
    else:
        sys.stdout.write(render_plan(result))
    return Exit.OK


def expect(args: argparse.Namespace) -> int:
    """``kplan expect CTX``: the tree the plan leaves, from the facts' starting tree."""
    compiled = _compiled(args)
    if isinstance(compiled, int):
        return compiled
    tree = expected_tree(*compiled)
    if args.format == "json":
        sys.stdout.buffer.write(encode_tree(tree))
    else:
        sys.stdout.write(render_tree(tree))
    return Exit.OK


def graph(args: argparse.Namespace) -> int:
    """``kplan graph CTX [--level effect|stage] [--format dot|mermaid|json|text]
    [--svg FILE]``: the steps or the stages, and their dependency edges."""
    compiled = _compiled(args)
    if isinstance(compiled, int):
        return compiled
    _, result = compiled
    if args.svg is not None and (why := render_svg(result, args.level, args.svg)):
        sys.stderr.write(f"kplan: {why}\n")
        return Exit.ERROR
    sys.stdout.buffer.write(render_graph(result, args.level, args.format))
    return Exit.OK


def diff(args: argparse.Namespace) -> int:
    """``kplan diff CTX --against legacy|TREE.json|DIR``."""
    if args.against == "legacy":
        return _diff_legacy(args)
    compiled = _compiled(args)
    if isinstance(compiled, int):
        return compiled
    ctx, _ = compiled
    stages = known_stages().unwrap()  # _compiled placed them already
    result = against_tree(ctx, tuple(args.quirk), Path(args.against), stages)
    if isinstance(result, str):
        sys.stderr.write(f"kplan: {result}\n")
        return Exit.ERROR
    return _show_diff(args, result, None, args.against)


def _diff_legacy(args: argparse.Namespace) -> int:
    try:
        with LegacyBridge() as bridge:
            return _diff_with(args, bridge)
    except (LegacyUnavailableError, WorkerError) as exc:
        sys.stderr.write(f"kplan: the legacy code is not available: {exc}\n")
        return Exit.ERROR


def _diff_with(args: argparse.Namespace, bridge: LegacyBridge) -> int:
    runner = legacy_runner_dir()
    assert runner is not None  # noqa: S101  (the bridge built the venv)
    match known_stages():
        case Failure(errors):
            return _refused(args, errors)
        case Success(stages):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    loaded = (
        load_document(args.context)
        .alt(refusals)
        .bind(lambda doc: complete_document(doc, runner=runner, docker_url=args.docker))
    )
    match loaded.bind(lambda doc: context_from_document(doc).alt(list)):
        case Failure(errors):
            return _refused(args, errors)
        case Success(ctx):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    refused = compile_plan(ctx, args.quirk, stages=stages)
    if isinstance(refused, Failure) and not only_crashes(refused.failure()):
        return _refused(args, list(refused.failure()))
    result, outcome = against_legacy(
        ctx, loaded.unwrap(), tuple(args.quirk), bridge, stages
    )
    if result is None:
        sys.stderr.write(
            f"kplan: the legacy worker refused the context: {outcome.refused}\n"
        )
        return Exit.ERROR
    return _show_diff(args, result, outcome, "legacy")


def _show_diff(
    args: argparse.Namespace, result: Diff, outcome: LegacyOutcome | None, other: str
) -> int:
    if args.format == "json":
        document: dict[str, object] = {
            "same": result.same,
            "differences": [_difference_json(item) for item in result.differences],
            "normalised": list(result.normalised),
        }
        if outcome is not None:
            document["legacy"] = {"error": outcome.error, "logs": outcome.logs}
        sys.stdout.buffer.write(dumps(document))
    else:
        if outcome is not None:
            for line in outcome.logs:
                sys.stderr.write(f"legacy log: {line}\n")
        sys.stdout.write(render_diff(result, Palette(sys.stdout), other))
    return Exit.OK if result.same else Exit.DIFFERENT


def _difference_json(item: object) -> dict[str, object]:
    fields = ("kind", "path", "plan", "other", "quirk", "detail")
    return {name: getattr(item, name) for name in fields}


def demo(args: argparse.Namespace) -> int:
    """Plan the sample kernel, show its plan and tree, and diff it against legacy."""
    sample = argparse.Namespace(
        context=SAMPLE_KERNEL, quirk=[], format="text", output=None, docker=None
    )
    out = sys.stdout
    out.write(f"== the sample kernel: {SAMPLE_KERNEL}\n\n== its plan\n")
    if (code := plan(sample)) != Exit.OK:
        return code
    out.write("\n== the scratch tree it leaves (kplan expect)\n")
    expect(sample)
    out.write(
        "\n== the same kernel against the real legacy code (diff --against legacy)\n"
    )
    out.flush()
    try:
        with LegacyBridge() as bridge:
            return _diff_with(
                argparse.Namespace(**{**vars(sample), "format": args.format}), bridge
            )
    except LegacyUnavailableError as exc:
        out.write(f"legacy comparison NOT run: {exc}\n")
        return Exit.OK
