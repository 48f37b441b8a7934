"""Step 1: every reason not to run legacy on a context (pure, stdlib only).

``validate_context`` collects them all (an empty list means safe to run). A
``hazard`` starts with the hazard number (legacy-behaviour.md) when there is one
(``H1/H2``, ``H4``, ``H5``, ``H7``, ``H21``), else with ``input:``. Besides the
hazards, a context is refused when the worker cannot answer what legacy would ask
(no base distro without probing, an unknown image presence, too few proxy names,
a network plugin it has not loaded) and when a value would name a path outside
the run (device names and their files, proxy names).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .context_facts import MAX_MODE, decode_runner_asset, parse_umask
from .dotfile_paths import dotfile_path_hazard
from .protocol import JSONObject, as_dict

_FACTS_MODE_RE = re.compile(r"0o[0-7]{1,5}")
_TOKEN_RE = re.compile(r"[0-9a-f]{24}")
_UUID_RE = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE
)
PORT_LIMIT = 65536
MAX_CONTAINER_OPTS = 3  # /etc/backend.ai, ~/.config/backend.ai, the cwd (§14.4)
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
    facts = as_dict(context.get("facts"))
    _check_ids(context, problems)
    _check_container_config(
        as_dict(as_dict(context.get("local_config")).get("container")), problems
    )
    _check_kernel_config(context, problems)
    _check_environ(kernel_config.get("environ"), "kernel_config.environ", problems)
    _check_dotfiles(internal_data, problems)
    _check_ssh_keypair(internal_data, problems)
    _check_mounts(kernel_config.get("mounts"), problems)
    _check_network(context, problems)
    _check_proxies(internal_data, facts, problems)
    _check_image_answers(kernel_config, facts, problems)
    _check_facts(facts, problems)
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
    # Text int(perm, 8) refuses is harmless here: legacy raises after writing the
    # file inside the throwaway root. A value that is no mode is not: chmod would
    # make the file and its directories setuid, setgid and world-writable (H37).
    if not isinstance(perm, str):
        out.append(Refusal(where, perm, "input: perm must be a string"))
        return
    try:
        mode = int(perm, 8)
    except ValueError:
        return
    if not 0 <= mode <= MAX_MODE:
        hazard = "H37: perm is no mode (negative or above 0o7777): chmod truncates it"
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


def _check_ids(context: Mapping[str, Any], out: list[Refusal]) -> None:
    """Kernel and session ids are UUIDs: the agent's RPC handler parses both."""
    for key in ("kernel_id", "session_id"):
        value = context.get(key)
        if not isinstance(value, str) or not _UUID_RE.fullmatch(
            value.strip().lower().removeprefix("urn:uuid:").strip("{}")
        ):
            hazard = (
                f"input: {key} is not a UUID (the agent's create_kernels handler "
                "parses it with UUID(); legacy's events require one)"
            )
            out.append(Refusal(key, value, hazard))
    if not isinstance(context.get("agent_id"), str):
        hazard = "input: agent_id must be a string"
        out.append(Refusal("agent_id", context.get("agent_id"), hazard))


def _check_kernel_config(context: Mapping[str, Any], out: list[Refusal]) -> None:
    """The normalised inputs the client sends: both mappings, an image in the config."""
    for key in ("kernel_config", "cluster_info"):
        if not isinstance(context.get(key), Mapping):
            hazard = f"input: {key} must be an object (normalised by kplan)"
            out.append(Refusal(key, context.get(key), hazard))
    image = as_dict(context.get("kernel_config")).get("image")
    if not isinstance(image, Mapping) or not isinstance(image.get("canonical"), str):
        hazard = (
            "input: kernel_config.image must be an ImageConfig (normalised by kplan)"
        )
        out.append(Refusal("kernel_config.image", image, hazard))


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
    """``kernel_config.mounts``: vfolders (``VFolderMount.to_json``)."""
    if mounts is None:
        return
    where = "kernel_config.mounts"
    if not isinstance(mounts, list):
        out.append(Refusal(where, mounts, "input: mounts must be a list"))
        return
    for index, item in enumerate(mounts):
        entry = as_dict(item)
        for key in ("host_path", "kernel_path"):
            value = entry.get(key)
            if isinstance(value, str) and "\0" in value:
                hazard = "input: NUL byte in mount path"
                out.append(Refusal(f"{where}.{index}.{key}", value, hazard))


def _check_proxies(
    internal_data: Mapping[str, Any], facts: Mapping[str, Any], out: list[Refusal]
) -> None:
    """One 24-hex ``facts.socket_proxy_tokens`` name per domain-socket proxy."""
    proxies = internal_data.get("domain_socket_proxies") or []
    where = "kernel_config.internal_data.domain_socket_proxies"
    if not isinstance(proxies, list) or not all(
        isinstance(p, str) and p and "\0" not in p for p in proxies
    ):
        hazard = "input: domain_socket_proxies must be a list of paths without NUL"
        out.append(Refusal(where, proxies, hazard))
        return
    tokens = facts.get("socket_proxy_tokens") or []
    if not isinstance(tokens, list) or not all(
        isinstance(t, str) and _TOKEN_RE.fullmatch(t) for t in tokens
    ):
        hazard = "input: socket_proxy_tokens must be 24 lower-case hex digits each"
        out.append(Refusal("facts.socket_proxy_tokens", tokens, hazard))
    elif len(tokens) < len(proxies):
        hazard = (
            "input: fewer facts.socket_proxy_tokens than domain-socket proxies "
            "(each proxy socket is named by secrets.token_hex(12), §5 row 11)"
        )
        out.append(Refusal("facts.socket_proxy_tokens", tokens, hazard))
    elif len(set(tokens[: len(proxies)])) < len(proxies):
        hazard = "input: socket_proxy_tokens repeat (two proxies on one socket)"
        out.append(Refusal("facts.socket_proxy_tokens", tokens, hazard))


def _check_image_answers(
    kernel_config: Mapping[str, Any], facts: Mapping[str, Any], out: list[Refusal]
) -> None:
    """What ``resolve_image_distro`` and ``check_image`` ask must be in the facts."""
    image = as_dict(kernel_config.get("image"))
    labels = as_dict(image.get("labels"))
    if not labels.get("ai.backend.base-distro") and not facts.get("image_distro"):
        hazard = (
            "input: the image has no ai.backend.base-distro label and "
            "facts.image_distro is empty: legacy would probe the image in throwaway "
            "containers (resolve_image_distro), which needs Docker"
        )
        out.append(Refusal("facts.image_distro", facts.get("image_distro"), hazard))
    if not image.get("is_local") and not isinstance(facts.get("image_present"), bool):
        hazard = (
            "input: facts.image_present must be true or false for an image that is "
            "not local: check_image asks Docker whether it is there (§2 A6)"
        )
        out.append(Refusal("facts.image_present", facts.get("image_present"), hazard))


def _check_network(context: Mapping[str, Any], out: list[Refusal]) -> None:
    network_config = as_dict(as_dict(context.get("cluster_info")).get("network_config"))
    mode = network_config.get("mode")
    if mode and mode != "bridge":
        # The plugin lookup: a KeyError made a RuntimeError; unhashable, a TypeError.
        raised = "TypeError" if isinstance(mode, list | dict) else "RuntimeError"
        hazard = (
            f"input: network plugin {mode!r} is not loaded in the worker "
            f"({raised} in apply_network)"
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
    _check_devices(facts.get("devices"), out)
    _check_host_ports(facts.get("host_ports"), out)
    _check_rlimits(facts.get("rlimits"), out)
    opts = facts.get("container_opts") or []
    if (
        not isinstance(opts, list)
        or len(opts) > MAX_CONTAINER_OPTS
        or not all(isinstance(o, Mapping) for o in opts)
    ):
        hazard = "input: container_opts must be at most 3 objects (§14.4 step 7)"
        out.append(Refusal("facts.container_opts", opts, hazard))
    seccomp = facts.get("seccomp_profile_base64")
    if seccomp is not None and not _is_base64(seccomp):
        hazard = "input: seccomp_profile_base64 is not base64"
        out.append(Refusal("facts.seccomp_profile_base64", seccomp, hazard))


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or text not ASCII
        return False
    return True


def _is_plain_name(value: Any) -> bool:
    """A single path component (it names a file or dir legacy creates)."""
    return (
        isinstance(value, str)
        and value not in ("", ".", "..")
        and "/" not in value
        and "\0" not in value
    )


def _check_devices(devices: Any, out: list[Refusal]) -> None:
    """``facts.devices``: names and files become paths below ``config/``."""
    if devices is None:
        return
    if not isinstance(devices, Mapping):
        out.append(
            Refusal("facts.devices", devices, "input: devices must be an object")
        )
        return
    for name, answers in devices.items():
        where = f"facts.devices.{name}"
        if not _is_plain_name(name) or name in ("cpu", "mem"):
            hazard = (
                "input: a device name must be one path component other than cpu and "
                "mem (legacy makes config/<device>)"
            )
            out.append(Refusal(where, name, hazard))
        for file_name, item in as_dict(as_dict(answers).get("files")).items():
            entry = as_dict(item)
            file_where = f"{where}.files.{file_name}"
            if not _is_plain_name(file_name):
                hazard = "input: a plugin file name must be one path component"
                out.append(Refusal(file_where, file_name, hazard))
            if not _is_base64(entry.get("content_base64")):
                hazard = "input: content_base64 is not base64"
                out.append(Refusal(file_where, entry.get("content_base64"), hazard))
            mode = entry.get("mode")
            if mode is not None and not (
                isinstance(mode, str) and _FACTS_MODE_RE.fullmatch(mode)
            ):
                hazard = "input: mode must be like '0o644'"
                out.append(Refusal(file_where, mode, hazard))


def _check_host_ports(ports: Any, out: list[Refusal]) -> None:
    if ports is None:
        return
    if not isinstance(ports, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < PORT_LIMIT
        for p in ports
    ):
        hazard = "input: host_ports must be a list of port numbers"
        out.append(Refusal("facts.host_ports", ports, hazard))


def _check_rlimits(rlimits: Any, out: list[Refusal]) -> None:
    if rlimits is None:
        return
    if not isinstance(rlimits, Mapping) or not all(
        isinstance(v, list)
        and len(v) == 2  # noqa: PLR2004 - [soft, hard]
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= -1 for n in v)
        for v in rlimits.values()
    ):
        hazard = "input: rlimits must map names to [soft, hard] (-1: unlimited)"
        out.append(Refusal("facts.rlimits", rlimits, hazard))


def _check_runner_facts(runner: Any, out: list[Refusal]) -> None:
    """``facts.runner``: the ten asset names and plain listing names (overlay files)."""
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
    listing = runner.get("listing")
    if listing is not None and (
        not isinstance(listing, list) or not all(_is_plain_name(n) for n in listing)
    ):
        hazard = "input: listing must be a list of file names (one component each)"
        out.append(Refusal("facts.runner.listing", listing, hazard))


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
