"""Regenerate the golden cases from the real legacy code (needs the legacy venv, root).

Usage: ``.venv/bin/python -m tests.golden.regen`` from the repository root. Each
case's context is run by the legacy worker; the case file stores the context as
legacy ran it (its temporary scratch root, this host's probes) and what legacy left:
its tree and its container-config fragments.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson

from executor import host_probes
from legacy import LegacyBridge

from ..contexts import document
from .catalogue import CASES

CASES_DIR = Path(__file__).parent / "cases"


def main() -> None:
    host = host_probes()
    with LegacyBridge() as bridge:
        for name, (covers, changes) in sorted(CASES.items()):
            context = document(**copy.deepcopy(changes))
            context["facts"]["host"] = host
            reply = bridge.run(context)
            if not reply.get("ok"):
                msg = (
                    f"{name}: legacy did not run cleanly: {reply.get('error') or reply}"
                )
                raise SystemExit(msg)
            root = reply["scratch_root"]
            context["local_config"]["container"]["scratch_root"] = root
            context["facts"]["scratch_root_resolved"] = root
            case: dict[str, Any] = {
                "covers": covers,
                "context": context,
                "legacy": {
                    "tree": reply["tree"],
                    "container_configs": reply["container_configs"],
                },
            }
            # Key order is kept, not sorted: legacy's output follows the context's
            # order (environ.txt, SLOTS, docker-creds.json).
            data = orjson.dumps(
                case, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
            )
            (CASES_DIR / f"{name}.json").write_bytes(data)
            print(f"{name}: {len(case['legacy']['tree'])} entries")  # noqa: T201


if __name__ == "__main__":
    main()
