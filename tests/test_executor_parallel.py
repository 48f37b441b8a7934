"""Parallel apply from the plan's edges (issue 12): bounded, exact, and reported.

The lane runs the filesystem steps in batches while the host key and the
container's steps run beside it; the journal holds the intents in the order the
steps started, and the rollback undoes in its reverse. No timed assertions: what
is checked is order, outcome and what the report says ran alongside.
"""

from __future__ import annotations

import asyncio
import copy
import random
import threading
from pathlib import Path, PurePosixPath
from typing import Any

import attrs
import orjson
import pytest
from returns.result import Failure, Success

from bench.sides import cached_host_key
from effects import (
    DATA_EFFECTS,
    GenerateHostKey,
    Plan,
    Step,
    Tree,
    project,
    seal,
)
from executor import (
    ApplyOptions,
    HostError,
    apply_plan,
    lane_in_loop,
    read_journal,
    rollback_journal,
)
from executor import _rollback as _rollback_module
from executor._apply import LOOP_BYTES, LOOP_STEPS
from planner import compile_plan, context_from_document, scratch_only

from .contexts import KERNEL_ID
from .executing import (
    deepest,
    document_at,
    fail_at,
    has_dropbear,
    model,
    needs_root,
    plan_at,
    snapshot,
    tools,
)

pytestmark = needs_root
KERNELS = 32
FULL = {
    "kernel_config.uid": 2001,
    "kernel_config.bootstrap_script": "echo hi",
    "kernel_config.internal_data.ssh_keypair": {"public_key": "p", "private_key": "s"},
    "kernel_config.internal_data.dotfiles": [
        {"path": f".config/app{n % 3}/rc{n}", "perm": "640", "data": f"{n}"}
        for n in range(12)
    ],
}


def _shape(tree: Tree) -> list[object]:
    return [
        (p, n.type, n.mode, n.uid, n.gid, None if n.volatile else n.sha256)
        for p, n in tree.entries
        if "dropbear" not in str(p)
    ]


def _intents(journal: Path) -> list[int]:
    return [
        record["index"]
        for record in map(orjson.loads, journal.read_bytes().splitlines())
        if record["kind"] == "intent"
    ]


def test_one_at_a_time_is_plan_order_and_in_parallel_the_edges_are_kept(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    options = ApplyOptions(journal=tmp_path / "one", tools=tools(), parallel=1)
    asyncio.run(apply_plan(plan, options)).unwrap()
    # every step that changes the host, none of the data steps (nothing to undo)
    journaled = [
        index
        for index, step in enumerate(plan.steps)
        if type(step.effect) not in DATA_EFFECTS
    ]
    assert len(journaled) < len(plan.steps)
    assert _intents(tmp_path / "one") == journaled
    asyncio.run(rollback_journal(tmp_path / "one", tools())).unwrap()
    options = ApplyOptions(journal=tmp_path / "many", tools=tools(), parallel=8)
    asyncio.run(apply_plan(plan, options)).unwrap()
    started = {index: place for place, index in enumerate(_intents(tmp_path / "many"))}
    assert sorted(started) == journaled
    for before, later in plan.edges:
        assert started[before] < started[later], (before, later)


def test_a_plan_with_the_parallel_bound_below_one_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="parallel"):
        ApplyOptions(journal=Path("j"), tools=tools(), parallel=0)


@pytest.mark.parametrize(
    ("parallel", "lane"),
    [(1, "host key"), (2, "host key"), (8, "host key"), (1, "loop"), (8, "loop")],
)
def test_a_failure_at_any_step_in_parallel_leaves_the_exact_prior_state(
    tmp_path: Path, parallel: int, lane: str
) -> None:
    # "host key": the lane in its worker thread beside dropbearkey (when there is
    # one); "loop": the plan's file work alone, its lane in the loop's thread.
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    if lane == "loop":
        plan = cached_host_key(plan)
    before = snapshot(root)
    for index in range(len(plan.steps)):
        journal = tmp_path / f"journal-{parallel}-{index}"
        options = ApplyOptions(
            journal=journal, tools=tools(), parallel=parallel, on_step=fail_at(index)
        )
        assert lane_in_loop(plan, options) == (lane == "loop" or not has_dropbear())
        result = asyncio.run(apply_plan(plan, options))
        assert isinstance(result, Failure), index
        assert result.failure().index == index
        assert result.failure().rollback.complete, (index, result.failure())
        assert snapshot(root) == before, f"leftovers after a failure at step {index}"
        assert read_journal(journal).unwrap().outcome == "rolled-back"


def test_the_rollback_undoes_in_the_reverse_order_the_steps_started(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    journal = tmp_path / "journal"
    last = deepest(plan)
    options = ApplyOptions(journal=journal, tools=tools(), on_step=fail_at(last))
    assert isinstance(asyncio.run(apply_plan(plan, options)), Failure)
    records = list(map(orjson.loads, journal.read_bytes().splitlines()))
    started = [r["index"] for r in records if r["kind"] == "intent"]
    undone = [r["index"] for r in records if r["kind"] in {"undone", "not-undone"}]
    assert undone == started[::-1]


@pytest.mark.skipif(
    not has_dropbear(), reason="LOUD SKIP: no dropbear to generate a host key"
)
def test_the_host_key_is_generated_alongside_the_file_work_and_reported(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ctx, plan = plan_at(root, **FULL)
    key = next(
        i for i, s in enumerate(plan.steps) if isinstance(s.effect, GenerateHostKey)
    )
    report = asyncio.run(
        apply_plan(plan, ApplyOptions(journal=tmp_path / "journal", tools=tools()))
    ).unwrap()
    (overlap,) = (o for o in report.overlaps if o.index == key)
    assert overlap.unit == "host key"
    assert overlap.alongside  # filesystem steps ran while dropbearkey did
    units = {s.unit for s in report.steps if s.index in overlap.alongside}
    assert units == {"filesystem"}
    assert _shape(snapshot(root)) == _shape(model(plan, ctx.facts.scratch_tree))


def _kernel_plan(root: Path, number: int) -> Plan:
    """Kernel ``number`` of many on one scratch root, its host key fixed bytes (32
    RSA keys are not what is tested)."""
    doc: dict[str, Any] = copy.deepcopy(document_at(root, **FULL))
    doc["kernel_id"] = f"{KERNEL_ID[:-12]}{number:012d}"
    plan = scratch_only(compile_plan(context_from_document(doc).unwrap()).unwrap())
    return cached_host_key(plan)


def _kernel_tree(tree: Tree, kernel: str) -> Tree:
    return Tree([(p, n) for p, n in tree.entries if p.parts[0] == kernel])


def test_thirty_two_kernels_applied_at_once_in_one_process_each_stay_correct(
    tmp_path: Path,
) -> None:
    # One scratch root, 32 kernels at once in one event loop (the agent's case);
    # a third of them fail at a random step. Each kernel is exactly its plan's
    # model, or exactly as before; then every journal rolls back to nothing.
    root = tmp_path / "root"
    root.mkdir()
    plans = [_kernel_plan(root, number) for number in range(KERNELS)]
    draw = random.Random(12)  # noqa: S311  (which kernels fail where: not a secret)
    chosen = draw.sample(range(KERNELS), KERNELS // 3)
    failing = {n: draw.randrange(len(plans[n].steps)) for n in chosen}

    async def one(number: int, plan: Plan) -> object:
        hook = fail_at(failing[number]) if number in failing else None
        options = ApplyOptions(
            journal=tmp_path / f"journal-{number}", tools=tools(), on_step=hook
        )
        return await apply_plan(plan, options)

    async def every() -> list[object]:
        return await asyncio.gather(*(one(n, p) for n, p in enumerate(plans)))

    results = asyncio.run(every())
    tree = snapshot(root)
    for number, (plan, result) in enumerate(zip(plans, results, strict=True)):
        mine = _kernel_tree(tree, plan.header.kernel_id)
        if number in failing:
            assert isinstance(result, Failure), number
            assert result.failure().rollback.complete
            assert mine == Tree()
        else:
            assert isinstance(result, Success), (number, result)
            assert _shape(mine) == _shape(project(plan, Tree()).unwrap())
    for number in range(KERNELS):
        journal = tmp_path / f"journal-{number}"
        assert asyncio.run(rollback_journal(journal, tools())).unwrap().complete
    assert list(root.iterdir()) == []


def test_a_failure_in_one_unit_stops_the_others_and_undoes_everything(
    tmp_path: Path,
) -> None:
    # A failing filesystem step while the host key is being generated: the key
    # (its thread cannot be stopped) finishes, then everything is undone.
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    before = snapshot(root)
    key = [i for i, s in enumerate(plan.steps) if isinstance(s.effect, GenerateHostKey)]
    victims = [i for i in range(len(plan.steps)) if i not in key]

    def fail(index: int, _step: Step) -> None:
        if index == victims[len(victims) // 2]:
            raise HostError("injected", "(test)", "while the key is generated")

    options = ApplyOptions(journal=tmp_path / "journal", tools=tools(), on_step=fail)
    result = asyncio.run(apply_plan(plan, options))
    assert isinstance(result, Failure)
    assert result.failure().rollback.complete
    assert snapshot(root) == before


def _threads_of(plan: Plan, options: ApplyOptions) -> tuple[int, set[int]]:
    """Apply ``plan``: the event loop's thread and the threads its steps ran in."""
    seen: set[int] = set()

    def note(_index: int, _step: Step) -> None:
        seen.add(threading.get_ident())

    async def run() -> int:
        await apply_plan(plan, attrs.evolve(options, on_step=note))
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    return loop_thread, seen


@pytest.mark.parametrize("small_in_loop", [True, False])
def test_a_small_plan_of_file_work_runs_its_lane_in_the_event_loops_thread(
    tmp_path: Path,
    small_in_loop: bool,  # noqa: FBT001
) -> None:
    # Nothing could overlap it: a hand-over to the worker thread and back would
    # only add its cost. Unless the caller keeps every call out of the loop.
    root = tmp_path / "root"
    root.mkdir()
    ctx, plan = plan_at(root, **FULL)
    plan = cached_host_key(plan)
    options = ApplyOptions(
        journal=tmp_path / "journal", tools=tools(), small_in_loop=small_in_loop
    )
    assert lane_in_loop(plan, options) == small_in_loop
    loop_thread, threads = _threads_of(plan, options)
    if small_in_loop:
        assert threads == {loop_thread}
    else:
        assert loop_thread not in threads
        assert len(threads) == 1
    assert _shape(snapshot(root)) == _shape(model(plan, ctx.facts.scratch_tree))
    asyncio.run(rollback_journal(tmp_path / "journal", tools())).unwrap()
    assert list(root.iterdir()) == []


def test_the_lane_leaves_the_loop_for_plans_with_something_to_overlap_or_long_work(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    options = ApplyOptions(journal=tmp_path / "journal", tools=tools())
    _, plan = plan_at(root, **FULL)
    small = cached_host_key(plan)
    assert lane_in_loop(small, options)
    assert not lane_in_loop(small, attrs.evolve(options, durable=True))  # fsyncs
    key = GenerateHostKey(
        path=PurePosixPath(f"{KERNEL_ID}/config/ssh/other_key"), kind="rsa", bits=2048
    )
    keyed = seal(
        small.header, [*small.steps, Step(stage="ssh", effect=key)], small.blobs
    )
    assert not lane_in_loop(keyed, options)  # dropbearkey: the file work overlaps it
    many = [
        {"path": f"many/rc{n}", "perm": "644", "data": "x"} for n in range(LOOP_STEPS)
    ]
    _, long = plan_at(root, **{**FULL, "kernel_config.internal_data.dotfiles": many})
    assert not lane_in_loop(cached_host_key(long), options)
    big = [{"path": "big", "perm": "644", "data": "x" * LOOP_BYTES}]
    _, large = plan_at(root, **{**FULL, "kernel_config.internal_data.dotfiles": big})
    assert not lane_in_loop(cached_host_key(large), options)
    memory = {**FULL, "local_config.container.scratch_type": "memory"}
    _, mounted = plan_at(root, **memory)
    assert not lane_in_loop(cached_host_key(mounted), options)  # mount(8) runs
    loop_thread, threads = _threads_of(cached_host_key(long), options)
    assert loop_thread not in threads


@pytest.mark.parametrize("rollback_in_loop", [True, False])
def test_the_undo_of_a_small_plan_runs_where_its_lane_ran(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rollback_in_loop: bool,  # noqa: FBT001
) -> None:
    # In-process, the undo of a failed apply follows its lane; ``kplan rollback``
    # asks for the loop's thread (its loop serves nothing else), an agent not.
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    plan = cached_host_key(plan)
    before = snapshot(root)
    threads: list[int] = []
    real = _rollback_module._undo_group

    def spied(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(_rollback_module, "_undo_group", spied)

    async def failed() -> int:
        options = ApplyOptions(
            journal=tmp_path / "failed", tools=tools(), on_step=fail_at(deepest(plan))
        )
        assert isinstance(await apply_plan(plan, options), Failure)
        return threading.get_ident()

    loop_thread = asyncio.run(failed())
    assert threads == [loop_thread]
    assert snapshot(root) == before

    async def undone() -> int:
        options = ApplyOptions(journal=tmp_path / "done", tools=tools())
        (await apply_plan(plan, options)).unwrap()
        outcome = await rollback_journal(
            tmp_path / "done", tools(), in_loop=rollback_in_loop
        )
        assert outcome.unwrap().complete
        return threading.get_ident()

    threads.clear()
    loop_thread = asyncio.run(undone())
    assert len(threads) == 1
    assert (threads[0] == loop_thread) == rollback_in_loop
    assert snapshot(root) == before
