"""Context construction: the named constructors, defaults, and refusals by field."""

from __future__ import annotations

from pathlib import PurePosixPath as P
from typing import Any

import pytest
from returns.result import Failure

from planner import Facts, context_from_agent, context_from_document

from .contexts import KERNEL_ID, context, document, put


def refusal(doc: dict[str, Any]) -> tuple[str, str]:
    result = context_from_document(doc)
    assert isinstance(result, Failure), "the context was accepted"
    error = result.failure()
    return error.field, error.reason


def test_a_complete_document_parses_with_defaults() -> None:
    ctx = context()
    assert ctx.kernel_id == KERNEL_ID
    assert not ctx.restarting
    assert ctx.local.scratch_type == "hostdir"
    assert ctx.image.features == frozenset(
        {"uid-match"}
    )  # legacy's default feature set
    assert ctx.image.short == "stable/python:3.11"
    assert ctx.local.ipc_base_path == P("/tmp/backend.ai/ipc")


@pytest.mark.parametrize(
    ("dotted", "field"),
    [
        ("colour", "colour"),
        ("kernel_config.favourite", "kernel_config.favourite"),
        ("kernel_config.internal_data.secret", "kernel_config.internal_data.secret"),
        ("image.tags", "image.tags"),
        (
            "local_config.container.scratch_speed",
            "local_config.container.scratch_speed",
        ),
        ("local_config.gpu", "local_config.gpu"),
        ("resource_spec.extra", "resource_spec.extra"),
        ("cluster_info.colour", "cluster_info.colour"),
    ],
)
def test_unknown_fields_are_refused_by_name(dotted: str, field: str) -> None:
    name, reason = refusal(document(**{dotted: 1}))
    assert (name, reason) == (field, "is not a known field")


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        ("kernel_config.uid", "1000", "kernel_config.uid"),
        ("kernel_config.uid", -3, "kernel_config.uid"),
        (
            "kernel_config.supplementary_gids",
            [1, "2"],
            "kernel_config.supplementary_gids[1]",
        ),
        ("kernel_config.environ", {"A": 1}, "kernel_config.environ.A"),
        (
            "kernel_config.internal_data.dotfiles",
            [{"path": "a", "data": "b"}],
            "kernel_config.internal_data.dotfiles[0].perm",
        ),
        ("image.is_local", "no", "image.is_local"),
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
            "local_config.container.scratch_size",
            "big",
            "local_config.container.scratch_size",
        ),
        ("resource_spec.slots", {"cpu": 1.5}, "resource_spec.slots.cpu"),
        ("mounts", [{"target": "/x", "permission": "rwx"}], "mounts[0].permission"),
        ("mounts", [{"target": "/x", "type": "nfs"}], "mounts[0].type"),
        ("kernel_id", "a/b", "kernel_id"),
        ("kernel_id", "..", "kernel_id"),
        ("facts.umask", "022", "facts.umask"),
        ("facts.host.lxcfs", None, "facts.host.lxcfs"),
        ("facts.scratch_tree", [{"path": "x"}], "[0].type"),
    ],
)
def test_ill_typed_fields_are_refused_by_name(
    dotted: str, value: object, field: str
) -> None:
    assert refusal(document(**{dotted: value}))[0] == field


def test_missing_required_fields_are_named() -> None:
    doc = document()
    del doc["kernel_config"]["cluster_hostname"]
    assert refusal(doc) == ("kernel_config.cluster_hostname", "is required")
    doc = document()
    del doc["facts"]
    assert refusal(doc)[0] == "facts"


def test_lone_surrogates_are_refused() -> None:
    field, reason = refusal(document(**{"kernel_config.bootstrap_script": "\ud800"}))
    assert field == "kernel_config.bootstrap_script"
    assert "Unicode" in reason


def test_agent_style_dashed_keys_are_accepted_but_not_twice() -> None:
    ctx = context(**{"local_config.container": {"scratch-root": "/s", "kernel-uid": 5}})
    assert (ctx.local.scratch_root, ctx.local.kernel_uid) == (P("/s"), 5)
    doc = document(
        **{"local_config.container": {"scratch-root": "/s", "scratch_root": "/t"}}
    )
    assert "given twice" in refusal(doc)[1]


def test_kernel_uid_minus_one_means_the_agents_own_uid() -> None:
    ctx = context(**{"local_config.container.kernel_uid": -1, "facts.uid": 4242})
    assert ctx.local.kernel_uid == 4242


def test_uuid_kernel_ids_are_canonical_lower_case() -> None:
    assert context(kernel_id=KERNEL_ID.upper()).kernel_id == KERNEL_ID


def test_environ_defaults_to_kernel_environ_and_local_ids() -> None:
    ctx = context(**{"kernel_config.environ": {"A": "1"}, "kernel_config.uid": 7})
    assert ctx.environ == (
        ("A", "1"),
        ("LOCAL_USER_ID", "7"),
        ("LOCAL_GROUP_ID", "1200"),
    )
    plain = context(**{"image.labels": {"ai.backend.features": ""}})
    assert plain.environ == ()


def test_environ_keeps_the_order_given() -> None:
    ctx = context(environ={"Z": "1", "A": "2"})
    assert ctx.environ == (("Z", "1"), ("A", "2"))


def test_resource_amounts_are_decimal_text() -> None:
    ctx = context(**{"resource_spec.slots": {"cpu": 2, "mem": "1.50"}})
    assert ctx.resource_spec.slots == (("cpu", "2"), ("mem", "1.50"))


def test_sizes_accept_units() -> None:
    assert (
        context(**{"local_config.container.scratch_size": "64m"}).local.scratch_size
        == 2**26
    )


def test_an_empty_ssh_keypair_counts_as_none() -> None:
    assert (
        context(
            **{"kernel_config.internal_data.ssh_keypair": {}}
        ).kernel_config.ssh_keypair
        is None
    )


def test_docker_credentials_keep_their_key_order() -> None:
    creds = {"z.io": {"u": "a"}, "a.io": {"u": "b"}}
    ctx = context(**{"kernel_config.internal_data.docker_credentials": creds})
    assert (
        ctx.kernel_config.docker_credentials_json
        == b'{"z.io":{"u":"a"},"a.io":{"u":"b"}}'
    )


def test_from_agent_reads_the_agents_mappings_and_ignores_agent_sections() -> None:
    doc = document()
    facts: Facts = context().facts
    local = {**doc["local_config"], "etcd": {"addr": "x"}, "logging": {"level": "INFO"}}
    local["container"] = {**local["container"], "port-range": [30000, 31000]}
    kernel_config = {
        **doc["kernel_config"],
        "image": doc["image"],
        "session_type": "batch",
        "scaling_group": "default",
    }
    result = context_from_agent(
        kernel_id=KERNEL_ID,
        session_id="s",
        agent_id="a",
        kernel_config=kernel_config,
        cluster_info=doc["cluster_info"],
        local_config=local,
        facts=facts,
    )
    ctx = result.unwrap()
    assert ctx.image.canonical == doc["image"]["canonical"]
    assert ctx.local.kernel_uid == 1100


def test_from_agent_still_checks_types() -> None:
    doc = document()
    result = context_from_agent(
        kernel_id=KERNEL_ID,
        session_id="s",
        agent_id="a",
        kernel_config={**doc["kernel_config"], "image": doc["image"], "uid": "x"},
        cluster_info=doc["cluster_info"],
        local_config=doc["local_config"],
        facts=context().facts,
    )
    assert isinstance(result, Failure)
    assert result.failure().field == "kernel_config.uid"


def test_put_sets_nested_keys() -> None:
    doc: dict[str, Any] = {}
    put(doc, "a.b__c", 1)
    assert doc == {"a": {"b.c": 1}}
