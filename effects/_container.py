"""Container effects: Docker create-config pieces and the container lifecycle.

``ContainerMount`` and ``ContainerConfig`` are the fragments legacy appends to
``ctx.container_configs`` (§11, §7); the compiler folds them into the
single ``CreateContainer`` body with the legacy merge rules (§14.4). They change
nothing on the host by themselves. ``RegisterKernel`` carries the kernel object that
legacy returns from ``prepare_container`` (§12.6) to the agent, as data.
"""

from __future__ import annotations

from typing import final

import attrs

from ._json import JsonObject
from ._validators import check_text, non_empty

__all__ = [
    "ContainerConfig",
    "ContainerMount",
    "CreateContainer",
    "PullImage",
    "RegisterKernel",
    "StartContainer",
    "VerifyContainer",
]


def _absolute_target(
    _instance: object, attribute: attrs.Attribute[str], value: str
) -> None:
    check_text(attribute.name, value)
    if not value.startswith("/"):
        msg = f"container mount target must be an absolute path, got {value!r}"
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


def _optional_text(
    _instance: object, attribute: attrs.Attribute[str], value: object
) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        msg = f"{attribute.name} must be None or a non-empty string, got {value!r}"
        raise ValueError(msg)


@final
@attrs.frozen(kw_only=True)
class PullImage:
    """Pull ``ref`` (only planned when the facts say the image is missing)."""

    ref: str = attrs.field(validator=non_empty)
    digest: str | None = attrs.field(default=None, validator=_optional_text)


@final
@attrs.frozen(kw_only=True)
class CreateContainer:
    """Create container ``name`` with the folded, final create body."""

    name: str = attrs.field(validator=non_empty)
    config: JsonObject = attrs.field(validator=attrs.validators.instance_of(JsonObject))


@final
@attrs.frozen(kw_only=True)
class StartContainer:
    """Start container ``name``."""

    name: str = attrs.field(validator=non_empty)


def _checks(_instance: object, _attribute: object, value: tuple[str, ...]) -> None:
    _check_checks(value)


def _check_checks(value: object) -> None:
    if not isinstance(value, tuple) or not value:  # a list would make the value mutable
        msg = "VerifyContainer needs a non-empty tuple of checks"
        raise ValueError(msg)
    unknown = set(value) - set(VERIFY_CHECKS)
    if unknown:
        msg = f"unknown container checks: {sorted(unknown)}"
        raise ValueError(msg)


VERIFY_CHECKS = ("running", "init-alive", "still-running")


@final
@attrs.frozen(kw_only=True)
class VerifyContainer:
    """Check that container ``name`` is healthy: each of ``checks`` must hold."""

    name: str = attrs.field(validator=non_empty)
    checks: tuple[str, ...] = attrs.field(validator=_checks)
    grace_ms: int = attrs.field(default=500, validator=attrs.validators.ge(0))


@final
@attrs.frozen(kw_only=True)
class RegisterKernel:
    """The kernel object handed to the agent's registry (§12.6)."""

    record: JsonObject = attrs.field(validator=attrs.validators.instance_of(JsonObject))
