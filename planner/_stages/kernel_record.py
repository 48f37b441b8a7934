"""The kernel object legacy registers for the agent, as data (§12.6, §2 B16).

``prepare_container`` returns a ``DockerKernel`` holding the network id, the image,
the kernelspec version (an ``int`` of the label: legacy raises on anything else),
the network driver, the service ports, the resource spec and the environ; then
``create_kernel`` sets its session type and registers it. kplan hands the same to
the agent as a ``RegisterKernel`` effect; what only the container's start can tell
(its id, host and ports) the executor's report adds.
"""

from __future__ import annotations

from returns.result import Result

from effects import RegisterKernel, freeze_object

from .._context import Context
from .._python_int import python_int
from .._stage_api import Draft, Part, Upstream
from .._threaded import ServicePort
from ..errors import PlanError

__all__ = ["kernel", "service_port_json"]

STAGE = "kernel"


def service_port_json(port: ServicePort) -> dict[str, object]:
    """A service port as legacy's ``ServicePort`` mapping (tuples as lists)."""
    return {
        "name": port.name,
        "protocol": port.protocol,
        "container_ports": list(port.container_ports),
        "host_ports": list(port.host_ports),
        "is_inference": port.is_inference,
    }


def kernel(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the kernel object of ``prepare_container`` (§12.6)."""
    draft = Draft(ctx, up, STAGE)
    label = ctx.label("ai.backend.kernelspec", "1")
    version = python_int(label)  # legacy's int(): spaces, a sign, underscores pass
    if isinstance(version, str):
        draft.fail(
            "crash",
            "kernel_config.image.labels.ai.backend.kernelspec",
            repr(label),
            "not an integer: legacy's int() raises ValueError",
        )
        return draft.result()
    network = ctx.cluster.network_config
    # network_config.get("mode", "bridge"): an explicit null stays null
    driver = network.get("mode") if "mode" in network else "bridge"
    threaded = up.threaded
    record = {
        "kernel_id": ctx.kernel_id,
        "session_id": ctx.session_id,
        "agent_id": ctx.agent_id,
        "network_id": ctx.kernel_config.network_id,
        "image": ctx.image_ref.canonical,
        "version": version,
        "network_driver": driver,
        "session_type": ctx.kernel_config.session_type,
        "environ": dict(threaded.environ),
        "service_ports": [service_port_json(p) for p in threaded.service_ports],
        "mounts": [mount.legacy_str() for mount in up.mounts],
        "restarting": ctx.restarting,
        "kernel_host": ctx.local.container.advertised_host
        or ctx.local.container.bind_host,
        "block_service_ports": bool(ctx.internal.block_service_ports),
    }
    draft.add(RegisterKernel(record=freeze_object(record)))
    return draft.result()
