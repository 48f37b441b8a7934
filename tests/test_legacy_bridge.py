"""The legacy bridge and ``kplan diff`` against the real backend.ai-agent (issue 4)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.result import Failure

from effects import dumps
from kplan._against import against_legacy
from kplan._load import SAMPLE_KERNEL, load_document, with_facts_from
from legacy import LegacyBridge, legacy_runner_dir
from planner import compile_plan, context_from_document

from .commands import kplan
from .contexts import document

pytestmark = pytest.mark.legacy


def sample_document() -> dict[str, Any]:
    runner = legacy_runner_dir()
    assert runner is not None
    return with_facts_from(load_document(SAMPLE_KERNEL).unwrap(), runner)


def test_the_worker_runs_the_released_legacy_code(legacy_bridge: LegacyBridge) -> None:
    reply = legacy_bridge.run(sample_document())
    assert reply["ok"] is True, reply.get("error")
    paths = {entry["path"] for entry in reply["tree"]}  # type: ignore[attr-defined]
    assert (
        "5a3c0c1e-7d2b-4e55-9a1f-000000000001/config/ssh/dropbear_rsa_host_key" in paths
    )


def test_the_sample_kernel_is_the_same_as_legacy(legacy_bridge: LegacyBridge) -> None:
    doc = sample_document()
    ctx = context_from_document(copy.deepcopy(doc)).unwrap()
    diff, outcome = against_legacy(ctx, doc, (), legacy_bridge)
    assert outcome.error is None
    assert diff is not None
    assert diff.same, diff.differences


def test_quirks_are_labelled_in_the_diff(legacy_bridge: LegacyBridge) -> None:
    doc = sample_document()
    ctx = context_from_document(copy.deepcopy(doc)).unwrap()
    quirks = ("dotfile-dir-mode", "unowned-jupyter-assets", "secret-file-modes")
    diff, _ = against_legacy(ctx, doc, quirks, legacy_bridge)
    assert diff is not None
    labels = {(d.path.split("/", 1)[1], d.kind, d.quirk) for d in diff.differences}
    assert ("work/.config", "mode", "dotfile-dir-mode") in labels
    assert (
        "work/.jupyter/custom/logo.svg",
        "owner",
        "unowned-jupyter-assets",
    ) in labels
    assert ("config/docker-creds.json", "mode", "secret-file-modes") in labels
    assert all(d.quirk for d in diff.differences)


def test_kplan_diff_against_legacy_exits_0_when_the_same() -> None:
    done = kplan("diff", "sample", "--against", "legacy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no differences" in done.stdout


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("mode", "0o600", "mode"),
        ("uid", 4242, "owner"),
        ("sha256", "0" * 64, "content"),
    ],
)
def test_a_changed_legacy_snapshot_is_found(
    legacy_bridge: LegacyBridge, tmp_path: Path, field: str, value: object, kind: str
) -> None:
    doc = sample_document()
    reply = legacy_bridge.run(doc)
    tree = reply["tree"]
    assert isinstance(tree, list)
    # The plan must be made for the root legacy ran in: its paths are in resource.txt.
    doc["local_config"]["container"]["scratch-root"] = reply["scratch_root"]
    doc["facts"]["scratch_root_resolved"] = reply["scratch_root"]
    (tmp_path / "ctx.json").write_bytes(orjson.dumps(doc))
    (tmp_path / "legacy.json").write_bytes(dumps(tree))
    same = kplan(
        "diff", str(tmp_path / "ctx.json"), "--against", str(tmp_path / "legacy.json")
    )
    assert same.returncode == 0, same.stdout
    target = next(e for e in tree if e["path"].endswith("/work/.bashrc"))
    target[field] = value
    (tmp_path / "changed.json").write_bytes(dumps(tree))
    changed = kplan(
        "diff",
        str(tmp_path / "ctx.json"),
        "--against",
        str(tmp_path / "changed.json"),
        "--format",
        "json",
    )
    assert changed.returncode == 2
    found = orjson.loads(changed.stdout)["differences"]
    assert [(d["kind"], d["path"].split("/", 1)[1]) for d in found] == [
        (kind, "work/.bashrc")
    ]


def test_inputs_the_planner_refuses_are_refused_by_the_worker(
    legacy_bridge: LegacyBridge,
) -> None:
    doc = document(
        **{
            "kernel_config.internal_data.dotfiles": [
                {"path": "/etc/kplan-must-not-exist", "perm": "644", "data": "x"}
            ]
        }
    )
    planned = compile_plan(context_from_document(copy.deepcopy(doc)).unwrap())
    assert isinstance(planned, Failure)
    reply = legacy_bridge.run(doc)
    assert reply["ok"] is False
    assert reply["refused"]
    assert not Path("/etc/kplan-must-not-exist").exists()


def test_the_diff_cli_refuses_hazards_with_exit_1(tmp_path: Path) -> None:
    doc = load_document(SAMPLE_KERNEL).unwrap()
    doc["kernel_config"]["internal_data"]["dotfiles"] = [  # type: ignore[index]
        {"path": "/home/config/environ.txt", "perm": "644", "data": "x"}
    ]
    (tmp_path / "ctx.json").write_bytes(orjson.dumps(doc))
    done = kplan("diff", str(tmp_path / "ctx.json"), "--against", "legacy")
    assert done.returncode == 1
    assert "kernel_config.internal_data.dotfiles[0].path" in done.stderr


def test_set_id_dotfiles_end_with_the_modes_legacy_leaves(
    legacy_bridge: LegacyBridge,
) -> None:
    # Legacy chmods a dotfile, then chowns it: the kernel clears set-user-ID and
    # (with group-execute) set-group-ID, so a 4755 dotfile ends 0o755.
    doc = sample_document()
    dotfiles = doc["kernel_config"]["internal_data"]["dotfiles"]
    dotfiles += [
        {"path": "/home/work/bin/tool", "perm": "4755", "data": "#!/bin/sh\n"},
        {"path": ".both", "perm": "6755", "data": "b"},
        {"path": ".locking", "perm": "2745", "data": "l"},
    ]
    ctx = context_from_document(copy.deepcopy(doc)).unwrap()
    diff, outcome = against_legacy(ctx, doc, (), legacy_bridge)
    assert outcome.error is None
    assert diff is not None
    assert diff.same, diff.differences
