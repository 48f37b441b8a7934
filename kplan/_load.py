"""Loading context documents and plan files (the CLI's file edge).

``sample`` names the built-in sample kernel. Facts are completed by
``kplan._completion``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from returns.result import Failure, Result, Success

from effects import DecodeError, Plan, decode
from planner import ContextError

from ._completion import SAMPLE_KERNEL

__all__ = ["load_document", "load_plan"]


def load_document(path: Path) -> Result[dict[str, object], ContextError]:
    """Read a JSON object from ``path`` (``sample`` names the built-in kernel)."""
    source = SAMPLE_KERNEL if str(path) == "sample" else path
    try:
        document = orjson.loads(source.read_bytes())
    except OSError as exc:
        return Failure(ContextError(field="(file)", reason=f"{source}: {exc.strerror}"))
    except orjson.JSONDecodeError as exc:
        return Failure(
            ContextError(field="(file)", reason=f"{source}: not JSON: {exc}")
        )
    if not isinstance(document, dict):
        return Failure(
            ContextError(field="(file)", reason=f"{source}: not a JSON object")
        )
    return Success(document)


def load_plan(path: Path) -> Result[Plan, DecodeError]:
    """Read and verify a plan file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Failure(DecodeError(field="(file)", reason=f"{path}: {exc.strerror}"))
    return decode(data)
