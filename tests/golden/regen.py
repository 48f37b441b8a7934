"""Regenerate the golden cases from the real legacy code (needs the legacy venv, root).

Usage: ``python -m tests.golden.regen [NAME ...]`` from the repository root (all
cases without names). Each catalogue case runs through ``kplan diff --against
legacy``'s own path (``kplan._against.against_legacy``), with the bridge's requests
and replies recorded: the case file pins the document exactly as the worker ran
it (scratch root included) and the reply's parts the comparison needs
(``pinned.KEPT``). Nothing here edits what legacy produced. A difference between
the plan and legacy is printed (a kplan bug to fix, never to pin away) and makes
the exit code 1; the case is written all the same, since it is legacy's outcome.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from typing import Any, cast

import orjson

from kplan._against import against_legacy
from legacy import LegacyBridge, ensure_legacy_venv, legacy_runner_dir
from planner import context_from_document

from .catalogue import CASES
from .pinned import CASES_DIR, at_root, legacy_document, pinned_reply


class RecordingBridge:
    """The real bridge, keeping each request it sent and the reply it got."""

    def __init__(self, bridge: LegacyBridge) -> None:
        self.bridge = bridge
        self.sent: list[Mapping[str, object]] = []
        self.replies: list[dict[str, object]] = []

    def run(
        self, context: Mapping[str, object], timeout: float = 60.0
    ) -> dict[str, object]:
        self.sent.append(copy.deepcopy(context))
        reply = self.bridge.run(context, timeout)
        self.replies.append(reply)
        return reply


def regenerate(
    name: str, recorder: RecordingBridge
) -> tuple[dict[str, Any], list[str]]:
    """Run case ``name`` through legacy: the case file's content, the differences."""
    covers, changes = CASES[name]
    runner = legacy_runner_dir()
    assert runner is not None  # the bridge built the venv
    doc = legacy_document(changes, runner)
    ctx = context_from_document(copy.deepcopy(doc)).unwrap()
    diff, outcome = against_legacy(ctx, doc, (), cast("LegacyBridge", recorder))
    sent, reply = recorder.sent[-1], recorder.replies[-1]
    root = reply.get("scratch_root")
    if diff is None or not isinstance(root, str):
        raise SystemExit(f"{name}: the worker refused it: {outcome.refused}")
    case = {
        "covers": covers,
        "changes": changes,
        "document": at_root(sent, root),
        "legacy": pinned_reply(reply),
    }
    found = [f"{d.kind} {d.path}: {d.plan} vs {d.other}" for d in diff.differences]
    return case, found


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise SystemExit(f"no such cases: {', '.join(unknown)}")
    ensure_legacy_venv()
    failed = []
    with LegacyBridge() as bridge:
        recorder = RecordingBridge(bridge)
        for name in names or sorted(CASES):
            case, found = regenerate(name, recorder)
            # Key order is kept, not sorted: legacy's output follows the inputs'.
            data = orjson.dumps(
                case, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
            )
            (CASES_DIR / f"{name}.json").write_bytes(data)
            error = case["legacy"]["error"]
            raised = "" if error is None else f", legacy raised {error['type']}"
            state = "same as the plan" if not found else f"{len(found)} differences"
            print(f"{name}: {state}{raised}")  # noqa: T201
            for line in found:
                print(f"    {line[:400]}")  # noqa: T201
            if found:
                failed.append(name)
    if failed:
        print(f"the plan differs from legacy on: {', '.join(failed)}")  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
