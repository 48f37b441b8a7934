"""Property-based equivalence with the real backend.ai-agent 26.9.6 (issue 4).

For generated kernel contexts the plan's outcome (the scratch tree, kconfig.dat,
the Docker create body, environ, service ports and kernel record) must equal what
the real legacy ``create_kernel`` leaves, or legacy must raise the exception the
plan predicts; and for generated
hazardous contexts both the planner and the legacy worker must refuse. The CI
profile runs at least 200 examples of the first property.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from returns.result import Failure, Success

from executor import host_probes
from kplan._against import against_legacy, only_crashes
from legacy import LegacyBridge
from planner import compile_plan, context_from_document
from tests.legacy_engine import EXAMPLE_COUNTS

from .applying import RUNNER
from .strategies import context_documents, hazardous_documents

pytestmark = pytest.mark.legacy
HOST = host_probes()
MIN_EXAMPLES = 200
EXAMPLES = EXAMPLE_COUNTS


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(context_documents(HOST, RUNNER, scratch_types=("hostdir", "memory", "hostfile")))
def test_the_plan_leaves_what_legacy_leaves(
    legacy_bridge: LegacyBridge, document: dict[str, Any]
) -> None:
    EXAMPLES["equivalence"] += 1
    note(f"context: {document}")
    ctx = context_from_document(copy.deepcopy(document)).unwrap()
    planned = compile_plan(ctx)
    # a plan may only refuse by predicting a legacy exception, checked below
    assert isinstance(planned, Success) or only_crashes(planned.failure()), planned
    diff, outcome = against_legacy(ctx, document, (), legacy_bridge)
    assert diff is not None, (
        f"the worker refused a context kplan plans: {outcome.refused}"
    )
    assert diff.same, "\n".join(
        f"{d.kind} {d.path}: {d.plan} vs {d.other}" for d in diff.differences
    )


@settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hazardous_documents(HOST, RUNNER))
def test_hazardous_contexts_are_refused_by_both(
    legacy_bridge: LegacyBridge, case: tuple[dict[str, Any], str]
) -> None:
    document, field = case
    note(f"hazard at {field}: {document}")
    parsed = context_from_document(copy.deepcopy(document))
    refused = isinstance(parsed, Failure) or isinstance(
        compile_plan(parsed.unwrap()), Failure
    )
    assert refused, "the planner accepted a hazardous context"
    reply = legacy_bridge.run(document)
    assert reply["ok"] is False
    assert reply["refused"], reply.get("error")


def test_the_equivalence_property_ran_every_example(
    legacy_bridge: LegacyBridge,
) -> None:
    """Runs after the property (file order): it really ran, as many times as asked."""
    assert legacy_bridge is not None
    profile = settings.default
    assert profile is not None
    ran, wanted = EXAMPLES["equivalence"], profile.max_examples
    assert ran >= wanted, f"the equivalence property ran {ran} of {wanted} examples"
    if os.environ.get("HYPOTHESIS_PROFILE") == "ci":
        assert ran >= MIN_EXAMPLES
