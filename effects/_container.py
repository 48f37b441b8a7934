"""Container effects: the create body's pieces and the container's lifecycle.

``ContainerMount`` and ``ContainerConfig`` are the fragments legacy appends to
``ctx.container_configs`` (§11, §7); the container stage folds them into the one
``CreateContainer`` body with legacy's merge rules (§14.4). Like ``RegisterKernel``
(the kernel object legacy hands the agent, §12.6) they change nothing by
themselves. The others act on the host, in plan order: ``ServeSocketProxy`` (a
domain-socket proxy, §5 row 11), ``PullImage`` (§2 A6), ``AllocateHostPorts``
(§14.1), ``CreateContainer``, ``AppendContainerId`` (the ``CID=`` line only Docker's
answer fills in, §14.5), ``StartContainer``, ``ProvisionSudo``,
``ConnectNetworks``, ``VerifyContainer`` and, when asked for, ``WaitKernelReady``
(the B17-B19 analogue).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import final

import attrs

from ._json import JsonObject
from ._paths import check_absolute, inside_scratch
from ._validators import check_text, is_port, non_empty

__all__ = [
    "CONTAINER_SIDE",
    "DATA_EFFECTS",
    "VERIFY_CHECKS",
    "AllocateHostPorts",
    "AppendContainerId",
    "ConnectNetworks",
    "ContainerConfig",
    "ContainerMount",
    "CreateContainer",
    "ProvisionSudo",
    "PullImage",
    "RegisterKernel",
    "ServeSocketProxy",
    "StartContainer",
    "VerifyContainer",
    "WaitKernelReady",
    "is_container_effect",
]


def _absolute_target(
    _instance: object, attribute: attrs.Attribute[str], value: str
) -> None:
    check_text(attribute.name, value)
    if not value.startswith("/"):
        msg = f"container mount target must be an absolute path, got {value!r}"
        raise ValueError(msg)


def _optional_text(
    _instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        msg = f"{attribute.name} must be None or a non-empty string, got {value!r}"
        raise ValueError(msg)


def _ports(
    _instance: object, attribute: attrs.Attribute[object], value: object
) -> None:
    if not isinstance(value, tuple) or not all(is_port(p) for p in value):
        msg = f"{attribute.name} must be a tuple of port numbers, got {value!r}"
        raise ValueError(msg)


def _optional_ms(
    _instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and value <= 0:  # an int, as the type says
        msg = f"{attribute.name} must be None or a positive int, got {value!r}"
        raise ValueError(msg)


@final
@attrs.frozen(kw_only=True)
class ContainerMount:
    """One ``HostConfig.Mounts`` entry (§11)."""

    type: str = attrs.field(validator=non_empty)
    source: str = attrs.field(validator=non_empty)
    target: str = attrs.field(validator=_absolute_target)
    read_only: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    options: JsonObject = attrs.field(
        validator=attrs.validators.instance_of(JsonObject)
    )


@final
@attrs.frozen(kw_only=True)
class ContainerConfig:
    """A Docker create-config fragment, merged with legacy semantics (§14.4)."""

    fragment: JsonObject = attrs.field(
        validator=attrs.validators.instance_of(JsonObject)
    )


def _absolute(_instance: object, _attribute: object, value: PurePosixPath) -> None:
    check_absolute(value)


@final
@attrs.frozen(kw_only=True)
class ServeSocketProxy:
    """Serve a unix socket at ``path`` (a host path) piping each connection to
    ``target``, as legacy's domain-socket proxies do (§5 row 11); mode 0666."""

    path: PurePosixPath = attrs.field(validator=_absolute)
    target: str = attrs.field(validator=non_empty)


@final
@attrs.frozen(kw_only=True)
class PullImage:
    """Pull ``ref``, within ``timeout_ms`` when given (§2 A6)."""

    ref: str = attrs.field(validator=non_empty)
    digest: str | None = attrs.field(default=None, validator=_optional_text)
    timeout_ms: int | None = attrs.field(default=None, validator=_optional_ms)


@final
@attrs.frozen(kw_only=True)
class AllocateHostPorts:
    """Take ``ports`` from the agent's pool of host ports; undone by releasing them."""

    ports: tuple[int, ...] = attrs.field(validator=_ports)


@final
@attrs.frozen(kw_only=True)
class CreateContainer:
    """Create container ``name`` with the folded, final create body."""

    name: str = attrs.field(validator=non_empty)
    config: JsonObject = attrs.field(validator=attrs.validators.instance_of(JsonObject))


@final
@attrs.frozen(kw_only=True)
class AppendContainerId:
    """Append ``CID=<id>`` to ``path``: the id is Docker's answer to the create."""

    path: PurePosixPath = attrs.field(validator=inside_scratch)
    name: str = attrs.field(validator=non_empty)


@final
@attrs.frozen(kw_only=True)
class StartContainer:
    """Start container ``name``."""

    name: str = attrs.field(validator=non_empty)


@final
@attrs.frozen(kw_only=True)
class ProvisionSudo:
    """Give the container's work user passwordless sudo (§14.5)."""

    name: str = attrs.field(validator=non_empty)


def _names(
    _instance: object, attribute: attrs.Attribute[object], value: object
) -> None:
    if (
        not isinstance(value, tuple)
        or not value
        or not all(isinstance(n, str) and n for n in value)
    ):
        msg = f"{attribute.name} must be a non-empty tuple of names, got {value!r}"
        raise ValueError(msg)


@final
@attrs.frozen(kw_only=True)
class ConnectNetworks:
    """Attach container ``name`` to ``networks`` not attached yet (§14.5)."""

    name: str = attrs.field(validator=non_empty)
    networks: tuple[str, ...] = attrs.field(validator=_names)


VERIFY_CHECKS = ("running", "init-alive", "still-running", "port-bindings")


def _checks(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, tuple) or not value:  # a list would make it mutable
        msg = "VerifyContainer needs a non-empty tuple of checks"
        raise ValueError(msg)
    unknown = set(value) - set(VERIFY_CHECKS)
    if unknown:
        msg = f"unknown container checks: {sorted(unknown)}"
        raise ValueError(msg)


PAIR = 2


def _bindings(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(pair, tuple) and len(pair) == PAIR for pair in value
    ):
        msg = f"port bindings must be (container port, host port) pairs, got {value!r}"
        raise ValueError(msg)


@final
@attrs.frozen(kw_only=True)
class VerifyContainer:
    """Check that container ``name`` is healthy: each of ``checks`` must hold.

    ``port-bindings``: Docker bound each container port to the host port planned
    for it (``ports``), as ``start_container`` checks.
    """

    name: str = attrs.field(validator=non_empty)
    checks: tuple[str, ...] = attrs.field(validator=_checks)
    grace_ms: int = attrs.field(default=500, validator=attrs.validators.ge(0))
    ports: tuple[tuple[int, int], ...] = attrs.field(default=(), validator=_bindings)


@final
@attrs.frozen(kw_only=True)
class WaitKernelReady:
    """Wait until the kernel runner answers on its REPL host ``ports`` (B19)."""

    name: str = attrs.field(validator=non_empty)
    ports: tuple[int, ...] = attrs.field(validator=_ports)
    timeout_ms: int = attrs.field(validator=attrs.validators.gt(0))


@final
@attrs.frozen(kw_only=True)
class RegisterKernel:
    """The kernel object handed to the agent's registry (§12.6)."""

    record: JsonObject = attrs.field(validator=attrs.validators.instance_of(JsonObject))


def is_container_effect(effect: object) -> bool:
    """True for the effects on the container's side of the host: Docker, host
    ports and socket proxies (what ``scratch_only`` leaves out)."""
    return type(effect) in CONTAINER_SIDE  # the classes are final: no subclass


# The classes of the container's side (``is_container_effect``).
CONTAINER_SIDE: frozenset[type] = frozenset(
    {
        ServeSocketProxy,
        PullImage,
        AllocateHostPorts,
        CreateContainer,
        AppendContainerId,
        StartContainer,
        ProvisionSudo,
        ConnectNetworks,
        VerifyContainer,
        WaitKernelReady,
    }
)

# The effects that change nothing by themselves: the create body's pieces and the
# kernel record. An apply has nothing to undo for them, so nothing to journal.
DATA_EFFECTS: frozenset[type] = frozenset(
    {ContainerMount, ContainerConfig, RegisterKernel}
)
