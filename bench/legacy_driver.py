"""Time the real legacy filesystem path, in-process, as the agent runs it.

Run by the legacy venv's Python 3.13 (``python -I bench/legacy_driver.py``): one
JSON request per line on stdin, one JSON answer per line on stdout, all in one
event loop (as the agent runs), so the benchmark can alternate its rounds with
kplan's. It imports the legacy bridge's
worker package (``legacy/worker``) for the agent built without ``__init__``
(``object.__new__(DockerAgent)``), its stubs and its patches, and runs the real
``DockerAgent.create_kernel`` directly: no sandbox, no fork, no snapshot. What is
timed is what ``kplan apply --scratch-only`` does, legacy's way: from the entry of
``prepare_scratch`` to the return of ``prepare_container`` (``perf_counter``,
inside the event loop), so apply_network, prepare_ssh, the vfolder, krunner and
device mounts, the restart files and prepare_container's files, with the Python
between them. A restart's ``create_kernel`` skips ``prepare_scratch``: its window
opens at ``apply_network``, which comes next (the first run the driver makes
before it is not in it).

The host key: ``"cached"`` replaces legacy's ``subprocess_run`` of dropbearkey by
writing a fixed key where dropbearkey would (kplan's side writes the same bytes),
``"real"`` runs the real dropbearkey, serially, as legacy does.

Request: ``{"context" (omitted: the last one), "roots": [one scratch root per
round], "host_key", "cached_key" (base64), "mark"}``; each root is emptied
first. ``mark`` makes a ``stat`` of ``/kplan-bench-mark-begin`` and ``-end``
around each window, so an ``strace`` of this process can count the window's
syscalls. Answer:
``{"seconds": [...], "host_key": [...]}`` (the real dropbearkey's part of each
window; 0 when cached) or ``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

WORKER_PARENT = Path(__file__).resolve().parent.parent / "legacy"
MARK = "/kplan-bench-mark-"


def mark(name: str) -> None:
    """A syscall an strace reader finds by its path (it fails: nothing there)."""
    with contextlib.suppress(FileNotFoundError):
        os.stat(MARK + name)


def main() -> int:
    sys.path.insert(0, str(WORKER_PARENT))
    legacy = importlib.import_module("worker.legacy_modules").load_legacy()
    legacy_run = importlib.import_module("worker.legacy_run")
    window: dict[str, float] = {}
    settings: dict[str, Any] = {"mark": False, "host_key": "cached", "key": b""}
    _time_window(legacy, window, settings)
    _host_key(legacy, window, settings)
    loop = asyncio.new_event_loop()
    context: dict[str, Any] = {}
    for line in sys.stdin:
        request = json.loads(line)
        context = request.get("context") or context
        roots = [Path(root) for root in request["roots"]]
        aux = roots[0].parent / "legacy-aux"
        (aux / "home").mkdir(parents=True, exist_ok=True)
        os.chdir(aux)  # where legacy looks for agent-docker-container-opts.json
        os.environ["HOME"] = str(aux / "home")
        os.umask(int(context["facts"]["umask"], 8))
        settings.update(
            mark=bool(request.get("mark")),
            host_key=request["host_key"],
            key=base64.b64decode(request["cached_key"]),
        )
        answer = loop.run_until_complete(
            _rounds(legacy_run, legacy, context, roots, aux, window)
        )
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    loop.close()
    return 0


def _time_window(
    legacy: Any, window: dict[str, float], settings: dict[str, Any]
) -> None:
    context_class = legacy.DockerKernelCreationContext
    prepare_scratch = context_class.prepare_scratch
    apply_network = context_class.apply_network
    prepare_container = context_class.prepare_container
    opened: list[bool] = [False]  # a window is open (its begin was marked)

    def begin() -> None:
        if not opened[0]:
            if settings["mark"]:
                mark("begin")
            window["start"] = time.perf_counter()
            opened[0] = True

    async def timed_scratch(self: Any, *args: Any, **kwargs: Any) -> Any:
        begin()
        return await prepare_scratch(self, *args, **kwargs)

    async def timed_network(self: Any, *args: Any, **kwargs: Any) -> Any:
        begin()  # a restart's window: create_kernel skips prepare_scratch then
        return await apply_network(self, *args, **kwargs)

    async def timed_container(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await prepare_container(self, *args, **kwargs)
        window["end"] = time.perf_counter()
        opened[0] = False
        if settings["mark"]:
            mark("end")
        return result

    context_class.prepare_scratch = timed_scratch
    context_class.apply_network = timed_network
    context_class.prepare_container = timed_container


def _host_key(legacy: Any, window: dict[str, float], settings: dict[str, Any]) -> None:
    """Legacy's dropbearkey: cached (the key's bytes written where it would write
    them) or real, and then timed (its part of the window)."""
    real = legacy.docker_agent_module.subprocess_run

    def run(command: list[str], *args: Any, **kwargs: Any) -> Any:
        if "dropbearkey" not in command:
            return real(command, *args, **kwargs)
        if settings["host_key"] == "cached":
            Path(command[command.index("-f") + 1]).write_bytes(settings["key"])
            return None
        started = time.perf_counter()
        try:
            return real(command, *args, **kwargs)
        finally:
            window["host_key"] = time.perf_counter() - started

    legacy.docker_agent_module.subprocess_run = run


async def _rounds(  # noqa: PLR0917  (the driver's parts)
    legacy_run: Any,
    legacy: Any,
    context: dict[str, Any],
    roots: list[Path],
    aux: Path,
    window: dict[str, float],
) -> dict[str, Any]:
    seconds, host_key = [], []
    for root in roots:
        root.mkdir(parents=True, exist_ok=True)
        for child in root.iterdir():
            shutil.rmtree(child)
        run = legacy_run.LegacyRun(legacy, context, root, aux / "spare")
        result = await run.run()
        if result["error"] is not None:
            return {"error": result["error"]}
        seconds.append(window["end"] - window["start"])
        host_key.append(window.pop("host_key", 0.0))
    return {"seconds": seconds, "host_key": host_key, "python": sys.version.split()[0]}


if __name__ == "__main__":
    raise SystemExit(main())
