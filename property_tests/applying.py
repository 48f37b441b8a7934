"""Shared helpers for the executor properties: real roots, generated contexts, trees."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import reject
from returns.result import Failure, Success

from effects import Plan, Tree
from executor import default_tools, runner_facts, scratch_facts
from executor import snapshot as take_snapshot
from legacy import legacy_runner_dir
from planner import (
    Context,
    canonical_kernel_id,
    compile_plan,
    context_from_document,
)

needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="LOUD SKIP: applying plans chowns, mounts and runs dropbear: needs root",
)
TOOLS = default_tools(legacy_runner_dir())
SAMPLE_RUNNER = Path(__file__).parent.parent / "kplan" / "samples" / "runner"
# The runner package legacy would use here: the legacy venv's, else the samples.
RUNNER = runner_facts(legacy_runner_dir() or SAMPLE_RUNNER)
HOST = {
    "platform": "linux",
    "etc_localtime": True,
    "etc_timezone": True,
    "lxcfs": False,
    "lxcfs_proc": [],
    "lxcfs_cpu": False,
    "lxcfs_cpu_online": False,
    "infiniband": False,
}


def context_for(document: dict[str, Any], root: Path) -> Context:
    """``document`` placed at ``root``, with facts about what ``root`` holds now."""
    doc = copy.deepcopy(document)
    doc["local_config"]["container"]["scratch_root"] = str(root)
    facts = doc["facts"]
    facts["runner"]["has_dropbear"] = facts["runner"]["has_dropbear"] and (
        TOOLS.dropbearkey is not None
    )
    entries, contents = scratch_facts(root, canonical_kernel_id(doc["kernel_id"]))
    facts.update(scratch=entries, contents=contents, umask="0o22")
    return context_from_document(doc).unwrap()


def planned(ctx: Context) -> Plan:
    """The plan of a generated context; one that predicts a legacy crash is rejected.

    The generator makes only inputs legacy accepts or crashes on (a missing runner
    binary, say), never hazards, so any other refusal fails the test.
    """
    match compile_plan(ctx):
        case Success(plan):
            return plan  # type: ignore[no-any-return]  # returns' match narrows to Any
        case Failure(errors):
            assert all(e.code == "crash" for e in errors), errors
            reject()
        case _:
            pass
    raise AssertionError("unreachable")  # returns#1361


def snapshot(root: Path) -> Tree:
    """The real tree below ``root``."""
    return take_snapshot(root)[0]


def comparable(tree: Tree, volatile: frozenset[str] = frozenset()) -> list[object]:
    """Entries with volatile content (host keys, images) compared without it."""

    def content(path: object, node: Any) -> object:
        if node.volatile or str(path) in volatile:
            return None
        return node.sha256

    return [(p, n.type, n.mode, n.uid, n.gid, content(p, n)) for p, n in tree.entries]


def volatile_paths(*trees: Tree) -> frozenset[str]:
    """Paths any of ``trees`` marks volatile."""
    return frozenset(str(p) for tree in trees for p, n in tree.entries if n.volatile)
