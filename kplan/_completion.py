"""Completing a context document with facts gathered from this host, then planning.

The shell's half of architecture.md §3.1: the document is read once without its
facts (``planner.read_document``: every problem named, nothing gathered for a
document that is wrong anyway); the facts it lacks are gathered from the typed
values (the scratch root, the kernel id, the krunner keys, how many socket proxies
need names); the facts it gives win; then the facts are read onto the document
read first (``planner.context_with_facts``) and become a ``Context`` with it
(``gather_missing`` gives the completed document instead, for the callers that
keep it). With a Docker endpoint, Docker's facts (volumes, the image and its id,
the host ports containers hold) come from it; without one the image counts as
unknown and the whole port range as free. ``gather_missing`` is the same for a
caller inside an event loop (the agent): a restart's host facts are read in a
worker thread (they hold its scratch), a new kernel's in the loop (a few dozen
stats), Docker's awaited.

Plans are compiled with the installed stage plugins placed among the built-in
stages (``kplan._plugin_loading``), unless the caller gives the stages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import final

import attrs
from returns.result import Failure, Result, Success

import executor
from effects import Plan
from executor import HostError, gather_facts
from planner import (
    Context,
    ContextDocument,
    ContextError,
    PlanError,
    Stages,
    canonical_kernel_id,
    compile_plan,
    context_with_facts,
    read_document,
)

from ._plugin_loading import plugin_stages
from ._runner_location import runner_dir

__all__ = [
    "Refusal",
    "compile_document",
    "complete_document",
    "gather_context",
    "gather_missing",
    "known_stages",
    "refusals",
]


Refusal = ContextError | PlanError


def refusals(error: ContextError) -> list[Refusal]:
    """One problem as the list every refusal path carries."""
    return [error]


def complete_document(
    document: Mapping[str, object],
    *,
    runner: Path | None = None,
    docker_url: str | None = None,
) -> Result[dict[str, object], list[Refusal]]:
    """``document`` with every fact it lacks gathered from this host."""
    return asyncio.run(gather_missing(document, runner=runner, docker_url=docker_url))


async def gather_missing(
    document: Mapping[str, object],
    *,
    runner: Path | None = None,
    docker_url: str | None = None,
    small_in_loop: bool = True,
) -> Result[dict[str, object], list[Refusal]]:
    """``complete_document`` inside an event loop (module docstring);
    ``small_in_loop`` false: a new kernel's host facts in a worker thread too."""
    gathered = await _gather(document, runner, docker_url, small_in_loop=small_in_loop)
    return gathered.map(lambda found: {**found.without, "facts": found.facts})


async def gather_context(
    document: Mapping[str, object],
    *,
    runner: Path | None = None,
    docker_url: str | None = None,
    small_in_loop: bool = True,
) -> Result[Context, list[Refusal]]:
    """The ``Context`` of ``gather_missing``'s document, its inputs read once."""
    gathered = await _gather(document, runner, docker_url, small_in_loop=small_in_loop)
    return gathered.bind(
        lambda found: context_with_facts(found.parsed, found.without, found.facts).alt(
            list
        )
    )


@final
@attrs.frozen
class _Gathered:
    """A document read without its facts, and its facts: the given ones over
    the gathered."""

    parsed: ContextDocument
    without: dict[str, object]
    facts: dict[str, object]


async def _gather(
    document: Mapping[str, object],
    runner: Path | None,
    docker_url: str | None,
    *,
    small_in_loop: bool,
) -> Result[_Gathered, list[Refusal]]:
    without = {k: v for k, v in document.items() if k != "facts"}
    match read_document(without):
        case Failure(errors):
            return Failure(list(errors))
        case Success(parsed):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    given = document.get("facts")
    if given is not None and not isinstance(given, Mapping):
        return Failure([ContextError(field="facts", reason="expected an object")])
    try:
        gathered = await _gathered(
            parsed, runner or runner_dir(), docker_url, in_loop=small_in_loop
        )
    except (HostError, OSError, ValueError) as exc:
        return Failure([ContextError(field="facts", reason=f"cannot gather: {exc}")])
    return Success(_Gathered(parsed, without, {**gathered, **(given or {})}))


async def _gathered(
    parsed: ContextDocument, runner: Path, docker_url: str | None, *, in_loop: bool
) -> dict[str, object]:
    local = parsed.local_config
    config = parsed.kernel_config
    internal = config.internal_data
    gather = partial(
        gather_facts,
        Path(local.container.scratch_root),
        canonical_kernel_id(parsed.kernel_id),
        runner,
        restarting=parsed.restarting,
        krunner_volumes=tuple(local.container.krunner_volumes or {}),
        socket_proxies=len((internal.domain_socket_proxies or ()) if internal else ()),
    )
    # A new kernel's facts are a few dozen stats and small reads (the runner's
    # files once per process), less than the hand-over to a worker thread and
    # back costs: 0.6 ms of a 6 ms plan_kernel here. A restart's read the
    # kernel's whole scratch, which may be large: off the event loop.
    small = in_loop and not parsed.restarting
    facts = gather() if small else await asyncio.to_thread(gather)
    image = config.image or parsed.image
    if docker_url is not None and image is not None:
        found = await executor.docker_facts(  # loads aiodocker on first use
            docker_url, image.canonical, local.container.port_range
        )
        facts.update(found)
    return facts


def compile_document(
    document: Mapping[str, object],
    quirks: list[str],
    *,
    docker_url: str | None = None,
    wait_ready: bool = False,
    stages: Stages | None = None,
) -> Result[tuple[Context, Plan], list[Refusal]]:
    """Complete, parse and compile ``document``: the context and its plan.

    ``stages`` default to the built-in ones with the installed plugins placed.
    """
    match known_stages(stages):
        case Failure(errors):
            return Failure(errors)
        case Success(found):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    return asyncio.run(gather_context(document, docker_url=docker_url)).bind(
        lambda ctx: _compiled(ctx, quirks, wait_ready=wait_ready, stages=found)
    )


def known_stages(stages: Stages | None = None) -> Result[Stages, list[Refusal]]:
    """``stages``, or the built-in ones with the installed plugins placed."""
    if stages is not None:
        return Success(stages)
    return plugin_stages().alt(list)


def _compiled(
    ctx: Context, quirks: list[str], *, wait_ready: bool, stages: Stages
) -> Result[tuple[Context, Plan], list[Refusal]]:
    return (
        compile_plan(ctx, quirks, wait_ready=wait_ready, stages=stages)
        .map(lambda plan: (ctx, plan))
        .alt(list)
    )
