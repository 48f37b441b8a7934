"""Typed field readers for context documents, on top of ``effects.Reader``.

Every reader raises ``Invalid`` naming the field; ``planner._context_parse`` turns
that into a ``ContextError``. Text that cannot be encoded as UTF-8 (lone surrogates) is
refused here, because legacy writes these strings to files.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from effects import Invalid, Reader

__all__ = [
    "amount",
    "int_list",
    "ordered_text_map",
    "text",
    "text_list",
    "utf8",
]


def utf8(value: str, field: str) -> str:
    """Return ``value`` if it encodes as UTF-8, else raise ``Invalid``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Invalid(field, f"text is not valid Unicode ({exc.reason})") from exc
    return value


def text(reader: Reader, key: str, default: str | None = None) -> str:
    """A string field (``default`` when absent and a default is given)."""
    if default is not None and not reader.has(key):
        return default
    return utf8(reader.text(key), reader.field(key))


def opt_text(reader: Reader, key: str) -> str | None:
    """An optional string field (absent or null -> None)."""
    value = reader.opt_text(key)
    return None if value is None else utf8(value, reader.field(key))


def text_list(reader: Reader, key: str) -> tuple[str, ...]:
    """A list of strings (absent -> empty)."""
    if not reader.has(key) or reader.optional(key) is None:
        return ()
    items = reader.array(key)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            reader.fail(f"{key}[{index}]", "expected a string")
        utf8(item, f"{reader.field(key)}[{index}]")
    return tuple(str(item) for item in items)


def int_list(reader: Reader, key: str, minimum: int = 0) -> tuple[int, ...]:
    """A list of integers >= ``minimum`` (absent -> empty)."""
    if not reader.has(key) or reader.optional(key) is None:
        return ()
    values = []
    for index, item in enumerate(reader.array(key)):
        if not isinstance(item, int) or isinstance(item, bool) or item < minimum:
            reader.fail(f"{key}[{index}]", f"expected an integer >= {minimum}")
        values.append(item)
    return tuple(values)


def ordered_text_map(reader: Reader, key: str) -> tuple[tuple[str, str], ...]:
    """A ``{str: str}`` object as pairs in document order (absent -> empty)."""
    if not reader.has(key) or reader.optional(key) is None:
        return ()
    value = reader.raw(key)
    if not isinstance(value, Mapping):
        reader.fail(key, "expected an object of strings")
    pairs = []
    for name, item in value.items():
        if not isinstance(item, str):
            reader.fail(f"{key}.{name}", "expected a string")
        where = f"{reader.field(key)}.{name}"
        pairs.append((utf8(str(name), where), utf8(item, where)))
    return tuple(pairs)


def amount(value: object, field: str) -> str:
    """A resource amount (string or integer) as legacy's ``str(Decimal(...))``."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(field, "expected an amount as a string or an integer")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise Invalid(field, f"not a decimal number: {value!r}") from exc
    if not number.is_finite():
        raise Invalid(field, f"not a finite amount: {value!r}")
    return str(number)
