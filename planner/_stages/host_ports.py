"""The host ports the container's ports are published on (§14.1).

``start_container`` first checks the pool has a port for each service and both
REPL ports, then takes two for the REPL ports (2000, 2001) and one per service in
order, except that ``sshd`` uses the cluster's port mapping for this hostname when
there is one. The pool hands out its oldest free port first, so the facts give the
agent's free ports in that order (``facts.host_ports``; the whole ``port_range``
when absent). The REPL ports and a storage agent's ``ttyd`` bind to 127.0.0.1, the
others to ``bind_host``. A service with other than one container port breaks the
port lists' alignment (H13). Taking ports from the pool is an effect, undone by
giving them back: legacy leaks them on most failures (§2.2, H14). Like every
failure of ``start_container``, ``create_kernel`` raises these as
``ContainerCreationFailedError`` (§2 B17).
"""

from __future__ import annotations

from returns.result import Result

from effects import AllocateHostPorts, is_port

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["REPL_PORTS", "free_ports", "host_ports"]

STAGE = "host-ports"
REPL_PORTS = (2000, 2001)


def free_ports(ctx: Context) -> tuple[int, ...]:
    """The agent's free host ports, oldest first."""
    if ctx.facts.host_ports is not None:
        return ctx.facts.host_ports
    start, end = ctx.local.container.port_range
    return tuple(range(start, end + 1))


def host_ports(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the port allocation of ``start_container`` (§14.1)."""
    draft = Draft(ctx, up, STAGE)
    services = up.threaded.service_ports
    pool = list(free_ports(ctx))
    if len(services) + len(REPL_PORTS) > len(pool):
        draft.fail(
            "crash",
            "facts.host_ports",
            f"{len(pool)} free",
            f"{len(services) + len(REPL_PORTS)} ports are needed: legacy raises "
            "ContainerCreationFailedError (start_container's PortPoolExhaustedError)",
        )
        return draft.result()
    taken = [pool.pop(0) for _ in REPL_PORTS]
    ports = list(taken)
    mapped = _ssh_mapping(ctx)
    for service in services:
        if service.name == "sshd" and mapped is not None:
            if not is_port(mapped):
                draft.fail(
                    "crash",
                    "cluster_info.cluster_ssh_port_mapping."
                    f"{ctx.kernel_config.cluster_hostname}",
                    str(mapped),
                    "not a port number: legacy raises ContainerCreationFailedError "
                    "(Docker refuses the binding; given 0, it binds another port, "
                    "which start_container's check of the bindings refuses)",
                )
                return draft.result()
            ports.append(mapped)
        else:
            taken.append(pool.pop(0))
            ports.append(taken[-1])
    exposed = [*REPL_PORTS, *(p for s in services for p in s.container_ports)]
    if len(exposed) != len(ports):
        multi = [s.name for s in services if len(s.container_ports) != 1]
        draft.fail(
            "crash",
            "kernel_config.image.labels.ai.backend.service-ports",
            repr(multi),
            "services with other than one port misalign the port lists: legacy "
            "raises ContainerCreationFailedError (start_container's "
            "InvalidArgumentError, after taking the ports, H13)",
        )
        return draft.result()
    draft.add(AllocateHostPorts(ports=tuple(taken)))
    draft.thread(host_ports=tuple(ports))
    return draft.result()


def _ssh_mapping(ctx: Context) -> int | None:
    mapping = ctx.cluster.cluster_ssh_port_mapping
    if not mapping:
        return None
    entry = mapping.get(ctx.kernel_config.cluster_hostname)
    return None if not entry else entry[1]
