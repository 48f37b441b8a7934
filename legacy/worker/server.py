"""The parent: serves JSON-lines requests on the protocol fds until EOF.

``main`` keeps private copies of stdin/stdout for the protocol, imports legacy once,
and answers each request line with one response line (``handle_line``). A ``run``
is refused (``request_checks``) or forked (``supervise.fork_run``) in a fresh temp dir.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .legacy_modules import Legacy, load_legacy
from .libc import set_child_subreaper
from .protocol import (
    JSONObject,
    bad_request,
    error_json,
    log,
    response,
    write_all,
)
from .request_checks import validate_context
from .run_dirs import make_paths
from .supervise import fork_run

DEFAULT_TIMEOUT_SECONDS = 60.0


def main() -> int:
    """Serve until EOF on stdin; returns the exit code."""
    proto_in, proto_out = take_over_stdio()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="kplan-legacy-worker: %(levelname)s %(name)s: %(message)s",
    )
    set_child_subreaper()
    started = time.monotonic()
    legacy = load_legacy()
    log.info("legacy %s loaded in %.2f s", legacy.version, time.monotonic() - started)
    serve(legacy, proto_in, proto_out)
    return 0


def take_over_stdio() -> tuple[int, int]:
    """Keep private copies of stdin/stdout for the protocol; fd 1 becomes stderr.

    Anything else that prints (legacy imports, stray prints, subprocesses) then lands on
    stderr and can never corrupt the JSON-lines stream.
    """
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


def serve(legacy: Legacy, proto_in: int, proto_out: int) -> None:
    """One response line per non-blank request line, until EOF."""
    with os.fdopen(proto_in, "rb", closefd=False) as requests:
        for line in requests:
            if not line.strip():
                continue
            try:
                reply = handle_line(legacy, line, (proto_in, proto_out))
            except Exception as exc:  # noqa: BLE001 - the worker must survive any request
                log.exception("internal error while handling a request")
                reply = {"id": None, "ok": False, "error": error_json(exc, "worker")}
            write_all(proto_out, json.dumps(reply, ensure_ascii=True).encode() + b"\n")


def handle_line(legacy: Legacy, line: bytes, protocol_fds: Sequence[int]) -> JSONObject:
    """The response to one request line (``BadRequest`` for anything malformed)."""
    try:
        request = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return bad_request(None, f"malformed JSON: {exc}")
    if not isinstance(request, dict):
        return bad_request(None, "request must be a JSON object")
    request_id = request.get("id")
    op = request.get("op")
    if op == "ping":
        return _pong(legacy, request_id)
    if op == "run":
        return handle_run(legacy, request_id, request, protocol_fds)
    return bad_request(request_id, f"unknown op {op!r}")


def _pong(legacy: Legacy, request_id: Any) -> JSONObject:
    return {
        "id": request_id,
        "ok": True,
        "legacy_version": legacy.version,
        "python": platform.python_version(),
    }


def handle_run(
    legacy: Legacy,
    request_id: Any,
    request: Mapping[str, Any],
    protocol_fds: Sequence[int],
) -> JSONObject:
    """Check the arguments, refuse hazards, else run legacy in a fresh temp dir."""
    context = request.get("context")
    if not isinstance(context, Mapping):
        return bad_request(request_id, "'context' must be an object")
    timeout = _timeout_of(request)
    if timeout is None:
        return bad_request(request_id, "'timeout' must be a positive number of seconds")
    refusals = validate_context(context)
    if refusals:
        return response(request_id, refused=[r.to_json() for r in refusals])
    paths = make_paths()
    return response(
        request_id,
        scratch_root=paths.scratch,
        **fork_run(legacy, context, paths, timeout, protocol_fds),
    )


def _timeout_of(request: Mapping[str, Any]) -> float | None:
    """The request's timeout in seconds (default 60), or None when not positive."""
    timeout = request.get("timeout")
    if timeout is None:
        return DEFAULT_TIMEOUT_SECONDS
    if (
        not isinstance(timeout, (int, float))
        or isinstance(timeout, bool)
        or timeout <= 0
    ):
        return None
    return float(timeout)
