"""Structural validators shared by the effect classes (architecture.md §2).

A violation is a bug in whoever built the value, so these raise ``ValueError`` or
``TypeError`` at construction; cross-effect rules live in the compiler instead.
"""

from __future__ import annotations

import re

import attrs

__all__ = [
    "MAX_MODE",
    "check_id",
    "check_mode",
    "check_positive",
    "check_text",
    "id_field",
    "is_port",
    "is_sha256",
    "mode_field",
    "non_empty",
    "optional_id",
    "sha256_hex",
]

MAX_MODE = 0o7777
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PORTS = range(1, 65536)


def check_mode(value: object) -> int:
    """Return ``value`` if it is a permission mode in 0..0o7777, else raise."""
    if type(value) is int and 0 <= value <= MAX_MODE:
        return value  # the common case, checked cheaply (a bool is no int here)
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"mode must be an int, got {value!r}"
        raise TypeError(msg)
    if not 0 <= value <= MAX_MODE:
        msg = f"mode {value:#o} is outside 0..0o7777"
        raise ValueError(msg)
    return value


def mode_field(_instance: object, _attribute: object, value: int) -> None:
    """attrs validator for a permission mode."""
    check_mode(value)


def check_id(name: str, value: object, *, optional: bool = False) -> None:
    """Raise unless ``value`` is an int >= 0 (or ``None`` when ``optional``)."""
    if type(value) is int and value >= 0:
        return  # the common case, checked cheaply (a bool is no int here)
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        kind = "None or an int >= 0" if optional else "an int >= 0"
        msg = f"{name} must be {kind}, got {value!r}"
        raise ValueError(msg)


def check_positive(name: str, value: object) -> None:
    """Raise unless ``value`` is an int > 0."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        msg = f"{name} must be a positive int, got {value!r}"
        raise ValueError(msg)


def id_field(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    """attrs validator: a uid/gid (or other id) that is an int >= 0."""
    check_id(attribute.name, value)


def optional_id(
    _instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    """attrs validator: a uid/gid that is ``None`` ("keep") or an int >= 0."""
    check_id(attribute.name, value, optional=True)


def check_text(name: str, value: object) -> None:
    """Raise unless ``value`` is a non-empty string without NUL bytes."""
    if not isinstance(value, str) or not value or "\x00" in value:
        msg = f"{name} must be a non-empty string without NUL, got {value!r}"
        raise ValueError(msg)


def non_empty(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    """attrs validator: a non-empty string without NUL bytes."""
    check_text(attribute.name, value)


def is_port(value: object) -> bool:
    """True if ``value`` is a TCP port number, an int in 1..65535."""
    return isinstance(value, int) and not isinstance(value, bool) and value in _PORTS


def is_sha256(value: object) -> bool:
    """True if ``value`` is a lowercase hex SHA-256 digest."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def sha256_hex(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    """attrs validator: a lowercase hex SHA-256 digest."""
    if not is_sha256(value):
        msg = f"{attribute.name} must be a lowercase sha256 hex digest, got {value!r}"
        raise ValueError(msg)
