"""Legacy's ``BinarySize`` text formats, for resource.txt (§12.2).

``format(BinarySize(n), "s")`` scales to the largest 1024 power not above ``n``
and prints at most two decimals with a lowercase suffix (``4g``, ``1.18m``);
``format(BinarySize(n), "m")`` prints in MiB. ``parse_binary_size`` reads what the
agent's config accepts (``"64m"``, ``"1 GiB"``, ``"1073741824"``).
"""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException, InvalidOperation

__all__ = ["LARGEST_SIZE", "SizeError", "format_binary_size", "parse_binary_size"]

_SUFFIXES = ("", "k", "m", "g", "t", "p", "e", "z", "y")
# The largest size read: sizes are 64-bit wherever they go (Docker, mount options).
LARGEST_SIZE = 2**64
_ENDINGS = ("ibytes", "ibyte", "ib", "bytes", "byte", "b")
_NUMBER = re.compile(r"\d+(\.\d+)?")


class SizeError(ValueError):
    """A size legacy's ``BinarySize`` cannot format: the message says what it raises."""


def _quantize(value: int, multiplier: int) -> Decimal:
    scaled = Decimal(value) / Decimal(multiplier)
    try:
        if scaled == scaled.to_integral():
            return scaled.quantize(Decimal(1))
        return scaled.quantize(Decimal(".00")).normalize()
    except InvalidOperation as exc:  # more digits than the context's 28
        msg = f"{value} bytes: legacy's BinarySize raises InvalidOperation (28 digits)"
        raise SizeError(msg) from exc


def format_binary_size(value: int, spec: str) -> str:
    """``format(BinarySize(value), spec)`` for spec ``"s"`` or a unit letter.

    Raises:
        SizeError: where legacy's format raises (no unit above ``y`` for ``"s"``,
            more than 28 digits in the unit).
    """
    if spec == "s":
        index, scale = 0, value
        while scale >= 1024:  # noqa: PLR2004
            scale //= 1024
            index += 1
        if index == 0:
            return str(value)
        if index >= len(_SUFFIXES):
            msg = f"{value} bytes: legacy's BinarySize raises IndexError (no unit > y)"
            raise SizeError(msg)
        return f"{_quantize(value, 1024**index):f}{_SUFFIXES[index]}"
    index = _SUFFIXES.index(spec.lower())
    return f"{_quantize(value, 1024**index):f}{spec.lower()}".strip()


def parse_binary_size(text: str) -> int | None:
    """Bytes for a size like ``"64m"`` or ``"2 GiB"``; ``None`` if it is not one
    or is more than ``LARGEST_SIZE``."""
    expr = text.strip().replace("_", "").lower()
    if expr.isdecimal():  # what int() reads (isdigit() holds for "²" too)
        digits = expr.lstrip("0") or "0"  # int() refuses texts of 4,300 digits
        if len(digits) > len(str(LARGEST_SIZE)):
            return None
        size = int(digits)
        return size if size <= LARGEST_SIZE else None
    for ending in _ENDINGS:
        if expr.endswith(ending) and expr != ending:
            expr = expr.removesuffix(ending)
            break
    number, suffix = expr[:-1].strip(), expr[-1:]
    if suffix not in _SUFFIXES[1:] or _NUMBER.fullmatch(number) is None:
        return None
    try:
        size = Decimal(number) * 1024 ** _SUFFIXES.index(suffix)
    except DecimalException:  # InvalidOperation, Overflow: no size either
        return None
    # int() of a text of a million digits takes legacy, and this, half a minute.
    return int(size) if size <= LARGEST_SIZE else None
