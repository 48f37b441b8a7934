"""``kplan apply`` and ``kplan rollback``: the executor from the command line.

Every expected failure is one line on stderr and exit 1: a refused plan or context,
an apply refused before any change (the kernel locked by another kplan, a journal
path that exists or cannot be made, a planted ``<journal>.private``), a failed step
(with how its rollback went), a rollback refused before it undid anything, or one
that left paths changed since the apply (``--force`` puts them back anyway).

SIGINT and SIGTERM during an apply cancel it: the executor rolls back what it did
(shielded, so a second signal does not cut the undo short) and kplan exits 130 or
143 with one line saying how the rollback went.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, final

import attrs
from returns.result import Failure, Result, Success

from effects import Plan, Tree, dumps, is_container_effect, tree_from_document
from executor import (
    ApplyFailed,
    ApplyOptions,
    ApplyReport,
    apply_plan,
    default_tools,
    model_apply,
    read_journal,
    scratch_facts,
)
from planner import scratch_only

from ._apply_clock import ApplyClock
from ._docker_endpoint import docker_endpoint, unreachable
from ._exit import Exit
from ._journal_location import journal_path
from ._load import load_document, load_plan
from ._metrics_file import metrics_target, write_metrics
from ._progress import apply_progress
from ._rollback_cmd import outcome_document
from ._runner_location import runner_dir

if TYPE_CHECKING:  # a plan file is applied without the planner's stages
    from ._metrics import KernelMetrics

__all__ = ["Stopped", "apply"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STOP_EXITS = {signal.SIGINT: Exit.INTERRUPTED, signal.SIGTERM: Exit.TERMINATED}


@final
@attrs.frozen(kw_only=True)
class Stopped:
    """An apply stopped by SIGINT or SIGTERM; its rollback ran (see the journal)."""

    signal: signal.Signals
    journal: Path


def _plan_and_before(
    args: argparse.Namespace, metrics: KernelMetrics | None
) -> Result[tuple[Plan, Tree], Exit]:
    """The plan (from a context or a plan file) and the tree it starts from."""
    match load_document(args.target):
        case Failure(error):
            from ._render import render_errors  # noqa: PLC0415  (rich: errors only)

            sys.stderr.write(render_errors([error]))
            return Failure(Exit.ERROR)
        case Success(document):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    if "steps" in document and "header" in document:
        return _from_plan_file(args)
    refused = _endpoint(args)  # after the input's own checks, before any fact
    if refused is not None:
        return Failure(refused)
    # The planner's stages, the completion and rich: only for a context.
    from ._apply_context import from_context  # noqa: PLC0415

    return from_context(args, document, metrics)


def _endpoint(args: argparse.Namespace, *, needs_docker: bool = True) -> Exit | None:
    """Settle ``args.docker``: none for --scratch-only, else an engine that answers.

    A dry run needs no engine: one given is used for the facts only; nor does a
    plan with no step Docker takes part in (``needs_docker`` false).
    """
    if args.scratch_only:
        if args.docker is not None:
            sys.stderr.write("kplan: --scratch-only and --docker exclude each other\n")
            return Exit.ERROR
        return None
    if args.dry_run or not needs_docker:
        return None
    args.docker = docker_endpoint(args.docker)
    reason = unreachable(args.docker)
    if reason is not None:
        sys.stderr.write(
            f"kplan: no Docker engine answers at {args.docker} ({reason}); nothing "
            "was changed: give --docker URL, or --scratch-only to apply only the "
            "scratch\n"
        )
        return Exit.ERROR
    return None


def _from_plan_file(args: argparse.Namespace) -> Result[tuple[Plan, Tree], Exit]:
    """A plan file's plan and the scratch it starts from; Docker is asked for
    only when the plan has a step that needs it (a scratch-only plan has none)."""
    path: Path = args.target
    match load_plan(path):
        case Success(plan):
            pass
        case Failure(error):
            sys.stderr.write(f"kplan: {path}: invalid plan: {error}\n")
            return Failure(Exit.ERROR)
        case _:
            raise AssertionError("unreachable")  # returns#1361
    plan = scratch_only(plan) if args.scratch_only else plan
    needs_docker = any(is_container_effect(step.effect) for step in plan.steps)
    refused = _endpoint(args, needs_docker=needs_docker)  # before any fact
    if refused is not None:
        return Failure(refused)
    root = Path(str(plan.header.scratch_root))
    entries, _ = scratch_facts(root, plan.header.kernel_id)
    return Success((plan, tree_from_document(entries)))


def apply(args: argparse.Namespace) -> int:
    """``kplan apply CTX|PLAN [--dry-run] [--journal J] [--docker URL|--scratch-only]
    [--durable] [--metrics FILE]``: the whole kernel, container included, or only
    its scratch; ``--metrics`` writes the planning and apply metrics."""
    metrics = None
    if args.metrics is not None:
        if (refused := metrics_target(args.metrics)) is not None:
            return refused
        from ._metrics import KernelMetrics  # noqa: PLC0415  (Prometheus: when asked)

        metrics = KernelMetrics()
    match _plan_and_before(args, metrics):
        case Failure(code):
            write_metrics(args, metrics)
            return int(code)
        case Success((plan, before)):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    code = _applied(args, plan, before, metrics)
    written = write_metrics(args, metrics)
    return code if written else Exit.ERROR


def _applied(
    args: argparse.Namespace, plan: Plan, before: Tree, metrics: KernelMetrics | None
) -> int:
    result: Result[ApplyReport, ApplyFailed | Stopped]
    clock = None
    if args.dry_run:
        result = model_apply(plan, before)
    else:
        with apply_progress(plan) as progress:
            clock = ApplyClock(progress)
            # The file work in the worker thread, whatever the plan: this loop
            # must take SIGINT and SIGTERM while it runs (``_until_signal``).
            options = ApplyOptions(
                journal=args.journal or journal_path(plan),
                tools=default_tools(runner_dir()),
                docker_url=args.docker,
                durable=args.durable,
                on_step=clock,
                small_in_loop=False,
            )
            result = asyncio.run(_until_signal(plan, options))
            if progress is not None and isinstance(result, Success):
                progress.finish()
    match result:
        case Success(report):
            if metrics is not None:
                metrics.apply_done(plan, Success(report), clock)
            _show_report(args, report)
            return Exit.OK
        case Failure(Stopped() as stopped):
            if metrics is not None and clock is not None:
                metrics.apply_stopped(plan, clock.last, "cancelled", clock)
            return _show_stopped(args, stopped)
        case Failure(ApplyFailed() as failure):
            if metrics is not None:
                metrics.apply_done(plan, Failure(failure), clock)
            _show_failure(args, failure)
            return Exit.ERROR
        case _:
            raise AssertionError("unreachable")  # returns#1361


async def _until_signal(
    plan: Plan, options: ApplyOptions
) -> Result[ApplyReport, ApplyFailed | Stopped]:
    """``apply_plan``, turning SIGINT and SIGTERM into a cancellation of it.

    The cancellation ends here, after the executor rolled back: it was asked for by
    the signal, and a signal stops the command with an exit code, not a traceback.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None  # noqa: S101  (always run as a task by asyncio.run)
    received: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        received.append(signum)
        task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await apply_plan(plan, options)
    except asyncio.CancelledError:
        if not received:
            raise
        while task.cancelling():
            task.uncancel()
        return Failure(Stopped(signal=received[0], journal=options.journal))
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


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
    lines += [
        f"overlapped: {o.effect} ({o.unit}, {o.seconds * 1000:.1f} ms) ran alongside"
        f" {len(o.alongside)} steps"
        for o in report.overlaps
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
                "start": s.start,
                "end": s.end,
                "unit": s.unit,
            }
            for s in report.steps
        ],
        "overlaps": [
            {"index": o.index, "unit": o.unit, "alongside": list(o.alongside)}
            for o in report.overlaps
        ],
    }


def _show_failure(args: argparse.Namespace, failure: ApplyFailed) -> None:
    sys.stderr.write(f"kplan: apply failed: {failure}\n")
    if args.format != "json":
        return
    document = {
        "ok": False,
        "index": failure.index,
        "stage": failure.stage,
        "effect": failure.effect,
        "cause": failure.cause,
        "journal": failure.journal or None,
        "rollback": outcome_document(failure.rollback),
    }
    sys.stdout.buffer.write(dumps(document))


def _show_stopped(args: argparse.Namespace, stopped: Stopped) -> int:
    name = stopped.signal.name
    match read_journal(stopped.journal):
        case Success(state) if state.outcome == "rolled-back":
            done = f"rollback complete, {len(state.undone)} steps undone"
        case Success(state) if state.outcome == "rollback-incomplete":
            done = f"rollback INCOMPLETE: kplan rollback {stopped.journal} retries it"
        case _:
            done = "nothing was applied"
    sys.stderr.write(f"kplan: apply stopped by {name}: {done} ({stopped.journal})\n")
    if args.format == "json":
        document = {"ok": False, "stopped_by": name, "journal": str(stopped.journal)}
        sys.stdout.buffer.write(dumps(document))
    return _STOP_EXITS[stopped.signal]
