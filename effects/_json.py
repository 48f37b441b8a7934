"""Immutable JSON values for container-config fragments and other free-form data.

Effects hold only immutable fields (architecture.md §2), but Docker create bodies and
legacy fragments are JSON documents. ``freeze`` turns a JSON document into nested
tuples and ``JsonObject`` values (keys sorted, so equal documents are equal values);
``thaw`` turns it back into dicts and lists for orjson or aiodocker.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TypeAlias, final

import attrs

__all__ = ["Json", "JsonObject", "freeze", "freeze_object", "thaw", "thaw_object"]

Json: TypeAlias = "bool | int | float | str | tuple[Json, ...] | JsonObject | None"


def _check_items(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, tuple):
        msg = "JsonObject items must be a tuple"
        raise TypeError(msg)
    keys = [key for key, _ in value]
    if keys != sorted(set(keys)):
        msg = "JsonObject keys must be unique and sorted"
        raise ValueError(msg)


@final
@attrs.frozen
class JsonObject:
    """A JSON object as a sorted tuple of ``(key, value)`` pairs."""

    items: tuple[tuple[str, Json], ...] = attrs.field(validator=_check_items)

    def get(self, key: str) -> Json:
        """Return the value at ``key`` or ``None``."""
        for name, value in self.items:
            if name == key:
                return value
        return None

    def keys(self) -> Iterator[str]:
        """Iterate over the keys in sorted order."""
        return (key for key, _ in self.items)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is a key (``get`` cannot tell a null from a missing key)."""
        return any(name == key for name, _ in self.items)


EMPTY = JsonObject(())


def freeze(value: object) -> Json:
    """Convert a JSON document (dicts, lists, scalars) into an immutable ``Json``.

    Frozen values in it (``JsonObject``, tuples of ``Json``) stay as they are.

    Raises:
        TypeError: a value is not JSON (e.g. bytes, a set, a non-str key).
        ValueError: a float is not finite, an integer does not fit in 64 bits.
    """
    kind = type(value)
    # The common cases first; then a value frozen already: one read from a
    # document (the cluster's network_config, say) put in another being frozen.
    if kind in _PLAIN or isinstance(value, bool | str) or kind is JsonObject:
        return value  # type: ignore[return-value]
    if isinstance(value, int):
        return _integer(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        return freeze_object(value)  # type: ignore[arg-type]
    if kind is list:
        return _freeze_list(value)  # type: ignore[arg-type]
    if isinstance(value, list | tuple):
        return tuple(item if type(item) in _PLAIN else freeze(item) for item in value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"JSON numbers must be finite, got {value!r}"
            raise ValueError(msg)
        return value
    msg = f"not a JSON value: {type(value).__name__}"
    raise TypeError(msg)


def freeze_object(value: Mapping[str, object]) -> JsonObject:
    """Freeze a mapping with string keys; see ``freeze``."""
    if not value:
        return EMPTY  # mount options mostly: one value serves them all
    pairs: list[tuple[str, Json]] = []
    append = pairs.append
    # Dicts and lists inline, by their exact class: a create body holds hundreds.
    for key, item in value.items():
        kind = type(item)
        frozen: Json
        if kind is dict:
            frozen = freeze_object(item)  # type: ignore[arg-type]
        elif kind is list:
            frozen = _freeze_list(item)  # type: ignore[arg-type]
        elif kind in _PLAIN:
            frozen = item  # type: ignore[assignment]
        elif kind is int:
            frozen = _integer(item)  # type: ignore[arg-type]
        else:
            frozen = freeze(item)
        append((key if type(key) is str else _key(key), frozen))
    pairs.sort()  # by key alone: a mapping's keys are unique
    # Sorted unique keys are what the validator checks: build the value directly.
    made = _NEW(JsonObject)
    _SET(made, "items", tuple(pairs))
    return made


def _freeze_list(value: list[object]) -> tuple[Json, ...]:
    items: list[Json] = []
    append = items.append
    for item in value:
        kind = type(item)
        if kind in _PLAIN:
            append(item)  # type: ignore[arg-type]
        elif kind is int:
            append(_integer(item))  # type: ignore[arg-type]
        elif kind is dict:
            append(freeze_object(item))  # type: ignore[arg-type]
        elif kind is list:
            append(_freeze_list(item))  # type: ignore[arg-type]
        else:
            append(freeze(item))
    return tuple(items)


_NEW = object.__new__
_SET = object.__setattr__


def _integer(value: int) -> int:
    # orjson writes integers from -2**63 to 2**64 - 1 and raises on any other:
    # a value holding one could never be encoded, in a plan or a create body.
    if _SMALLEST <= value <= _LARGEST:
        return value
    msg = f"JSON integers must fit in 64 bits, got {value}"
    raise ValueError(msg)


_SMALLEST, _LARGEST = -(2**63), 2**64 - 1


def _key(key: object) -> str:
    # Parsed documents are typed Mapping[str, object] but may hold other keys.
    if not isinstance(key, str):
        msg = f"JSON object keys must be strings, got {key!r}"
        raise TypeError(msg)
    return key


def thaw(value: Json) -> object:
    """Convert an immutable ``Json`` back into dicts and lists (fresh objects)."""
    kind = type(value)  # JsonObject is final; a Json tuple is a plain tuple
    if kind is JsonObject:
        return thaw_object(value)  # type: ignore[arg-type]
    if kind is tuple:
        return [
            item if type(item) in _SCALARS else thaw(item)
            for item in value  # type: ignore[union-attr]
        ]
    return value


def thaw_object(value: JsonObject) -> dict[str, object]:
    """Thaw a ``JsonObject`` into a new dict."""
    return {
        key: item if type(item) in _SCALARS else thaw(item) for key, item in value.items
    }


# Scalars freeze and thaw to themselves: checked inline, since create bodies hold
# hundreds. An integer is checked for its range (``_integer``), and a float freezes
# through ``freeze``, which refuses the non-finite ones.
_PLAIN = frozenset({str, bool, type(None)})
_SCALARS = _PLAIN | {int, float}
