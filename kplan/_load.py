"""Loading context documents and plan files (the CLI's file edge).

``sample`` names the built-in sample kernel. Files are read only when regular and
not too large (``kplan._input_files``). Facts are completed by ``kplan._completion``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from returns.result import Failure, Result, Success

from effects import DecodeError, Plan, decode
from planner import ContextError

from ._input_files import read_input_file
from ._runner_location import SAMPLE_KERNEL

__all__ = ["load_document", "load_plan"]


def load_document(path: Path) -> Result[dict[str, object], ContextError]:
    """Read a JSON object from ``path`` (``sample`` names the built-in kernel)."""
    source = SAMPLE_KERNEL if str(path) == "sample" else path
    match read_input_file(source):
        case Failure(reason):
            return Failure(ContextError(field="(file)", reason=reason))
        case Success(data):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    try:
        document = orjson.loads(data)
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
    match read_input_file(path):
        case Failure(reason):
            return Failure(DecodeError(field="(file)", reason=reason))
        case Success(data):
            return decode(data)
        case _:
            raise AssertionError("unreachable")  # returns#1361
