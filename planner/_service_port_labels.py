"""The ``ai.backend.service-ports`` image label, read as legacy reads it (§2 B11).

The label is a comma-separated list of ``name:protocol:port`` or
``name:protocol:[port,port]``, consumed from the front; anything left that does
not match is ``Invalid service-ports format``. ``pty`` services are skipped; other
protocols must be tcp, http, preopen, vnc or rdp; ports must be unique, above 1024,
below 65535, and not one of the kernel's own (2000-2003, 2200, 7681). A service is
an inference app when its name is listed in ``ai.backend.endpoint-ports``.
"""

from __future__ import annotations

import re

from ._threaded import ServicePort

__all__ = ["RESERVED", "LabelError", "service_ports_of"]

_ITEM = re.compile(
    r"^(?P<name>[\w-]+):(?P<proto>\w+):(?P<ports>\[\d+(?:,\d+)*\]|\d+)(?:,|$)"
)
PROTOCOLS = ("tcp", "http", "preopen", "vnc", "rdp")
RESERVED = (2000, 2001, 2002, 2003, 2200, 7681)
LOWEST, HIGHEST = 1024, 65535


class LabelError(ValueError):
    """The label is one legacy's ``parse_service_ports`` raises on."""


def service_ports_of(label: str, endpoints: str) -> list[ServicePort]:
    """The services the label declares; raises ``LabelError`` like legacy."""
    inference = endpoints.split(",")
    items: list[ServicePort] = []
    used: set[int] = set()
    rest = label
    while True:
        match = _ITEM.search(rest)
        if match is None:
            if rest:
                raise LabelError("Invalid service-ports format")
            return items
        rest = rest[len(match.group(0)) :]
        name, protocol = match.group("name"), match.group("proto")
        if protocol == "pty":
            continue
        if protocol not in PROTOCOLS:
            raise LabelError(f"Unsupported service port protocol: {protocol}")
        ports = tuple(int(p) for p in match.group("ports").strip("[]").split(","))
        for port in ports:
            _check(port, used)
            used.add(port)
        items.append(
            ServicePort(
                name=name,
                protocol=protocol,  # type: ignore[arg-type]  # checked above
                container_ports=ports,
                host_ports=(None,) * len(ports),
                is_inference=name in inference,
            )
        )


def _check(port: int, used: set[int]) -> None:
    if port in used:
        raise LabelError(f"The port {port} is already used by another service port.")
    if port <= LOWEST:
        raise LabelError(f"The service port number {port} must be larger than 1024")
    if port >= HIGHEST:
        raise LabelError(f"The service port number {port} must be smaller than 65535.")
    if port in RESERVED:
        raise LabelError("The service ports 2000 to 2003, 2200 and 7681 are reserved.")
