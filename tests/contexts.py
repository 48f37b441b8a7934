"""Context documents for tests: a complete base kernel and fixed host facts.

The facts are written here, not gathered, so example tests are deterministic and do
no IO beyond reading kplan's own sample runner package.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from effects import Plan, WriteFile
from executor import runner_facts
from planner import Context, context_from_document

SAMPLES = Path(__file__).parent.parent / "kplan" / "samples"
SAMPLE_RUNNER = SAMPLES / "runner"
KERNEL_ID = "11111111-2222-4333-8444-555555555555"
KRUNNER = {"static-gnu": "backendai-krunner.v10.x86_64.static-gnu"}

HOST = {
    "platform": "linux",
    "etc_localtime": True,
    "etc_timezone": False,
    "lxcfs": False,
    "lxcfs_proc": [],
    "lxcfs_cpu": False,
    "lxcfs_cpu_online": False,
    "infiniband": False,
}


def facts(**changes: Any) -> dict[str, Any]:
    """Facts: a root x86_64 agent, umask 022, the sample runner, empty scratch."""
    base: dict[str, Any] = {
        "is_root": True,
        "uid": 0,
        "gid": 0,
        "umask": "0o22",
        "arch": "x86_64",
        "runner": runner_facts(SAMPLE_RUNNER),
        "krunner_python": {"static-gnu": "3.13"},
        "scratch": [],
        "contents": {},
        "host": dict(HOST),
        "docker_volumes": [],
        "image_present": None,
        "rlimits": {"nofile": [1048576, 1048576], "memlock": [-1, -1]},
        "host_ports": list(range(30000, 30100)),
    }
    return {**base, **changes}


def document(**changes: Any) -> dict[str, Any]:
    """A complete context document; ``changes`` set dotted paths (``"a.b": value``)."""
    doc: dict[str, Any] = {
        "kernel_id": KERNEL_ID,
        "session_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        "agent_id": "i-test",
        "kernel_config": {
            "image": {
                "canonical": "cr.backend.ai/stable/python:3.11-ubuntu22.04",
                "architecture": "x86_64",
                "registry": {"name": "cr.backend.ai", "url": "https://cr.backend.ai"},
                "labels": {"ai.backend.base-distro": "ubuntu22.04"},
            },
            "uid": None,
            "main_gid": None,
            "supplementary_gids": [],
            "bootstrap_script": None,
            "cluster_hostname": "main1",
            "environ": {},
            "resource_slots": {"cpu": "1", "mem": "1073741824"},
            "internal_data": {},
        },
        "cluster_info": {
            "mode": "single-node",
            "size": 1,
            "network_config": {},
            "ssh_keypair": None,
            "cluster_ssh_port_mapping": None,
        },
        "local_config": {
            "container": {
                "scratch_root": "/scratch",
                "kernel_uid": 1100,
                "kernel_gid": 1200,
                "krunner_volumes": KRUNNER,
            }
        },
        "resource_spec": {
            "allocations": {
                "cpu": {"cpu": {"0": "1"}},
                "mem": {"mem": {"root": "1073741824"}},
            }
        },
        "facts": facts(),
    }
    for dotted, value in changes.items():
        put(doc, dotted, value)
    return doc


def put(doc: dict[str, Any], dotted: str, value: object) -> None:
    """Set ``doc[a][b][c] = value`` for ``"a.b.c"`` (``__`` stands for ``.``)."""
    *parents, last = dotted.split(".")
    target = doc
    for key in parents:
        target = target.setdefault(key.replace("__", "."), {})
    target[last.replace("__", ".")] = value


def context(**changes: Any) -> Context:
    """The parsed context of ``document(**changes)``."""
    return context_from_document(copy.deepcopy(document(**changes))).unwrap()


def written(plan: Plan, name: str) -> bytes:
    """The content the plan writes to the scratch file ``name`` (under the kernel)."""
    (content,) = [
        plan.blob_table[step.effect.blob]
        for step in plan.steps
        if isinstance(step.effect, WriteFile)
        and str(step.effect.path) == f"{KERNEL_ID}/{name}"
    ]
    return content
