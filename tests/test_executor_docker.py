"""Real kernel containers on the private test engine (issues 5 and 11).

Each kernel gets an agent host's files (``tests.kernel_containers``): a copy of the
sample runner package whose entrypoint is the test's script, the krunner volume and
a bridge network of the engine's. The whole plan runs: host ports, create with the
full body, the ``CID=`` line, start, sudo, networks, verification and readiness;
every failure must leave no container, no port, no socket and no scratch entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.result import Failure, Success

from effects import (
    AllocateHostPorts,
    CreateContainer,
    PullImage,
    ServeSocketProxy,
    Step,
    decode,
    thaw_object,
)
from executor import (
    ApplyOptions,
    HostError,
    apply_plan,
    docker_facts,
    rollback_journal,
)

from .commands import kplan
from .docker_engine import ReadyEngine
from .executing import needs_root, snapshot, tools
from .kernel_containers import GREETER, KernelHost, containers, show

pytestmark = [pytest.mark.docker, needs_root]


def _apply(plan: Any, journal: Path, url: str, on_step: Any = None) -> Any:
    options = ApplyOptions(
        journal=journal, tools=tools(), docker_url=url, on_step=on_step
    )
    return asyncio.run(apply_plan(plan, options))


def _body(plan: Any) -> tuple[str, dict[str, Any]]:
    (create,) = [s.effect for s in plan.steps if isinstance(s.effect, CreateContainer)]
    return create.name, thaw_object(create.config)


def _ports(plan: Any) -> tuple[int, ...]:
    (taken,) = [s.effect for s in plan.steps if isinstance(s.effect, AllocateHostPorts)]
    return tuple(taken.ports)


def test_kplan_apply_makes_the_planned_container_and_rollback_removes_it(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine)
    context = tmp_path / "ctx.json"
    context.write_bytes(orjson.dumps(host.document()))
    env = {"KPLAN_RUNNER_DIR": str(host.runner)}
    url, journal = docker_engine.url, tmp_path / "journal.jsonl"
    output = str(tmp_path / "plan.json")
    planned = kplan("plan", str(context), "--docker", url, "-o", output, env=env)
    applied = kplan(
        "apply",
        *(str(context), "--docker", url, "--journal", str(journal)),
        *("--format", "json"),
        env=env,
    )
    assert planned.returncode == 0, planned.stderr
    assert applied.returncode == 0, applied.stderr
    report = orjson.loads(applied.stdout)

    plan = decode(Path(output).read_bytes()).unwrap()
    assert report["plan_id"] == plan.header.plan_id  # the dry run is what ran
    name, body = _body(plan)
    (info,) = asyncio.run(containers(docker_engine.url, plan.header.plan_id))
    assert info["Name"] == f"/{name}"
    assert info["Id"] == report["container_id"]
    assert info["State"]["Running"] is True
    assert set(body["Env"]) <= set(info["Config"]["Env"])
    assert info["HostConfig"]["PortBindings"] == body["HostConfig"]["PortBindings"]
    actual = {  # an empty HostIp binds IPv4 and IPv6: one port, two entries
        port: {b["HostPort"] for b in bound or []}
        for port, bound in info["NetworkSettings"]["Ports"].items()
    }
    for port, wanted in body["HostConfig"]["PortBindings"].items():
        assert actual[port] == {wanted[0]["HostPort"]}, (port, actual)
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    for wanted in body["HostConfig"]["Mounts"]:
        got = mounts[wanted["Target"]]
        key = "Name" if wanted["Type"] == "volume" else "Source"
        assert got[key] == wanted["Source"], wanted
        assert got["RW"] is not wanted["ReadOnly"], wanted
    inside = asyncio.run(
        show(docker_engine.url, name, ["cat", "/home/config/environ.txt"])
    )
    scratch = host.root / plan.header.kernel_id / "config"
    assert inside == (scratch / "environ.txt").read_text()
    resource = (scratch / "resource.txt").read_text()
    assert resource.endswith(f"CID={info['Id']}\n")
    undone = kplan("rollback", str(journal))
    assert undone.returncode == 0, undone.stderr
    assert asyncio.run(containers(docker_engine.url, plan.header.plan_id)) == []
    assert list(host.root.iterdir()) == []


def test_a_container_that_exits_at_once_leaves_nothing_and_frees_its_ports(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine, "#!/bin/sh\nexit 3\n")
    plan = host.plan()
    result = _apply(plan, tmp_path / "journal", docker_engine.url)
    assert isinstance(result, Failure)
    failure = result.failure()
    assert failure.stage == "container"
    assert "verify-container" in failure.effect
    assert failure.rollback.complete, failure.rollback
    assert asyncio.run(containers(docker_engine.url, plan.header.plan_id)) == []
    assert list(host.root.iterdir()) == []
    # nothing holds the ports: the same kernel planned again gets the same ones
    host.entrypoint("#!/bin/sh\nexec sleep 600\n")
    again = host.plan()
    assert _ports(again) == _ports(plan)
    second = _apply(again, tmp_path / "journal2", docker_engine.url)
    assert isinstance(second, Success), second
    rolled = asyncio.run(rollback_journal(tmp_path / "journal2", tools()))
    assert rolled.unwrap().complete


def test_a_failure_after_the_start_removes_the_running_container(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine)
    plan = host.plan()
    last = len(plan.steps) - 1

    def fail(index: int, _step: Step) -> None:
        if index == last:
            raise HostError("injected", "(test)", "injected after the start")

    result = _apply(plan, tmp_path / "journal", docker_engine.url, on_step=fail)
    assert isinstance(result, Failure)
    assert result.failure().rollback.complete
    assert asyncio.run(containers(docker_engine.url, plan.header.plan_id)) == []
    assert snapshot(host.root).entries == ()


def test_once_the_file_work_is_done_no_entry_of_the_scratch_is_held_open(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    # The lane closes what it kept open in its own thread when its last step
    # finished: the container's steps then run with nothing below the root held
    # (only the root's own descriptor), and a rollback opens what it needs.
    host = KernelHost.make(tmp_path, docker_engine)
    plan = host.plan()
    last = len(plan.steps) - 1
    held: list[str] = []

    def look(index: int, _step: Step) -> None:
        if index == last:
            for fd in Path("/proc/self/fd").iterdir():
                with contextlib.suppress(OSError):  # the listing's own, closed
                    held.append(str(fd.readlink()))

    result = _apply(plan, tmp_path / "journal", docker_engine.url, on_step=look)
    assert isinstance(result, Success)
    assert str(host.root) in held
    assert [path for path in held if path.startswith(f"{host.root}/")] == []
    rolled = asyncio.run(rollback_journal(tmp_path / "journal", tools()))
    assert rolled.unwrap().complete
    assert asyncio.run(containers(docker_engine.url, plan.header.plan_id)) == []


@contextlib.contextmanager
def _listening(port: int) -> Iterator[None]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("0.0.0.0", port))  # noqa: S104  (the port must be taken everywhere)
    holder.listen()
    try:
        yield
    finally:
        holder.close()


def test_a_host_port_taken_by_another_process_is_refused_naming_it(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine)
    plan = host.plan()
    taken = _ports(plan)[1]
    with _listening(taken):
        result = _apply(plan, tmp_path / "journal", docker_engine.url)
    assert isinstance(result, Failure)
    failure = result.failure()
    assert "allocate-host-ports" in failure.effect or "host ports" in failure.cause
    assert str(taken) in failure.cause
    assert failure.rollback.complete
    assert asyncio.run(containers(docker_engine.url, plan.header.plan_id)) == []
    assert list(host.root.iterdir()) == []


def test_an_image_that_cannot_be_pulled_fails_cleanly(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine)
    missing = {
        "canonical": "registry.invalid/kplan/missing:1",
        "architecture": "x86_64",
        "registry": {"name": "registry.invalid", "url": "https://registry.invalid"},
        "labels": {"ai.backend.base-distro": "ubuntu22.04"},
    }
    plan = host.plan(**{"kernel_config.image": missing})
    assert any(isinstance(s.effect, PullImage) for s in plan.steps)
    result = _apply(plan, tmp_path / "journal", docker_engine.url)
    assert isinstance(result, Failure)
    assert "pull" in result.failure().cause
    assert result.failure().rollback.complete
    assert list(host.root.iterdir()) == []


def test_a_plan_with_containers_needs_a_docker_endpoint(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine)
    options = ApplyOptions(journal=tmp_path / "journal", tools=tools())
    result = asyncio.run(apply_plan(host.plan(), options))
    assert isinstance(result, Failure)
    assert "Docker endpoint" in result.failure().cause
    assert list(host.root.iterdir()) == []


def test_kplan_apply_names_an_engine_that_does_not_answer(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/no-such.sock"
    done = kplan("apply", "sample", "--docker", url)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert url in done.stderr
    assert "--scratch-only" in done.stderr


def test_a_sudo_session_gets_its_sudoers_file(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine)
    plan = host.plan(**{"kernel_config.internal_data.sudo_session_enabled": True})
    result = _apply(plan, tmp_path / "journal", docker_engine.url)
    assert isinstance(result, Success), result
    name, _ = _body(plan)
    sudoers = asyncio.run(
        show(docker_engine.url, name, ["cat", "/etc/sudoers.d/01-bai-work"])
    )
    assert sudoers == "work ALL=(ALL:ALL) NOPASSWD:ALL\n"
    assert (
        asyncio.run(rollback_journal(tmp_path / "journal", tools())).unwrap().complete
    )


def test_readiness_waits_for_the_runner_and_a_silent_one_rolls_back(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine, GREETER)
    quick = {"local_config.kernel_lifecycles.init_polling_timeout_sec": 3.0}
    ready = host.ready_plan(**quick)
    result = _apply(ready, tmp_path / "journal", docker_engine.url)
    assert isinstance(result, Success), result
    assert result.unwrap().steps[-1].effect.startswith("wait-ready")
    assert (
        asyncio.run(rollback_journal(tmp_path / "journal", tools())).unwrap().complete
    )
    host.entrypoint("#!/bin/sh\nexec sleep 600\n")
    silent = host.ready_plan(**quick)
    failed = _apply(silent, tmp_path / "journal2", docker_engine.url)
    assert isinstance(failed, Failure)
    assert "ZMTP greeting" in failed.failure().cause
    assert failed.failure().rollback.complete
    assert asyncio.run(containers(docker_engine.url, silent.header.plan_id)) == []


@contextlib.contextmanager
def _echo_server(path: Path) -> Iterator[None]:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                peer, _ = server.accept()
                with peer:
                    peer.sendall(b"echo:" + peer.recv(64))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.close()


def _ask(path: Path, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(path))
        client.sendall(data)
        return client.recv(64)


def test_a_domain_socket_proxy_serves_its_socket_and_goes_with_the_rollback(
    docker_engine: ReadyEngine, tmp_path: Path
) -> None:
    host = KernelHost.make(tmp_path, docker_engine)
    target = tmp_path / "image-importer.sock"
    proxies = {"kernel_config.internal_data.domain_socket_proxies": [str(target)]}
    plan = host.plan(**proxies)
    (proxy,) = [s.effect for s in plan.steps if isinstance(s.effect, ServeSocketProxy)]
    path = Path(proxy.path)
    with _echo_server(target):
        result = _apply(plan, tmp_path / "journal", docker_engine.url)
        assert isinstance(result, Success), result
        assert path.stat().st_mode & 0o777 == 0o666
        assert _ask(path, b"ping") == b"echo:ping"
        name, _ = _body(plan)
        (info,) = asyncio.run(containers(docker_engine.url, plan.header.plan_id))
        mounted = {m["Destination"]: m["Source"] for m in info["Mounts"]}
        assert mounted[str(target)] == str(path)
        del name
        outcome = asyncio.run(rollback_journal(tmp_path / "journal", tools()))
    assert outcome.unwrap().complete
    assert not path.exists()
    assert not path.parent.exists()  # the apply made ipc/proxy: the undo removes it
    assert _proxy_processes(path) == []


def _proxy_processes(path: Path) -> list[int]:
    """Pids whose command line names the proxy socket (after a short grace)."""
    found: list[int] = []
    for _ in range(50):
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
        if not found:
            return []
        threading.Event().wait(0.1)
    return found


def test_docker_facts_list_volumes_image_and_free_ports(
    docker_engine: ReadyEngine,
) -> None:
    present = asyncio.run(
        docker_facts(docker_engine.url, docker_engine.image, (30000, 30009))
    )
    missing = asyncio.run(docker_facts(docker_engine.url, "kplan-test/nope:1"))
    assert present["image_present"] is True
    assert str(present["image_id"]).startswith("sha256:")
    assert missing["image_present"] is False
    assert docker_engine.krunner_volume in present["docker_volumes"]  # type: ignore[operator]
    assert present["host_ports"] == list(range(30000, 30010))
