"""Kernels whose containers really run on the test engine (``docker_engine``).

A kernel's container needs what an agent host has: the runner package (whose
``entrypoint.sh`` the krunner mounts bind in, §9.2), the kernel and helpers
packages beside it, the agent socket legacy mounts, the krunner volume and a
network. ``KernelHost`` builds them below a test's directory, with an entrypoint
script of the test's choosing in a copy of kplan's sample runner package.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiodocker
import attrs
import pytest

from effects import Plan
from executor import PLAN_LABEL
from kplan._completion import complete_document
from legacy import legacy_runner_dir
from planner import Context, compile_plan, context_from_document

from .contexts import SAMPLES, document
from .docker_engine import ReadyEngine

__all__ = ["KernelHost", "containers", "show"]

SLEEP = "#!/bin/sh\nexec sleep 600\n"
# A stand-in for the kernel runner's REPL sockets: each port greets a peer with the
# ZMTP signature, as a ZeroMQ listener does (executor: WaitKernelReady).
GREETER = """#!/bin/sh
printf '\\377\\0\\0\\0\\0\\0\\0\\0\\1\\177' > /tmp/greeting
for port in 2000 2001; do
  (while true; do nc -l -p "$port" < /tmp/greeting; done) &
done
exec sleep 600
"""


@attrs.frozen
class KernelHost:
    """An agent host's files for kernels, below ``base``."""

    base: Path
    engine: ReadyEngine

    @classmethod
    def make(cls, base: Path, engine: ReadyEngine, script: str = SLEEP) -> KernelHost:
        """Lay out the runner package (with ``script`` as its entrypoint), the
        kernel and helpers packages, the krunner python's version and the agent
        socket, and an empty scratch root."""
        shutil.copytree(
            SAMPLES, base / "pkg", ignore=shutil.ignore_patterns("kernel.json")
        )
        host = cls(base, engine)
        legacy = legacy_runner_dir()
        real = ("dropbearmulti.x86_64.bin", "default-seccomp.json")
        if legacy is None or not all((legacy / name).is_file() for name in real):
            pytest.skip("LOUD SKIP: no real dropbear here (the legacy venv ships it)")
        # the sample's are stand-ins: host keys need the real dropbear, and the
        # container runs under the real seccomp profile
        for name in real:
            shutil.copy2(legacy / name, host.runner / name)
        host.entrypoint(script)
        (base / "ipc" / "container").mkdir(parents=True)
        (base / "ipc" / "container" / "agent.i-test.sock").touch()
        (base / "root").mkdir()
        return host

    @property
    def runner(self) -> Path:
        """The runner package directory."""
        return self.base / "pkg" / "runner"

    @property
    def root(self) -> Path:
        """The scratch root."""
        return self.base / "root"

    def entrypoint(self, script: str) -> None:
        """Make ``script`` the kernel's entrypoint."""
        path = self.runner / "entrypoint.sh"
        path.write_text(script)
        path.chmod(0o755)

    def document(self, **changes: object) -> dict[str, Any]:
        """A context document for a kernel here, without facts."""
        doc = document(
            **{
                "kernel_config.image": {
                    "canonical": self.engine.image,
                    "architecture": "x86_64",
                    "registry": {
                        "name": "registry.invalid",
                        "url": "https://registry.invalid",
                    },
                    "labels": {"ai.backend.base-distro": "ubuntu22.04"},
                    "is_local": True,
                },
                "local_config.container.alternative_bridge": self.engine.network,
                "local_config.agent.ipc_base_path": str(self.base / "ipc"),
                "local_config.container.scratch_root": str(self.root),
                **changes,
            }
        )
        del doc["facts"]
        return doc

    def context(self, **changes: object) -> Context:
        """The parsed context of a kernel here, its facts gathered as ``kplan``
        gathers them (Docker's from the engine)."""
        completed = complete_document(
            self.document(**changes), runner=self.runner, docker_url=self.engine.url
        ).unwrap()
        return context_from_document(completed).unwrap()

    def plan(self, **changes: object) -> Plan:
        """The whole kernel's plan (its container included)."""
        return compile_plan(self.context(**changes)).unwrap()

    def ready_plan(self, **changes: object) -> Plan:
        """``plan``, waiting for the kernel runner to answer at the end."""
        return compile_plan(self.context(**changes), wait_ready=True).unwrap()


async def containers(url: str, plan_id: str) -> list[dict[str, Any]]:
    """``docker inspect`` of every container carrying ``plan_id``'s label."""
    async with aiodocker.Docker(url=url) as docker:
        found = await docker.containers.list(
            all=True, filters={"label": [f"{PLAN_LABEL}={plan_id}"]}
        )
        return [await c.show() for c in found]


async def show(url: str, name: str, command: list[str]) -> str:
    """Run ``command`` in container ``name`` and return its output."""
    async with aiodocker.Docker(url=url) as docker:
        run = await docker.containers.container(name).exec(command)
        output = b""
        async with run.start(detach=False) as stream:
            while (message := await stream.read_out()) is not None:
                output += message.data
        return output.decode()
