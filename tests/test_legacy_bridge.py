"""The legacy bridge and ``kplan diff --against legacy`` (issue 4).

The path kplan takes to the real backend.ai-agent 26.9.6: a new-format context
document (the sample kernel, facts gathered from this host as the command line
gathers them), its normalised inputs sent through the bridge to the real
``create_kernel`` (and ``restart_kernel``), and the whole outcome compared with
the plan (``kplan._against``). What the worker does with each input is
tests/test_legacy_worker.py's.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.result import Failure

from effects import HOST_KEY_NAME, Chown, dumps
from kplan._against import against_legacy, known_image, only_crashes
from kplan._completion import complete_document
from kplan._load import load_document
from kplan._runner_location import SAMPLE_KERNEL
from legacy import LegacyBridge, legacy_runner_dir
from planner import Context, compile_plan, context_from_document, legacy_inputs

from .commands import kplan
from .contexts import document

pytestmark = pytest.mark.legacy

KID = "5a3c0c1e-7d2b-4e55-9a1f-000000000001"  # the sample kernel's


def sample_document(**changes: Any) -> dict[str, Any]:
    """The sample kernel completed with this host's facts, as ``kplan diff`` has it."""
    runner = legacy_runner_dir()
    assert runner is not None  # the legacy_bridge fixture built the venv
    raw = load_document(SAMPLE_KERNEL).unwrap()
    for key, value in changes.items():
        raw[key] = value
    return complete_document(raw, runner=runner).unwrap()


def context(doc: dict[str, Any]) -> Context:
    return context_from_document(copy.deepcopy(doc)).unwrap()


def run(bridge: LegacyBridge, doc: dict[str, Any]) -> dict[str, object]:
    """The worker's reply for ``doc``, sent as ``against_legacy`` sends it."""
    ctx = context(doc)
    return bridge.run(known_image({**doc, **legacy_inputs(ctx)}, ctx))


def test_the_bridge_runs_the_released_create_kernel(
    legacy_bridge: LegacyBridge,
) -> None:
    doc = sample_document()
    reply = run(legacy_bridge, doc)
    assert reply["ok"] is True, reply.get("error")
    paths = {entry["path"] for entry in reply["tree"]}  # type: ignore[attr-defined]
    assert f"{KID}/config/ssh/dropbear_rsa_host_key" in paths
    assert f"{KID}/config/kconfig.dat" in paths
    create = reply["create"]
    assert isinstance(create, dict)
    assert create["name"] == f"kernel.python.{KID}"
    assert reply["kernel"]["kernel_id"] == KID  # type: ignore[index]


def test_the_sample_kernel_is_the_same_as_legacy(legacy_bridge: LegacyBridge) -> None:
    doc = sample_document()
    diff, outcome = against_legacy(context(doc), doc, (), legacy_bridge)
    assert outcome.error is None
    assert diff is not None
    assert diff.same, diff.differences
    assert f"{KID}/config/kconfig.dat: equal by unpickled value" in diff.normalised


def test_a_restart_of_the_sample_is_the_same_as_legacy(
    legacy_bridge: LegacyBridge,
) -> None:
    doc = sample_document(restarting=True, updating_kernel_config={"idle_timeout": 60})
    ctx = context(doc)
    diff, outcome = against_legacy(ctx, doc, (), legacy_bridge)
    assert outcome.error is None
    assert diff is not None
    assert diff.same, diff.differences
    stages = {step.stage for step in compile_plan(ctx).unwrap().steps}
    assert "first-run/container" in stages  # both creates were compared


@pytest.mark.parametrize("mode", [{}, [], "", 0])
def test_a_false_network_mode_is_no_mode_as_in_legacy(
    legacy_bridge: LegacyBridge, mode: object
) -> None:
    doc = sample_document()
    doc["cluster_info"]["network_config"]["mode"] = mode
    diff, outcome = against_legacy(context(doc), doc, (), legacy_bridge)
    assert outcome.error is None
    assert diff is not None
    assert diff.same, diff.differences


@pytest.mark.parametrize("shmem", [True, 5.7, " +64_000 ", {}, "64m"])
def test_shmem_is_read_as_legacy_reads_it(
    legacy_bridge: LegacyBridge, shmem: object
) -> None:
    """The ShmSize legacy's int() makes, or the crash it raises ("64m")."""
    doc = sample_document()
    doc["kernel_config"]["resource_opts"] = {"shmem": shmem}
    diff, _ = against_legacy(context(doc), doc, (), legacy_bridge)
    assert diff is not None
    assert diff.same, diff.differences


def test_a_predicted_legacy_exception_is_no_difference(
    legacy_bridge: LegacyBridge,
) -> None:
    doc = sample_document()
    doc["kernel_config"]["preopen_ports"] = [2200]
    ctx = context(doc)
    planned = compile_plan(ctx)
    assert isinstance(planned, Failure)
    assert only_crashes(planned.failure())
    diff, outcome = against_legacy(ctx, doc, (), legacy_bridge)
    assert diff is not None
    assert diff.same, diff.differences
    assert outcome.error is not None
    assert outcome.error["type"] == "PortConflictError"


def test_a_plan_of_other_facts_differs_from_legacy(
    legacy_bridge: LegacyBridge,
) -> None:
    """Legacy runs the document's facts; a plan made on others is told apart."""
    doc = sample_document()
    doc["facts"]["rlimits"] = {"nofile": [1024, 4096], "memlock": [-1, -1]}
    planned_on = copy.deepcopy(doc)
    planned_on["facts"]["rlimits"] = {"nofile": [2048, 4096], "memlock": [-1, -1]}
    diff, _ = against_legacy(context(planned_on), doc, (), legacy_bridge)
    assert diff is not None
    assert [(d.kind, d.path) for d in diff.differences] == [
        ("create-body", "create.HostConfig.Ulimits[0].Soft")
    ]


def test_quirks_are_labelled_in_the_diff(legacy_bridge: LegacyBridge) -> None:
    doc = sample_document()
    quirks = ("dotfile-dir-mode", "unowned-jupyter-assets", "secret-file-modes")
    diff, _ = against_legacy(context(doc), doc, quirks, legacy_bridge)
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
    """``kplan diff --against TREE.json`` on legacy's tree, then on a changed one.

    A bare tree holds digests only: kconfig.dat (compared by its unpickled value
    against legacy) and resource.txt (compared without its ``CID=`` line) differ
    from it by content already; the change must add exactly its own difference.
    """
    doc = sample_document()
    reply = run(legacy_bridge, doc)
    tree = reply["tree"]
    assert isinstance(tree, list)
    # The plan must be made for the root legacy ran in: its paths are in resource.txt.
    doc["local_config"]["container"]["scratch-root"] = reply["scratch_root"]
    doc["facts"]["scratch_root_resolved"] = reply["scratch_root"]
    (tmp_path / "ctx.json").write_bytes(orjson.dumps(doc))

    def differences(name: str, snapshot: list[Any]) -> list[tuple[str, str]]:
        (tmp_path / name).write_bytes(dumps(snapshot))
        done = kplan(
            "diff",
            str(tmp_path / "ctx.json"),
            "--against",
            str(tmp_path / name),
            "--format",
            "json",
        )
        assert done.returncode in {0, 2}, done.stdout + done.stderr
        found = orjson.loads(done.stdout)["differences"]
        return [(d["kind"], d["path"].split("/", 1)[1]) for d in found]

    unchanged = differences("legacy.json", tree)
    assert set(unchanged) <= {
        ("content", "config/kconfig.dat"),
        ("content", "config/resource.txt"),
    }
    target = next(e for e in tree if e["path"].endswith("/work/.bashrc"))
    target[field] = value
    changed = differences("changed.json", tree)
    assert [d for d in changed if d not in unchanged] == [(kind, "work/.bashrc")]


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
    planned = compile_plan(context(doc))
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


@pytest.mark.parametrize(
    ("missing", "written"), [("public_key", {"id_cluster"}), ("private_key", set())]
)
def test_a_cluster_keypair_with_one_key_is_what_h38_says(
    legacy_bridge: LegacyBridge, missing: str, written: set[str]
) -> None:
    pair = {"public_key": "ssh-ed25519 AAAA kplan", "private_key": "PRIVATE\n"}
    del pair[missing]
    doc = sample_document(
        cluster_info={
            **load_document(SAMPLE_KERNEL).unwrap()["cluster_info"],  # type: ignore[dict-item]
            "ssh_keypair": pair,
        }
    )
    refused = compile_plan(context(doc))
    assert isinstance(refused, Failure)
    (error,) = refused.failure()
    assert (error.field, error.code) == (
        f"cluster_info.ssh_keypair.{missing}",
        "hazard",
    )
    # the real code: the KeyError is swallowed and the kernel is created anyway
    reply = run(legacy_bridge, doc)
    assert reply["ok"] is True, reply.get("error")
    ssh = {
        entry["path"].rsplit("/", 1)[1]: entry
        for entry in reply["tree"]  # type: ignore[attr-defined]
        if entry["path"].startswith(f"{KID}/config/ssh/")
    }
    assert {name for name in ssh if name.startswith("id_cluster")} == written
    if written:
        assert ssh["id_cluster"]["mode"] == "0o644"  # world-readable, as H38 says
    host_key = ssh["dropbear_rsa_host_key"]
    assert (host_key["uid"], host_key["gid"]) == (0, 0)  # never chowned
    normal = compile_plan(context(sample_document())).unwrap()
    chowns = [
        step.effect
        for step in normal.steps
        if isinstance(step.effect, Chown) and step.effect.path.name == HOST_KEY_NAME
    ]
    assert chowns, "with both keys the host key is chowned"
    assert chowns[0].uid != 0
