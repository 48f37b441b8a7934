"""The wire shapes: JSON values, response bodies, ``error`` objects and log entries.

Every ``run``/``BadRequest`` response has the same keys (``response``); the other
modules fill them. Children (supervisor, runner) send one JSON report each through a
pipe (``report_and_exit``); the parent decodes it (``decode_report``).
"""

from __future__ import annotations

import enum
import json
import logging
import os
import traceback
from collections.abc import Mapping
from typing import Any, NoReturn

log = logging.getLogger("kplan.legacy_worker")

JSONObject = dict[str, Any]


# What a run reports when it has nothing for a key (package docstring, "Reply").
RUN_DEFAULTS: JSONObject = {
    "tree": [],
    "contents": {},
    "create": None,
    "first_create": None,
    "environ": None,
    "service_ports": None,
    "cmdargs": None,
    "kernel": None,
    "kconfig": None,
    "events": [],
    "calls": [],
    "released_ports": [],
    "proxy_sockets": [],
    "container_configs": [],
    "logs": [],
    "error": None,
}


def as_dict(value: Any) -> Mapping[str, Any]:
    """Return ``value`` when it is a JSON object, else an empty mapping."""
    return value if isinstance(value, Mapping) else {}


def to_jsonable(value: Any) -> Any:
    """Convert legacy values (Path, Decimal, enums, UUIDs, UserStrings...) to JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return _collection_to_jsonable(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)  # PurePath, Decimal, UUID and anything else: its text


def _collection_to_jsonable(value: Any) -> Any:
    """Mappings become objects, sequences lists, sets sorted lists."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return sorted((to_jsonable(v) for v in value), key=repr)


def error_json(exc: BaseException, step: str, phase: str | None = None) -> JSONObject:
    """Describe an exception the way the protocol's ``error`` field expects."""
    result: JSONObject = {
        "type": type(exc).__qualname__,
        "message": str(exc),
        "step": step,
        "traceback": "".join(traceback.format_exception(exc)),
    }
    if phase is not None:
        result["phase"] = phase
    return result


def simple_error(kind: str, message: str, step: str | None = None) -> JSONObject:
    """An ``error`` object that is not backed by a Python exception."""
    return {"type": kind, "message": message, "step": step, "traceback": None}


def log_entry(message: str) -> JSONObject:
    """One of the worker's own notes in a response's ``logs`` (level WARNING)."""
    return {"level": "WARNING", "logger": log.name, "message": message}


def response(request_id: Any, **fields: Any) -> JSONObject:
    """A ``run`` response: every key present, ``fields`` overriding the defaults."""
    body: JSONObject = {
        "id": request_id,
        "ok": False,
        "scratch_root": None,
        **RUN_DEFAULTS,
        "refused": None,
    }
    body.update(fields)
    return body


def bad_request(request_id: Any, message: str) -> JSONObject:
    """The response to a request the worker cannot parse or does not know."""
    return response(request_id, error=simple_error("BadRequest", message))


def not_run(error: JSONObject) -> JSONObject:
    """Report body of a run in which legacy never started."""
    return {**RUN_DEFAULTS, "error": error}


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (pipes may accept partial writes)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def report_and_exit(result_fd: int, result: JSONObject) -> NoReturn:
    """A child's last act: send its report to the parent, then exit at once."""
    try:
        write_all(
            result_fd, json.dumps(result, ensure_ascii=True, default=str).encode()
        )
    finally:
        os._exit(0)


def decode_report(data: bytes) -> JSONObject:
    """A child's report, as ``report_and_exit`` wrote it."""
    report: JSONObject = json.loads(data)
    return report
