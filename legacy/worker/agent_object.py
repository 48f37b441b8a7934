"""Stub 2: the ``DockerAgent`` that runs ``create_kernel``, built without ``__init__``.

Theory of operation
-------------------
``DockerAgent.__init__``/``__ainit__`` connect to etcd, Redis and Docker, so the
agent is ``object.__new__(DockerAgent)`` carrying just the attributes
``create_kernel``, ``init_kernel_context``, ``restart_kernel`` and
``start_container`` read. Real objects: the ``AgentUnifiedConfig``, the
``PortPool``, the locks, the (empty) registries and ``_active_creates``
(``track_create``), the ``NetworkPluginContext`` (no plugins loaded). Recorded,
not sent: the events (``anycast_and_broadcast_event``, ``anycast_event``,
``produce_error_event``, ``inject_container_lifecycle_event``), ``pull_image`` and
``reconstruct_resource_usage``. ``check_image`` is the real method, recorded,
with Docker's ``images.inspect`` answered from the facts (stub 1).
``valkey_stat_client.get_image_distro`` answers ``facts.image_distro`` (the Redis
cache ``resolve_image_distro`` consults after the image label).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .legacy_modules import Legacy
from .protocol import JSONObject, as_dict, to_jsonable

RestartClean = Callable[[Any], Coroutine[Any, Any, None]]


@dataclass
class AgentRecords:
    """What the agent stand-in recorded, in call order."""

    events: list[str] = field(default_factory=list)
    calls: list[JSONObject] = field(default_factory=list)
    released_ports: list[int] = field(default_factory=list)
    contexts: list[Any] = field(
        default_factory=list
    )  # each DockerKernelCreationContext
    starts: list[JSONObject] = field(default_factory=list)  # start_container arguments
    kernels: list[Any] = field(default_factory=list)  # each kernel start_container got

    def call(self, name: str, **args: Any) -> None:
        """Record one call (arguments as JSON)."""
        self.calls.append({"call": name, **to_jsonable(args)})


class UnusedDependency:
    """Placeholder for what this path never uses; raises on any use."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        msg = (
            f"kplan worker stub {self._name!r} has no {attr!r}: "
            "legacy used an unexpected dependency"
        )
        raise NotImplementedError(msg)


class DistroCache(UnusedDependency):
    """``valkey_stat_client``: only the image-distro cache, answering the facts."""

    def __init__(self, records: AgentRecords, distro: str | None) -> None:
        super().__init__("valkey_stat_client")
        self._records = records
        self._distro = distro

    async def get_image_distro(self, image_id: str) -> str | None:
        self._records.call("get_image_distro", image_id=image_id, result=self._distro)
        return self._distro


def port_pool(legacy: Legacy, config: Any, host_ports: Sequence[int] | None) -> Any:
    """A real ``PortPool`` over the configured range whose free ports are the facts'.

    ``facts.host_ports`` (oldest first) replaces the pool's queue, all past their
    cooldown; ``None`` keeps the whole ``port_range``.
    """
    container = config.container
    pool = legacy.PortPool(
        tuple(container.port_range), container.port_reuse_cooldown_sec
    )
    if host_ports is not None:
        pool._ports = OrderedDict.fromkeys((int(p) for p in host_ports), 0.0)  # noqa: SLF001
    return pool


def _record_releases(pool: Any, records: AgentRecords) -> None:
    real_release_many = pool.release_many

    def release_many(ports: Any) -> None:
        ports = list(ports)
        records.released_ports.extend(int(p) for p in ports)
        real_release_many(ports)

    pool.release_many = release_many


@dataclass(frozen=True)
class AgentInputs:
    """What the agent stand-in is built from."""

    config: Any  # AgentUnifiedConfig
    computers: dict[str, Any]  # DeviceName -> ComputerContext
    agent_id: str
    facts: Mapping[str, Any]


def build_agent(
    legacy: Legacy, inputs: AgentInputs, records: AgentRecords, on_restart: RestartClean
) -> Any:
    """The agent object (see the module docstring); ``on_restart`` emulates CLEAN."""
    agent: Any = object.__new__(legacy.DockerAgent)
    config, facts = inputs.config, inputs.facts
    agent.local_config = config
    agent.id = inputs.agent_id
    agent.computers = inputs.computers
    agent.affinity_map = None  # only carried into AffinityHint, unused by stub 4
    agent.resource_lock = asyncio.Lock()
    agent.registry_lock = asyncio.Lock()
    agent.kernel_registry = {}
    agent.restarting_kernels = {}
    agent.images = {}
    agent._active_creates = {}  # noqa: SLF001
    agent._active_pulls = {}  # noqa: SLF001
    agent._pending_creation_tasks = defaultdict(set)  # noqa: SLF001
    agent.port_pool = port_pool(legacy, config, facts.get("host_ports"))
    _record_releases(agent.port_pool, records)
    agent.event_producer = UnusedDependency("event_producer")
    ipc = Path(config.agent.ipc_base_path)
    agent.agent_sockpath = ipc / "container" / f"agent.{inputs.agent_id}.sock"
    agent.network_plugin_ctx = legacy.NetworkPluginContext(None, {})
    agent.gwbridge_subnet = None
    agent._seccomp_profile_as_path = False  # noqa: SLF001
    agent.valkey_stat_client = DistroCache(records, facts.get("image_distro"))
    # instance attributes shadowing the agent methods that talk to the outside
    recorders = {
        **_event_recorders(legacy, records, on_restart),
        **_method_recorders(legacy, agent, records),
    }
    for name, recorder in recorders.items():
        setattr(agent, name, recorder)
    return agent


def _event_recorders(
    legacy: Legacy, records: AgentRecords, on_restart: RestartClean
) -> dict[str, Any]:
    """The event methods: each event's class name recorded, nothing sent."""

    async def anycast_and_broadcast_event(anycast: Any, broadcast: Any) -> None:
        records.events += [type(anycast).__name__, type(broadcast).__name__]

    async def anycast_event(event: Any) -> None:
        records.events.append(type(event).__name__)

    async def produce_error_event(exc_info: Any = None) -> None:
        del exc_info
        records.events.append("AgentErrorEvent")

    async def inject_container_lifecycle_event(
        kernel_id: Any,
        session_id: Any,
        event: Any,
        reason: Any,
        *,
        container_id: Any = None,
        **_options: Any,
    ) -> None:
        records.events.append("ContainerLifecycleEvent")
        records.call(
            "inject_container_lifecycle_event",
            kernel_id=kernel_id,
            session_id=session_id,
            event=event.name,
            reason=reason,
            container_id=container_id,
        )
        restarting = legacy.KernelLifecycleEventReason.RESTARTING
        if event == legacy.LifecycleEvent.DESTROY and reason == restarting:
            await on_restart(kernel_id)

    return {
        "anycast_and_broadcast_event": anycast_and_broadcast_event,
        "anycast_event": anycast_event,
        "produce_error_event": produce_error_event,
        "inject_container_lifecycle_event": inject_container_lifecycle_event,
    }


def _method_recorders(
    legacy: Legacy, agent: Any, records: AgentRecords
) -> dict[str, Any]:
    """check_image (real, recorded), pull_image and reconstruct (recorded only)."""

    async def check_image(image_ref: Any, image_id: str, auto_pull: Any) -> bool:
        args = {"image": image_ref.canonical, "image_id": image_id}
        try:
            result = await legacy.DockerAgent.check_image(
                agent, image_ref, image_id, auto_pull
            )
        except Exception as exc:
            records.call("check_image", **args, auto_pull=auto_pull, raised=repr(exc))
            raise
        records.call("check_image", **args, auto_pull=auto_pull, result=result)
        return bool(result)

    async def pull_image(
        image_ref: Any, registry_conf: Any, *, timeout_seconds: float | None
    ) -> None:
        records.call(
            "pull_image",
            image=image_ref.canonical,
            registry=as_dict(registry_conf).get("name"),
            timeout_seconds=timeout_seconds,
        )

    async def reconstruct_resource_usage() -> None:
        records.call("reconstruct_resource_usage")

    async def init_kernel_context(*args: Any, **kwargs: Any) -> Any:
        ctx = await legacy.DockerAgent.init_kernel_context(agent, *args, **kwargs)
        records.contexts.append(ctx)
        _record_start(ctx, records)
        return ctx

    return {
        "check_image": check_image,
        "pull_image": pull_image,
        "reconstruct_resource_usage": reconstruct_resource_usage,
        "init_kernel_context": init_kernel_context,
    }


def _record_start(ctx: Any, records: AgentRecords) -> None:
    """Record ``start_container``'s arguments (``cmdargs`` is a create_kernel local)."""
    real_start = ctx.start_container

    async def start_container(
        kernel_obj: Any,
        cmdargs: list[str],
        resource_opts: Any,
        preopen_ports: list[int],
        cluster_info: Any,
    ) -> Any:
        records.kernels.append(kernel_obj)
        records.starts.append(
            {
                "cmdargs": to_jsonable(cmdargs),
                "resource_opts": to_jsonable(resource_opts),
                "preopen_ports": to_jsonable(preopen_ports),
            }
        )
        return await real_start(
            kernel_obj, cmdargs, resource_opts, preopen_ports, cluster_info
        )

    ctx.start_container = start_container
