"""Golden cases: kplan's plan leaves exactly what the real legacy code left.

``golden/cases/*.json`` were produced by running backend.ai-agent 26.9.6's
``create_kernel`` (and ``restart_kernel``) on each context of
``golden/catalogue.py`` (``python -m tests.golden.regen``). The fast tests here need
no legacy code, only the pinned outcome: the plan's tree, file contents, create
bodies, environ, service ports, kernel record and kconfig.dat are compared with
legacy's through ``planner.compare``, or, where the plan predicts a legacy
exception, that exception with the one legacy raised. The ``legacy``-marked test
runs some cases through the real worker again, so the pins cannot go stale.
Hazard cases must be refused with the field named, and are never run by legacy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.result import Failure, Success

from executor import host_probes
from legacy import LegacyBridge, legacy_runner_dir
from planner import Diff, compile_plan, context_from_document

from .contexts import document
from .golden.catalogue import CASES, HAZARDS, RERUN
from .golden.pinned import (
    CASES_DIR,
    context_of,
    golden_diff,
    legacy_side_calls,
    load_case,
    pinned_reply,
    plan_side_calls,
)


def _readable(diff: Diff) -> str:
    lines = []
    for d in diff.differences:
        lines.append(f"{d.kind} {d.path}: plan {d.plan} vs legacy {d.other}")
        if d.detail:
            lines.append(d.detail)
    return "\n".join(lines)


def test_every_catalogued_case_has_a_pinned_outcome() -> None:
    assert sorted(p.stem for p in CASES_DIR.glob("*.json")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_pinned_case_is_its_catalogue_entry(name: str) -> None:
    """A catalogue edit without a regen would compare against another input."""
    covers, changes = CASES[name]
    case = load_case(name)
    assert case["covers"] == covers
    assert case["changes"] == orjson.loads(orjson.dumps(changes)), (
        f"the catalogue changed {name}: run python -m tests.golden.regen {name}"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_plan_leaves_what_legacy_left(name: str) -> None:
    case = load_case(name)
    diff = golden_diff(case)
    assert diff.same, f"{name} ({case['covers']}):\n{_readable(diff)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_plan_makes_the_calls_legacy_made(name: str) -> None:
    """The pull (A6), sudo (§14.5), the devices' networks and the socket proxies."""
    case = load_case(name)
    match compile_plan(context_of(case)):
        case Success(plan):
            assert plan_side_calls(plan) == legacy_side_calls(case["legacy"])
        case Failure(_):
            assert case["legacy"]["error"] is not None  # the other test says which
        case _:
            raise AssertionError("unreachable")  # returns#1361


@pytest.mark.parametrize("name", sorted(HAZARDS))
def test_hazards_are_refused_naming_the_field(name: str) -> None:
    _, changes, field, code = HAZARDS[name]
    ctx = context_from_document(document(**copy.deepcopy(changes))).unwrap()
    result = compile_plan(ctx)
    assert isinstance(result, Failure), f"{name}: kplan planned a hazard"
    refused = {(error.field, error.code) for error in result.failure()}
    assert (field, code) in refused, refused


# --- the pins are still what legacy does ------------------------------------------


@pytest.mark.legacy
@pytest.mark.parametrize("name", RERUN)
def test_the_pinned_outcome_is_still_what_legacy_leaves(
    legacy_bridge: LegacyBridge, name: str
) -> None:
    case = load_case(name)
    sent = copy.deepcopy(case["document"])
    if sent["facts"]["host"] != host_probes():
        pytest.skip(f"{name} was pinned on a host with other probes (facts.host)")
    pinned_runner = sent["facts"]["runner"]["origin"]
    runner = legacy_runner_dir()
    assert runner is not None  # the fixture built the venv
    sent["facts"]["runner"]["origin"] = str(runner.resolve())
    fresh = pinned_reply(legacy_bridge.run(sent))
    assert isinstance(fresh["scratch_root"], str)
    places = {
        fresh["scratch_root"]: case["legacy"]["scratch_root"],
        str(runner.resolve().parent): str(Path(pinned_runner).parent),
    }
    assert _comparable(fresh, places) == _comparable(case["legacy"], {})


def _comparable(reply: Mapping[str, Any], places: Mapping[str, str]) -> object:
    """A pinned reply with this run's places renamed to the pinned ones.

    Files whose text is pinned compare by that text (which names the places),
    kconfig.dat by its unpickled value (pickle bytes are not stable), volatile
    files (dropbear's random host key) not at all; every other file by digest.
    Values in the order of a set of strings (random per process, H22) compare
    sorted: resource.txt's ``SLOTS`` and each run of the devices' network calls.
    """
    text = orjson.dumps(reply).decode()
    for here, pinned in places.items():
        text = text.replace(here, pinned)
    renamed: dict[str, Any] = orjson.loads(text)
    contents = renamed["contents"] or {}
    volatile = {e["path"] for e in renamed["tree"] if e.get("volatile")}
    renamed["contents"] = {
        p: _slots_sorted(t) for p, t in contents.items() if p not in volatile
    }
    renamed["tree"] = [
        {**entry, "sha256": None, "size": None}
        if entry["path"] in contents
        or entry["path"] in volatile
        or entry["path"].endswith("/config/kconfig.dat")
        else entry
        for entry in renamed["tree"]
    ]
    renamed["calls"] = _networks_sorted(renamed["calls"] or [])
    return renamed


def _networks_sorted(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    for call in [*calls, {"call": "(end)"}]:
        if call["call"] in {"networks.get", "network.connect"}:
            run.append(call)
            continue
        result += sorted(run, key=lambda c: (str(c.get("network")), c["call"]))
        run = []
        result.append(call)
    return result[:-1]


def _slots_sorted(text: str) -> str:
    return "".join(
        "SLOTS="
        + orjson.dumps(orjson.loads(line[6:]), option=orjson.OPT_SORT_KEYS).decode()
        + "\n"
        if line.startswith("SLOTS=")
        else line
        for line in text.splitlines(keepends=True)
    )
