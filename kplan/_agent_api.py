"""The agent's library API: plan, apply and roll back a kernel (docs/library.md).

Theory of operation
-------------------
``plan_kernel`` takes what ``create_kernel`` has, the manager's ``kernel_config``
and ``cluster_info``, the image ref's fields, the allocations, the agent's local
config and its device plugins' answers, and does what the command line does with a
context file: it reads them (every problem named by field), gathers the host's
facts it was not given (in a worker thread, so the agent's event loop keeps
running) and Docker's from the engine, places the installed stage plugins, and
compiles. ``apply_kernel`` applies the plan transactionally and returns plain data:
the container id, the service ports with their host ports, the kernel record.
``rollback_kernel`` undoes an apply from its journal.

Defaults are the command line's: the runner package is ``KPLAN_RUNNER_DIR``, else
the importable ``ai.backend.runner`` (the agent's own), else the legacy venv's;
Docker is ``DOCKER_HOST`` or the standard socket; the journal goes to
``$XDG_STATE_HOME/kplan/journals``. Expected failures are ``returns`` values
(architecture.md §7.1): a ``Failure`` of every refusal, an ``ApplyFailed`` (rolled
back), an ``ApplyCancelled``. Cancelling the task that awaits ``apply_kernel``
rolls back too, and then the ``CancelledError`` propagates, as asyncio wants.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import final

import attrs
from returns.result import Failure, Result, Success

from effects import (
    AllocateHostPorts,
    CreateContainer,
    Plan,
    RegisterKernel,
    Step,
    describe,
    encode,
    thaw_object,
)
from executor import (
    ApplyFailed,
    ApplyOptions,
    ApplyReport,
    HostPortPool,
    RollbackOutcome,
    RollbackRefused,
    Tools,
    apply_plan,
    default_tools,
    read_journal,
    rollback_journal,
)
from planner import (
    Stages,
    agent_document,
    compile_plan,
    scratch_only,
)

from ._apply_clock import ApplyClock
from ._completion import Refusal, gather_context, known_stages
from ._docker_endpoint import docker_endpoint
from ._journal_location import journal_path
from ._metrics import KernelMetrics
from ._runner_location import runner_dir

__all__ = [
    "AppliedKernel",
    "ApplyCancelled",
    "KernelPlan",
    "Progress",
    "apply_kernel",
    "plan_kernel",
    "rollback_kernel",
]

JsonDict = dict[str, object]


@final
@attrs.frozen(kw_only=True)
class KernelPlan:
    """A compiled kernel plan: the ``effects.Plan`` and what planning noted."""

    plan: Plan
    notes: tuple[str, ...] = ()

    @property
    def plan_id(self) -> str:
        """The plan's id (the SHA-256 of its encoding)."""
        return self.plan.header.plan_id

    @property
    def kernel_id(self) -> str:
        """The kernel's id, canonical."""
        return self.plan.header.kernel_id

    def steps(self) -> list[JsonDict]:
        """Each step as ``{"stage", "effect"}`` (``effect`` in one line)."""
        return [
            {"stage": step.stage, "effect": describe(step.effect)}
            for step in self.plan.steps
        ]

    def service_ports(self) -> list[JsonDict]:
        """The kernel's service ports with the host ports the plan publishes."""
        return _service_ports(self.plan)

    def to_json(self) -> bytes:
        """The plan's canonical encoding (what ``kplan plan --format json`` prints)."""
        return encode(self.plan)


@final
@attrs.frozen(kw_only=True)
class Progress:
    """One step starting: its index (from 0), of how many, its stage and effect."""

    index: int
    total: int
    stage: str
    effect: str


@final
@attrs.frozen(kw_only=True)
class AppliedKernel:
    """What an apply made, as plain data (``to_dict`` for JSON)."""

    plan_id: str
    kernel_id: str
    container_id: str | None
    service_ports: list[JsonDict]
    repl_ports: list[int]  # the host ports of the REPL ports 2000 and 2001
    kernel: JsonDict  # the kernel record (legacy's kernel object, §12.6)
    journal: str
    seconds: float

    def to_dict(self) -> JsonDict:
        """Every field, as a JSON-ready mapping."""
        return attrs.asdict(self)


@final
@attrs.frozen(kw_only=True)
class ApplyCancelled:
    """The apply was cancelled through ``cancel``; how its rollback went."""

    journal: str
    rolled_back: bool  # False: incomplete, ``rollback_kernel(journal)`` retries

    def __str__(self) -> str:
        done = "rolled back" if self.rolled_back else "rollback INCOMPLETE"
        return f"apply cancelled, {done} ({self.journal})"


async def plan_kernel(
    *,
    kernel_id: str,
    session_id: str,
    agent_id: str,
    kernel_config: Mapping[str, object],
    cluster_info: Mapping[str, object],
    local_config: Mapping[str, object],
    allocations: Mapping[str, object] | None = None,
    image: Mapping[str, object] | None = None,
    devices: Mapping[str, Mapping[str, object]] | None = None,
    host_ports: Sequence[int] | None = None,
    restarting: bool = False,
    updating_kernel_config: Mapping[str, object] | None = None,
    facts: Mapping[str, object] | None = None,
    docker_url: str | None = None,
    ask_docker: bool = True,
    runner: Path | None = None,
    quirks: Iterable[str] = (),
    wait_ready: bool = False,
    stages: Stages | None = None,
    metrics: KernelMetrics | None = None,
    small_in_loop: bool = True,
) -> Result[KernelPlan, tuple[Refusal, ...]]:
    """Plan one kernel from the agent's own inputs (docs/library.md).

    Args:
        kernel_config, cluster_info: the manager's mappings, as ``create_kernel``
            receives them; ``image``: the image ref's fields (``canonical``,
            ``architecture``, ``registry``, ``labels``, ...) when ``kernel_config``
            has no ``image``.
        local_config: the agent's config (``model_dump(by_alias=True)`` is fine).
        allocations: what ``allocate()`` put in ``resource_spec.allocations``.
        devices: per compute plugin other than cpu and mem, in the agent's order,
            its answers for this allocation (docs/context.md ``facts.devices``).
        host_ports: the agent's free host ports, oldest first (its pool's order);
            ``None``: Docker's view of ``port_range``.
        facts: facts that win over the gathered ones (docs/context.md).
        docker_url: the engine for Docker's facts; ``DOCKER_HOST`` or the standard
            socket when ``None``. ``ask_docker=False`` asks none: the image counts
            as unknown and the whole ``port_range`` as free, unless ``facts`` say.
        runner: the runner package directory (module docstring for the default).
        stages: the stages to run; the built-in ones with the installed plugins.
        metrics: where each stage's duration and outcome is observed.
        small_in_loop: gather a new kernel's host facts (a few dozen stats and
            small reads) in the event loop's thread, where the hand-over to a
            worker thread would cost more than the work; false: in a worker
            thread, as a restart's always are (they read its scratch).

    Returns:
        The plan, or every problem: a field missing or ill-typed, a hazard, an
        input legacy crashes on, a broken plugin, facts that cannot be gathered.
    """
    match known_stages(stages):
        case Failure(errors):
            return Failure(tuple(errors))
        case Success(found):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    given: dict[str, object] = {"devices": dict(devices or {})}
    if host_ports is not None:
        given["host_ports"] = list(host_ports)
    given.update(facts or {})

    # The agent's objects as one plain document (agent_document), the facts it
    # gave included; gather_context adds the rest and reads the facts alone (the
    # inputs it read once to know what to gather).
    document = agent_document(
        kernel_id=kernel_id,
        session_id=session_id,
        agent_id=agent_id,
        kernel_config=kernel_config,
        cluster_info=cluster_info,
        local_config=local_config,
        allocations=allocations or {},
        facts=given,
        restarting=restarting,
        updating_kernel_config=updating_kernel_config,
        image=image,
    )
    gathered = await gather_context(
        document,
        runner=runner,
        docker_url=docker_endpoint(docker_url) if ask_docker else None,
        small_in_loop=small_in_loop,
    )
    match gathered:
        case Failure(errors):
            return Failure(tuple(errors))
        case Success(ctx):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    run = found if metrics is None else metrics.timed(found)
    result = compile_plan(ctx, quirks, wait_ready=wait_ready, stages=run)
    if metrics is not None:
        metrics.plan_done(planned=isinstance(result, Success))
    return result.map(lambda plan: KernelPlan(plan=plan, notes=ctx.notes))


async def apply_kernel(
    planned: KernelPlan | Plan,
    *,
    docker_url: str | None = None,
    only_scratch: bool = False,
    journal: Path | None = None,
    journal_dir: Path | None = None,
    ports: HostPortPool | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: asyncio.Event | None = None,
    durable: bool = False,
    tools: Tools | None = None,
    metrics: KernelMetrics | None = None,
    small_in_loop: bool = True,
) -> Result[AppliedKernel, ApplyFailed | ApplyCancelled]:
    """Apply a plan: the whole kernel, or with ``only_scratch`` its scratch alone.

    Args:
        docker_url: the engine; ``DOCKER_HOST`` or the standard socket when ``None``.
        journal: the journal's path (new, never reused); else a new file in
            ``journal_dir``, else in ``$XDG_STATE_HOME/kplan/journals``.
        ports: the agent's pool of host ports (``executor.HostPortPool``); without
            one the planned ports are checked free on this host.
        on_progress: called on the event loop as each step starts (after it is
            journaled; steps run in parallel, so calls may come out of plan order).
        cancel: set it to stop the apply: it is rolled back, and the result is an
            ``ApplyCancelled`` (set as its last steps ran, the finished apply is
            rolled back from its journal).
        metrics: where each step's and stage's duration and outcome is observed.
        small_in_loop: let a small plan with nothing to overlap its file work (a
            scratch without a host key or a mount: a restart's) keep that work in
            the event loop's thread, where a hand-over to kplan's worker thread
            would cost more (``executor.lane_in_loop``); false: every filesystem
            call in the worker thread.

    Returns:
        What was made, or an ``ApplyFailed`` (refused before any change, or failed
        at a step and rolled back: its ``rollback`` says how completely), or an
        ``ApplyCancelled``.

    Raises:
        asyncio.CancelledError: the awaiting task was cancelled; after the rollback.
    """
    plan = planned.plan if isinstance(planned, KernelPlan) else planned
    if only_scratch:
        plan = scratch_only(plan)
    clock = ApplyClock(_progress_hook(plan, on_progress))
    options = ApplyOptions(
        journal=journal or journal_path(plan, journal_dir),
        tools=tools or default_tools(runner_dir()),
        docker_url=None if only_scratch else docker_endpoint(docker_url),
        durable=durable,
        on_step=clock,
        ports=ports,
        small_in_loop=small_in_loop,
    )
    try:
        result = await _cancellable(apply_plan(plan, options), cancel)
        if cancel is not None and cancel.is_set() and isinstance(result, Success):
            # Set while its last steps ran (a small scratch's lane runs in this
            # loop, at one go): too late to stop them, so undone from the journal.
            await rollback_journal(
                options.journal,
                options.tools,
                options.docker_url,
                ports=ports,
                durable=durable,
            )
            result = None
    except asyncio.CancelledError:
        if metrics is not None:
            metrics.apply_stopped(plan, clock.last, "cancelled", clock)
        raise
    if result is None:  # cancelled through ``cancel``, rolled back
        if metrics is not None:
            metrics.apply_stopped(plan, clock.last, "cancelled", clock)
        return Failure(_cancelled(options.journal))
    if metrics is not None:
        metrics.apply_done(plan, result, clock)
    return result.map(lambda report: _applied(plan, report))


def _progress_hook(
    plan: Plan, on_progress: Callable[[Progress], None] | None
) -> Callable[[int, Step], None] | None:
    """``on_progress`` as an ``on_step`` hook, always called on the event loop.

    The executor calls ``on_step`` in the thread that runs the step (filesystem
    steps run in a worker thread); the agent's callback may touch its own asyncio
    objects, so it is handed to the loop from there.
    """
    if on_progress is None:
        return None
    total = len(plan.steps)
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def hook(index: int, step: Step) -> None:
        progress = Progress(
            index=index, total=total, stage=step.stage, effect=describe(step.effect)
        )
        if threading.get_ident() == loop_thread:
            on_progress(progress)
        else:
            loop.call_soon_threadsafe(on_progress, progress)

    return hook


async def _cancellable(
    applying: Coroutine[object, object, Result[ApplyReport, ApplyFailed]],
    cancel: asyncio.Event | None,
) -> Result[ApplyReport, ApplyFailed] | None:
    """Await the apply; ``None`` if ``cancel`` was set and it was rolled back."""
    if cancel is None:
        return await applying  # the caller's cancellation reaches it directly
    task = asyncio.create_task(applying)
    stopper = asyncio.ensure_future(cancel.wait())
    stopper.add_done_callback(lambda done: done.cancelled() or task.cancel())
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not cancel.is_set() or (current is not None and current.cancelling()):
            raise  # the caller's own cancellation: propagate it
        return None
    finally:
        stopper.cancel()


def _cancelled(journal: Path) -> ApplyCancelled:
    match read_journal(journal):
        case Success(state):
            rolled_back = state.outcome == "rolled-back"
        case _:
            rolled_back = True  # no journal: nothing was applied
    return ApplyCancelled(journal=str(journal), rolled_back=rolled_back)


def _applied(plan: Plan, report: ApplyReport) -> AppliedKernel:
    ports = _host_ports(plan)
    return AppliedKernel(
        plan_id=report.plan_id,
        kernel_id=plan.header.kernel_id,
        container_id=report.container_id,
        service_ports=_service_ports(plan),
        repl_ports=[ports[p] for p in (2000, 2001) if p in ports],
        kernel={} if report.kernel is None else thaw_object(report.kernel),
        journal=report.journal,
        seconds=report.seconds,
    )


def _host_ports(plan: Plan) -> dict[int, int]:
    """Container port -> host port, from the create body's ``PortBindings``."""
    creates = [s.effect for s in plan.steps if isinstance(s.effect, CreateContainer)]
    if not creates or not any(
        isinstance(s.effect, AllocateHostPorts) for s in plan.steps
    ):
        return {}
    body = thaw_object(creates[-1].config)
    host_config = body.get("HostConfig")
    bindings = host_config.get("PortBindings") if isinstance(host_config, dict) else {}
    found: dict[int, int] = {}
    for port, bound in (bindings or {}).items():
        if isinstance(bound, list) and bound and isinstance(bound[0], dict):
            found[int(str(port).split("/", 1)[0])] = int(bound[0]["HostPort"])
    return found


def _service_ports(plan: Plan) -> list[JsonDict]:
    """The kernel record's service ports, each with its host ports filled in."""
    records = [s.effect for s in plan.steps if isinstance(s.effect, RegisterKernel)]
    if not records:
        return []
    ports = _host_ports(plan)
    services = thaw_object(records[-1].record).get("service_ports")
    result: list[JsonDict] = []
    for service in services if isinstance(services, list) else []:
        entry = dict(service)
        container_ports = entry.get("container_ports")
        if isinstance(container_ports, list):
            entry["host_ports"] = [ports.get(int(p)) for p in container_ports]
        result.append(entry)
    return result


async def rollback_kernel(
    journal: Path | str,
    *,
    docker_url: str | None = None,
    ports: HostPortPool | None = None,
    force: bool = False,
    durable: bool = False,
    tools: Tools | None = None,
    metrics: KernelMetrics | None = None,
) -> Result[RollbackOutcome, RollbackRefused]:
    """Undo an apply from its journal (crashed or not; safe to run twice).

    ``docker_url`` defaults to the journal's engine; ``ports`` is the pool the apply
    took host ports from; ``force`` also puts back paths changed since the apply;
    ``durable`` fsyncs as an apply's ``durable`` does.
    """
    result = await rollback_journal(
        Path(journal),
        tools or default_tools(runner_dir()),
        docker_url,
        force=force,
        ports=ports,
        durable=durable,
    )
    if metrics is not None:
        metrics.rollback_done(result.value_or(None))
    return result
