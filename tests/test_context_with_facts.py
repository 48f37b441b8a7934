"""``planner.context_with_facts``: the agent's path reads its inputs once.

What it gives for a document read without its facts, and those facts, must be
what ``context_from_document`` gives for the whole document: the same context,
or the same problems, named alike.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from returns.result import Failure, Success

from kplan._completion import gather_context, gather_missing
from planner import context_from_document, context_with_facts, read_document

from .contexts import SAMPLE_RUNNER, document, put


def _both(whole: dict[str, Any]) -> tuple[object, object]:
    without = {k: v for k, v in whole.items() if k != "facts"}
    parsed = read_document(copy.deepcopy(without)).unwrap()
    at_once = context_from_document(copy.deepcopy(whole))
    in_two = context_with_facts(parsed, without, copy.deepcopy(whole.get("facts")))
    return at_once, in_two


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("kernel_config.environ", {"A": "1"}),
        ("facts.umask", "0o27"),
        ("facts.host_ports", [30001, 30002]),
        ("cluster_info.ssh_keypair", {"public_key": "p\n", "private_key": "k\n"}),
    ],
)
def test_the_same_context_either_way(dotted: str, value: object) -> None:
    whole = document()
    put(whole, dotted, value)
    at_once, in_two = _both(whole)
    assert isinstance(at_once, Success)
    assert in_two == at_once


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("facts.umask", 18),  # ill-typed
        ("facts.surprise", True),  # unknown
        ("facts.runner.files.entrypoint.sh.content_base64", "!!"),  # not base64
    ],
)
def test_the_same_problems_either_way(dotted: str, value: object) -> None:
    whole = document()
    if dotted.startswith("facts.runner.files."):
        files = whole["facts"]["runner"]["files"]
        files["entrypoint.sh"] = {"mode": "0o755", "content_base64": value}
    else:
        put(whole, dotted, value)
    at_once, in_two = _both(whole)
    assert isinstance(at_once, Failure)
    assert in_two == at_once
    assert all(str(e.field).startswith("facts") for e in at_once.failure())


def test_facts_left_out_are_named() -> None:
    whole = document()
    del whole["facts"]
    at_once, in_two = _both(whole)
    assert isinstance(in_two, Failure)
    assert in_two == at_once


def test_gather_context_is_the_context_of_the_gathered_document() -> None:
    whole = document()
    given = {"umask": "0o27", "host_ports": [30005]}
    whole["facts"] = given
    completed = asyncio.run(gather_missing(whole, runner=SAMPLE_RUNNER)).unwrap()
    expected = context_from_document(completed).unwrap()
    got = asyncio.run(gather_context(whole, runner=SAMPLE_RUNNER)).unwrap()
    assert got == expected
    assert got.facts.umask_bits == 0o27
