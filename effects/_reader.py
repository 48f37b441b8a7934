"""A strict reader for JSON documents: every problem names its field.

Decoders call ``Reader`` methods; a wrong type or value raises ``Invalid`` carrying
the JSON path of the field (``steps[3].effect.mode``). The public decoders catch it
at the boundary and return a ``DecodeError`` value instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NoReturn, final

from ._validators import MAX_MODE

__all__ = ["Invalid", "Reader", "parse_mode"]

_MODE = re.compile(r"0o[0-7]{1,5}")


class Invalid(Exception):  # noqa: N818  (a signal between decoder layers, not an error class)
    """Raised inside decoders; carries the field path and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_mode(text: object, field: str) -> int:
    """Parse ``"0o755"`` into 493; refuse anything else."""
    if not isinstance(text, str) or _MODE.fullmatch(text) is None:
        raise Invalid(field, f"expected an octal mode like '0o755', got {text!r}")
    value = int(text, 8)
    if value > MAX_MODE:
        raise Invalid(field, f"mode {text} is outside 0o0..0o7777")
    return value


@final
class Reader:
    """Typed access to one JSON object at ``path``; refuses unknown keys on ``done``."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            raise Invalid(path, f"expected an object, got {_kind(value)}")
        self._value: Mapping[str, object] = value
        self._path = path
        self._seen: set[str] = set()

    @property
    def value(self) -> Mapping[str, object]:
        """The object read (nothing is marked as known)."""
        return self._value

    def field(self, key: str) -> str:
        """The JSON path of ``key`` inside this object."""
        return f"{self._path}.{key}" if self._path else key

    def fail(self, key: str, reason: str) -> NoReturn:
        """Raise ``Invalid`` for ``key``."""
        raise Invalid(self.field(key), reason)

    def has(self, key: str) -> bool:
        """True if ``key`` is present (and marks it as known)."""
        self._seen.add(key)
        return key in self._value

    def raw(self, key: str) -> object:
        """The value at ``key``; it must be present."""
        self._seen.add(key)
        if key not in self._value:
            self.fail(key, "is required")
        return self._value[key]

    def optional(self, key: str) -> object:
        """The value at ``key`` or ``None`` when absent."""
        self._seen.add(key)
        return self._value.get(key)

    def text(self, key: str) -> str:
        """A required string."""
        value = self.raw(key)
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_kind(value)}")
        return value

    def opt_text(self, key: str) -> str | None:
        """An optional string (absent or null -> None)."""
        value = self.optional(key)
        if value is not None and not isinstance(value, str):
            self.fail(key, f"expected a string or null, got {_kind(value)}")
        return value

    def integer(self, key: str, minimum: int | None = None) -> int:
        """A required integer (not a bool), at least ``minimum`` if given."""
        value = self.raw(key)
        return self._check_int(key, value, minimum)

    def opt_integer(self, key: str, minimum: int | None = None) -> int | None:
        """An optional integer (absent or null -> None)."""
        value = self.optional(key)
        return None if value is None else self._check_int(key, value, minimum)

    def boolean(self, key: str) -> bool:
        """A required boolean."""
        value = self.raw(key)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_kind(value)}")
        return value

    def mode(self, key: str) -> int:
        """A required octal mode string."""
        return parse_mode(self.raw(key), self.field(key))

    def array(self, key: str) -> list[object]:
        """A required JSON list."""
        value = self.raw(key)
        if not isinstance(value, list):
            self.fail(key, f"expected a list, got {_kind(value)}")
        return value

    def child(self, key: str) -> Reader:
        """A nested object, as a ``Reader``."""
        return Reader(self.raw(key), self.field(key))

    def entries(self) -> list[tuple[str, object]]:
        """All ``(key, value)`` pairs of a free-form object (all marked as known)."""
        self._seen.update(self._value)
        return list(self._value.items())

    def done(self) -> None:
        """Refuse keys nobody asked for."""
        unknown = sorted(set(self._value) - self._seen)
        if unknown:
            self.fail(unknown[0], "is not a known field")

    def _check_int(self, key: str, value: object, minimum: int | None) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(key, f"expected an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be >= {minimum}, got {value}")
        return value


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    for klass, name in names.items():
        if isinstance(value, klass):
            return f"{name} ({value!r})" if klass in {str, bool} else name
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    return type(value).__name__
