"""The three sides of a comparison, each timed the same way on the same inputs.

* kplan: ``executor.apply_plan`` of ``scratch_only(plan)``, with its journal (no
  fsync unless ``durable``), timed with ``perf_counter`` around the ``await``
  inside one long-lived event loop, as an agent runs it;
* legacy: the real ``create_kernel`` in its own Python 3.13 process
  (``bench/legacy_driver.py``), timed from ``prepare_scratch`` to the end of
  ``prepare_container`` inside its event loop;
* the floor: the fewest plain syscalls that recreate the same tree (``mkdir``;
  ``open``/``write``/``close``; a ``chmod`` only where the umask would change the
  mode; a ``chown`` only where the owner is not the creator): no journal, no
  staging, no checks.

The host key is the same fixed bytes on every side (``CACHED_KEY``): kplan writes
it in place of its ``GenerateHostKey`` step, legacy's dropbearkey call is
replaced by writing it. Each round starts from an empty scratch root.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, final

import attrs

from effects import (
    GenerateHostKey,
    Plan,
    Step,
    Tree,
    WriteFile,
    blob_of,
    project,
    seal,
)
from executor import ApplyOptions, ApplyReport, Tools, apply_plan
from kplan._against import known_image
from legacy import ensure_legacy_venv
from planner import Context, compile_plan, context_from_document, legacy_inputs
from planner import scratch_only as scratch_part
from planner._edges import edges_of

__all__ = [
    "CACHED_KEY",
    "LEGACY_DRIVER",
    "LegacySession",
    "Timing",
    "cached_host_key",
    "clear",
    "floor_times",
    "kplan_plan",
    "kplan_round",
    "kplan_times",
    "legacy_request",
    "legacy_times",
    "run_floor",
]

LEGACY_DRIVER = Path(__file__).with_name("legacy_driver.py")
# An RSA host key's size, fixed bytes: what a cache of dropbearkey's output holds.
CACHED_KEY = b"-----BEGIN KPLAN BENCH CACHED HOST KEY-----\n" + b"k" * 1100 + b"\n"


@attrs.frozen(kw_only=True)
class Timing:
    """Seconds per round; median and minimum; the host key's part of each round."""

    seconds: tuple[float, ...]
    host_key: tuple[float, ...] = ()

    @property
    def beyond_host_key(self) -> float:
        """The median of each round's time outside its host key generation: what a
        parallel apply can hide under it (rounds differ in the key's own time)."""
        return statistics.median(
            t - k for t, k in zip(self.seconds, self.host_key, strict=True)
        )

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def minimum(self) -> float:
        return min(self.seconds)


def cached_host_key(plan: Plan) -> Plan:
    """``plan`` with its host key written from ``CACHED_KEY`` (0600, as dropbear)."""
    blob = blob_of(CACHED_KEY)
    steps = [
        Step(
            stage=step.stage,
            effect=WriteFile(path=step.effect.path, blob=blob.digest, mode=0o600),
        )
        if isinstance(step.effect, GenerateHostKey)
        else step
        for step in plan.steps
    ]
    used = {s.effect.blob for s in steps if isinstance(s.effect, WriteFile)}
    blobs = [b for b in (*plan.blobs, blob) if b.digest in used]
    return seal(plan.header, steps, blobs, edges_of(steps))


def kplan_plan(document: dict[str, Any], *, host_key: str = "cached") -> Plan:
    """The scratch part of the document's plan (host key cached or real)."""
    plan = scratch_part(compile_plan(context_from_document(document).unwrap()).unwrap())
    return cached_host_key(plan) if host_key == "cached" else plan


def clear(root: Path) -> None:
    """Empty a scratch root (its entries; the root itself stays)."""
    root.mkdir(parents=True, exist_ok=True)
    for child in root.iterdir():
        shutil.rmtree(child)


async def kplan_round(
    plan: Plan,
    journals: Path,
    tools: Tools,
    *,
    durable: bool = False,
    parallel: int = 8,
    fresh_root: bool = True,
) -> tuple[float, ApplyReport]:
    """Apply ``plan`` once (its root emptied first unless ``fresh_root`` is
    false: a restart's): seconds, report."""
    if fresh_root:
        clear(Path(str(plan.header.scratch_root)))
    journal = journals / f"journal-{os.getpid()}-{time.monotonic_ns()}"
    options = ApplyOptions(
        journal=journal, tools=tools, durable=durable, parallel=parallel
    )
    started = time.perf_counter()
    result = await apply_plan(plan, options)
    seconds = time.perf_counter() - started
    report = result.unwrap()
    journal.unlink()
    private = journal.with_name(f"{journal.name}.private")
    if private.exists():
        shutil.rmtree(private)
    return seconds, report


def host_key_seconds(report: ApplyReport) -> float:
    """The host key step's time in an apply (0 without one)."""
    return sum(s.seconds for s in report.steps if s.unit == "host key")


async def kplan_times(
    plans: Sequence[Plan],
    journals: Path,
    tools: Tools,
    *,
    durable: bool = False,
    parallel: int = 8,
) -> tuple[Timing, ApplyReport]:
    """Apply each plan once, in one event loop; the last report."""
    seconds, host_key = [], []
    report: ApplyReport | None = None
    for plan in plans:
        took, report = await kplan_round(
            plan, journals, tools, durable=durable, parallel=parallel
        )
        seconds.append(took)
        host_key.append(host_key_seconds(report))
    assert report is not None
    return Timing(seconds=tuple(seconds), host_key=tuple(host_key)), report


def legacy_request(
    document: dict[str, Any],
    roots: Sequence[Path],
    *,
    host_key: str = "cached",
    mark: bool = False,
) -> dict[str, Any]:
    """The driver's request: legacy's normalised inputs, exactly what kplan planned."""
    ctx: Context = context_from_document(document).unwrap()
    context = known_image({**document, **legacy_inputs(ctx)}, ctx)
    return {
        "context": context,
        "roots": [str(root) for root in roots],
        "host_key": host_key,
        "cached_key": base64.b64encode(CACHED_KEY).decode(),
        "mark": mark,
    }


def legacy_command() -> list[str]:
    """The legacy venv's interpreter, isolated, running the driver."""
    return [str(ensure_legacy_venv()), "-I", str(LEGACY_DRIVER)]


@final
class LegacySession:
    """One driver process answering requests, one per line (``legacy_driver``).

    Kept for a whole benchmark so its rounds can alternate with kplan's (a disk's
    state drifts within a run) without importing the agent again each time.
    """

    def __init__(self, prefix: Sequence[str] = ()) -> None:
        self._process = subprocess.Popen(
            [*prefix, *legacy_command()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._sent: object = None  # the context last sent (sent once per kernel)

    def times(self, request: dict[str, Any]) -> Timing:
        """Run one request; its timing, or raise legacy's error."""
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        if request["context"] is self._sent:
            request = {k: v for k, v in request.items() if k != "context"}
        else:
            self._sent = request["context"]
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            msg = f"the legacy driver exited {process.wait()}"
            raise RuntimeError(msg)
        answer = json.loads(line)
        if "error" in answer:
            msg = f"legacy failed: {answer['error']}"
            raise RuntimeError(msg)
        return Timing(
            seconds=tuple(answer["seconds"]), host_key=tuple(answer["host_key"])
        )

    def close(self) -> None:
        """End the driver (EOF on its stdin)."""
        process = self._process
        if process.stdin is not None:
            process.stdin.close()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> LegacySession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def legacy_times(request: dict[str, Any], prefix: Sequence[str] = ()) -> Timing:
    """One request in a driver of its own (``prefix``: e.g. strace)."""
    with LegacySession(prefix) as session:
        return session.times(request)


def run_floor(tree: Tree, root: Path, blobs: dict[str, bytes], umask: int) -> None:
    """Recreate ``tree`` below ``root`` with the fewest plain syscalls."""
    creator = (os.geteuid(), os.getegid())
    for path, node in tree.entries:
        target = f"{root}/{path}"
        if node.type == "dir":
            os.mkdir(target, node.mode)
            if node.mode & (umask | 0o7000):
                os.chmod(target, node.mode)
            if (node.uid, node.gid) != creator:
                os.chown(target, node.uid, node.gid)
            continue
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, node.mode)
        if node.sha256 is not None:
            os.write(fd, blobs[node.sha256])
        elif node.volatile:
            os.write(fd, CACHED_KEY)
        if node.mode & (umask | 0o7000):
            os.fchmod(fd, node.mode)
        if (node.uid, node.gid) != creator:
            os.fchown(fd, node.uid, node.gid)
        os.close(fd)


def floor_times(plan: Plan, before: Tree, roots: Sequence[Path]) -> Timing:
    """The floor for the tree ``plan`` leaves, once per root (emptied first)."""
    tree = project(plan, before).unwrap()
    blobs = dict(plan.blob_table)
    umask = os.umask(0)
    os.umask(umask)
    seconds = []
    for root in roots:
        clear(root)
        started = time.perf_counter()
        run_floor(tree, root, blobs, umask)
        seconds.append(time.perf_counter() - started)
    return Timing(seconds=tuple(seconds))
