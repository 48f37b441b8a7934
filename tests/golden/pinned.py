"""Pinned golden cases: what regen stores, and how a plan is held against one.

A case file (``cases/<name>.json``) holds the catalogue entry (``covers``,
``changes``), the ``document`` exactly as the legacy worker ran it (kplan's
normalised inputs, ``planner.legacy_inputs``, with the scratch root legacy got, so a
plan of it names the same absolute paths) and ``legacy``: the parts of the
worker's reply the comparison needs (legacy/worker's protocol). The comparison is
``kplan diff --against legacy`` on a pinned reply instead of a live one: the tree,
contents, create bodies, environ, service ports, kernel record and kconfig through
``planner.compare``, or, for a plan that predicts a legacy exception, the
exception legacy raised. Side calls the tree cannot show (the pull, sudo, the
networks, the socket proxies) are compared as well.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from returns.result import Failure, Success

from effects import (
    ConnectNetworks,
    Plan,
    ProvisionSudo,
    PullImage,
    ServeSocketProxy,
)
from executor import host_probes
from kplan._against import crash_diff, legacy_outcome, only_crashes
from planner import (
    FIRST_RUN,
    Context,
    Diff,
    Difference,
    compare,
    compile_plan,
    context_from_document,
)

from ..contexts import document, put

__all__ = [
    "CASES_DIR",
    "KEPT",
    "at_root",
    "context_of",
    "golden_diff",
    "legacy_document",
    "legacy_side_calls",
    "load_case",
    "pinned_reply",
    "plan_side_calls",
]

CASES_DIR = Path(__file__).parent / "cases"
# The reply's parts a golden case keeps (legacy/worker/__init__.py, "Reply of run").
KEPT = (
    "scratch_root",
    "tree",
    "contents",
    "create",
    "first_create",
    "environ",
    "service_ports",
    "kernel",
    "kconfig",
    "calls",
    "events",
    "error",
)
ERROR_KEPT = ("type", "message", "step", "phase")


def legacy_document(changes: Mapping[str, Any], runner: Path) -> dict[str, Any]:
    """The base document on this machine's facts, with ``changes`` applied.

    Legacy reads this machine's host paths and its own runner package: the facts
    say so (``host``; the runner's ``origin`` and ``listing``). The ten copied
    files stay the small samples: the worker shows legacy the facts' copies.
    """
    doc = document()
    facts = doc["facts"]
    facts["host"] = host_probes()
    facts["runner"] = {
        **facts["runner"],
        "origin": str(runner.resolve()),
        "listing": sorted(path.name for path in runner.iterdir()),
    }
    for dotted, value in changes.items():
        put(doc, dotted, copy.deepcopy(value))
    return doc


def pinned_reply(reply: Mapping[str, object]) -> dict[str, object]:
    """The parts of a worker reply a case keeps (the error without its traceback)."""
    kept = {key: reply.get(key) for key in KEPT}
    error = reply.get("error")
    if isinstance(error, dict):
        kept["error"] = {key: error.get(key) for key in ERROR_KEPT}
    return kept


def at_root(document: Mapping[str, Any], root: str) -> dict[str, Any]:
    """``document`` planned where legacy ran: its scratch root is ``root``."""
    moved = copy.deepcopy(dict(document))
    moved["local_config"]["container"]["scratch_root"] = root
    moved["facts"]["scratch_root_resolved"] = root
    return moved


def load_case(name: str) -> dict[str, Any]:
    """The pinned case ``name``."""
    case: dict[str, Any] = orjson.loads((CASES_DIR / f"{name}.json").read_bytes())
    return case


def context_of(case: Mapping[str, Any]) -> Context:
    """The context of a pinned case's document."""
    return context_from_document(copy.deepcopy(case["document"])).unwrap()


def golden_diff(case: Mapping[str, Any]) -> Diff:
    """Every difference between kplan's plan and what legacy left (``kplan diff``)."""
    legacy = case["legacy"]
    error = legacy.get("error")
    ctx = context_of(case)
    match compile_plan(ctx):
        case Success(plan):
            diff = compare(ctx, plan, legacy_outcome(legacy))
        case Failure(errors):
            if not only_crashes(errors):
                raise AssertionError(f"kplan refuses a pinned case: {errors[0]}")
            return crash_diff(errors, error)
        case _:
            raise AssertionError("unreachable")  # returns#1361
    if error is None:
        return diff
    raised = Difference(
        kind="legacy-error",
        path=str(error.get("step")),
        plan="planned without error",
        other=f"{error.get('type')}: {error.get('message')}",
    )
    return Diff(differences=(*diff.differences, raised), normalised=diff.normalised)


def plan_side_calls(plan: Plan) -> dict[str, list[object]]:
    """The plan's pulls, sudo provisions, network attachments and socket proxies.

    Proxies are the last run's (a restart's first run serves its own, which the
    restart's clean closes); networks are compared as sorted lists.
    """
    calls: dict[str, list[object]] = {
        "pulls": [],
        "sudo": [],
        "networks": [],
        "proxies": [],
    }
    for step in plan.steps:
        match step.effect:
            case PullImage(ref=ref, timeout_ms=timeout):
                calls["pulls"].append([ref, timeout])
            case ProvisionSudo():
                calls["sudo"].append(step.stage.startswith(FIRST_RUN))
            case ConnectNetworks(networks=names):
                calls["networks"].append(sorted(names))
            case ServeSocketProxy(path=path, target=target):
                if not step.stage.startswith(FIRST_RUN):
                    calls["proxies"].append([target, str(path)])
            case _:
                pass
    return calls


def legacy_side_calls(legacy: Mapping[str, Any]) -> dict[str, list[object]]:
    """The same, from the calls and the kernel record legacy's run left."""
    calls: dict[str, list[object]] = {
        "pulls": [],
        "sudo": [],
        "networks": [],
        "proxies": [],
    }
    restarted = legacy.get("first_create") is not None
    creates = 0
    connected: list[str] = []
    for call in legacy.get("calls") or ():
        match call.get("call"):
            case "pull_image":
                seconds = call.get("timeout_seconds")
                timeout = None if seconds is None else int(seconds * 1000)
                calls["pulls"].append([call.get("image"), timeout])
            case "container.start":
                if connected:
                    calls["networks"].append(sorted(connected))
                connected = []
                creates += 1
            case "container.exec":
                calls["sudo"].append(restarted and creates == 1)
            case "network.connect":
                connected.append(str(call.get("network")))
            case _:
                pass
    if connected:
        calls["networks"].append(sorted(connected))
    kernel = legacy.get("kernel") or {}
    calls["proxies"] = [
        [proxy["host_sock_path"], proxy["host_proxy_path"]]
        for proxy in kernel.get("domain_socket_proxies") or ()
    ]
    return calls
