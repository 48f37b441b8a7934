"""``kplan rollback``: undo an apply from its journal.

Apart from ``kplan apply``, so that undoing loads neither the planner nor the
context's completion: only the journal's reader and the undo (``executor``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson
from returns.result import Failure, Success

from executor import RollbackOutcome, default_tools, rollback_journal

from ._exit import Exit
from ._metrics_file import metrics_target, write_metrics
from ._runner_location import runner_dir

__all__ = ["outcome_document", "rollback"]


def rollback(args: argparse.Namespace) -> int:
    """``kplan rollback JOURNAL [--docker URL] [--force] [--durable]``: undo a
    journal's apply."""
    metrics = None
    if args.metrics is not None:
        if (refused_target := metrics_target(args.metrics)) is not None:
            return refused_target
        from ._metrics import KernelMetrics  # noqa: PLC0415  (Prometheus: only when asked)

        metrics = KernelMetrics()
    tools = default_tools(runner_dir())
    # This process's loop serves nothing but the rollback: its file work stays there.
    result = asyncio.run(
        rollback_journal(
            args.journal,
            tools,
            args.docker,
            force=args.force,
            durable=args.durable,
            in_loop=True,
        )
    )
    if metrics is not None:
        metrics.rollback_done(result.value_or(None))
        if not write_metrics(args, metrics):
            return Exit.ERROR
    match result:
        case Failure(refused):
            sys.stderr.write(f"kplan: {refused}\n")
            if args.format == "json":
                document = {"ok": False, "refused": str(refused)}
                sys.stdout.buffer.write(orjson.dumps(document) + b"\n")
            return Exit.ERROR
        case Success(outcome):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    if args.format == "json":
        document = outcome_document(outcome)
        sys.stdout.buffer.write(orjson.dumps(document) + b"\n")
    else:
        sys.stdout.write(f"{outcome.summary()}\n")
        for item in (*outcome.failures, *outcome.changed):
            sys.stderr.write(f"  {item}\n")
    return Exit.OK if outcome.complete else Exit.ERROR


def outcome_document(outcome: RollbackOutcome) -> dict[str, object]:
    """A rollback's outcome as JSON (``--format json``)."""
    return {
        "complete": outcome.complete,
        "undone": outcome.undone,
        "failures": [str(f) for f in outcome.failures],
        "changed": [str(c) for c in outcome.changed],
    }
