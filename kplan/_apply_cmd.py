"""``kplan apply`` and ``kplan rollback``: the executor from the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from returns.result import Failure, Result, Success

from effects import Plan, Step, Tree, describe, dumps, tree_from_document
from executor import (
    ApplyFailed,
    ApplyOptions,
    ApplyReport,
    apply_plan,
    default_tools,
    model_apply,
    rollback_journal,
    scratch_facts,
)
from planner import scratch_only

from ._completion import compile_document, runner_dir
from ._exit import Exit
from ._load import load_document, load_plan
from ._render import render_errors

__all__ = ["apply", "journal_path", "rollback"]


def journal_path(plan: Plan) -> Path:
    """``$XDG_STATE_HOME/kplan/journals/<kernel>-<plan>-<time>.jsonl``: never reused."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    plan_part = plan.header.plan_id[:12]
    name = f"{plan.header.kernel_id}-{plan_part}-{stamp}-{os.getpid()}.jsonl"
    return Path(state) / "kplan" / "journals" / name


def _plan_and_before(args: argparse.Namespace) -> tuple[Plan, Tree] | int:
    """The plan (from a context or a plan file) and the tree it starts from."""
    match load_document(args.target):
        case Failure(error):
            sys.stderr.write(render_errors([error]))
            return Exit.ERROR
        case Success(document):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    if "steps" in document and "header" in document:
        return _from_plan_file(args.target)
    match compile_document(document, args.quirk, docker_url=args.docker):
        case Success((ctx, plan)):
            pass
        case Failure(errors):
            sys.stderr.write(render_errors(errors))
            return Exit.ERROR
        case _:
            raise AssertionError("unreachable")  # returns#1361
    if args.docker is None:
        plan = scratch_only(plan)  # without Docker only the scratch can be applied
    return plan, ctx.facts.scratch_tree


def _from_plan_file(path: Path) -> tuple[Plan, Tree] | int:
    match load_plan(path):
        case Success(plan):
            root = Path(str(plan.header.scratch_root))
            entries, _ = scratch_facts(root, plan.header.kernel_id)
            return plan, tree_from_document(entries)
        case Failure(error):
            sys.stderr.write(f"kplan: {path}: invalid plan: {error}\n")
            return Exit.ERROR
        case _:
            raise AssertionError("unreachable")  # returns#1361


def apply(args: argparse.Namespace) -> int:
    """``kplan apply CTX|PLAN [--dry-run] [--journal J] [--docker URL] [--durable]``."""
    loaded = _plan_and_before(args)
    if isinstance(loaded, int):
        return loaded
    plan, before = loaded
    result: Result[ApplyReport, ApplyFailed | str]
    if args.dry_run:
        result = model_apply(plan, before)
    else:
        options = ApplyOptions(
            journal=args.journal or journal_path(plan),
            tools=default_tools(runner_dir()),
            docker_url=args.docker,
            durable=args.durable,
            on_step=_progress(plan),
        )
        result = asyncio.run(apply_plan(plan, options))
    match result:
        case Success(report):
            _show_report(args, report)
            return Exit.OK
        case Failure(failure):
            _show_failure(args, failure)
            return Exit.ERROR
        case _:
            raise AssertionError("unreachable")  # returns#1361


def _progress(plan: Plan) -> Callable[[int, Step], None] | None:
    if not sys.stderr.isatty():
        return None
    total = len(plan.steps)

    def show(index: int, step: Step) -> None:
        bar = "#" * (20 * (index + 1) // total)
        line = (
            f"\r[{bar:<20}] {index + 1}/{total} {step.stage}: {describe(step.effect)}"
        )
        sys.stderr.write(line[:120].ljust(120))
        if index + 1 == total:
            sys.stderr.write("\n")

    return show


def _show_report(args: argparse.Namespace, report: ApplyReport) -> None:
    if args.format == "json":
        sys.stdout.buffer.write(dumps(_report_document(report)))
        return
    kind = "modelled (dry run)" if report.dry_run else "applied"
    summary = f"{len(report.steps)} steps in {report.seconds * 1000:.1f} ms"
    lines = [f"{kind}: plan {report.plan_id}, {summary}"]
    lines += [
        f"  {stage:<16} {seconds * 1000:8.2f} ms" for stage, seconds in report.stages
    ]
    if report.container_id:
        lines.append(f"container {report.container_id}")
    if report.journal:
        lines.append(
            f"journal {report.journal} (undo it with: kplan rollback {report.journal})"
        )
    sys.stdout.write("\n".join(lines) + "\n")


def _report_document(report: ApplyReport) -> dict[str, object]:
    return {
        "ok": True,
        "plan_id": report.plan_id,
        "dry_run": report.dry_run,
        "journal": report.journal or None,
        "seconds": report.seconds,
        "container_id": report.container_id,
        "stages": [{"stage": s, "seconds": t} for s, t in report.stages],
        "steps": [
            {
                "index": s.index,
                "stage": s.stage,
                "effect": s.effect,
                "outcome": s.outcome,
                "seconds": s.seconds,
            }
            for s in report.steps
        ],
    }


def _show_failure(args: argparse.Namespace, failure: ApplyFailed | str) -> None:
    sys.stderr.write(f"kplan: apply failed: {failure}\n")
    if args.format != "json":
        return
    if isinstance(failure, str):
        document: dict[str, object] = {"ok": False, "cause": failure}
    else:
        document = {
            "ok": False,
            "index": failure.index,
            "stage": failure.stage,
            "effect": failure.effect,
            "cause": failure.cause,
            "journal": failure.journal,
            "rollback": {
                "complete": failure.rollback.complete,
                "undone": failure.rollback.undone,
                "failures": [str(f) for f in failure.rollback.failures],
            },
        }
    sys.stdout.buffer.write(dumps(document))


def rollback(args: argparse.Namespace) -> int:
    """``kplan rollback JOURNAL [--docker URL]``: undo what the journal's apply did."""
    try:
        outcome = asyncio.run(
            rollback_journal(args.journal, default_tools(runner_dir()), args.docker)
        )
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"kplan: cannot roll back {args.journal}: {exc}\n")
        return Exit.ERROR
    if args.format == "json":
        document = {
            "complete": outcome.complete,
            "undone": outcome.undone,
            "failures": [str(f) for f in outcome.failures],
        }
        sys.stdout.buffer.write(
            orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE)
        )
    else:
        state = "complete" if outcome.complete else "INCOMPLETE"
        sys.stdout.write(f"rollback {state}: {outcome.undone} steps undone\n")
        for failure in outcome.failures:
            sys.stderr.write(f"  {failure}\n")
    return Exit.OK if outcome.complete else Exit.ERROR
