"""Context construction: the named constructors, defaults, and refusals by field."""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import pytest
from returns.result import Failure

from effects import Plan, WriteFile
from planner import (
    Context,
    ContextError,
    compile_plan,
    context_from_agent,
    context_from_document,
    read_document,
)
from planner._inputs import KernelConfig
from planner._structure import structure

from .contexts import KERNEL_ID, context, document, facts, put, written

SESSION_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
VFOLDER = {
    "name": "data",
    "vfid": "b1e8e0c8-2f5a-4a4e-9d8b-0000000000a1",
    "host_path": "/srv/vfroot/data",
    "kernel_path": "/home/work/data",
    "mount_perm": "rw",
}
KEYPAIR = {"public_key": "ssh-ed25519 AAAA k", "private_key": "secret"}
SCRATCH_ENTRY = {
    "path": KERNEL_ID,
    "type": "dir",
    "mode": "0o755",
    "uid": 0,
    "gid": 0,
    "size": None,
    "sha256": None,
    "volatile": False,
}


def refusals(doc: dict[str, Any]) -> tuple[ContextError, ...]:
    result = context_from_document(doc)
    assert isinstance(result, Failure), "the context was accepted"
    errors: tuple[ContextError, ...] = result.failure()
    return errors


def refusal(doc: dict[str, Any]) -> tuple[str, str]:
    """The one problem of ``doc`` (a second one fails the test)."""
    (error,) = refusals(doc)
    return error.field, error.reason


def written_files(plan: Plan) -> set[str]:
    """The files the plan writes, relative to the kernel's scratch directory."""
    return {
        str(step.effect.path.relative_to(KERNEL_ID))
        for step in plan.steps
        if isinstance(step.effect, WriteFile)
    }


def test_a_complete_document_parses_with_defaults() -> None:
    ctx = context()
    assert ctx.kernel_id == KERNEL_ID
    assert ctx.session_id == SESSION_ID
    assert not ctx.restarting
    assert ctx.local.container.scratch_type == "hostdir"
    assert ctx.features == frozenset({"uid-match"})  # legacy's default feature set
    assert ctx.image_ref.short == "stable/python:3.11-ubuntu22.04"
    assert ctx.local.agent.ipc_base_path == "/tmp/backend.ai/ipc"
    assert ctx.local.container.port_range == (30000, 31000)
    assert ctx.local.container_logs.max_length == 10 * 2**20
    assert (ctx.kernel_uid, ctx.kernel_gid) == (1100, 1200)
    config = ctx.kernel_config
    assert (config.kernel_id, config.session_id) == (KERNEL_ID, SESSION_ID)
    assert (config.session_type, config.cluster_role, config.auto_pull) == (
        "interactive",
        "main",
        "digest",
    )
    assert (config.mounts, config.internal.dotfiles) == ((), None)
    assert (ctx.cluster.mode, ctx.cluster.size, ctx.cluster.replicas) == (
        "single-node",
        1,
        {},
    )
    assert ctx.allocations == (
        ("cpu", (("cpu", (("0", "1"),)),)),
        ("mem", (("mem", (("root", "1073741824"),)),)),
    )
    assert ctx.notes == ()


def test_what_legacy_receives_carries_the_managers_defaults() -> None:
    doc = document()
    del doc["kernel_config"]["cluster_hostname"]
    ctx = context_from_document(doc).unwrap()
    assert ctx.kernel_config.cluster_hostname == "main1"
    sent = orjson.loads(ctx.kernel_config_json)
    assert (sent["cluster_hostname"], sent["preopen_ports"], sent["kernel_id"]) == (
        "main1",
        [],
        KERNEL_ID,
    )
    # every ImageConfig key, as ImageRef.from_image_config indexes them
    assert set(sent["image"]) == {
        "canonical",
        "project",
        "architecture",
        "digest",
        "repo_digest",
        "registry",
        "labels",
        "is_local",
        "auto_pull",
    }
    assert orjson.loads(ctx.cluster_info_json)["cluster_ssh_port_mapping"] is None


def test_a_missing_registry_is_parsed_from_the_canonical_name() -> None:
    doc = document()
    del doc["kernel_config"]["image"]["registry"]
    registry = context_from_document(doc).unwrap().image.registry
    assert registry is not None
    assert (registry.name, registry.url) == ("cr.backend.ai", "https://cr.backend.ai")


def test_a_top_level_image_serves_a_kernel_config_without_one() -> None:
    doc = document()
    image = doc["kernel_config"].pop("image")
    doc["image"] = {**image, "canonical": "cr.backend.ai/stable/torch:2"}
    assert context_from_document(doc).unwrap().image.canonical == (
        "cr.backend.ai/stable/torch:2"
    )


@pytest.mark.parametrize(
    ("dotted", "field"),
    [
        ("colour", "colour"),
        ("kernel_config.favourite", "kernel_config.favourite"),
        ("kernel_config.internal_data.secret", "kernel_config.internal_data.secret"),
        ("kernel_config.image.tags", "kernel_config.image.tags"),
        ("kernel_config.image.registry.colour", "kernel_config.image.registry.colour"),
        (
            "local_config.container.scratch_speed",
            "local_config.container.scratch_speed",
        ),
        (
            "local_config.container.scratch-speed",
            "local_config.container.scratch-speed",
        ),
        ("local_config.gpu", "local_config.gpu"),
        ("resource_spec.extra", "resource_spec.extra"),
        ("cluster_info.colour", "cluster_info.colour"),
        ("facts.colour", "facts.colour"),
        ("facts.host.colour", "facts.host.colour"),
        ("facts.runner.colour", "facts.runner.colour"),
    ],
)
def test_unknown_fields_are_refused_by_name(dotted: str, field: str) -> None:
    assert refusal(document(**{dotted: 1})) == (field, "is not a known field")


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        (
            "kernel_config.mounts",
            [{**VFOLDER, "type": "bind"}],
            "kernel_config.mounts[0].type",
        ),
        (
            "kernel_config.internal_data.dotfiles",
            [{"path": "a", "data": "b", "perm": "644", "owner": "me"}],
            "kernel_config.internal_data.dotfiles[0].owner",
        ),
        (
            "image",
            {"canonical": "cr.backend.ai/stable/python:3.11-ubuntu22.04", "tag": "x"},
            "image.tag",
        ),
    ],
)
def test_unknown_fields_in_lists_and_the_top_level_image_are_refused(
    dotted: str, value: object, field: str
) -> None:
    assert refusal(document(**{dotted: value})) == (field, "is not a known field")


def test_the_agents_other_config_sections_and_fields_are_accepted() -> None:
    ctx = context(
        **{
            "local_config.etcd": {"addr": "x"},
            "local_config.logging": {"level": "INFO"},
            "local_config.agent.rpc_listen_addr": "0.0.0.0:6001",
            "local_config.debug.enabled": True,
        }
    )
    assert ctx.local.agent.ipc_base_path == "/tmp/backend.ai/ipc"


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        ("kernel_config.uid", "1000", "kernel_config.uid"),
        ("kernel_config.uid", -3, "kernel_config.uid"),
        ("kernel_config.uid", 1.0, "kernel_config.uid"),
        ("kernel_config.main_gid", True, "kernel_config.main_gid"),
        (
            "kernel_config.supplementary_gids",
            [1, "2"],
            "kernel_config.supplementary_gids[1]",
        ),
        ("kernel_config.supplementary_gids", "12", "kernel_config.supplementary_gids"),
        ("kernel_config.environ", {"A": 1}, "kernel_config.environ.A"),
        ("kernel_config.environ", [["A", "1"]], "kernel_config.environ"),
        (
            "kernel_config.internal_data.dotfiles",
            [{"path": "a", "data": "b"}],
            "kernel_config.internal_data.dotfiles[0].perm",
        ),
        (
            "kernel_config.internal_data.dotfiles",
            [{"path": "a", "data": "b", "perm": 644}],
            "kernel_config.internal_data.dotfiles[0].perm",
        ),
        ("kernel_config.image.is_local", "no", "kernel_config.image.is_local"),
        ("kernel_config.image.canonical", "", "kernel_config.image.canonical"),
        ("kernel_config.session_type", "web", "kernel_config.session_type"),
        ("restarting", 1, "restarting"),
        (
            "local_config.container.scratch_type",
            "nfs",
            "local_config.container.scratch_type",
        ),
        (
            "local_config.container.scratch_root",
            "relative",
            "local_config.container.scratch_root",
        ),
        (
            "local_config.container.scratch_root",
            "/a/../b",
            "local_config.container.scratch_root",
        ),
        (
            "local_config.agent.ipc_base_path",
            "ipc",
            "local_config.agent.ipc_base_path",
        ),
        (
            "local_config.container.scratch_size",
            "big",
            "local_config.container.scratch_size",
        ),
        (
            "local_config.container.scratch_size",
            -1,
            "local_config.container.scratch_size",
        ),
        (
            "local_config.container.port_range",
            [31000, 30000],
            "local_config.container.port_range",
        ),
        (
            "local_config.container.port_range",
            [30000],
            "local_config.container.port_range",
        ),
        (
            "kernel_config.resource_slots",
            {"cpu": "1.5x"},
            "kernel_config.resource_slots.cpu",
        ),
        (
            "kernel_config.resource_slots",
            {"cpu": True},
            "kernel_config.resource_slots.cpu",
        ),
        (
            "resource_spec.allocations",
            {"cpu": {"cpu": {"0": "one"}}},
            "resource_spec.allocations.cpu.cpu.0",
        ),
        (
            "resource_spec.allocations",
            {"cpu": {"cpu": {"0": None}}},
            "resource_spec.allocations.cpu.cpu.0",
        ),
        (
            "kernel_config.mounts",
            [{**VFOLDER, "mount_perm": "rwx"}],
            "kernel_config.mounts[0].mount_perm",
        ),
        (
            "kernel_config.mounts",
            [{**VFOLDER, "usage_mode": "scratch"}],
            "kernel_config.mounts[0].usage_mode",
        ),
        (
            "kernel_config.mounts",
            [{**VFOLDER, "host_path": ""}],
            "kernel_config.mounts[0].host_path",
        ),
        ("kernel_id", "a/b", "kernel_id"),
        ("kernel_id", "..", "kernel_id"),
        ("session_id", "s", "session_id"),
        (
            "kernel_config.kernel_id",
            "22222222-2222-4333-8444-555555555555",
            "kernel_config.kernel_id",
        ),
        ("cluster_info.size", "1", "cluster_info.size"),
        (
            "cluster_info.cluster_ssh_port_mapping",
            {"main1": ["10.0.0.1", "22"]},
            "cluster_info.cluster_ssh_port_mapping.main1",
        ),
        ("facts.umask", "022", "facts.umask"),
        ("facts.uid", -1, "facts.uid"),
        ("facts.host.lxcfs", None, "facts.host.lxcfs"),
        ("facts.scratch", [{"path": "x"}], "facts.scratch[0].type"),
        (
            "facts.scratch",
            [{**SCRATCH_ENTRY, "type": "pipe"}],
            "facts.scratch[0]",
        ),
        (
            "facts.runner.files.logo__svg.mode",
            "644",
            "facts.runner.files.logo.svg.mode",
        ),
        (
            "facts.runner.files.logo__svg.content_base64",
            "not base64!",
            "facts.runner.files.logo.svg.content_base64",
        ),
        (  # not ASCII: base64 raises a plain ValueError for it
            "facts.runner.files.logo__svg.content_base64",
            "\x80AAA",
            "facts.runner.files.logo.svg.content_base64",
        ),
        ("facts.contents", {"ab": "é"}, "facts.contents.ab"),
        ("facts.seccomp_profile_base64", "é", "facts.seccomp_profile_base64"),
        # the agent's mappings may hold ints beyond 64 bits, which orjson cannot write
        ("cluster_info.size", 2**64, "cluster_info.size"),
        (
            "kernel_config.resource_slots.cpu",
            -(2**63) - 1,
            "kernel_config.resource_slots.cpu",
        ),
        (
            "kernel_config.internal_data.docker_credentials",
            {"cr.io": {"n": [2**70]}},
            "kernel_config.internal_data.docker_credentials",
        ),
        # beyond 2**64: int() of "1e999999" costs half a minute
        (
            "resource_spec.allocations.mem.mem.root",
            "1e999999",
            "resource_spec.allocations.mem.mem.root",
        ),
        (
            "kernel_config.resource_slots.mem",
            2.0**65,
            "kernel_config.resource_slots.mem",
        ),
        (
            "local_config.container.scratch_size",
            "9" * 5000 + "y",
            "local_config.container.scratch_size",
        ),
        # -1 is the agent's own id; chown takes no other negative one
        (
            "local_config.container.kernel_gid",
            -2,
            "local_config.container.kernel_gid",
        ),
        ("local_config.api.pull_timeout", -5.0, "local_config.api.pull_timeout"),
        # timeouts are planned in 64-bit milliseconds: 1e308 s would be infinite
        ("local_config.api.pull_timeout", 1e308, "local_config.api.pull_timeout"),
        (
            "local_config.kernel_lifecycles.init_polling_timeout_sec",
            1e30,
            "local_config.kernel_lifecycles.init_polling_timeout_sec",
        ),
        ("facts.host_ports", [30000, 0], "facts.host_ports[1]"),  # no port numbers
        ("facts.host_ports", [65536], "facts.host_ports[0]"),
        ("facts.arch", "x86_64\n", "facts.arch"),  # a part of file names
        ("facts.umask", "0o22\n", "facts.umask"),  # "$" is the end, as in JSON Schema
        (
            "facts.runner.files.evil__sh",
            {"mode": "0o755", "content_base64": ""},
            "facts.runner.files.evil.sh",
        ),
        ("facts.contents", {"ab": "AAAA"}, "facts.contents.ab"),
        (
            "facts.devices",
            {"cuda": {"slot_types": {"cuda.device": "many"}}},
            "facts.devices.cuda.slot_types.cuda.device",
        ),
    ],
)
def test_ill_typed_fields_are_refused_by_name(
    dotted: str, value: object, field: str
) -> None:
    assert refusal(document(**{dotted: value}))[0] == field


@pytest.mark.parametrize(
    "path",
    [
        ("kernel_id",),
        ("session_id",),
        ("agent_id",),
        ("kernel_config",),
        ("kernel_config", "image"),
        ("kernel_config", "image", "canonical"),
        ("kernel_config", "image", "registry", "url"),
        ("local_config",),
        ("local_config", "container"),
        ("local_config", "container", "scratch_root"),
        ("facts", "runner"),
        ("facts", "runner", "files"),
        ("facts", "host", "lxcfs"),
        ("facts", "umask"),
    ],
)
def test_missing_required_fields_are_named(path: tuple[str, ...]) -> None:
    doc = document()
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    field, reason = refusal(doc)
    assert field == ".".join(path)
    assert reason.startswith("is required")


def test_a_missing_vfolder_key_is_named_with_its_index() -> None:
    mount = {k: v for k, v in VFOLDER.items() if k != "kernel_path"}
    assert refusal(document(**{"kernel_config.mounts": [VFOLDER, mount]})) == (
        "kernel_config.mounts[1].kernel_path",
        "is required",
    )


def test_facts_are_required_to_plan_but_not_to_read() -> None:
    doc = document()
    del doc["facts"]
    assert refusal(copy.deepcopy(doc))[0] == "facts"
    assert read_document(doc).unwrap().facts is None


def test_every_problem_is_reported_at_once() -> None:
    doc = document(
        **{
            "kernel_config.uid": "x",
            "kernel_config.colour": 1,
            "local_config.container.scratch_type": "nfs",
            "facts.umask": "022",
        }
    )
    assert sorted(error.field for error in refusals(doc)) == [
        "facts.umask",
        "kernel_config.colour",
        "kernel_config.uid",
        "local_config.container.scratch_type",
    ]


def test_lone_surrogates_are_refused() -> None:
    field, reason = refusal(document(**{"kernel_config.bootstrap_script": "\ud800"}))
    assert field == "kernel_config.bootstrap_script"
    assert "Unicode" in reason


def test_agent_style_dashed_keys_are_accepted() -> None:
    ctx = context(
        **{
            "local_config.container": {"scratch-root": "/s", "kernel-uid": 5},
            "local_config.agent": {"ipc-base-path": "/run/ipc"},
            "local_config.container-logs": {"max-length": "1m"},
            "local_config.debug": {"coredump": {"enabled": True, "core-path": "/c"}},
            "local_config.kernel-lifecycles": {"init-polling_timeout-sec": 5},
        }
    )
    assert (ctx.scratch_root, ctx.kernel_uid) == (PurePosixPath("/s"), 5)
    assert ctx.local.agent.ipc_base_path == "/run/ipc"
    assert ctx.log_max_length == 2**20
    assert ctx.local.debug.coredump.core_path == "/c"
    assert ctx.local.kernel_lifecycles.init_polling_timeout_sec == 5


@pytest.mark.parametrize(
    "section",
    [
        {"scratch-root": "/s", "scratch_root": "/t"},
        {"scratch_root": "/s", "scratch-root": "/t"},
    ],
)
def test_a_key_given_in_both_spellings_is_refused(section: dict[str, str]) -> None:
    field, reason = refusal(document(**{"local_config.container": section}))
    assert field == "local_config.container.scratch_root"
    assert "given twice" in reason


def test_dashed_keys_are_type_checked_under_their_plain_name() -> None:
    doc = document(**{"local_config.container.kernel-uid": "5"})
    assert refusal(doc)[0] == "local_config.container.kernel_uid"


def test_kernel_uid_minus_one_means_the_agents_own_uid() -> None:
    ctx = context(
        **{
            "local_config.container.kernel_uid": -1,
            "local_config.container.kernel_gid": -1,
            "facts.uid": 4242,
            "facts.gid": 4343,
        }
    )
    assert (ctx.kernel_uid, ctx.kernel_gid) == (4242, 4343)


def test_uuid_kernel_ids_are_canonical_lower_case() -> None:
    assert context(kernel_id=KERNEL_ID.upper()).kernel_id == KERNEL_ID


SUPERSEDED = [
    ("environ", {"X": "1"}),
    ("mounts", [{"source": "/a", "target": "/x"}]),
    ("computer_docker_args", {"HostConfig": {"Privileged": True}}),
    ("resource_data", {"X": "1"}),
    ("resource_spec.slots", {"cpu": "8"}),
    ("resource_spec.unified_devices", [["cuda", "0"]]),
    ("resource_spec.scratch_disk_size", 1),
    ("resource_spec.known_slot_types", {"cpu": "count"}),
]


@pytest.mark.parametrize(("dotted", "value"), SUPERSEDED)
def test_superseded_fields_are_noted_and_change_nothing_in_the_plan(
    dotted: str, value: object
) -> None:
    ctx = context(**{dotted: value})
    assert len(ctx.notes) == 1
    assert ctx.notes[0].startswith(f"{dotted}: superseded")
    assert compile_plan(ctx).unwrap() == compile_plan(context()).unwrap()


def test_superseded_fields_are_still_type_checked() -> None:
    assert refusal(document(environ={"A": 1}))[0] == "environ.A"
    doc = document(**{"resource_spec.scratch_disk_size": "1"})
    assert refusal(doc)[0] == "resource_spec.scratch_disk_size"


def test_environ_keeps_the_order_given() -> None:
    ctx = context(**{"kernel_config.environ": {"Z": "1", "A": "2"}})
    assert tuple(ctx.kernel_config.environ.items()) == (("Z", "1"), ("A", "2"))
    assert list(orjson.loads(ctx.kernel_config_json)["environ"]) == ["Z", "A"]
    lines = written(compile_plan(ctx).unwrap(), "config/environ.txt").splitlines()
    assert lines[:2] == [b"Z=1", b"A=2"]


def test_resource_amounts_become_decimal_text() -> None:
    allocations = {
        "cpu": {"cpu": {"0": 2, "1": 0.5}},
        "mem": {"mem": {"root": "1.50"}},
    }
    ctx = context(**{"resource_spec.allocations": allocations})
    assert ctx.allocations == (
        ("cpu", (("cpu", (("0", "2"), ("1", "0.5"))),)),
        ("mem", (("mem", (("root", "1.50"),)),)),
    )


def test_requested_slots_stay_as_the_manager_sent_them() -> None:
    slots = {"cpu": 1, "mem": "1073741824", "cuda.shares": None}
    ctx = context(**{"kernel_config.resource_slots": slots})
    assert dict(ctx.kernel_config.resource_slots) == slots


@pytest.mark.parametrize(
    ("size", "expected"), [("64m", 2**26), ("1g", 2**30), (4096, 4096), ("0", 0)]
)
def test_sizes_accept_units(size: int | str, expected: int) -> None:
    ctx = context(**{"local_config.container.scratch_size": size})
    assert ctx.scratch_size == expected


def test_an_empty_container_ssh_keypair_counts_as_none() -> None:
    ctx = context(**{"kernel_config.internal_data.ssh_keypair": {}})
    assert ctx.internal.ssh_keypair is None
    # legacy receives the mapping as it came (`if internal_data.get("ssh_keypair")`)
    assert orjson.loads(ctx.kernel_config_json)["internal_data"]["ssh_keypair"] == {}
    keyed = context(**{"kernel_config.internal_data.ssh_keypair": KEYPAIR})
    ssh_files = {"work/.ssh/authorized_keys", "work/id_container"}
    assert ssh_files <= written_files(compile_plan(keyed).unwrap())
    assert not ssh_files & written_files(compile_plan(ctx).unwrap())


def test_an_empty_cluster_ssh_keypair_is_read_and_refused_by_the_ssh_stage() -> None:
    # legacy's prepare_ssh tests `is not None`, then indexes the keys: the KeyError
    # is swallowed (H38), so the planner refuses it, naming the first key read
    ctx = context_from_document(document(**{"cluster_info.ssh_keypair": {}})).unwrap()
    (error,) = compile_plan(ctx).failure()
    assert (error.stage, error.field) == ("ssh", "cluster_info.ssh_keypair.private_key")


def test_a_half_container_ssh_keypair_is_refused() -> None:
    doc = document(**{"kernel_config.internal_data.ssh_keypair": {"public_key": "k"}})
    assert refusal(doc) == (
        "kernel_config.internal_data.ssh_keypair.private_key",
        "is required",
    )


def test_docker_credentials_keep_their_key_order() -> None:
    creds = {"z.io": {"u": "a"}, "a.io": {"u": "b"}}
    ctx = context(**{"kernel_config.internal_data.docker_credentials": creds})
    plan = compile_plan(ctx).unwrap()
    assert written(plan, "config/docker-creds.json") == (
        b'{"z.io":{"u":"a"},"a.io":{"u":"b"}}'
    )


def test_an_existing_scratch_is_read_as_a_tree() -> None:
    ctx = context(**{"facts.scratch": [SCRATCH_ENTRY]})
    node = ctx.facts.scratch_tree.nodes[PurePosixPath(KERNEL_ID)]
    assert (node.type, node.mode) == ("dir", 0o755)


def _agent_inputs(**changes: Any) -> dict[str, Any]:
    """``document()`` as the agent holds it: UUIDs, Paths, Decimals, dashed keys."""
    doc = document()
    local = {
        **doc["local_config"],
        "etcd": {"addr": "x"},
        "logging": {"level": "INFO"},
    }
    container = dict(local["container"])
    container["scratch-root"] = Path(container.pop("scratch_root"))
    local["container"] = {**container, "port-range": [30000, 31000]}
    kernel_config = {**doc["kernel_config"], "session_type": "batch"}
    inputs: dict[str, Any] = {
        "kernel_id": uuid.UUID(KERNEL_ID),
        "session_id": uuid.UUID(SESSION_ID),
        "agent_id": "i-test",
        "kernel_config": kernel_config,
        "cluster_info": doc["cluster_info"],
        "local_config": local,
        "allocations": {
            "cpu": {"cpu": {"0": Decimal(1)}},
            "mem": {"mem": {"root": Decimal(1073741824)}},
        },
        "facts": facts(),
    }
    for dotted, value in changes.items():
        put(inputs, dotted, value)
    return inputs


def test_from_agent_reads_the_agents_own_objects() -> None:
    ctx: Context = context_from_agent(**_agent_inputs()).unwrap()
    same = context(**{"kernel_config.session_type": "batch"})
    assert ctx.kernel_id == KERNEL_ID
    assert ctx.session_id == SESSION_ID
    assert ctx.image.canonical == same.image.canonical
    assert ctx.local.container == same.local.container
    assert ctx.allocations == same.allocations
    assert ctx.kernel_config == same.kernel_config
    assert ctx.kernel_config.session_type == "batch"
    assert ctx.facts == same.facts
    assert compile_plan(ctx).unwrap() == compile_plan(same).unwrap()


def test_from_agent_still_checks_types() -> None:
    result = context_from_agent(**_agent_inputs(**{"kernel_config.uid": "x"}))
    assert isinstance(result, Failure)
    assert [error.field for error in result.failure()] == ["kernel_config.uid"]


def test_from_agent_checks_the_facts_too() -> None:
    result = context_from_agent(**_agent_inputs(**{"facts.umask": 18}))
    assert isinstance(result, Failure)
    assert [error.field for error in result.failure()] == ["facts.umask"]


def test_put_sets_nested_keys() -> None:
    doc: dict[str, Any] = {}
    put(doc, "a.b__c", 1)
    assert doc == {"a": {"b.c": 1}}


def test_a_key_that_is_not_text_is_refused_not_raised() -> None:
    """A restart's kconfig.dat is a pickle: its mapping may have any keys."""
    config = {**document()["kernel_config"], 1: "x"}
    result = structure(config, KernelConfig, "kernel_config")
    assert isinstance(result, Failure)
    assert [e.field for e in result.failure()] == ["kernel_config.1"]
