"""Real containers: the executor creates, starts, verifies and removes them (issue 5).

Runs against the private ``dockerd`` of the ``docker_engine`` fixture and its
busybox image; the kernel's entrypoint is a script bind-mounted from the test's own
directory, as the krunner mounts provide it on an agent.
"""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiodocker
import orjson
import pytest
from returns.result import Failure, Success

from effects import PullImage, Step
from executor import (
    ApplyOptions,
    HostError,
    apply_plan,
    docker_facts,
    host_probes,
    rollback_journal,
)
from planner import compile_plan, context_from_document

from .contexts import KERNEL_ID, document
from .executing import needs_root, snapshot, tools

pytestmark = [pytest.mark.docker, needs_root]
PLAN_LABEL = "ai.backend.kplan.plan-id"
ROOT = Path(__file__).parent.parent


def _context(tmp_path: Path, engine: Any, script: str, **changes: Any) -> Any:
    root, ipc = tmp_path / "root", tmp_path / "ipc"
    root.mkdir()
    (ipc / "container").mkdir(parents=True)
    (ipc / "container" / "agent.i-test.sock").touch()  # the agent socket legacy mounts
    entrypoint = tmp_path / "entrypoint.sh"
    entrypoint.write_text(script)
    entrypoint.chmod(0o755)
    doc = document(
        **{
            "image": {"canonical": engine.image, "is_local": True, "labels": {}},
            "local_config.container.alternative_bridge": "none",
            "local_config.agent": {"ipc_base_path": str(ipc)},
            "mounts": [
                {
                    "source": str(entrypoint),
                    "target": "/opt/kernel/entrypoint.sh",
                    "permission": "ro",
                }
            ],
            "facts.host": host_probes(),
            "facts.image_present": True,
            **changes,
        }
    )
    doc["local_config"]["container"]["scratch_root"] = str(root)
    doc["facts"]["runner"]["has_dropbear"] = tools().dropbearkey is not None
    ctx = context_from_document(copy.deepcopy(doc)).unwrap()
    return root, compile_plan(ctx, containers=True).unwrap()


async def _containers(url: str, plan_id: str) -> list[dict[str, Any]]:
    async with aiodocker.Docker(url=url) as docker:
        found = await docker.containers.list(
            all=True, filters={"label": [f"{PLAN_LABEL}={plan_id}"]}
        )
        return [await c.show() for c in found]


def _apply(plan: Any, journal: Path, url: str, on_step: Any = None) -> Any:
    options = ApplyOptions(
        journal=journal, tools=tools(), docker_url=url, on_step=on_step
    )
    return asyncio.run(apply_plan(plan, options))


def test_a_kernel_container_is_created_verified_and_rolled_back(
    docker_engine: Any,
    tmp_path: Path,
) -> None:
    root, plan = _context(tmp_path, docker_engine, "#!/bin/sh\nexec sleep 600\n")
    result = _apply(plan, tmp_path / "journal", docker_engine.url)
    assert isinstance(result, Success), result
    (info,) = asyncio.run(_containers(docker_engine.url, plan.header.plan_id))
    assert info["Id"] == result.unwrap().container_id
    assert info["State"]["Running"] is True
    assert info["Config"]["Labels"]["ai.backend.kernel-id"] == KERNEL_ID
    mounts = {m["Destination"]: m["Source"] for m in info["Mounts"]}
    assert mounts["/home/work"] == str(root / KERNEL_ID / "work")
    outcome = asyncio.run(rollback_journal(tmp_path / "journal", tools())).unwrap()
    assert outcome.complete, outcome.failures
    assert asyncio.run(_containers(docker_engine.url, plan.header.plan_id)) == []
    assert list(root.iterdir()) == []


def test_a_container_that_exits_at_once_fails_and_is_removed_with_the_scratch(
    docker_engine: Any,
    tmp_path: Path,
) -> None:
    root, plan = _context(tmp_path, docker_engine, "#!/bin/sh\nexit 3\n")
    result = _apply(plan, tmp_path / "journal", docker_engine.url)
    assert isinstance(result, Failure)
    failure = result.failure()
    assert failure.stage == "container"
    assert "verify-container" in failure.effect
    assert failure.rollback.complete
    assert asyncio.run(_containers(docker_engine.url, plan.header.plan_id)) == []
    assert list(root.iterdir()) == []


def test_a_failure_after_the_start_removes_the_running_container(
    docker_engine: Any,
    tmp_path: Path,
) -> None:
    root, plan = _context(tmp_path, docker_engine, "#!/bin/sh\nexec sleep 600\n")
    verify = len(plan.steps) - 1

    def fail(index: int, _step: Step) -> None:
        if index == verify:
            raise HostError("injected", "(test)", "injected after the start")

    result = _apply(plan, tmp_path / "journal", docker_engine.url, on_step=fail)
    assert isinstance(result, Failure)
    assert result.failure().rollback.complete
    assert asyncio.run(_containers(docker_engine.url, plan.header.plan_id)) == []
    assert snapshot(root).entries == ()


def test_an_image_that_cannot_be_pulled_fails_cleanly(
    docker_engine: Any,
    tmp_path: Path,
) -> None:
    root, plan = _context(
        tmp_path,
        docker_engine,
        "#!/bin/sh\nexec sleep 600\n",
        **{
            "image": {"canonical": "registry.invalid/kplan/missing:1", "labels": {}},
            "facts.image_present": False,
        },
    )
    assert any(isinstance(s.effect, PullImage) for s in plan.steps)
    result = _apply(plan, tmp_path / "journal", docker_engine.url)
    assert isinstance(result, Failure)
    assert "pull" in result.failure().cause
    assert list(root.iterdir()) == []


def test_a_plan_with_containers_needs_a_docker_endpoint(
    docker_engine: Any,
    tmp_path: Path,
) -> None:
    root, plan = _context(tmp_path, docker_engine, "#!/bin/sh\nexec sleep 600\n")
    options = ApplyOptions(journal=tmp_path / "journal", tools=tools())
    result = asyncio.run(apply_plan(plan, options))
    assert isinstance(result, Failure)
    assert "Docker endpoint" in result.failure().cause
    assert list(root.iterdir()) == []


def test_kplan_apply_with_docker_gathers_facts_and_rollback_removes_all(
    docker_engine: Any, tmp_path: Path
) -> None:
    _, plan = _context(tmp_path, docker_engine, "#!/bin/sh\nexec sleep 600\n")
    doc = document(
        **{
            "image": {"canonical": docker_engine.image, "is_local": True, "labels": {}},
            "local_config.container.alternative_bridge": "none",
            "local_config.agent": {"ipc_base_path": str(tmp_path / "ipc")},
            "mounts": [
                {
                    "source": str(tmp_path / "entrypoint.sh"),
                    "target": "/opt/kernel/entrypoint.sh",
                    "permission": "ro",
                }
            ],
        }
    )
    del doc["facts"]  # the CLI gathers them, Docker's included
    doc["local_config"]["container"]["scratch_root"] = str(tmp_path / "root")
    (tmp_path / "ctx.json").write_bytes(orjson.dumps(doc))
    journal = tmp_path / "journal.jsonl"
    command = [
        sys.executable,
        "-m",
        "kplan",
        "apply",
        str(tmp_path / "ctx.json"),
        "--docker",
        docker_engine.url,
        "--journal",
        str(journal),
        "--format",
        "json",
    ]
    applied = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert applied.returncode == 0, applied.stderr
    report = orjson.loads(applied.stdout)
    assert report["container_id"]
    plan_id = report["plan_id"]
    assert len(asyncio.run(_containers(docker_engine.url, plan_id))) == 1
    undo = [sys.executable, "-m", "kplan", "rollback", str(journal)]
    undone = subprocess.run(undo, capture_output=True, text=True, check=False, cwd=ROOT)
    assert undone.returncode == 0, undone.stderr
    assert asyncio.run(_containers(docker_engine.url, plan_id)) == []
    assert list((tmp_path / "root").iterdir()) == []
    assert plan.header.plan_id != plan_id  # gathered facts differ from the test's own


def test_docker_facts_list_volumes_and_image_presence(docker_engine: Any) -> None:
    present = asyncio.run(docker_facts(docker_engine.url, docker_engine.image))
    missing = asyncio.run(docker_facts(docker_engine.url, "kplan-test/nope:1"))
    assert present["image_present"] is True
    assert missing["image_present"] is False
    assert isinstance(present["docker_volumes"], list)
