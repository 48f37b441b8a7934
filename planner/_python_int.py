"""What Python's ``int()`` makes of a JSON value: legacy reads counts and sizes
with it (``int(shmem)``, ``BinarySize(mem)``, ``int(label)``)."""

from __future__ import annotations

__all__ = ["python_int"]


def python_int(value: object) -> int | str:
    """``int(value)``: a bool's 0 or 1, a float cut toward zero, text with a sign,
    spaces or underscores; or the name of the exception it raises (``TypeError``
    for null, a list or an object, ``ValueError`` for other text)."""
    try:
        number: int = int(value)  # type: ignore[call-overload]  # any JSON value
    except (TypeError, ValueError) as exc:
        return type(exc).__name__
    return number
