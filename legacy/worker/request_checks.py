"""Step 1: every reason not to run legacy on a context (pure, stdlib only).

``validate_context`` collects them all (an empty list means safe to run). A
``hazard`` starts with the hazard number (legacy-behaviour.md) when there is one
(``H1/H2``, ``H4``, ``H5``, ``H7``, ``H19``, ``H21``), else with ``input:``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .context_facts import MAX_MODE, decode_runner_asset, parse_umask
from .dotfile_paths import dotfile_path_hazard
from .protocol import JSONObject, as_dict

_OCTAL_RE = re.compile(r"[0-7]+")
_SIZE_RE = re.compile(r"\s*([0-9]*\.?[0-9]*)\s*([A-Za-z]*)\s*")
_DOTFILES = "kernel_config.internal_data.dotfiles"
_H21_KEY = (
    "H21: environ key is empty or contains '=', newline or NUL "
    "(environ.txt is not escaped)"
)
_H21_VALUE = "H21: environ value contains newline or NUL (environ.txt is not escaped)"


@dataclass(frozen=True)
class Refusal:
    """One reason not to run legacy on a context."""

    field: str
    value: Any
    hazard: str

    def to_json(self) -> JSONObject:
        """The protocol's ``refused`` item (the value as its repr)."""
        return {"field": self.field, "value": repr(self.value), "hazard": self.hazard}


def validate_context(context: Mapping[str, Any]) -> list[Refusal]:
    """Collect every reason to refuse ``context`` (empty list: safe to run)."""
    problems: list[Refusal] = []
    kernel_config = as_dict(context.get("kernel_config"))
    internal_data = as_dict(kernel_config.get("internal_data"))
    _check_kernel_id(context.get("kernel_id"), problems)
    _check_container_config(
        as_dict(as_dict(context.get("local_config")).get("container")), problems
    )
    _check_environ(context.get("environ"), "environ", problems)
    _check_environ(kernel_config.get("environ"), "kernel_config.environ", problems)
    _check_dotfiles(internal_data, problems)
    _check_ssh_keypair(internal_data, problems)
    _check_mounts(context.get("mounts"), problems)
    _check_cluster_and_proxies(context, internal_data, problems)
    _check_facts(as_dict(context.get("facts")), problems)
    return problems


def _check_dotfiles(internal_data: Mapping[str, Any], out: list[Refusal]) -> None:
    dotfiles = internal_data.get("dotfiles") or []
    if not isinstance(dotfiles, list):
        out.append(Refusal(_DOTFILES, dotfiles, "input: dotfiles must be a list"))
        return
    for index, item in enumerate(dotfiles):
        entry = as_dict(item)
        _check_dotfile_path(f"{_DOTFILES}.{index}.path", entry.get("path"), out)
        _check_dotfile_perm(f"{_DOTFILES}.{index}.perm", entry.get("perm"), out)


def _check_dotfile_path(where: str, path: Any, out: list[Refusal]) -> None:
    if not isinstance(path, str):
        out.append(Refusal(where, path, "input: path must be a string"))
    elif (hazard := dotfile_path_hazard(path)) is not None:
        out.append(Refusal(where, path, hazard))


def _check_dotfile_perm(where: str, perm: Any, out: list[Refusal]) -> None:
    if not isinstance(perm, str) or not _OCTAL_RE.fullmatch(perm):
        hazard = (
            "input: perm is not an octal string "
            "(int(perm, 8) fails after the file was written)"
        )
        out.append(Refusal(where, perm, hazard))
    elif int(perm, 8) > MAX_MODE:
        hazard = "input: perm exceeds 0o7777 (chmod fails after the file was written)"
        out.append(Refusal(where, perm, hazard))


def _check_ssh_keypair(internal_data: Mapping[str, Any], out: list[Refusal]) -> None:
    keypair = internal_data.get("ssh_keypair")
    where = "kernel_config.internal_data.ssh_keypair"
    if not keypair:
        return
    if not isinstance(keypair, Mapping):
        out.append(Refusal(where, keypair, "input: ssh_keypair must be an object"))
        return
    hazard = "input: key is not ASCII text (UnicodeEncodeError mid-run, §12.4)"
    for key in ("public_key", "private_key"):
        value = keypair.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.isascii():
            out.append(Refusal(f"{where}.{key}", value, hazard))


def _check_environ(environ: Any, where: str, out: list[Refusal]) -> None:
    if environ is None:
        return
    if not isinstance(environ, Mapping):
        out.append(Refusal(where, environ, "input: environ must be an object"))
        return
    for key, value in environ.items():
        if not isinstance(key, str) or key == "" or any(c in key for c in "=\n\0"):
            out.append(Refusal(where, key, _H21_KEY))
        _check_environ_value(f"{where}.{key}", value, out)


def _check_environ_value(where: str, value: Any, out: list[Refusal]) -> None:
    if not isinstance(value, str):
        out.append(Refusal(where, value, "input: environ value must be a string"))
    elif "\n" in value or "\0" in value:
        out.append(Refusal(where, value, _H21_VALUE))


def _check_kernel_id(kernel_id: Any, out: list[Refusal]) -> None:
    if (
        not isinstance(kernel_id, str)
        or kernel_id in ("", ".", "..")
        or "/" in kernel_id
        or "\0" in kernel_id
    ):
        hazard = (
            "input: kernel_id is empty, '.', '..' or contains '/' or NUL "
            "(scratch paths would escape scratch_root)"
        )
        out.append(Refusal("kernel_id", kernel_id, hazard))


def _is_zero_size(value: Any) -> bool:
    """True when a scratch_size (int or size string: "0", "0m") is zero or absent."""
    if value is None:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    match = _SIZE_RE.fullmatch(str(value))
    if match is None or not any(c.isdigit() for c in match.group(1)):
        return False
    return Decimal(match.group(1)) == 0


def _check_container_config(container: Mapping[str, Any], out: list[Refusal]) -> None:
    scratch_root = container.get("scratch_root", container.get("scratch-root"))
    if (
        not isinstance(scratch_root, str)
        or not scratch_root.startswith("/")
        or "\0" in scratch_root
    ):
        hazard = "input: scratch_root must be an absolute path without NUL"
        out.append(Refusal("local_config.container.scratch_root", scratch_root, hazard))
    scratch_type = container.get(
        "scratch_type", container.get("scratch-type", "hostdir")
    )
    scratch_size = container.get("scratch_size", container.get("scratch-size"))
    if scratch_type == "hostfile" and _is_zero_size(scratch_size):
        hazard = (
            "H7: hostfile scratch with scratch_size 0 (mkfs fails; .img and dir leak)"
        )
        out.append(Refusal("local_config.container.scratch_size", scratch_size, hazard))


def _check_mounts(mounts: Any, out: list[Refusal]) -> None:
    if mounts is None:
        return
    if not isinstance(mounts, list):
        out.append(Refusal("mounts", mounts, "input: mounts must be a list"))
        return
    for index, item in enumerate(mounts):
        entry = as_dict(item)
        for key in ("source", "target"):
            value = entry.get(key)
            if isinstance(value, str) and "\0" in value:
                hazard = "input: NUL byte in mount path"
                out.append(Refusal(f"mounts.{index}.{key}", value, hazard))


def _check_cluster_and_proxies(
    context: Mapping[str, Any], internal_data: Mapping[str, Any], out: list[Refusal]
) -> None:
    proxies = internal_data.get("domain_socket_proxies")
    if proxies:
        hazard = (
            "H19: domain-socket proxies start unix servers and create sockets under "
            "ipc_base_path outside the scratch root (not supported by the worker yet)"
        )
        where = "kernel_config.internal_data.domain_socket_proxies"
        out.append(Refusal(where, proxies, hazard))
    network_config = as_dict(as_dict(context.get("cluster_info")).get("network_config"))
    mode = network_config.get("mode")
    if mode and mode != "bridge":
        hazard = (
            f"input: network plugin {mode!r} is not loaded in the worker "
            "(RuntimeError in apply_network)"
        )
        out.append(Refusal("cluster_info.network_config.mode", mode, hazard))


def _check_facts(facts: Mapping[str, Any], out: list[Refusal]) -> None:
    if facts.get("is_root", True) is False:
        for key in ("uid", "gid"):
            value = facts.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                hazard = (
                    "input: facts.is_root is false but facts.uid/gid "
                    "is not a non-negative int"
                )
                out.append(Refusal(f"facts.{key}", value, hazard))
    umask = facts.get("umask")
    try:
        parse_umask(umask)
    except ValueError:
        out.append(Refusal("facts.umask", umask, "input: umask is not octal"))
    _check_runner_facts(facts.get("runner"), out)


def _check_runner_facts(runner: Any, out: list[Refusal]) -> None:
    """``facts.runner``: only the ten asset names (they name files in the overlay)."""
    if runner is None:
        return
    if not isinstance(runner, Mapping):
        out.append(
            Refusal("facts.runner", runner, "input: facts.runner must be an object")
        )
        return
    has_dropbear = runner.get("has_dropbear")
    if not isinstance(has_dropbear, bool):
        hazard = "input: has_dropbear must be true or false"
        out.append(Refusal("facts.runner.has_dropbear", has_dropbear, hazard))
    _check_runner_files(runner.get("files"), out)


def _check_runner_files(files: Any, out: list[Refusal]) -> None:
    if not isinstance(files, Mapping):
        hazard = "input: files must be an object"
        out.append(Refusal("facts.runner.files", files, hazard))
        return
    for name, entry in files.items():
        try:
            decode_runner_asset(name, entry)
        except ValueError as exc:
            out.append(Refusal(f"facts.runner.files.{name}", name, f"input: {exc}"))
