"""The legacy calls: the real ``create_kernel``, and ``restart_kernel`` for restarts.

New kernel (§2): ``DockerAgent.create_kernel(ownership, image_ref, kernel_config,
cluster_info, restarting=False)`` on the agent stand-in, stopped at
``kernel_obj.init`` (B18) by patch 8. Restart (§15): that first run, then the real
``DockerAgent.restart_kernel(ownership, image_ref, updating_kernel_config)``: it
loads ``kconfig.dat``/``cluster.json``, merges, injects ``DESTROY(RESTARTING)``
(answered by ``clean_for_restart``, the CLEAN handler's effects) and calls
``create_kernel(restarting=True)``, stopped at B18 again. ``restart_kernel`` logs and
swallows a failure of that call; the worker reports it as the run's ``error``.
"""

from __future__ import annotations

import contextlib
import copy
import os
import pickle
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .agent_config import build_agent_config
from .agent_object import AgentInputs, AgentRecords, build_agent
from .compute import build_computers, context_allocations
from .context_facts import parse_id
from .docker_recorder import DockerRecorder, install_fake_docker
from .host_answers import install_host_answers
from .legacy_modules import Legacy
from .protocol import JSONObject, as_dict, error_json, log_entry, to_jsonable


class StopAtInit(BaseException):
    """Raised by the patched ``DockerKernel.init`` (patch 8): B18 was reached.

    A ``BaseException``, so create_kernel's ``except Exception`` handlers (which
    would call ``reconstruct_resource_usage``) let it through, as a run that went on
    to B19 would not fail here.
    """


def install_stop_at_init(legacy: Legacy, reached: list[str]) -> None:
    """Patch 8: ``DockerKernel.init`` records its kernel id and stops the run."""

    async def init(kernel: Any, event_producer: Any) -> None:
        del event_producer
        reached.append(str(kernel.kernel_id))
        raise StopAtInit

    legacy.DockerKernel.init = init


def legacy_step(exc: BaseException) -> str:
    """The innermost legacy function the exception passed through."""
    step = "create_kernel"
    for frame in traceback.extract_tb(exc.__traceback__):
        if f"{os.sep}ai{os.sep}backend{os.sep}" in frame.filename:
            step = frame.name
    return step


class LegacyRun:
    """One run: the agent stand-in, both phases, and what they left."""

    def __init__(
        self,
        legacy: Legacy,
        context: Mapping[str, Any],
        scratch_root: Path,
        spare: Path,
    ) -> None:
        self.legacy = legacy
        self.context = context
        self.scratch_root = scratch_root
        self.spare = spare
        self.facts = as_dict(context.get("facts"))
        self.records = AgentRecords()
        self.recorder = DockerRecorder(
            docker_error=legacy.DockerError,
            volume_names=[str(v) for v in self.facts.get("docker_volumes") or []],
            image_present=self.facts.get("image_present"),
            image_id=self.facts.get("image_id"),
            calls=self.records.calls,  # one ordered list of calls
        )
        self.reached_init: list[str] = []
        self.notes: list[JSONObject] = []
        self.agent: Any = None
        # len() of records.kernels/contexts/starts and of the creates before the phase
        self.phase_marks = (0, 0, 0, 0)

    async def run(self) -> JSONObject:
        """Both phases (restart only when asked); a legacy failure is a result."""
        error: JSONObject | None = None
        phase = "setup"
        try:
            agent = self.agent = self.build()
            kernel_config = copy.deepcopy(dict(self.context["kernel_config"]))
            cluster_info = copy.deepcopy(dict(self.context["cluster_info"]))
            image_ref = self.legacy.ImageRef.from_image_config(kernel_config["image"])
            phase = "create"
            await self.until_init(
                agent.create_kernel(
                    self.ownership(kernel_config),
                    image_ref,
                    kernel_config,
                    cluster_info,
                    restarting=False,
                )
            )
            self.check_allocations()
            if self.context.get("restarting"):
                phase = "restart"
                records = self.records
                self.phase_marks = (
                    len(records.kernels),
                    len(records.contexts),
                    len(records.starts),
                    len(self.recorder.creates),
                )
                await self.restart(image_ref)
        except Exception as exc:  # noqa: BLE001 - every legacy failure is a result
            error = error_json(exc, legacy_step(exc), phase)
        return self.result(error)

    def build(self) -> Any:
        """Stubs 1-7 (runner process only), then the agent stand-in."""
        legacy, facts = self.legacy, self.facts
        install_fake_docker(legacy, self.recorder)
        install_host_answers(legacy, facts)
        install_stop_at_init(legacy, self.reached_init)
        config = build_agent_config(
            legacy,
            as_dict(self.context.get("local_config")),
            self.scratch_root,
            self.spare,
        )
        inputs = AgentInputs(
            config=config,
            computers=build_computers(legacy, self.context, self.records.calls),
            agent_id=str(self.context["agent_id"]),
            facts=facts,
        )
        return build_agent(legacy, inputs, self.records, self.clean_for_restart)

    def ownership(self, kernel_config: Mapping[str, Any] | None) -> Any:
        """``KernelOwnershipData`` as the RPC handler builds it.

        ``create_kernels`` passes the owner ids of the config; ``restart_kernel``
        passes none (so a restarted container's owner labels are null).
        """
        owners = (
            (kernel_config.get("owner_user_id"), kernel_config.get("owner_project_id"))
            if kernel_config is not None
            else ()
        )
        return self.legacy.KernelOwnershipData(
            parse_id(str(self.context["kernel_id"])),
            parse_id(str(self.context["session_id"])),
            str(self.context["agent_id"]),
            *owners,
        )

    async def until_init(self, call: Any) -> None:
        """Await a legacy call that ends at B18 (patch 8); stopping there is success."""
        try:
            await call
        except StopAtInit:
            return
        msg = "legacy returned without reaching kernel_obj.init (B18)"
        raise RuntimeError(msg)

    async def restart(self, image_ref: Any) -> None:
        """The real ``restart_kernel``, to B18.

        ``restart_kernel`` only logs a failure of its ``create_kernel`` call and then
        reads the kernel record, which may itself raise (e.g. ``KeyError
        'container_id'`` when the failure came before the container existed): that
        exception is the result, with a note naming the swallowed one. When it
        returns normally instead, the swallowed failure is the result.
        """
        agent = self.agent
        real_create = agent.create_kernel
        failures: list[Exception] = []

        async def create_kernel(*args: Any, **kwargs: Any) -> Any:
            try:
                return await real_create(*args, **kwargs)
            except Exception as exc:
                failures.append(exc)
                raise

        agent.create_kernel = create_kernel
        updating = copy.deepcopy(
            dict(as_dict(self.context.get("updating_kernel_config")))
        )
        try:
            await agent.restart_kernel(self.ownership(None), image_ref, updating)
        except StopAtInit:
            return
        except Exception:
            for failure in failures:
                self.notes.append(
                    log_entry(
                        "restart_kernel swallowed the failure of create_kernel"
                        f"(restarting=True): {type(failure).__name__}: {failure}"
                    )
                )
            raise
        if failures:  # restart_kernel logged it and returned
            raise failures[0]
        msg = "restart_kernel returned without reaching kernel_obj.init (B18)"
        raise RuntimeError(msg)

    async def clean_for_restart(self, kernel_id: Any) -> None:
        """What the CLEAN handler does for a restarting kernel (``DESTROY`` answered).

        The old container is gone: its domain-socket proxies are closed and their
        sockets unlinked (``clean_kernel``), its host ports go back to the pool
        (``_restore_ports``, in ``host_ports`` order), and ``destroy_event`` is set.
        Docker's container log collection and deletion have nothing to act on.
        """
        agent = self.agent
        kernel = agent.kernel_registry.get(kernel_id)
        if kernel is not None:
            for proxy in kernel.get("domain_socket_proxies", []):
                if proxy.proxy_server.is_serving():
                    proxy.proxy_server.close()
                    await proxy.proxy_server.wait_closed()
                    with contextlib.suppress(OSError):
                        proxy.host_proxy_path.unlink()
            host_ports = kernel.get("host_ports")
            if host_ports is not None:
                agent._restore_ports(host_ports)  # noqa: SLF001
        tracker = agent.restarting_kernels.get(kernel_id)
        if tracker is not None:
            tracker.destroy_event.set()

    def check_allocations(self) -> None:
        """Note when ``allocate()`` made other allocations than the context's."""
        kernels = self.records.kernels
        if not kernels:
            return
        made = to_jsonable(kernels[-1].resource_spec.allocations)
        given = to_jsonable(context_allocations(self.legacy, self.context))
        if list(made.items()) != list(given.items()):
            self.notes.append(
                log_entry(
                    "allocate() made other allocations than resource_spec.allocations "
                    f"(order included): made {made}, context {given}"
                )
            )

    def result(self, error: JSONObject | None) -> JSONObject:
        """The runner's report fields (see the package docstring)."""
        records, creates = self.records, self.recorder.creates
        restarting = bool(self.context.get("restarting"))
        kernels, contexts, starts, phase_creates = (
            entries[mark:]
            for entries, mark in zip(
                (records.kernels, records.contexts, records.starts, creates),
                self.phase_marks,
                strict=True,
            )
        )
        kernel = kernels[-1] if kernels else None
        ctx = contexts[-1] if contexts else None
        return {
            "create": phase_creates[-1] if phase_creates else None,
            "first_create": creates[0] if restarting and self.phase_marks[3] else None,
            "environ": kernel_environ(kernel),
            "service_ports": (
                to_jsonable(kernel.service_ports) if kernel is not None else None
            ),
            "cmdargs": starts[-1]["cmdargs"] if starts else None,
            "kernel": kernel_json(kernel) if kernel is not None else None,
            "kconfig": self.kconfig(),
            "events": records.events,
            "calls": records.calls,
            "released_ports": records.released_ports,
            "container_configs": (
                to_jsonable(ctx.container_configs) if ctx is not None else []
            ),
            "error": error,
            "logs": self.notes,
        }

    def kconfig(self) -> Any:
        """``config/kconfig.dat`` unpickled (it holds only JSON types), or None."""
        path = (
            (
                self.scratch_root / str(parse_id(str(self.context["kernel_id"])))
            ).resolve()
            / "config"
            / "kconfig.dat"
        )
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return to_jsonable(pickle.loads(data))  # noqa: S301 - legacy wrote it here


def kernel_environ(kernel: Any) -> list[list[str]] | None:
    """The kernel object's environ as [key, value] pairs, in order."""
    if kernel is None:
        return None
    return [[str(k), str(v)] for k, v in kernel.environ.items()]


def kernel_json(kernel: Any) -> JSONObject:
    """The kernel record: identity, image, and the container data (start_container)."""
    data = kernel.data
    proxies = [
        {
            "host_sock_path": str(p.host_sock_path),
            "host_proxy_path": str(p.host_proxy_path),
        }
        for p in data.get("domain_socket_proxies", [])
    ]
    fields = (
        "kernel_host",
        "repl_in_port",
        "repl_out_port",
        "stdin_port",
        "stdout_port",
        "host_ports",
        "block_service_ports",
    )
    return {
        "kernel_id": str(kernel.kernel_id),
        "session_id": str(kernel.session_id),
        "agent_id": str(kernel.agent_id),
        "network_id": to_jsonable(kernel.network_id),
        "image": kernel.image.canonical,
        "version": int(kernel.version),
        "network_driver": to_jsonable(kernel.network_driver),
        "session_type": to_jsonable(kernel.session_type),
        "container_id": to_jsonable(kernel.container_id),
        **{name: to_jsonable(data.get(name)) for name in fields},
        "domain_socket_proxies": proxies,
    }
