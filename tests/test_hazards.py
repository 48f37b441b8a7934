"""Inputs legacy turns into damage are refused at plan time (§16).

Each refusal is a PlanError naming the field, the value and the hazard, and no plan
exists, so nothing can be written.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest
from returns.result import Failure

from effects import (
    CreateContainer,
    Plan,
    PullImage,
    RegisterKernel,
    ServeSocketProxy,
    project,
    thaw,
    thaw_object,
)
from planner import PlanError, compile_plan

from .contexts import KERNEL_ID, context, written

DOTFILES = "kernel_config.internal_data.dotfiles"


def errors(**changes: Any) -> tuple[PlanError, ...]:
    result = compile_plan(context(**changes))
    assert isinstance(result, Failure), "the context was planned"
    found: tuple[PlanError, ...] = result.failure()
    return found


def dotfile(path: str, perm: str = "644") -> dict[str, object]:
    return {DOTFILES: [{"path": path, "perm": perm, "data": "x"}]}


def vfolder(host_path: str, kernel_path: str) -> dict[str, str]:
    """A ``kernel_config.mounts`` item (``VFolderMount.to_json``)."""
    return {
        "name": "data",
        "vfid": "b1e8e0c8-2f5a-4a4e-9d8b-0000000000a1",
        "host_path": host_path,
        "kernel_path": kernel_path,
        "mount_perm": "rw",
    }


def host_config(plan: Plan) -> dict[str, Any]:
    """The ``HostConfig`` of the plan's one container create body."""
    (body,) = [
        thaw_object(step.effect.config)
        for step in plan.steps
        if isinstance(step.effect, CreateContainer)
    ]
    config: dict[str, Any] = body["HostConfig"]  # type: ignore[assignment]
    return config


@pytest.mark.parametrize(
    ("path", "hazard"),
    [
        ("/etc/profile", "H1/H2"),
        ("/home/other/.bashrc", "H1/H2"),
        ("/home/config/environ.txt", "H1/H2"),
        ("/home//work/x", "H1/H2"),
        ("/home/", "H5"),
        ("/home/work", "H5"),
        ("/home/work/", "H5"),
        ("/home/work/.", "H5"),
        ("", "H5"),
        (".", "H5"),
        ("../escape", "H4"),
        ("a/../b", "H4"),
        ("/home/work/../config/x", "H4"),
        ("a\x00b", "NUL"),
    ],
)
def test_dangerous_dotfile_paths_are_refused(path: str, hazard: str) -> None:
    (error,) = errors(**dotfile(path))
    assert (error.stage, error.code, error.field) == (
        "dotfiles",
        "hazard",
        f"{DOTFILES}[0].path",
    )
    assert error.value == repr(path)
    assert hazard in error.reason


@pytest.mark.parametrize(
    "path",
    ["/home/work/.config/x", "a/b/c", "./x", "/home/./work/x", "/home/work//x", "x/"],
)
def test_safe_dotfile_paths_are_planned(path: str) -> None:
    assert compile_plan(context(**dotfile(path))).unwrap().steps


@pytest.mark.parametrize("perm", ["", "8", "rw", "0x1a4"])
def test_perm_text_legacy_cannot_read_predicts_its_crash(perm: str) -> None:
    (error,) = errors(**dotfile("a", perm))
    assert error.field == f"{DOTFILES}[0].perm"
    assert error.value == repr(perm)
    assert (error.code, error.raises) == ("crash", "ValueError")


@pytest.mark.parametrize("perm", ["-1", "17777", "-0o10"])
def test_perm_values_that_are_no_mode_are_a_hazard(perm: str) -> None:
    (error,) = errors(**dotfile("a", perm))
    assert (error.field, error.code) == (f"{DOTFILES}[0].perm", "hazard")
    assert "H37" in error.reason


@pytest.mark.parametrize(
    ("perm", "mode"),
    [
        ("0o644", 0o644),
        (" 644", 0o644),
        ("644\n", 0o644),
        ("+644", 0o644),
        ("6_44", 0o644),
        ("0O600", 0o600),
        ("-0", 0),
    ],
)
def test_every_spelling_int_reads_is_that_mode(perm: str, mode: int) -> None:
    ctx = context(**dotfile("a", perm))
    plan = compile_plan(ctx).unwrap()
    target = PurePosixPath(KERNEL_ID) / "work" / "a"
    # The compiler may fold the chmod into the write (planner/_folding.py), so
    # the mode that counts is the one the plan leaves the file with.
    after = project(plan, ctx.facts.scratch_tree).unwrap()
    assert after.nodes[target].mode == mode


def test_every_problem_is_reported_at_once() -> None:
    found = errors(
        **{
            DOTFILES: [
                {"path": "/etc/x", "perm": "9", "data": ""},
                {"path": "..", "perm": "644", "data": ""},
            ],
            "kernel_config.environ": {"A\nB": "1", "C": "x\ny"},
            "kernel_config.internal_data.ssh_keypair": {
                "public_key": "ключ",
                "private_key": "k",
            },
            "kernel_config.mounts": [vfolder("/a\x00b", "/home/work/a")],
        }
    )
    fields = sorted(error.field for error in found)
    assert fields == sorted(
        [
            f"{DOTFILES}[0].path",
            f"{DOTFILES}[0].perm",
            f"{DOTFILES}[1].path",
            "kernel_config.environ.A\nB",
            "kernel_config.environ.C",
            "kernel_config.internal_data.ssh_keypair.public_key",
            "kernel_config.mounts[0].host_path",
        ]
    )
    assert {error.stage for error in found} == {"dotfiles", "inputs", "vfolder-mounts"}


@pytest.mark.parametrize(
    ("key", "value"),
    [("A\nB", "1"), ("A=B", "1"), ("", "1"), ("A", "1\n2"), ("A", "x\x00")],
)
def test_environ_entries_that_corrupt_environ_txt_are_refused(
    key: str, value: str
) -> None:
    (error,) = errors(**{"kernel_config.environ": {key: value}})
    assert error.field == f"kernel_config.environ.{key}"
    assert error.code == "hazard"
    assert "H21" in error.reason


@pytest.mark.parametrize(
    ("key", "value"), [("A", "x=y"), ("A_B", ""), ("a1", "é ü"), ("A", "tab\tok")]
)
def test_environ_entries_that_fit_environ_txt_are_planned(key: str, value: str) -> None:
    plan = compile_plan(context(**{"kernel_config.environ": {key: value}})).unwrap()
    assert f"{key}={value}\n".encode() in written(plan, "config/environ.txt")


def test_non_ascii_container_ssh_keys_are_refused() -> None:
    keypair = {"public_key": "ssh-rsa AAAA é", "private_key": "k"}
    (error,) = errors(**{"kernel_config.internal_data.ssh_keypair": keypair})
    assert error.field == "kernel_config.internal_data.ssh_keypair.public_key"
    assert "UnicodeEncodeError" in error.reason


@pytest.mark.parametrize(
    ("mount", "field"),
    [
        (vfolder("/a\x00b", "/home/work/x"), "host_path"),
        (vfolder("/a", "/home/work/x\x00"), "kernel_path"),
    ],
)
def test_nul_bytes_in_vfolder_paths_are_refused(
    mount: dict[str, str], field: str
) -> None:
    (error,) = errors(**{"kernel_config.mounts": [mount]})
    assert (error.stage, error.code) == ("vfolder-mounts", "hazard")
    assert error.field == f"kernel_config.mounts[0].{field}"
    assert error.value == repr(mount[field])


def test_hostfile_scratch_without_a_size_is_refused() -> None:
    (error,) = errors(**{"local_config.container.scratch_type": "hostfile"})
    assert error.field == "local_config.container.scratch_size"
    assert "H7" in error.reason


PROXIES = "kernel_config.internal_data.domain_socket_proxies"
TOKENS = ("ab" * 12, "cd" * 12)


@pytest.mark.parametrize(
    ("ipc", "changes"),
    [
        ("/tmp/backend.ai/ipc", {}),  # legacy's default ipc_base_path
        ("/run/bai/ipc", {"local_config.agent.ipc-base-path": "/run/bai/ipc"}),
    ],
)
def test_each_domain_socket_proxy_is_served_and_mounted_at_its_host_path(
    ipc: str, changes: dict[str, str]
) -> None:
    """§5 row 11: a unix server at ipc_base_path/proxy/<24 hex>.sock piped to S,
    bind-mounted read-write at S itself; one per entry, in order."""
    targets = ["/run/docker.sock", "/var/run/image-importer.sock"]
    plan = compile_plan(
        context(
            **{PROXIES: targets, "facts.socket_proxy_tokens": list(TOKENS), **changes}
        )
    ).unwrap()
    sockets = [f"{ipc}/proxy/{token}.sock" for token in TOKENS]
    served = [
        (index, step)
        for index, step in enumerate(plan.steps)
        if isinstance(step.effect, ServeSocketProxy)
    ]
    assert [step.effect for _, step in served] == [
        ServeSocketProxy(path=PurePosixPath(path), target=target)
        for path, target in zip(sockets, targets, strict=True)
    ]
    assert {step.stage for _, step in served} == {"intrinsic-mounts"}
    mounts = host_config(plan)["Mounts"]
    proxied = [m for m in mounts if m["Target"] in targets]
    assert proxied == [
        {
            "Target": target,
            "Source": path,
            "Type": "bind",
            "ReadOnly": False,
            "BindOptions": {},
        }
        for path, target in zip(sockets, targets, strict=True)
    ]
    # right after the agent socket, as get_intrinsic_mounts appends them
    agent = [m["Target"] for m in mounts].index("/opt/kernel/agent.sock")
    assert mounts[agent + 1 : agent + 3] == proxied
    # served before the container that mounts them is created
    (create,) = [
        index
        for index, step in enumerate(plan.steps)
        if isinstance(step.effect, CreateContainer)
    ]
    assert all(index < create for index, _ in served)


def test_a_proxy_target_is_mounted_verbatim() -> None:
    # legacy's Mount keeps the string as given (checked against the legacy worker:
    # '/run//x.sock' stays '/run//x.sock')
    target = "/run//x.sock"
    plan = compile_plan(
        context(**{PROXIES: [target], "facts.socket_proxy_tokens": [TOKENS[0]]})
    ).unwrap()
    assert target in [m["Target"] for m in host_config(plan)["Mounts"]]


def test_proxy_tokens_without_proxies_serve_nothing() -> None:
    plan = compile_plan(context(**{"facts.socket_proxy_tokens": list(TOKENS)})).unwrap()
    assert not [s for s in plan.steps if isinstance(s.effect, ServeSocketProxy)]


def test_a_proxy_without_a_token_to_name_its_socket_is_refused() -> None:
    (error,) = errors(
        **{
            PROXIES: ["/run/a.sock", "/run/b.sock"],
            "facts.socket_proxy_tokens": [TOKENS[0]],
        }
    )
    assert (error.stage, error.code, error.field, error.value) == (
        "intrinsic-mounts",
        "unsupported",
        "facts.socket_proxy_tokens",
        "1 of 2",
    )


def test_network_plugin_modes_are_not_planned_yet() -> None:
    (error,) = errors(**{"cluster_info.network_config": {"mode": "overlay"}})
    assert (error.code, error.field) == (
        "unsupported",
        "cluster_info.network_config.mode",
    )


@pytest.mark.parametrize(
    ("mode", "raised"),
    [
        (5, "RuntimeError"),
        (True, "RuntimeError"),
        (["x"], "TypeError"),
        ({"a": 1}, "TypeError"),
    ],
)
def test_a_network_mode_that_is_not_text_is_a_legacy_crash(
    mode: object, raised: str
) -> None:
    (error,) = errors(**{"cluster_info.network_config": {"mode": mode}})
    assert (error.stage, error.code, error.field) == (
        "network",
        "crash",
        "cluster_info.network_config.mode",
    )
    assert f"legacy raises {raised}" in error.reason


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_a_cluster_ssh_port_that_is_no_port_number_is_a_legacy_crash(
    port: int,
) -> None:
    (error,) = errors(
        **{"cluster_info.cluster_ssh_port_mapping": {"main1": ["10.0.0.1", port]}}
    )
    assert (error.stage, error.code, error.field, error.value) == (
        "host-ports",
        "crash",
        "cluster_info.cluster_ssh_port_mapping.main1",
        str(port),
    )


def test_memory_beyond_dockers_64_bits_is_a_legacy_crash() -> None:
    (error,) = errors(**{"resource_spec.allocations.mem.mem.root": str(2**63)})
    assert (error.stage, error.code, error.field) == (
        "device-mounts",
        "crash",
        "resource_spec.allocations.mem",
    )
    assert "64-bit Memory" in error.reason


@pytest.mark.parametrize(
    ("shmem", "size"),
    [(True, 1), (5.7, 5), (" +64_000 ", 64000), ("64", 64), ({}, None), ("", None)],
)
def test_shmem_is_what_legacys_int_makes_of_it(shmem: object, size: int | None) -> None:
    plan = compile_plan(context(**{"kernel_config.resource_opts": {"shmem": shmem}}))
    assert host_config(plan.unwrap()).get("ShmSize") == size


@pytest.mark.parametrize("shmem", ["1.5", "64m", [1], {"a": 1}, "9" * 30, -9.3e18])
def test_shmem_legacys_int_or_docker_refuses_is_a_legacy_crash(shmem: object) -> None:
    (error,) = errors(**{"kernel_config.resource_opts": {"shmem": shmem}})
    assert (error.stage, error.code, error.field) == (
        "container",
        "crash",
        "kernel_config.resource_opts.shmem",
    )


@pytest.mark.parametrize(
    ("label", "version"), [(" 1_0 ", 10), ("+2", 2), ("\u00b2", None)]
)
def test_the_kernelspec_label_is_what_legacys_int_makes_of_it(
    label: str, version: int | None
) -> None:
    labels = {"ai.backend.base-distro": "ubuntu22.04", "ai.backend.kernelspec": label}
    planned = compile_plan(context(**{"kernel_config.image.labels": labels}))
    if version is None:  # a digit, not a decimal one: int() raises ValueError
        (error,) = planned.failure()
        assert (error.stage, error.code) == ("kernel", "crash")
        return
    (record,) = [
        s.effect.record
        for s in planned.unwrap().steps
        if isinstance(s.effect, RegisterKernel)
    ]
    assert record.get("version") == version


@pytest.mark.parametrize(
    ("seconds", "ms"), [(0, 1), (0.0004, 1), (2.5, 2500), (None, None)]
)
def test_the_pull_timeout_is_planned_in_milliseconds(
    seconds: float | None, ms: int | None
) -> None:
    """0 s times out at once, as 1 ms does: a plan's timeouts are positive."""
    planned = compile_plan(
        context(
            **{"facts.image_present": False, "local_config.api.pull_timeout": seconds}
        )
    )
    (pull,) = [
        s.effect for s in planned.unwrap().steps if isinstance(s.effect, PullImage)
    ]
    assert pull.timeout_ms == ms


@pytest.mark.parametrize(
    ("name", "raised"),
    [(5, "ContainerCreationFailedError"), (None, "ContainerCreationFailedError")],
)
def test_a_bridge_network_name_that_is_not_text_fails_the_create(
    name: object, raised: str
) -> None:
    """Docker refuses a NetworkMode that is not text (the bridge worker's recorded
    create does not: it checks no body)."""
    network = {"mode": "bridge", "network_name": name}
    (error,) = errors(**{"cluster_info.network_config": network})
    assert (error.stage, error.code, error.raises) == ("network", "crash", raised)


def test_a_bridge_network_without_a_name_is_legacys_key_error() -> None:
    (error,) = errors(**{"cluster_info.network_config": {"mode": "bridge"}})
    assert (error.stage, error.raises) == ("network", "KeyError")


@pytest.mark.parametrize("mode", ["", 0, False, [], {}, None])
def test_a_false_network_mode_is_no_mode(mode: object) -> None:
    plan = compile_plan(context(**{"cluster_info.network_config": {"mode": mode}}))
    (record,) = [
        s.effect.record
        for s in plan.unwrap().steps
        if isinstance(s.effect, RegisterKernel)
    ]
    assert thaw(record.get("network_driver")) == mode  # as legacy keeps it
    assert not [s for s in plan.unwrap().steps if s.stage == "network"]


@pytest.mark.parametrize(
    ("mounts", "target"),
    [
        ([vfolder("/a", "/x"), vfolder("/b", "/x")], "/x"),
        ([vfolder("/a", "/home/work")], "/home/work"),  # an intrinsic mount's target
    ],
)
def test_two_mounts_on_one_target_are_a_conflict(
    mounts: list[dict[str, str]], target: str
) -> None:
    (error,) = errors(**{"kernel_config.mounts": mounts})
    assert (error.code, error.value) == ("conflict", target)
    assert "Duplicate mount point" in error.reason


def scratch_entry(path: str, kind: str) -> dict[str, object]:
    link = kind == "symlink"
    return {
        "path": f"{KERNEL_ID}/{path}".rstrip("/"),
        "type": kind,
        "mode": "0o777" if link else "0o755",
        "uid": 0,
        "gid": 0,
        "size": 4 if link else None,
        "sha256": "a" * 64 if link else None,
        "volatile": False,
    }


@pytest.mark.parametrize(
    "link", ["", "config", "work", "config/ssh", "work/.ssh", "work/.bashrc"]
)
def test_a_symlink_in_the_scratch_makes_planning_fail(link: str) -> None:
    """Whatever it points at, no plan writes through it (architecture.md §5.3)."""
    dirs = [] if link == "" else ["", "config", "work"]
    scratch = [scratch_entry(path, "dir") for path in dirs if path != link]
    scratch.append(scratch_entry(link, "symlink"))
    found = errors(
        **{
            "facts.scratch": scratch,
            "kernel_config.internal_data.ssh_keypair": {
                "public_key": "k",
                "private_key": "k",
            },
        }
    )
    symlink = f"{KERNEL_ID}/{link}".rstrip("/")
    assert all(symlink in error.field for error in found), found
    assert {error.code for error in found} <= {"crash", "model"}


def test_unknown_quirks_are_refused() -> None:
    result = compile_plan(context(), ["make-it-fast"])
    assert isinstance(result, Failure)
    assert result.failure()[0].value == "make-it-fast"


@pytest.mark.parametrize("missing", ["public_key", "private_key"])
def test_a_cluster_keypair_with_one_key_is_refused_naming_the_key(
    missing: str,
) -> None:
    pair = {"public_key": "ssh-ed25519 AAAA x", "private_key": "PRIVATE"}
    del pair[missing]
    (error,) = errors(**{"cluster_info.ssh_keypair": pair})
    assert (error.field, error.code) == (
        f"cluster_info.ssh_keypair.{missing}",
        "hazard",
    )
    assert error.reason.startswith("H38")
