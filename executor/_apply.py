"""Apply a plan transactionally: observe, journal, apply, and undo on any failure.

Theory of operation
-------------------
An apply first takes what it needs (``executor._workspace``): the scratch root, the
kernel's lock (a second apply or rollback of the kernel is refused at once), a new
journal and its private directory; any of them missing is a refusal before any
change. Then every step goes through the same four moves: observe the prior state
(a file's old content is copied into the private directory), journal the intent
with it, apply the effect (announcing every entry it makes new), journal ``done``
with the stamps it left. On a ``HostError`` the inverses of every journaled step run
in reverse (``executor._rollback``) and the result is an ``ApplyFailed`` value. On
any other exception, including cancellation, the same rollback runs and the
exception propagates unchanged, with rollback failures attached as notes
(architecture.md §5.2).

*In parallel, from the plan's edges.* A step may start once every step it has an
edge from has finished (``_Schedule``); up to ``ApplyOptions.parallel`` units run
at once. The filesystem steps run in one unit, the lane (``executor._fs_lane``):
batches of ready steps in a worker thread, their journal records written a batch at
a time. The host key (dropbearkey, a fraction of a second) and the container's
steps (the pull first) are units of their own, so they overlap the file work; the
container's steps are one chain in the edges. ``parallel=1`` runs the steps one at
a time, in plan order. A small plan whose every step is the lane's plain work
(directories, files, modes, owners, data) has nothing to overlap: its lane runs
in the event loop's thread (``lane_in_loop``), since handing it to the worker thread
and back costs more than a tenth of such an apply. The journal holds the intents
in the order the steps started, which, reversed, is the order the rollback
undoes them in. On a failure or a cancellation nothing new starts, the running
units finish (a thread cannot be stopped; the lane stops between two steps), and
then the rollback runs. The report says when each step ran and in which unit,
and what overlapped (``ApplyReport.overlaps``).

The private directory outlives a successful apply only while it holds prior
contents (``kplan rollback`` needs them), and a rollback only when it was incomplete.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path, PurePosixPath
from typing import Any, cast, final

import attrs
from returns.result import Failure, Result, Success

from effects import (
    DATA_EFFECTS,
    AppendContainerId,
    Chmod,
    Chown,
    Effect,
    GenerateHostKey,
    JsonObject,
    MakeDir,
    Plan,
    RegisterKernel,
    Step,
    Tree,
    WriteFile,
    describe,
    is_container_effect,
    project,
)

from ._fs_lane import (
    LANE_EFFECTS,
    Admit,
    BatchFailed,
    BatchStopped,
    FsLane,
    LaneStep,
    batch_bound,
)
from ._host import Host
from ._journal import FORMAT
from ._lane_threads import lane_pool
from ._port_pool import HostPortPool
from ._private_dir import private_dir
from ._process import process_id
from ._records import Created, FilePrior, StepRecord
from ._rollback import undo_shielded
from ._tools import Tools
from ._workspace import Workspace
from .errors import ApplyFailed, HostError, RollbackOutcome

__all__ = [
    "DEFAULT_PARALLEL",
    "ApplyOptions",
    "ApplyReport",
    "Overlap",
    "StepReport",
    "apply_plan",
    "lane_in_loop",
    "model_apply",
    "private_dir",
]

StepHook = Callable[[int, Step], None]
DEFAULT_PARALLEL = 8
LAUNCH_WAIT = 0.002  # how long the lane waits for the loop to start a ready step
FILESYSTEM, HOST_KEY, HOST = "filesystem", "host key", "host"
# The most a plan may hold for its lane to run in the event loop's thread
# (``lane_in_loop``): about a millisecond of work on tmpfs, a few on a disk, what a
# compile of such a plan holds the loop for anyway.
LOOP_STEPS = 128  # filesystem steps (data steps cost next to nothing)
LOOP_BYTES = 1 << 20  # content written
_LOOP_EFFECTS = frozenset({MakeDir, WriteFile, Chmod, Chown})


@final
@attrs.frozen(kw_only=True)
class StepReport:
    """One step as applied: what it was, how long it took, when and where it ran.

    ``start`` and ``end`` are seconds since the apply began (for a filesystem step,
    those of its batch); ``unit`` is what ran it: ``filesystem`` (the lane),
    ``host key`` or ``host`` (Docker, host ports, socket proxies).
    """

    index: int
    stage: str
    plan_effect: Effect = attrs.field(repr=False)
    outcome: str
    seconds: float
    start: float = 0.0
    end: float = 0.0
    unit: str = FILESYSTEM

    @property
    def effect(self) -> str:
        """The effect in one line (``effects.describe``), made when asked for."""
        return describe(self.plan_effect)


_NEW = object.__new__
_SET = object.__setattr__
# ``_Run._reported`` sets these fields itself: a new one must be set there too.
_REPORTED = ("index", "stage", "plan_effect", "outcome", "seconds", "start", "end")
assert tuple(f.name for f in attrs.fields(StepReport)) == (*_REPORTED, "unit")  # noqa: S101


@final
@attrs.frozen(kw_only=True)
class Overlap:
    """A step outside the lane and the steps of other units that ran meanwhile."""

    index: int
    unit: str
    effect: str
    seconds: float
    alongside: tuple[int, ...]


@final
@attrs.frozen(kw_only=True)
class ApplyReport:
    """What an apply did, step by step and stage by stage."""

    plan_id: str
    journal: str
    dry_run: bool
    steps: tuple[StepReport, ...]
    seconds: float
    kernel: JsonObject | None
    container_id: str | None
    parallel: int = 1

    @property
    def stages(self) -> tuple[tuple[str, float], ...]:
        """Seconds per stage, in plan order."""
        totals: dict[str, float] = {}
        for step in self.steps:
            totals[step.stage] = totals.get(step.stage, 0.0) + step.seconds
        return tuple(totals.items())

    @property
    def overlaps(self) -> tuple[Overlap, ...]:
        """Each step outside the filesystem lane that ran while steps of other
        units ran, with those steps: what the parallel apply overlapped."""
        found = []
        for step in self.steps:
            if step.unit == FILESYSTEM:
                continue
            alongside = tuple(
                other.index
                for other in self.steps
                if other.unit != step.unit
                and other.start < step.end
                and step.start < other.end
            )
            if alongside:
                found.append(
                    Overlap(
                        index=step.index,
                        unit=step.unit,
                        effect=step.effect,
                        seconds=step.seconds,
                        alongside=alongside,
                    )
                )
        return tuple(found)


@final
@attrs.frozen(kw_only=True)
class ApplyOptions:
    """How to apply: where the journal goes, which Docker, durability, tools.

    ``ports`` is the agent's pool of host ports (``executor.HostPortPool``); without
    one the ports are checked free on this host (``EnginePorts``, the CLI's way).
    ``parallel`` bounds how many units run at once (the filesystem lane, the host
    key, the container's steps); 1 applies one step at a time, in plan order.
    ``on_step`` is called after a step's intent is journaled and before its effect
    runs, in the thread that runs the step (a worker thread for filesystem steps
    unless ``lane_in_loop``, the event loop's otherwise): the CLI draws progress
    there; tests inject failures and crashes there. To cancel the apply from it, use
    ``loop.call_soon_threadsafe``. ``small_in_loop`` lets a small plan with
    nothing to overlap run its filesystem steps in the event loop's thread
    (``lane_in_loop``); false keeps every filesystem call of the apply out of it.
    """

    journal: Path
    tools: Tools
    docker_url: str | None = None
    durable: bool = False
    on_step: StepHook | None = None
    ports: HostPortPool | None = None
    parallel: int = attrs.field(default=DEFAULT_PARALLEL)
    small_in_loop: bool = True

    @parallel.validator
    def _at_least_one(self, _attribute: object, value: int) -> None:
        if value < 1:
            msg = f"parallel must be at least 1, got {value}"
            raise ValueError(msg)


def lane_in_loop(plan: Plan, options: ApplyOptions) -> bool:
    """Whether the apply runs its lane in the event loop's thread, not the worker's.

    Only a plan with nothing to overlap the lane: every step a directory, a file,
    a mode, an owner or data (no host key, container or scratch mount, which wait
    on other processes); small (``LOOP_STEPS``, ``LOOP_BYTES``); without
    ``durable`` (an fsync can take milliseconds); and ``small_in_loop``. Its
    lane's batches are the same, one after another without a hand-over: the
    hand-over to the worker thread and back cost 0.2-0.4 ms an apply here, a
    tenth of the sample's.
    """
    if options.durable or not options.small_in_loop:
        return False
    steps = 0
    for step in plan.steps:
        kind = type(step.effect)
        if kind in _LOOP_EFFECTS:
            steps += 1
        elif kind not in DATA_EFFECTS:
            return False
    return steps <= LOOP_STEPS and sum(map(len, plan.blob_table.values())) <= LOOP_BYTES


def _refusal(plan: Plan, cause: str) -> ApplyFailed:
    return ApplyFailed(
        index=-1,
        stage="(plan)",
        effect=f"plan {plan.header.plan_id}",
        cause=cause,
        rollback=RollbackOutcome(undone=0, failures=()),
        journal="",
    )


def _precondition(plan: Plan, options: ApplyOptions) -> ApplyFailed | None:
    header = plan.header
    identity = (os.geteuid(), os.getegid())
    if identity != (header.run_as_uid, header.run_as_gid):
        return _refusal(
            plan,
            f"the plan must be applied as {header.run_as_uid}:"
            f"{header.run_as_gid}, this process is {identity[0]}:{identity[1]}",
        )
    if options.docker_url is None and any(map(is_container_effect, plan.effects)):
        return _refusal(plan, "the plan has container effects: give a Docker endpoint")
    return None


async def apply_plan(
    plan: Plan, options: ApplyOptions
) -> Result[ApplyReport, ApplyFailed]:
    """Apply ``plan``; on a failure put the host back as it was (module docstring).

    Returns:
        The report; or an ``ApplyFailed``: refused before any change (``index`` -1:
        the identity, no Docker endpoint, the scratch root, the kernel's lock, the
        journal or its private directory), or failed at a step and rolled back
        (its ``rollback`` says whether completely and what was left).

    Raises:
        asyncio.CancelledError: unchanged, after the rollback ran (its failures are
            notes). Any other exception is a bug, raised after the rollback ran.
    """
    refused = _precondition(plan, options)
    if refused is not None:
        return Failure(refused)
    opened = Workspace.for_apply(
        plan.header, options.journal, options.tools, durable=options.durable
    )
    match opened:
        case Failure(cause):
            return Failure(_refusal(plan, str(cause)))
        case Success(workspace):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    with workspace:
        run = _Run(plan, workspace, options)
        try:
            return await run.run()
        finally:
            if not run.keep_private and workspace.private is not None:
                workspace.private.remove()


def _begin(plan: Plan, docker: str | None) -> dict[str, object]:
    header = plan.header
    return {
        "kind": "begin",
        "format": FORMAT,
        "plan_id": header.plan_id,
        "kernel_id": header.kernel_id,
        "scratch_root": str(header.scratch_root),
        "docker": docker,
        "pid": process_id(),
        "time": time.time(),
    }


@final
class _Schedule:
    """Which steps may start: each step's count of unfinished predecessors.

    Ready steps wait in two heaps by index, the lane's and the others', so the
    lowest index always goes first; one at a time (``sequential``), only the lowest
    ready step may start, which is plan order. The lane takes its batches here from
    its worker thread (``executor._fs_lane.LaneFeed``), so every method holds the
    lock; ``wake`` is called when a step outside the lane becomes ready.
    """

    def __init__(self, plan: Plan, *, sequential: bool) -> None:
        count = len(plan.steps)
        self.steps = plan.steps
        self.sequential = sequential
        self.waiting = [0] * count
        self.after: list[list[int]] = [[] for _ in range(count)]
        for before, later in plan.edges:
            self.waiting[later] += 1
            self.after[before].append(later)
        self.in_lane = [type(step.effect) in LANE_EFFECTS for step in plan.steps]
        self.lane_left = sum(self.in_lane)  # the lane's steps not finished yet
        self.lane: list[int] = []
        self.tasks: list[int] = []
        self.lock = threading.Lock()
        self.wake: Callable[[], None] = _nothing
        self.limit = batch_bound()
        self.claimed: set[int] = set()  # taken ahead, before they were ready
        self.launched = threading.Event()  # set by the loop once it started them
        self.loop_thread = threading.get_ident()  # made in the loop's thread
        for index in range(count):
            if self.waiting[index] == 0:
                heapq.heappush(self.lane if self.in_lane[index] else self.tasks, index)

    def finished(self, indices: list[int]) -> None:
        """These steps finished: their successors may be ready now.

        When one outside the lane is, the loop is woken to start it, and the
        lane's thread (the caller, then) waits a moment for it to: the lane would
        otherwise keep the interpreter's lock, and the host key start only once
        the file work it should overlap is done.
        """
        woken = False
        with self.lock:
            for index in indices:
                self.lane_left -= self.in_lane[index]
                for later in self.after[index]:
                    self.waiting[later] -= 1
                    if self.waiting[later] == 0 and later not in self.claimed:
                        if self.in_lane[later]:
                            heapq.heappush(self.lane, later)
                        else:
                            heapq.heappush(self.tasks, later)
                            woken = True
        if woken:
            self.launched.clear()
            self.wake()
            if threading.get_ident() != self.loop_thread:
                self.launched.wait(LAUNCH_WAIT)

    def _lane_first(self) -> bool:
        """Whether the lowest ready step is the lane's (``sequential`` order)."""
        return bool(self.lane) and (not self.tasks or self.lane[0] < self.tasks[0])

    def take(self, admit: Admit) -> list[tuple[int, Step]]:
        """The lane's next batch (``LaneFeed``): the ready lane steps, lowest
        first, then the steps whose every unfinished predecessor is in the batch
        and that ``admit`` takes (the lane can tell their prior state ahead)."""
        with self.lock:
            if self.sequential and not self._lane_first():
                return []
            batch: list[int] = []
            while self.lane and len(batch) < self.limit:
                if self.sequential and batch and self.lane[0] != batch[-1] + 1:
                    break  # one step at a time is plan order: a run of indices
                batch.append(heapq.heappop(self.lane))
            for index in batch:
                admit(index, self.steps[index], ahead=False)
            self._look_ahead(batch, admit)
        return [(index, self.steps[index]) for index in batch]

    def _look_ahead(self, batch: list[int], admit: Admit) -> None:
        unfinished: dict[int, int] = {}  # successor -> predecessors not in the batch
        after, waiting, in_lane, claimed = (
            self.after,
            self.waiting,
            self.in_lane,
            self.claimed,
        )
        position = 0
        outside = False  # a step outside the lane waits on nothing but the batch
        while position < len(batch) and len(batch) < self.limit and not outside:
            for later in after[batch[position]]:
                count = unfinished[later] if later in unfinished else waiting[later]
                unfinished[later] = count = count - 1
                if count:
                    continue
                if not in_lane[later]:
                    # The batch ends here: that step (a host key, an image
                    # pull) starts once it has, alongside the lane's next.
                    outside = True
                    continue
                if later in claimed:
                    continue
                if self.sequential and later != batch[-1] + 1:
                    continue  # plan order
                if admit(later, self.steps[later], ahead=True):
                    claimed.add(later)
                    batch.append(later)
            position += 1

    def exhausted(self) -> bool:
        """Whether every lane step has finished (``LaneFeed``)."""
        with self.lock:
            return self.lane_left == 0

    def lane_ready(self) -> bool:
        """Whether the lane has something to do now."""
        with self.lock:
            return self._lane_first() if self.sequential else bool(self.lane)

    def take_task(self) -> int | None:
        """The lowest ready step outside the lane, if it may start now."""
        with self.lock:
            if not self.tasks or (self.sequential and self._lane_first()):
                return None
            return heapq.heappop(self.tasks)


def _nothing() -> None:
    return None


@final
class _Unit:
    """One running unit: a lane batch or a step of its own."""

    __slots__ = ("kind", "start", "steps")

    def __init__(self, kind: str, steps: list[int], start: float) -> None:
        self.kind = kind
        self.steps = steps
        self.start = start


@final
class _Run:
    """The state of one apply: the journaled steps and the step reports."""

    def __init__(self, plan: Plan, workspace: Workspace, options: ApplyOptions) -> None:
        self.plan, self.options = plan, options
        self.fs, self.journal = workspace.fs, workspace.journal
        self.blobs = plan.blob_table
        self.fs.written = self.blobs  # an undo compares, not hashes: see there
        # Journaled steps by index, in the order their intents were written (the
        # lane's as its own values: made records only for a rollback).
        self.records: dict[int, StepRecord | LaneStep] = {}
        self.reports: dict[int, StepReport] = {}
        # Kept unless known to be unneeded: a rollback cut short may need it later.
        self.keep_private = True
        self.token = secrets.token_hex(6)
        self.in_loop = lane_in_loop(plan, options)
        self.started = time.perf_counter()

    async def run(self) -> Result[ApplyReport, ApplyFailed]:
        self.journal.append(_begin(self.plan, self.options.docker_url))
        async with AsyncExitStack() as stack:
            docker = None
            if self.options.docker_url is not None:
                # On first need: aiodocker's import (``executor._docker_host``).
                from ._docker_host import DockerHost  # noqa: PLC0415

                docker = await stack.enter_async_context(
                    DockerHost(self.options.docker_url, self.plan.header.plan_id)
                )
            host = Host(
                self.fs,
                docker,
                self.blobs,
                self.plan.header.kernel_id,
                self.token,
                ports=self.options.ports,
            )
            lane = FsLane(
                self.fs,
                self.blobs,
                self.journal,
                self.records,
                self.token,
                self.options.on_step,
            )
            try:
                return await self._steps(host, lane)
            finally:
                lane.close()

    async def _steps(
        self, host: Host, lane: FsLane
    ) -> Result[ApplyReport, ApplyFailed]:
        self.started = time.perf_counter()
        try:
            failed = await self._schedule(host, lane)
            if failed is None:
                # A cancellation asked for during the last steps (which may not
                # await at all) must still undo: a point to arrive before "applied".
                await asyncio.sleep(0)
        except BaseException as exc:  # a bug or a cancellation: undo, then propagate
            lane.close()
            outcome = await self._undo(host)
            for failure in outcome.failures:
                exc.add_note(f"kplan rollback: {failure}")
            raise
        if failed is not None:
            lane.close()
            index, error = failed
            outcome = await self._undo(host)
            return Failure(self._failed(index, error, outcome))
        self.journal.append({"kind": "end", "outcome": "applied"})
        self.keep_private = any(
            isinstance(r.prior, FilePrior) and r.prior.saved is not None
            for r in self.records.values()
        )
        return Success(self._report(host, time.perf_counter() - self.started))

    async def _schedule(self, host: Host, lane: FsLane) -> tuple[int, HostError] | None:
        """Run every step as the edges allow; the first ``HostError``, if any.

        Returns or raises only once no unit runs any more (a failure or a
        cancellation stops new starts and waits for the running ones); a bug in a
        unit is raised then, unchanged.
        """
        bound = self.options.parallel
        schedule = _Schedule(self.plan, sequential=bound == 1)
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def woke() -> None:  # from the lane's thread
            loop.call_soon_threadsafe(wake.set)

        schedule.wake = woke
        running: dict[asyncio.Future[Any], _Unit] = {}
        stop = threading.Event()
        failed: tuple[int, HostError] | None = None
        bug: BaseException | None = None
        try:
            while True:
                if failed is None and bug is None:
                    self._launch(schedule, running, host, lane, stop)
                if not running:
                    break
                for future in await self._next(running, wake):
                    error = self._settle(future, running.pop(future), schedule)
                    if error is None:
                        continue
                    stop.set()
                    if isinstance(error[1], HostError):
                        failed = failed or (error[0], error[1])
                    else:
                        bug = bug or error[1]
        except BaseException:
            stop.set()
            await _drain(running)
            raise
        if bug is not None:
            raise bug
        return failed

    @staticmethod
    async def _next(
        running: dict[asyncio.Future[Any], _Unit], wake: asyncio.Event
    ) -> set[asyncio.Future[Any]]:
        """The units that finish next, once one has or the schedule woke the loop
        (a step outside the lane became ready): maybe none."""
        done = {future for future in running if future.done()}
        if done:  # a lane run in the loop's thread is done at once
            return done
        woken = asyncio.ensure_future(wake.wait())
        try:
            finished, _ = await asyncio.wait(
                {*running, woken}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()
        wake.clear()
        return finished - {woken}

    def _launch(
        self,
        schedule: _Schedule,
        running: dict[asyncio.Future[Any], _Unit],
        host: Host,
        lane: FsLane,
        stop: threading.Event,
    ) -> None:
        """Start ready steps while the bound allows (one at a time: plan order)."""
        bound = self.options.parallel
        lane_busy = any(unit.kind == FILESYSTEM for unit in running.values())
        if len(running) < bound and not lane_busy and schedule.lane_ready():
            start = self._now()
            if self.in_loop:
                batches = _ran_here(lane, schedule, stop)
            else:
                loop = asyncio.get_running_loop()
                batches = loop.run_in_executor(lane_pool(), lane.run, schedule, stop)
            running[batches] = _Unit(FILESYSTEM, [], start)
        while len(running) < bound:
            index = schedule.take_task()
            if index is None:
                break
            step = self.plan.steps[index]
            kind = HOST_KEY if isinstance(step.effect, GenerateHostKey) else HOST
            lane.touched_elsewhere(_scratch_paths(step.effect))
            task = asyncio.ensure_future(self._task(host, index, step))
            running[task] = _Unit(kind, [index], self._now())
        schedule.launched.set()  # the lane may go on

    def _now(self) -> float:
        return time.perf_counter() - self.started

    def _settle(
        self, future: asyncio.Future[Any], unit: _Unit, schedule: _Schedule
    ) -> tuple[int, BaseException] | None:
        """Take in a finished unit: its reports, its successors; its error, if any."""
        error = future.exception()
        if unit.kind == FILESYSTEM:  # the lane told the schedule what finished
            ran: list[LaneStep] = []
            failure: tuple[int, BaseException] | None = None
            match error:
                case None:
                    ran = cast("list[LaneStep]", future.result())
                case BatchFailed(ran=ran, index=index, cause=cause):
                    failure = (index, cause)
                case BatchStopped(ran=ran):
                    pass
                case _:
                    raise error  # the lane's own bug, not a step's
            for done in ran:
                self._reported(
                    done.index,
                    done.outcome,
                    done.seconds,
                    FILESYSTEM,
                    (done.start - self.started, done.end - self.started),
                )
            return failure
        (index,) = unit.steps
        if error is not None:
            return (index, error)
        outcome, seconds = cast("tuple[str, float]", future.result())
        self._reported(index, outcome, seconds, unit.kind, (unit.start, self._now()))
        schedule.finished([index])
        return None

    def _reported(
        self,
        index: int,
        outcome: str,
        seconds: float,
        unit: str,
        span: tuple[float, float],
    ) -> None:
        # Built directly, as ``StepReport(...)`` would (it has no validators):
        # an apply makes one per step, and attrs' ``__init__`` takes 1.6 times as
        # long.
        step = self.plan.steps[index]
        report = _NEW(StepReport)
        _SET(report, "index", index)
        _SET(report, "stage", step.stage)
        _SET(report, "plan_effect", step.effect)
        _SET(report, "outcome", outcome)
        _SET(report, "seconds", seconds)
        _SET(report, "start", span[0])
        _SET(report, "end", span[1])
        _SET(report, "unit", unit)
        self.reports[index] = report

    async def _undo(self, host: Host) -> RollbackOutcome:
        # Data steps have nothing to undo and no lines in the journal (the lane).
        records = [
            _record(entry)
            for entry in self.records.values()
            if type(entry.effect) not in DATA_EFFECTS
        ]
        outcome = await undo_shielded(
            reversed(records), host, self.journal, in_loop=self.in_loop
        )
        self.keep_private = not outcome.complete
        return outcome

    async def _task(self, host: Host, index: int, step: Step) -> tuple[str, float]:
        """One step outside the lane, observed, journaled and applied on its own."""
        started = time.perf_counter()
        prior = await host.observe(index, step.effect)
        record = StepRecord(
            index=index, stage=step.stage, effect=step.effect, prior=prior
        )
        self.journal.intent(record)
        self.records[index] = record
        if self.options.on_step is not None:
            self.options.on_step(index, step)
        created: list[Created] = []

        def announce(entry: Created) -> None:  # called from the worker thread
            self.journal.created(index, entry)
            created.append(entry)

        try:
            applied = await host.apply(step.effect, prior, announce)
        finally:
            self.records[index] = attrs.evolve(record, created=tuple(created))
        seconds = time.perf_counter() - started
        self.records[index] = attrs.evolve(
            record, created=tuple(created), left=applied.left
        )
        self.journal.done(index, seconds, applied.left)
        return applied.outcome, seconds

    def _report(self, host: Host, seconds: float) -> ApplyReport:
        return ApplyReport(
            plan_id=self.plan.header.plan_id,
            journal=str(self.journal.path),
            dry_run=False,
            steps=tuple(self.reports[index] for index in sorted(self.reports)),
            seconds=seconds,
            kernel=_kernel_record(self.plan),
            container_id=host.container_id,
            parallel=self.options.parallel,
        )

    def _failed(
        self, index: int, exc: HostError, outcome: RollbackOutcome
    ) -> ApplyFailed:
        step = self.plan.steps[index]
        return ApplyFailed(
            index=index,
            stage=step.stage,
            effect=describe(step.effect),
            cause=str(exc),
            rollback=outcome,
            journal=str(self.journal.path),
        )


def _ran_here(
    lane: FsLane, schedule: _Schedule, stop: threading.Event
) -> asyncio.Future[list[LaneStep]]:
    """The lane's batches run now, in the event loop's thread (``lane_in_loop``), as
    the done future a worker thread's run would have given ``_settle``."""
    ran: asyncio.Future[list[LaneStep]] = asyncio.get_running_loop().create_future()
    try:
        ran.set_result(lane.run(schedule, stop))
    except Exception as exc:  # noqa: BLE001  (BatchFailed, BatchStopped or a bug: _settle's)
        ran.set_exception(exc)
    return ran


def _record(entry: StepRecord | LaneStep) -> StepRecord:
    return entry if isinstance(entry, StepRecord) else entry.record()


async def _drain(running: dict[asyncio.Future[Any], _Unit]) -> None:
    """Wait until every running unit has ended, even if cancelled meanwhile: a
    worker thread cannot be stopped, and the rollback must not race it."""
    pending = set(running)
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            continue
    for future in running:
        if not future.cancelled():
            future.exception()  # retrieved: its error is the undo's business now


def _scratch_paths(effect: Effect) -> tuple[PurePosixPath, ...]:
    """The scratch paths a step outside the lane changes (the lane forgets them)."""
    match effect:
        case GenerateHostKey(path=path):
            return (path, effect.public_path)
        case AppendContainerId(path=path):
            return (path,)
        case _:
            return ()


def _kernel_record(plan: Plan) -> JsonObject | None:
    records = [e.record for e in plan.effects if isinstance(e, RegisterKernel)]
    return records[-1] if records else None


def model_apply(plan: Plan, before: Tree) -> Result[ApplyReport, ApplyFailed]:
    """``--dry-run``: apply to the pure model and report like a real apply."""
    match project(plan, before):
        case Failure(error):
            return Failure(
                ApplyFailed(
                    index=error.index,
                    stage=error.stage,
                    effect=error.effect,
                    cause=f"{error.path}: {error.reason} (in the model: nothing ran)",
                    rollback=RollbackOutcome(undone=0, failures=()),
                    journal="",
                )
            )
        case Success(_):
            steps = tuple(
                StepReport(
                    index=i,
                    stage=s.stage,
                    plan_effect=s.effect,
                    outcome="modelled",
                    seconds=0.0,
                )
                for i, s in enumerate(plan.steps)
            )
            return Success(
                ApplyReport(
                    plan_id=plan.header.plan_id,
                    journal="",
                    dry_run=True,
                    steps=steps,
                    seconds=0.0,
                    kernel=_kernel_record(plan),
                    container_id=None,
                )
            )
        case _:
            raise AssertionError("unreachable")  # returns#1361
