"""Inputs legacy turns into damage are refused at plan time (§16).

Each refusal is a PlanError naming the field, the value and the hazard, and no plan
exists, so nothing can be written.
"""

from __future__ import annotations

from typing import Any

import pytest
from returns.result import Failure

from planner import PlanError, compile_plan

from .contexts import context

DOTFILES = "kernel_config.internal_data.dotfiles"


def errors(**changes: Any) -> tuple[PlanError, ...]:
    result = compile_plan(context(**changes))
    assert isinstance(result, Failure), "the context was planned"
    found: tuple[PlanError, ...] = result.failure()
    return found


def dotfile(path: str, perm: str = "644") -> dict[str, object]:
    return {DOTFILES: [{"path": path, "perm": perm, "data": "x"}]}


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


@pytest.mark.parametrize("perm", ["", "8", "0o644", "rw", "17777", " 644"])
def test_invalid_perm_strings_are_refused(perm: str) -> None:
    (error,) = errors(**dotfile("a", perm))
    assert error.field == f"{DOTFILES}[0].perm"
    assert error.value == repr(perm)


def test_every_problem_is_reported_at_once() -> None:
    found = errors(
        **{
            DOTFILES: [
                {"path": "/etc/x", "perm": "9", "data": ""},
                {"path": "..", "perm": "644", "data": ""},
            ],
            "environ": {"A\nB": "1", "C": "x\ny"},
            "kernel_config.internal_data.ssh_keypair": {
                "public_key": "ключ",
                "private_key": "k",
            },
        }
    )
    fields = sorted(error.field for error in found)
    assert fields == [
        "environ.A\nB",
        "environ.C",
        f"{DOTFILES}[0].path",
        f"{DOTFILES}[0].perm",
        f"{DOTFILES}[1].path",
        "kernel_config.internal_data.ssh_keypair.public_key",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [("A\nB", "1"), ("A=B", "1"), ("", "1"), ("A", "1\n2"), ("A", "x\x00")],
)
def test_environ_entries_that_corrupt_environ_txt_are_refused(
    key: str, value: str
) -> None:
    (error,) = errors(environ={key: value})
    assert error.field == f"environ.{key}"
    assert "H21" in error.reason


def test_non_ascii_container_ssh_keys_are_refused() -> None:
    keypair = {"public_key": "ssh-rsa AAAA é", "private_key": "k"}
    (error,) = errors(**{"kernel_config.internal_data.ssh_keypair": keypair})
    assert error.field == "kernel_config.internal_data.ssh_keypair.public_key"
    assert "UnicodeEncodeError" in error.reason


def test_nul_bytes_in_mount_paths_are_refused() -> None:
    (error,) = errors(mounts=[{"source": "/a\x00b", "target": "/x"}])
    assert error.field == "mounts[0].source"


def test_hostfile_scratch_without_a_size_is_refused() -> None:
    (error,) = errors(**{"local_config.container.scratch_type": "hostfile"})
    assert error.field == "local_config.container.scratch_size"
    assert "H7" in error.reason


def test_domain_socket_proxies_are_not_planned_yet() -> None:
    (error,) = errors(
        **{"kernel_config.internal_data.domain_socket_proxies": ["/run/x"]}
    )
    assert (error.code, error.field) == (
        "unsupported",
        "kernel_config.internal_data.domain_socket_proxies",
    )


def test_network_plugin_modes_are_not_planned_yet() -> None:
    (error,) = errors(**{"cluster_info.network_config": {"mode": "overlay"}})
    assert (error.code, error.field) == (
        "unsupported",
        "cluster_info.network_config.mode",
    )


def test_two_mounts_on_one_target_are_a_conflict() -> None:
    (error,) = errors(
        mounts=[{"source": "/a", "target": "/x"}, {"source": "/b", "target": "/x"}]
    )
    assert (error.code, error.value) == ("conflict", "/x")


def test_a_symlink_in_the_scratch_makes_planning_fail() -> None:
    scratch = [
        {
            "path": "11111111-2222-4333-8444-555555555555",
            "type": "symlink",
            "mode": "0o777",
            "uid": 0,
            "gid": 0,
            "size": 4,
            "sha256": "a" * 64,
            "volatile": False,
        }
    ]
    found = errors(**{"facts.scratch_tree": scratch})
    assert any(e.code == "model" and "symlink" in e.reason for e in found)


def test_unknown_quirks_are_refused() -> None:
    result = compile_plan(context(), ["make-it-fast"])
    assert isinstance(result, Failure)
    assert result.failure()[0].value == "make-it-fast"
