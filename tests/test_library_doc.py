"""The agent's library API, through the worked example of docs/library.md.

The example's code blocks run as they are written in the document, against the
private test engine (``docker_engine``): a kernel is planned from the agent's own
inputs, applied with the agent's port pool (its container really runs, publishing
the planned ports) and rolled back from its journal, leaving nothing. The other
tests here use the same public names for what the example does not show:
cancellation, refusals and metrics.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.result import Failure, Success

import executor
import kplan
from bench.sides import cached_host_key
from executor import ApplyOptions, lane_in_loop, read_journal
from planner import scratch_only

from .commands import ROOT
from .contexts import KERNEL_ID, document
from .docker_engine import ReadyEngine
from .executing import has_dropbear, needs_root, tools
from .kernel_containers import KernelHost, containers

DOC = ROOT / "docs" / "library.md"
INPUTS = ("kernel_id", "session_id", "agent_id", "kernel_config", "cluster_info")


def _example() -> dict[str, Any]:
    """The document's python blocks, run in order as one module.

    Every other line of the document becomes an empty one, so a traceback names
    the document's own line numbers.
    """
    text = DOC.read_text()
    blocks = list(re.finditer(r"```python\n(.*?)```", text, re.DOTALL))
    assert len(blocks) == 3, "the worked example is three blocks"
    source = ["" for _ in text.splitlines()]
    for block in blocks:
        first = text.count("\n", 0, block.start(1))
        for offset, line in enumerate(block.group(1).splitlines()):
            source[first + offset] = line
    namespace: dict[str, Any] = {"__name__": "library_example"}
    exec(compile("\n".join(source), str(DOC), "exec"), namespace)  # noqa: S102
    return namespace


def _inputs(doc: dict[str, Any]) -> dict[str, Any]:
    """``create_kernel``'s inputs, as the agent has them, from a context document."""
    inputs = {key: doc[key] for key in INPUTS}
    inputs["local_config"] = doc["local_config"]
    inputs["allocations"] = doc["resource_spec"]["allocations"]
    return inputs


def _free_ports(count: int) -> list[int]:
    """Ports this host hands out as free right now (bound to 0, then closed)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return sorted(probe.getsockname()[1] for probe in probes)
    finally:
        for probe in probes:
            probe.close()


@pytest.mark.docker
@needs_root
def test_the_worked_example_plans_applies_and_rolls_back_a_kernel(
    docker_engine: ReadyEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = KernelHost.make(tmp_path, docker_engine)
    monkeypatch.setenv("KPLAN_RUNNER_DIR", str(host.runner))
    monkeypatch.setenv("DOCKER_HOST", docker_engine.url)
    services = {
        "kernel_config.image.labels.ai__backend__service-ports": "web:http:8080"
    }
    inputs = _inputs(host.document(**services))
    example = _example()
    ports = example["AgentPorts"](_free_ports(6))
    free = list(ports.free)

    kernel = asyncio.run(example["create_kernel"](inputs, ports, tmp_path / "j"))

    assert orjson.loads(orjson.dumps(kernel)) == kernel  # plain data
    (info,) = asyncio.run(containers(docker_engine.url, kernel["plan_id"]))
    assert info["Id"] == kernel["container_id"]
    assert info["State"]["Running"] is True
    bound = {
        port: int(bindings[0]["HostPort"])
        for port, bindings in info["HostConfig"]["PortBindings"].items()
    }
    (web,) = [s for s in kernel["service_ports"] if s["name"] == "web"]
    assert web["container_ports"] == [8080]
    assert web["host_ports"] == [bound["8080/tcp"]]
    assert kernel["repl_ports"] == [bound["2000/tcp"], bound["2001/tcp"]]
    assert set(bound.values()) <= set(free) - set(ports.free)  # taken from the pool
    assert kernel["kernel"]["kernel_id"] == KERNEL_ID
    assert kernel["kernel"]["image"] == f"registry.invalid/{docker_engine.image}"
    assert Path(kernel["journal"]).parent == tmp_path / "j"

    asyncio.run(example["destroy_kernel"](kernel["journal"], ports))

    assert asyncio.run(containers(docker_engine.url, kernel["plan_id"])) == []
    assert list(host.root.iterdir()) == []
    assert sorted(ports.free) == free  # every port back in the pool


def _scratch_inputs(root: Path) -> dict[str, Any]:
    doc = document()
    doc["local_config"]["container"]["scratch_root"] = str(root)
    doc["facts"]["runner"]["has_dropbear"] = has_dropbear()
    return {**_inputs(doc), "facts": doc["facts"], "ask_docker": False}


@needs_root
@pytest.mark.parametrize("in_loop", [False, True])
def test_setting_cancel_rolls_the_apply_back(
    tmp_path: Path,
    in_loop: bool,  # noqa: FBT001
) -> None:
    # Beside dropbearkey the lane runs in the worker thread and stops between two
    # steps; a plan of plain file work (a restart's small scratch, say) runs its
    # lane in the loop's thread at one go, and the cancel undoes it once it ran.
    root = tmp_path / "root"
    root.mkdir()
    planned = asyncio.run(kplan.plan_kernel(**_scratch_inputs(root))).unwrap()
    plan = scratch_only(planned.plan)
    if in_loop or not has_dropbear():
        plan = cached_host_key(plan)  # no dropbearkey: plain file work
    options = ApplyOptions(journal=tmp_path / "unused", tools=tools())
    assert lane_in_loop(plan, options) == (in_loop or not has_dropbear())

    async def cancelled_after(count: int) -> Any:
        cancel = asyncio.Event()
        seen: list[kplan.Progress] = []

        def progress(step: kplan.Progress) -> None:
            seen.append(step)
            if len(seen) == count:
                cancel.set()

        result = await kplan.apply_kernel(
            plan,
            only_scratch=True,
            journal=tmp_path / "journal",
            on_progress=progress,
            cancel=cancel,
            small_in_loop=in_loop,
        )
        return result, seen

    result, seen = asyncio.run(cancelled_after(4))
    assert isinstance(result, Failure)
    stopped = result.failure()
    assert isinstance(stopped, kplan.ApplyCancelled)
    assert stopped.rolled_back
    (total,) = {step.total for step in seen}  # the scratch plan's, every time
    indexes = [step.index for step in seen]
    # Steps run in an order the plan's edges allow (parallel apply), not by
    # index; the kernel's directory, which everything is below, comes first.
    assert indexes[0] == 0
    assert len(set(indexes)) == len(indexes)
    assert set(indexes) <= set(range(total))
    if in_loop:
        assert len(seen) == total  # the lane ran on, then everything was undone
    elif has_dropbear():
        assert total > len(seen)  # stopped before the end, beside dropbearkey
    assert list(root.iterdir()) == []
    assert read_journal(tmp_path / "journal").unwrap().outcome == "rolled-back"


@needs_root
def test_a_scratch_apply_with_metrics_returns_the_kernel_record(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    metrics = kplan.KernelMetrics()
    planned = asyncio.run(
        kplan.plan_kernel(**_scratch_inputs(root), metrics=metrics)
    ).unwrap()
    applied = asyncio.run(
        kplan.apply_kernel(
            planned, only_scratch=True, journal_dir=tmp_path, metrics=metrics
        )
    )
    match applied:
        case Success(kernel):
            pass
        case _:
            pytest.fail(f"not applied: {applied}")
    assert kernel.container_id is None  # only the scratch
    assert kernel.kernel["kernel_id"] == KERNEL_ID
    assert kernel.journal.startswith(str(tmp_path))
    exposition = metrics.exposition().decode()
    assert 'kplan_plans_total{outcome="planned"} 1.0' in exposition
    assert 'kplan_applies_total{outcome="applied"} 1.0' in exposition
    undone = asyncio.run(kplan.rollback_kernel(kernel.journal, metrics=metrics))
    assert undone.unwrap().complete
    assert list(root.iterdir()) == []


def test_every_refusal_names_its_field() -> None:
    inputs = _scratch_inputs(Path("/nonexistent"))
    inputs["kernel_config"] = {**inputs["kernel_config"], "uid": "1000"}
    inputs["local_config"] = {"container": {}}
    result = asyncio.run(kplan.plan_kernel(**inputs))
    assert isinstance(result, Failure)
    fields = {error.field for error in result.failure()}
    assert "kernel_config.uid" in fields
    assert "local_config.container.scratch_root" in fields


@pytest.mark.parametrize(
    ("restarting", "small_in_loop", "in_loop"),
    [(False, True, True), (False, False, False), (True, True, False)],
)
def test_a_new_kernels_host_facts_are_gathered_in_the_loop_unless_asked_not_to(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restarting: bool,  # noqa: FBT001
    small_in_loop: bool,  # noqa: FBT001
    in_loop: bool,  # noqa: FBT001
) -> None:
    # A new kernel's facts are a few stats (the hand-over to a thread costs more);
    # a restart's hold its scratch, however large: never in the loop's thread.
    threads: list[int] = []
    gather = executor.gather_facts  # what kplan._completion calls

    def watched(*args: Any, **kwargs: Any) -> dict[str, object]:
        threads.append(threading.get_ident())
        return gather(*args, **kwargs)

    monkeypatch.setattr("kplan._completion.gather_facts", watched)
    root = tmp_path / "root"
    root.mkdir()
    inputs = {**_scratch_inputs(root), "restarting": restarting}

    async def planned() -> tuple[int, object]:
        result = await kplan.plan_kernel(**inputs, small_in_loop=small_in_loop)
        return threading.get_ident(), result

    loop_thread, result = asyncio.run(planned())
    assert isinstance(result, Success), result
    assert len(threads) == 1
    assert (threads[0] == loop_thread) is in_loop
