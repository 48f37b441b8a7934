"""Golden cases: kplan's plan leaves exactly what the real legacy code left.

``golden/cases/*.json`` were produced by running backend.ai-agent 26.9.6 on each
context of ``golden/catalogue.py`` (``python -m tests.golden.regen``); this test
needs no legacy code, only the pinned outcome. Hazard cases must be refused with
the field named.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.result import Failure

from effects import tree_from_document
from planner import compare, compile_plan, context_from_document

from .contexts import document
from .golden.catalogue import CASES, HAZARDS

CASES_DIR = Path(__file__).parent / "golden" / "cases"


def _case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = orjson.loads((CASES_DIR / f"{name}.json").read_bytes())
    return case


def test_every_catalogued_case_has_a_pinned_outcome() -> None:
    assert sorted(p.stem for p in CASES_DIR.glob("*.json")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_plan_leaves_what_legacy_left(name: str) -> None:
    case = _case(name)
    ctx = context_from_document(copy.deepcopy(case["context"])).unwrap()
    plan = compile_plan(ctx).unwrap()
    legacy = case["legacy"]
    diff = compare(
        ctx,
        plan,
        tree_from_document(legacy["tree"]),
        other_content=lambda _path: None,
        other_fragments=legacy["container_configs"],
    )
    assert diff.same, [
        f"{d.kind} {d.path}: {d.plan} vs {d.other}" for d in diff.differences
    ]


@pytest.mark.parametrize("name", sorted(HAZARDS))
def test_hazards_are_refused_naming_the_field(name: str) -> None:
    _, changes, field, code = HAZARDS[name]
    ctx = context_from_document(document(**copy.deepcopy(changes))).unwrap()
    result = compile_plan(ctx)
    assert isinstance(result, Failure)
    assert (field, code) in {(error.field, error.code) for error in result.failure()}
