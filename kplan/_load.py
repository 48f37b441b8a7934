"""Loading contexts and plans from files, gathering facts when a context has none.

This is the CLI's edge: it reads files and the host, then hands plain values to
the pure planner. Runner assets come from ``KPLAN_RUNNER_DIR``, else from the
legacy venv kplan built (the real ``ai.backend.runner`` files), else from the
sample assets shipped in ``kplan/samples/runner``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

import orjson
from returns.result import Failure, Result, Success

from effects import DecodeError, Plan, decode
from executor import docker_facts, gather_facts
from legacy import legacy_runner_dir
from planner import (
    Context,
    ContextError,
    PlanError,
    canonical_kernel_id,
    compile_plan,
    context_from_document,
)

from ._input_files import read_input_file

__all__ = [
    "SAMPLE_KERNEL",
    "SAMPLE_RUNNER",
    "Refusal",
    "compile_document",
    "load_document",
    "load_plan",
    "runner_dir",
    "scratch_root_of",
    "with_facts",
    "with_facts_from",
]

SAMPLES = Path(__file__).parent / "samples"
SAMPLE_KERNEL = SAMPLES / "kernel.json"
SAMPLE_RUNNER = SAMPLES / "runner"


def runner_dir() -> Path:
    """Where the runner assets come from (see the module docstring)."""
    configured = os.environ.get("KPLAN_RUNNER_DIR")
    if configured:
        return Path(configured)
    return legacy_runner_dir() or SAMPLE_RUNNER


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


def scratch_root_of(document: Mapping[str, object]) -> Path | None:
    """The context's scratch root, read leniently (the parser reports errors)."""
    local = document.get("local_config")
    container = local.get("container") if isinstance(local, dict) else None
    if not isinstance(container, dict):
        return None
    value = container.get("scratch_root", container.get("scratch-root"))
    return Path(value) if isinstance(value, str) and value.startswith("/") else None


def with_facts(
    document: dict[str, object], docker_url: str | None = None
) -> dict[str, object]:
    """``document`` with a ``facts`` section, gathered from this host if absent.

    With a Docker endpoint the Docker facts (volumes, is the image there) are
    gathered from it too; without one, the image counts as unknown (no pull).
    """
    completed = with_facts_from(document, runner_dir())
    if docker_url is None or "facts" in document or "facts" not in completed:
        return completed
    image = document.get("image")
    ref = image.get("canonical") if isinstance(image, dict) else None
    if not isinstance(ref, str):
        return completed  # the parser reports the missing image
    facts = completed["facts"]
    assert isinstance(facts, dict)  # noqa: S101  (gather_facts returns a dict)
    facts.update(asyncio.run(docker_facts(docker_url, ref)))
    return completed


def with_facts_from(document: dict[str, object], runner: Path) -> dict[str, object]:
    """``with_facts`` with an explicit runner directory."""
    root, kernel_id = scratch_root_of(document), document.get("kernel_id")
    if "facts" in document or root is None or not isinstance(kernel_id, str):
        return document  # the parser reports what is missing or wrong
    kernel_id = canonical_kernel_id(kernel_id)
    if "/" in kernel_id or not kernel_id:
        return document  # the parser refuses it, naming the field
    restarting = document.get("restarting") is True
    facts = gather_facts(root, kernel_id, runner, restarting=restarting)
    return {**document, "facts": facts}


Refusal = ContextError | PlanError


def compile_document(
    document: dict[str, object],
    quirks: list[str],
    *,
    containers: bool = False,
    docker_url: str | None = None,
) -> Result[tuple[Context, Plan], list[Refusal]]:
    """Complete a document with facts, parse and compile it; or every refusal."""
    match context_from_document(with_facts(document, docker_url)):
        case Failure(error):
            return Failure([error])
        case Success(ctx):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    match compile_plan(ctx, quirks, containers=containers):
        case Success(plan):
            return Success((ctx, plan))
        case Failure(errors):
            return Failure(list(errors))
        case _:
            raise AssertionError("unreachable")  # returns#1361


def load_plan(path: Path) -> Result[Plan, DecodeError]:
    """Read and verify a plan file."""
    match read_input_file(path):
        case Failure(reason):
            return Failure(DecodeError(field="(file)", reason=reason))
        case Success(data):
            return decode(data)
        case _:
            raise AssertionError("unreachable")  # returns#1361
