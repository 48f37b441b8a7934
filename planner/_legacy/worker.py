"""kplan legacy bridge worker: runs the real Backend.AI 26.9.6 kernel-creation code.

Started once by kplan's legacy bridge as ``python worker.py`` under the *legacy*
interpreter (Python 3.13 venv with ``backend-ai-agent==26.9.6``). Imports only the
standard library and the legacy ``ai.backend.*`` packages (and their deps), never kplan.
Design: design.md §6; behaviour references: legacy-contract.md (cited as §n / Hn).

Protocol (JSON lines, one object per line each way; nothing else is written to stdout:
the real stdout is kept privately and fd 1 is pointed at stderr at start-up)
---------------------------------------------------------------------------------------
* ``{"id", "op": "ping"}`` -> ``{"id", "ok": true, "legacy_version", "python"}``.
* ``{"id", "op": "run", "context", "timeout"=60}`` -> ``{"id", "ok", "scratch_root",
  "tree", "contents", "container_configs", "kernel", "logs", "error", "refused"}``.
  ``context`` is a context document (design.md §3); of its ``facts`` the worker uses
  ``is_root``/``uid``/``gid``, ``umask``, ``docker_volumes`` and ``runner`` (``{"origin",
  "has_dropbear", "files": {name: {"mode": "0o644", "content_base64"}}}``, see input
  substitution 2 below). ``tree`` is the shared tree format (path, type, mode, uid,
  gid, size, sha256, volatile); ``volatile`` is true for the hostfile image
  ``<kid>.img`` (reported with ``sha256`` null and its real size: hashing a sparse
  multi-GB image made hostfile runs slow) and for dropbear's random host key
  ``<kid>/config/ssh/dropbear_rsa_host_key`` and its ``.pub`` (digest kept).
  ``contents`` maps the paths of small UTF-8 files to their text. ``logs`` holds
  legacy's records >= WARNING plus the worker's own notes (level WARNING).
  ``ok`` is false when refused (``refused`` lists every problem; nothing ran), when
  legacy raised (``error.step`` is the method name, ``error.phase`` "create" or
  "restart"; the partial tree is returned), or on timeout (``error.type == "Timeout"``;
  the tree is then the host-side view after the run was killed, i.e. without mounts
  made inside the run). Other ``error.type`` values of the worker itself:
  ``ConfinementError`` (sandbox not established; legacy did not run),
  ``RunnerCrashed`` / ``SupervisorCrashed`` (a child died without a report).
* Malformed JSON / unknown op / bad arguments -> ``ok: false`` with
  ``error.type == "BadRequest"``; the worker keeps running. EOF on stdin -> exit 0.
* Refusal ``hazard`` strings start with the legacy-contract hazard number when there is
  one (``H1/H2``, ``H4``, ``H5``, ``H7``, ``H19``, ``H21``), else with ``input:``.
  Absolute dotfile paths are accepted only when legacy maps them below the work dir
  (``/home/work/x``, ``/home/./work/x``; never ``/home//work/x``, which legacy turns
  into the host path ``/work/x``).

Process layout of one ``run``
-----------------------------
parent (unconfined; holds the pre-imported legacy modules; child subreaper; enforces
the timeout with SIGKILL of the run's process group; removes the temp dir)
-> fork *supervisor* (root; own session; private mount namespace, see ``confine_to``;
installs the input substitutions; snapshots the tree as root, unmounts) -> fork
*runner* (umask from ``facts.umask``; drops to ``facts.uid/gid`` when ``facts.is_root``
is false; runs legacy). Children report through pipes. The temp dir
``$TMPDIR/kplan-legacy-*`` holds ``scratch/`` (the scratch root; its tree is returned)
and ``aux/`` (runner cwd, see patch 2; ``aux/runner-overlay/``, see input substitution 2).

Legacy calls (create_kernel's order, §2): new kernel: ``get_intrinsic_mounts``,
``prepare_scratch``, ``apply_network``, ``prepare_ssh``, (``KernelResourceSpec`` from
the context, mounts = intrinsic + context mounts), ``process_mounts``,
``prepare_container(spec, environ, [], cluster_info)`` with ``computer_docker_args``
from the context. Restart (§15): the full new-kernel run, then a second context with
``restarting=True``: ``prepare_resource_spec`` (reads ``config/resource.txt``; not
``generate_resource_spec``, whose unified-device rescan needs real plugins and changes
no output on restart), ``apply_network``, ``prepare_ssh``, ``process_mounts``,
``prepare_container``; its ``computer_docker_args`` stay ``{}`` as in legacy. Not called
by design: ``allocate``, ``mount_vfolders``, ``mount_krunner``,
``inject_additional_device_env_vars``, the ``kconfig.dat``/``cluster.json`` writes,
``start_container`` (steps A10, B5-B7, B14, B17).

Input substitutions (what legacy reads is the context's, not this machine's)
----------------------------------------------------------------------------
1. Scratch root: ``container.scratch_root`` is replaced by the temp ``scratch/`` (see
   patch 2). Reason: legacy writes there; the result must be the request's, not the host's.
2. Runner files: when ``facts.runner`` is present, inside the private namespace only,
   the ``ai.backend.runner`` package dir (``files("ai.backend.runner")``, where
   ``prepare_scratch`` takes the ten files it copies, §4.3, and ``prepare_ssh`` looks
   for ``dropbearmulti.<arch>.bin``, §8 step 2) is covered by a bind mount of
   ``aux/runner-overlay/``: each of the ten names is the facts' content and mode (owned
   by the identity legacy runs as; a name absent from ``files`` is absent, so
   ``prepare_scratch`` raises ``FileNotFoundError`` as it would on such a host),
   dropbear is there only when ``has_dropbear`` (else H8: no host key, no cluster keys,
   an ERROR log), and every other real entry is a read-only bind of the real one (same
   inode, so ``.resolve()`` and exec behave as before). All of it is read-only for
   legacy. Reason: the plan is computed from the facts, so legacy must
   copy the same bytes (a plan made from another host's facts, or the sample assets,
   is then compared like for like, and H8 is reachable). The host's runner dir is
   never written. Without ``facts.runner`` legacy sees the real files.
The worker refuses ``facts.runner`` values it cannot lay out: file names other than the
ten, modes that are not octal up to 0o7777, content that is not base64, and a
non-boolean ``has_dropbear``.

Stubs and patches (the minimum; everything else is the real legacy code, none copied)
------------------------------------------------------------------------------------
1. ``ai.backend.agent.docker.agent.Docker`` is replaced (runner only) by
   ``_FakeDockerClient``, whose only call is ``volumes.list()``, answered from
   ``facts.docker_volumes``. Reason: ``get_intrinsic_mounts`` lists Docker volumes
   (§5 #8) and no Docker daemon may be contacted; the real ``get_extra_volumes`` still
   decides. Any other Docker use raises.
2. ``AgentUnifiedConfig`` is validated with every *absolute* ``AutoDirectoryPath`` field
   other than ``container.scratch_root`` (given or default: ``agent.ipc_base_path``,
   ``agent.var_base_path``, ``agent.image_commit_path``, ``agent.mount_path``,
   ``debug.coredump.path``) pointed at a dir under ``aux/``; the original paths are put
   back with ``model_copy``. Reason: that validator ``mkdir -p``s its path
   (``common/typed_validators.py``), i.e. writes on the host (and fails on the
   read-only confined root). Relative defaults (``./coredumps`` ...) land in ``aux/``.
   ``container.scratch_root`` is replaced by the temp scratch root; ``agent.backend``
   ("docker"), ``resource`` and ``etcd`` ({}) are filled in when missing (required).
3. ``computers``: a real ``ComputerContext`` per device (allocations plus
   ``resource_data`` keys) whose ``instance`` is ``_StubComputePlugin`` (``key``,
   ``slot_types``, ``generate_resource_data`` -> ``context.resource_data[device]``).
   Reason: device plugins are not loaded; ``prepare_container`` calls
   ``generate_resource_data`` for every allocated device (§12.2 step 6).
4. ``event_producer`` is ``_UnusedDependency`` (raises on use). Reason: constructor
   argument unused on this path. ``port_pool`` (``PortPool`` from the config),
   ``resource_lock`` (``asyncio.Lock``) and ``network_plugin_ctx``
   (``NetworkPluginContext(None, {})``, no plugins discovered) are real objects.
5. The global ``ai.backend.agent.resources.known_slot_types`` is filled in place from
   ``resource_spec.known_slot_types``. Reason: the agent fills it from loaded plugins
   (``docker/resources.py``); it drives ``*_SHARES`` formatting (§12.2).
6. ``distro`` = image label ``ai.backend.base-distro`` or ``"unknown"``. Reason:
   ``resolve_image_distro`` needs Docker; only ``mount_krunner`` (not called) reads it.
7. Non-root runs only (``facts.is_root`` false): inside the private namespace, each
   directory on the way to the interpreter that ``facts.uid`` cannot traverse (here
   ``/root``, 0700) is covered by a read-only tmpfs exposing read-only binds of just
   the needed children (``expose_runtime``). Reason: the legacy venv and its base Python
   live below ``/root``; a real non-root agent can read its own installation.
The ``environ`` default (context without ``environ``) follows §2.1 rows 1-3
(create_kernel's own inline code, not callable separately). All other host facts
(``/etc/localtime``, ``/etc/timezone``, ``/var/lib/lxcfs``, ``/dev/infiniband``, the
runner files when ``facts.runner`` is absent, the other runner entries including
``dropbearmulti``, ``mount``, ``mkfs.ext4``, ``os.geteuid()``) are this machine's.
Kernel and session ids that parse as UUIDs are passed as ``UUID`` like the agent does
(so upper-case ids become lower-case directory names).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import ctypes
import enum
import errno
import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import platform
import re
import select
import shutil
import signal
import stat
import sys
import tempfile
import time
import traceback
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any
from uuid import UUID

LEGACY_DISTRIBUTION = "backend-ai-agent"
DEFAULT_TIMEOUT_SECONDS = 60.0
CONTENT_SIZE_LIMIT = 65536
DEFAULT_KNOWN_SLOT_TYPES: Mapping[str, str] = {"cpu": "count", "mem": "bytes"}
WORK_PREFIX = "/home/work/"
# The runner files prepare_scratch copies (legacy-contract §4.3); facts.runner.files
# may carry any of them, and nothing else.
RUNNER_ASSETS = (
    "jupyter-custom.css",
    "logo.svg",
    "roboto.ttf",
    "roboto-italic.ttf",
    ".bashrc",
    ".bash_profile",
    ".zshrc",
    ".vimrc",
    ".tmux.conf",
    "DO_NOT_STORE_PERSISTENT_FILES_HERE.md",
)
RUNNER_OVERLAY = "runner-overlay"  # below aux/: the runner dir legacy sees (input 2)

log = logging.getLogger("kplan.legacy_worker")

JSONObject = dict[str, Any]


# ---------------------------------------------------------------------------------------
# Legacy imports (once, in the parent; the children inherit them through fork)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Legacy:
    """References to the legacy modules and classes this worker drives."""

    docker_agent_module: types.ModuleType
    resources_module: types.ModuleType
    DockerKernelCreationContext: Any
    AgentUnifiedConfig: Any
    AutoDirectoryPath: Any
    KernelOwnershipData: Any
    ImageRef: Any
    KernelResourceSpec: Any
    ComputerContext: Any
    Mount: Any
    MountTypes: Any
    MountPermission: Any
    ResourceSlot: Any
    SlotName: Any
    SlotTypes: Any
    KernelFeatures: Any
    NetworkPluginContext: Any
    PortPool: Any
    version: str
    runner_dir: Path  # files("ai.backend.runner"), as prepare_scratch/prepare_ssh find it
    dropbear_name: str  # "dropbearmulti.<arch>.bin" as prepare_ssh names it (§8 step 2)


def load_legacy() -> Legacy:
    """Import the legacy agent (~2-4 s); must run before any request is served."""
    from ai.backend.agent import resources as resources_module  # noqa: PLC0415
    from ai.backend.agent.config.unified import AgentUnifiedConfig  # noqa: PLC0415
    from ai.backend.agent.docker import agent as docker_agent_module  # noqa: PLC0415
    from ai.backend.agent.plugin.network import NetworkPluginContext  # noqa: PLC0415
    from ai.backend.agent.port_pool import PortPool  # noqa: PLC0415
    from ai.backend.agent.types import KernelOwnershipData  # noqa: PLC0415
    from ai.backend.agent.utils import get_arch_name  # noqa: PLC0415
    from ai.backend.common.docker import ImageRef, KernelFeatures  # noqa: PLC0415
    from ai.backend.common.typed_validators import AutoDirectoryPath  # noqa: PLC0415
    from ai.backend.common.types import (  # noqa: PLC0415
        MountPermission,
        MountTypes,
        ResourceSlot,
        SlotName,
        SlotTypes,
    )

    return Legacy(
        docker_agent_module=docker_agent_module,
        resources_module=resources_module,
        DockerKernelCreationContext=docker_agent_module.DockerKernelCreationContext,
        AgentUnifiedConfig=AgentUnifiedConfig,
        AutoDirectoryPath=AutoDirectoryPath,
        KernelOwnershipData=KernelOwnershipData,
        ImageRef=ImageRef,
        KernelResourceSpec=resources_module.KernelResourceSpec,
        ComputerContext=resources_module.ComputerContext,
        Mount=resources_module.Mount,
        MountTypes=MountTypes,
        MountPermission=MountPermission,
        ResourceSlot=ResourceSlot,
        SlotName=SlotName,
        SlotTypes=SlotTypes,
        KernelFeatures=KernelFeatures,
        NetworkPluginContext=NetworkPluginContext,
        PortPool=PortPool,
        version=importlib.metadata.version(LEGACY_DISTRIBUTION),
        runner_dir=Path(str(importlib.resources.files("ai.backend.runner"))),
        dropbear_name=f"dropbearmulti.{get_arch_name()}.bin",
    )


# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------


def _as_dict(value: Any) -> Mapping[str, Any]:
    """Return ``value`` when it is a JSON object, else an empty mapping."""
    return value if isinstance(value, Mapping) else {}


def to_jsonable(value: Any) -> Any:
    """Convert legacy values (Path, Decimal, enums, UUIDs, UserStrings...) to JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (PurePath, Decimal, UUID)):
        return str(value)
    return str(value)


def error_json(exc: BaseException, step: str, phase: str | None = None) -> JSONObject:
    """Describe an exception the way the protocol's ``error`` field expects."""
    result: JSONObject = {
        "type": type(exc).__qualname__,
        "message": str(exc),
        "step": step,
        "traceback": "".join(traceback.format_exception(exc)),
    }
    if phase is not None:
        result["phase"] = phase
    return result


def simple_error(kind: str, message: str, step: str | None = None) -> JSONObject:
    """An ``error`` object that is not backed by a Python exception."""
    return {"type": kind, "message": message, "step": step, "traceback": None}


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (pipes may accept partial writes)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def parse_umask(value: Any) -> int:
    """Parse ``facts.umask`` ("0o022", "022" or an int); default 0o022."""
    if value is None:
        return 0o022
    if isinstance(value, int) and not isinstance(value, bool):
        return value & 0o777
    return int(str(value), 8) & 0o777


# ---------------------------------------------------------------------------------------
# facts.runner, decoded (input substitution 2: the runner files legacy copies)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunnerAsset:
    """One runner file as the facts describe it."""

    name: str  # one of RUNNER_ASSETS
    mode: int
    content: bytes


@dataclass(frozen=True)
class RunnerAssets:
    """What legacy's runner dir must show: these assets, and dropbear or not."""

    files: tuple[RunnerAsset, ...]
    has_dropbear: bool


def decode_runner_asset(name: Any, entry: Any) -> RunnerAsset:
    """One ``facts.runner.files`` entry; raises ``ValueError`` naming the problem."""
    if name not in RUNNER_ASSETS:
        raise ValueError("not one of the runner files legacy copies (legacy-contract §4.3)")
    if not isinstance(entry, Mapping):
        raise ValueError("entry must be an object with mode and content_base64")
    mode, content = entry.get("mode"), entry.get("content_base64")
    if not isinstance(mode, str) or not _OCTAL_TEXT_RE.fullmatch(mode) or int(mode, 8) > 0o7777:
        raise ValueError(f"mode {mode!r} is not an octal mode up to 0o7777")
    if not isinstance(content, str):
        raise ValueError("content_base64 must be a string")
    try:
        data = base64.b64decode(content, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"content_base64 is not base64: {exc}") from exc
    return RunnerAsset(name=name, mode=int(mode, 8), content=data)


def runner_assets(facts: Mapping[str, Any]) -> RunnerAssets | None:
    """``facts.runner`` decoded, or None when absent (legacy then sees the real files).

    Call only on validated contexts (``_check_runner_facts``): raises on bad input.
    """
    runner = facts.get("runner")
    if runner is None:
        return None
    files = tuple(decode_runner_asset(n, e) for n, e in runner["files"].items())
    return RunnerAssets(files=files, has_dropbear=runner["has_dropbear"])


# ---------------------------------------------------------------------------------------
# Step 1: validation / refusal (pure, stdlib only)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """One reason not to run legacy on a context."""

    field: str
    value: Any
    hazard: str

    def to_json(self) -> JSONObject:
        return {"field": self.field, "value": repr(self.value), "hazard": self.hazard}


_OCTAL_RE = re.compile(r"[0-7]+")
_OCTAL_TEXT_RE = re.compile(r"(0o)?[0-7]+")  # "0o644" (the facts' spelling) or "644"
_SIZE_RE = re.compile(r"\s*([0-9]*\.?[0-9]*)\s*([A-Za-z]*)\s*")


def _dotfile_path_hazard(path: str) -> str | None:
    """Why a dotfile path would leave (or be) the work dir, or None when it is safe.

    Mirrors how ``prepare_container`` maps paths (legacy-contract §12.5): ``/home/...``
    keeps everything after the 2nd ``/`` under ``scratch_dir``, other absolute paths are
    host paths, relative paths are joined to ``work_dir``. ``/home//work/x`` would turn
    into the absolute host path ``/work/x`` and is refused.
    """
    if path == "":
        return "H5: empty path resolves to the work dir itself (IsADirectoryError)"
    if "\0" in path:
        return "input: NUL byte in dotfile path (ValueError in legacy after earlier writes)"
    if ".." in path.split("/"):
        return "H4: '..' component aliases or escapes the work dir (chmod/chown of work_dir or scratch_dir)"
    if path.startswith("/"):
        return _absolute_dotfile_hazard(path)
    if not [p for p in path.split("/") if p not in ("", ".")]:
        return "H5: relative path resolves to the work dir itself (IsADirectoryError)"
    return None


def _absolute_dotfile_hazard(path: str) -> str | None:
    """Absolute dotfile paths: accepted only when legacy maps them below the work dir."""
    if path.startswith(WORK_PREFIX):
        if [p for p in path[len(WORK_PREFIX) :].split("/") if p not in ("", ".")]:
            return None
        return "H5: path resolves to the work dir itself (IsADirectoryError)"
    if path.startswith("/home/"):
        mapped = "/".join(path.split("/")[2:])  # what legacy joins to scratch_dir
        names = [p for p in mapped.split("/") if p not in ("", ".")]
        if not mapped.startswith("/") and names in ([], ["work"]):
            return "H5: path resolves to the scratch/work dir itself (IsADirectoryError)"
        if not mapped.startswith("/") and names[:1] == ["work"]:
            return None  # e.g. /home/./work/x: legacy's Path drops the '.' parts
    return (
        "H1/H2: absolute path not below /home/work/ (written outside the work dir; "
        "the chmod walk never reaches work_dir)"
    )


def _check_dotfiles(internal_data: Mapping[str, Any], out: list[Refusal]) -> None:
    dotfiles = internal_data.get("dotfiles") or []
    prefix = "kernel_config.internal_data.dotfiles"
    if not isinstance(dotfiles, list):
        out.append(Refusal(prefix, dotfiles, "input: dotfiles must be a list"))
        return
    for index, item in enumerate(dotfiles):
        entry = _as_dict(item)
        path, perm = entry.get("path"), entry.get("perm")
        if not isinstance(path, str):
            out.append(Refusal(f"{prefix}.{index}.path", path, "input: path must be a string"))
        elif (hazard := _dotfile_path_hazard(path)) is not None:
            out.append(Refusal(f"{prefix}.{index}.path", path, hazard))
        if not isinstance(perm, str) or not _OCTAL_RE.fullmatch(perm):
            out.append(
                Refusal(
                    f"{prefix}.{index}.perm",
                    perm,
                    "input: perm is not an octal string (int(perm, 8) fails after the file was written)",
                )
            )
        elif int(perm, 8) > 0o7777:
            out.append(
                Refusal(
                    f"{prefix}.{index}.perm",
                    perm,
                    "input: perm exceeds 0o7777 (chmod fails after the file was written)",
                )
            )


def _check_ssh_keypair(internal_data: Mapping[str, Any], out: list[Refusal]) -> None:
    keypair = internal_data.get("ssh_keypair")
    if not keypair:
        return
    if not isinstance(keypair, Mapping):
        out.append(
            Refusal(
                "kernel_config.internal_data.ssh_keypair",
                keypair,
                "input: ssh_keypair must be an object",
            )
        )
        return
    for key in ("public_key", "private_key"):
        value = keypair.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.isascii():
            out.append(
                Refusal(
                    f"kernel_config.internal_data.ssh_keypair.{key}",
                    value,
                    "input: key is not ASCII text (UnicodeEncodeError mid-run, legacy-contract §12.4)",
                )
            )


def _check_environ(environ: Any, where: str, out: list[Refusal]) -> None:
    if environ is None:
        return
    if not isinstance(environ, Mapping):
        out.append(Refusal(where, environ, "input: environ must be an object"))
        return
    for key, value in environ.items():
        if not isinstance(key, str) or key == "" or any(c in key for c in "=\n\0"):
            out.append(
                Refusal(
                    where,
                    key,
                    "H21: environ key is empty or contains '=', newline or NUL (environ.txt is not escaped)",
                )
            )
        if not isinstance(value, str):
            out.append(Refusal(f"{where}.{key}", value, "input: environ value must be a string"))
        elif "\n" in value or "\0" in value:
            out.append(
                Refusal(
                    f"{where}.{key}",
                    value,
                    "H21: environ value contains newline or NUL (environ.txt is not escaped)",
                )
            )


def _check_kernel_id(kernel_id: Any, out: list[Refusal]) -> None:
    if (
        not isinstance(kernel_id, str)
        or kernel_id in ("", ".", "..")
        or "/" in kernel_id
        or "\0" in kernel_id
    ):
        out.append(
            Refusal(
                "kernel_id",
                kernel_id,
                "input: kernel_id is empty, '.', '..' or contains '/' or NUL (scratch paths would escape scratch_root)",
            )
        )


def _is_zero_size(value: Any) -> bool:
    """True when a scratch_size (int or size string like "0", "0m") is zero or absent."""
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
        out.append(
            Refusal(
                "local_config.container.scratch_root",
                scratch_root,
                "input: scratch_root must be an absolute path without NUL",
            )
        )
    scratch_type = container.get("scratch_type", container.get("scratch-type", "hostdir"))
    scratch_size = container.get("scratch_size", container.get("scratch-size"))
    if scratch_type == "hostfile" and _is_zero_size(scratch_size):
        out.append(
            Refusal(
                "local_config.container.scratch_size",
                scratch_size,
                "H7: hostfile scratch with scratch_size 0 (mkfs fails; .img and dir leak)",
            )
        )


def _check_mounts(mounts: Any, out: list[Refusal]) -> None:
    if mounts is None:
        return
    if not isinstance(mounts, list):
        out.append(Refusal("mounts", mounts, "input: mounts must be a list"))
        return
    for index, item in enumerate(mounts):
        entry = _as_dict(item)
        for key in ("source", "target"):
            value = entry.get(key)
            if isinstance(value, str) and "\0" in value:
                out.append(Refusal(f"mounts.{index}.{key}", value, "input: NUL byte in mount path"))


def _check_cluster_and_proxies(
    context: Mapping[str, Any], internal_data: Mapping[str, Any], out: list[Refusal]
) -> None:
    proxies = internal_data.get("domain_socket_proxies")
    if proxies:
        out.append(
            Refusal(
                "kernel_config.internal_data.domain_socket_proxies",
                proxies,
                "H19: domain-socket proxies start unix servers and create sockets under ipc_base_path outside the scratch root (not supported by the worker yet)",
            )
        )
    network_config = _as_dict(_as_dict(context.get("cluster_info")).get("network_config"))
    mode = network_config.get("mode")
    if mode and mode != "bridge":
        out.append(
            Refusal(
                "cluster_info.network_config.mode",
                mode,
                f"input: network plugin {mode!r} is not loaded in the worker (RuntimeError in apply_network)",
            )
        )


def _check_facts(facts: Mapping[str, Any], out: list[Refusal]) -> None:
    if facts.get("is_root", True) is False:
        for key in ("uid", "gid"):
            value = facts.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                out.append(
                    Refusal(
                        f"facts.{key}",
                        value,
                        "input: facts.is_root is false but facts.uid/gid is not a non-negative int",
                    )
                )
    umask = facts.get("umask")
    try:
        parse_umask(umask)
    except ValueError:
        out.append(Refusal("facts.umask", umask, "input: umask is not octal"))
    _check_runner_facts(facts.get("runner"), out)


def _check_runner_facts(runner: Any, out: list[Refusal]) -> None:
    """``facts.runner``: only the ten asset names (they become file names in the overlay)."""
    if runner is None:
        return
    if not isinstance(runner, Mapping):
        out.append(Refusal("facts.runner", runner, "input: facts.runner must be an object"))
        return
    if not isinstance(runner.get("has_dropbear"), bool):
        out.append(
            Refusal(
                "facts.runner.has_dropbear",
                runner.get("has_dropbear"),
                "input: has_dropbear must be true or false",
            )
        )
    files = runner.get("files")
    if not isinstance(files, Mapping):
        out.append(Refusal("facts.runner.files", files, "input: files must be an object"))
        return
    for name, entry in files.items():
        try:
            decode_runner_asset(name, entry)
        except ValueError as exc:
            out.append(Refusal(f"facts.runner.files.{name}", name, f"input: {exc}"))


def validate_context(context: Mapping[str, Any]) -> list[Refusal]:
    """Collect every reason to refuse ``context`` (empty list: safe to run)."""
    problems: list[Refusal] = []
    kernel_config = _as_dict(context.get("kernel_config"))
    internal_data = _as_dict(kernel_config.get("internal_data"))
    _check_kernel_id(context.get("kernel_id"), problems)
    _check_container_config(
        _as_dict(_as_dict(context.get("local_config")).get("container")), problems
    )
    _check_environ(context.get("environ"), "environ", problems)
    _check_environ(kernel_config.get("environ"), "kernel_config.environ", problems)
    _check_dotfiles(internal_data, problems)
    _check_ssh_keypair(internal_data, problems)
    _check_mounts(context.get("mounts"), problems)
    _check_cluster_and_proxies(context, internal_data, problems)
    _check_facts(_as_dict(context.get("facts")), problems)
    return problems


# ---------------------------------------------------------------------------------------
# Step 3: confinement (mount namespace; everything but the temp dir read-only)
# ---------------------------------------------------------------------------------------

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MNT_DETACH = 0x2
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

# per-mount flags that a bind remount must repeat, or they would be cleared
_PRESERVED_MOUNT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


class ConfinementError(RuntimeError):
    """The sandbox could not be established; legacy must not run."""


def _check_libc(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def sys_mount(
    source: str | None,
    target: str,
    flags: int,
    fstype: str | None = None,
    data: str | None = None,
) -> None:
    """``mount(2)`` (bind / remount / propagation; tmpfs with ``fstype``/``data``)."""
    result = _libc.mount(
        os.fsencode(source) if source else None,
        os.fsencode(target),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    _check_libc(result, f"mount {target}")


def sys_umount(target: str, flags: int = 0) -> None:
    _check_libc(_libc.umount2(os.fsencode(target), flags), f"umount {target}")


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Die with the parent (so a crashed bridge leaves no sandbox running)."""
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo."""

    mount_id: int
    parent_id: int
    mount_point: str
    options: frozenset[str]


def _unescape_mountinfo(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def read_mountinfo() -> list[MountEntry]:
    entries = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            entries.append(
                MountEntry(
                    mount_id=int(fields[0]),
                    parent_id=int(fields[1]),
                    mount_point=_unescape_mountinfo(fields[4]),
                    options=frozenset(fields[5].split(",")),
                )
            )
    return entries


def visible_mounts(entries: Sequence[MountEntry]) -> list[MountEntry]:
    """Drop mounts that are hidden by a mount stacked on the same mount point."""
    by_id = {e.mount_id: e for e in entries}
    hidden = {
        e.parent_id
        for e in entries
        if e.parent_id in by_id
        and by_id[e.parent_id].mount_point == e.mount_point
        and e.parent_id != e.mount_id
    }
    return [e for e in entries if e.mount_id not in hidden]


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def confine_to(writable_root: str) -> None:
    """Make ``writable_root`` the only writable place for this process and its children.

    New private mount namespace; ``/`` rprivate (nothing propagates back to the host);
    ``writable_root`` bind-mounted onto itself; every other mount point bind-remounted
    read-only (``MS_BIND|MS_REMOUNT`` changes the per-mount flag only, never the shared
    superblock). Verified afterwards; raises ``ConfinementError`` on any gap.
    """
    try:
        os.unshare(os.CLONE_NEWNS)
        sys_mount(None, "/", MS_REC | MS_PRIVATE)
        sys_mount(writable_root, writable_root, MS_BIND)
    except OSError as exc:
        raise ConfinementError(f"cannot create the private mount namespace: {exc}") from exc
    failures = []
    for entry in visible_mounts(read_mountinfo()):
        if _is_within(entry.mount_point, writable_root) or "ro" in entry.options:
            continue
        try:
            remount_readonly(entry)
        except OSError as exc:
            failures.append(f"{entry.mount_point}: {exc}")
    verify_confinement(writable_root, failures)


def remount_readonly(entry: MountEntry, extra_flags: int = 0) -> None:
    """Bind-remount one mount read-only, repeating its per-mount flags (else cleared)."""
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | extra_flags
    for name, bit in _PRESERVED_MOUNT_FLAGS.items():
        if name in entry.options:
            flags |= bit
    sys_mount(None, entry.mount_point, flags)


def verify_confinement(writable_root: str, failures: Sequence[str] = ()) -> None:
    """Raise ``ConfinementError`` if any reachable mount outside the root is writable."""
    still_writable = [
        e.mount_point
        for e in visible_mounts(read_mountinfo())
        if not _is_within(e.mount_point, writable_root) and "ro" not in e.options
    ]
    if still_writable:
        raise ConfinementError(
            f"mounts still writable: {still_writable}; remount errors: {list(failures)}"
        )


def _can_search(st: os.stat_result, uid: int, gid: int) -> bool:
    """Whether uid:gid (no supplementary groups) may traverse a directory."""
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _blocking_ancestors(targets: Sequence[str], uid: int, gid: int) -> dict[str, list[str]]:
    """Ancestors of ``targets`` that uid:gid cannot traverse -> the children needed."""
    blocked: dict[str, list[str]] = {}
    for target in targets:
        parts = Path(target).parts
        for depth in range(1, len(parts)):
            ancestor = os.path.join(*parts[:depth])
            if not _can_search(os.stat(ancestor), uid, gid):
                children = blocked.setdefault(ancestor, [])
                if parts[depth] not in children:
                    children.append(parts[depth])
    return blocked


def expose_runtime(uid: int, gid: int) -> list[str]:
    """Let an unprivileged runner reach the legacy interpreter (inside the namespace only).

    The legacy venv and its base Python may live below a directory the target user
    cannot traverse (here ``/root``, mode 0700). Changing that directory's mode would
    change the host, so instead, inside the private namespace only, each such directory
    is covered by a small read-only tmpfs (mode 0755) holding read-only bind mounts of
    just the children on the way to the interpreter. Returns the directories covered.
    """
    targets = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.executable)})
    blocked = _blocking_ancestors(targets, uid, gid)
    for ancestor in sorted(blocked, key=len):
        fds = {
            child: os.open(os.path.join(ancestor, child), os.O_PATH) for child in blocked[ancestor]
        }
        try:
            sys_mount("tmpfs", ancestor, 0, "tmpfs", "mode=0755,size=64k")
            for child, fd in fds.items():
                target = os.path.join(ancestor, child)
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.mkdir(target, 0o755)
                else:
                    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
                sys_mount(f"/proc/self/fd/{fd}", target, MS_BIND | MS_REC)
                sys_mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)
            sys_mount(None, ancestor, MS_REMOUNT | MS_BIND | MS_RDONLY)
        finally:
            for fd in fds.values():
                os.close(fd)
    return sorted(blocked)


# ---------------------------------------------------------------------------------------
# Input substitution 2: the runner files legacy sees are the facts' (inside the namespace)
# ---------------------------------------------------------------------------------------
#
# prepare_scratch copies ten files of the ai.backend.runner package (legacy-contract
# §4.3) and prepare_ssh needs its dropbearmulti.<arch>.bin (§8 step 2). Both locate them
# through files("ai.backend.runner") and call .resolve() on the result, so the package
# directory itself must show the facts' files: aux/runner-overlay/ is built with the
# facts' assets (content, mode) plus read-only binds of every other real entry (big
# binaries: bound, never copied; dropbear only when has_dropbear), then bound over the
# real runner dir and remounted read-only. Nothing propagates out of the private
# namespace; the host's runner dir is never written.


def install_runner_overlay(
    legacy: Legacy, assets: RunnerAssets, paths: RunPaths, owner: tuple[int, int]
) -> list[str]:
    """Make legacy's runner dir show ``assets``; returns warnings for the response log.

    ``owner`` is the identity legacy runs as: it owns the substituted files so that
    even a 0600 asset stays readable, as an agent's own installation is to it.
    Raises ``ConfinementError`` when the overlay cannot be built (legacy must not run).
    """
    real = os.path.realpath(legacy.runner_dir)
    overlay = os.path.join(paths.aux, RUNNER_OVERLAY)
    hidden = set(RUNNER_ASSETS) | (set() if assets.has_dropbear else {legacy.dropbear_name})
    try:
        _make_overlay_dir(real, overlay)
        bound = _bind_real_entries(real, overlay, hidden)
        _write_assets(overlay, assets.files, owner)
        sys_mount(overlay, real, MS_BIND | MS_REC)
        remount_readonly_below(real, MS_NOSUID | MS_NODEV)
    except OSError as exc:
        raise ConfinementError(f"cannot show the facts' runner files at {real}: {exc}") from exc
    # the copies under `real` stay; the aux-side binds are no longer needed
    warnings = [f"unmount failed: {e}" for e in unmount_below(overlay)]
    if assets.has_dropbear and legacy.dropbear_name not in bound:
        warnings.append(
            f"facts.runner.has_dropbear is true but {real} has no {legacy.dropbear_name}; "
            "legacy runs without it"
        )
    return warnings


def _make_overlay_dir(real: str, overlay: str) -> None:
    """An empty dir with the real runner dir's mode and owner."""
    st = os.stat(real)
    os.mkdir(overlay, 0o700)
    os.chown(overlay, st.st_uid, st.st_gid)
    os.chmod(overlay, stat.S_IMODE(st.st_mode))


def _bind_real_entries(real: str, overlay: str, hidden: set[str]) -> set[str]:
    """Show every real entry not in ``hidden`` in ``overlay``; returns the names shown.

    Files and dirs are bind-mounted onto placeholders (same inode, so ``.resolve()``
    and exec behave as on the real dir); symlinks are recreated with the same text,
    which resolves the same way from the same path.
    """
    shown = set()
    for name in sorted(os.listdir(real)):
        if name in hidden:
            continue
        source, target = os.path.join(real, name), os.path.join(overlay, name)
        mode = os.lstat(source).st_mode
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(source), target)
        else:
            if stat.S_ISDIR(mode):
                os.mkdir(target, 0o700)
            else:
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            sys_mount(source, target, MS_BIND | MS_REC)
        shown.add(name)
    return shown


def _write_assets(overlay: str, assets: Sequence[RunnerAsset], owner: tuple[int, int]) -> None:
    """Write each asset with the facts' content and mode."""
    for asset in assets:
        path = os.path.join(overlay, asset.name)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        try:
            write_all(fd, asset.content)
            os.fchown(fd, *owner)
            os.fchmod(fd, asset.mode)  # after fchown, which clears set-id bits
        finally:
            os.close(fd)


def remount_readonly_below(root: str, extra_flags: int = 0) -> None:
    """Remount every mount at or below ``root`` read-only (a bind copies rw flags)."""
    for entry in visible_mounts(read_mountinfo()):
        if _is_within(entry.mount_point, root):
            remount_readonly(entry, extra_flags)


def unmount_below(root: str) -> list[str]:
    """Lazily unmount every mount at or below ``root`` (deepest first); return errors."""
    errors = []
    targets = [e.mount_point for e in read_mountinfo() if _is_within(e.mount_point, root)]
    for target in sorted(targets, key=len, reverse=True):
        try:
            sys_umount(target, MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOENT):
                errors.append(str(exc))
    return errors


# ---------------------------------------------------------------------------------------
# Step 6: tree snapshot
# ---------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    tree: list[JSONObject] = field(default_factory=list)
    contents: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotRules:
    """Regular files reported ``volatile``; the ``unhashed`` ones also with sha256 null."""

    volatile: frozenset[str] = frozenset()
    unhashed: frozenset[str] = frozenset()


def snapshot_rules(context: Mapping[str, Any]) -> SnapshotRules:
    """Volatile entries of one kernel: the hostfile image and dropbear's host key.

    The image (``<kid>.img``, legacy-contract §4.1) is not hashed: reading a sparse
    multi-GB image is what made hostfile runs slow, and its bytes (a fresh ext4) are
    not compared anyway. The host key pair (§8 step 3) is random: digest kept, marked
    volatile. Names as legacy makes them (UUID ids lower-cased, see ``_parse_kernel_id``).
    """
    kid = str(_parse_kernel_id(str(context.get("kernel_id"))))
    image = f"{kid}.img"
    host_key = f"{kid}/config/ssh/dropbear_rsa_host_key"
    return SnapshotRules(
        volatile=frozenset({image, host_key, f"{host_key}.pub"}),
        unhashed=frozenset({image}),
    )


def _hash_file(path: str, size: int) -> tuple[str, bytes | None]:
    """sha256 of a regular file (no symlink following) and its bytes if small."""
    digest = hashlib.sha256()
    keep: bytearray | None = bytearray() if size <= CONTENT_SIZE_LIMIT else None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
            if keep is not None:
                keep.extend(chunk)
                if len(keep) > CONTENT_SIZE_LIMIT:
                    keep = None
    finally:
        os.close(fd)
    return digest.hexdigest(), bytes(keep) if keep is not None else None


def _entry(
    rel: str,
    kind: str,
    st: os.stat_result,
    size: int | None,
    sha: str | None,
    *,
    volatile: bool = False,
) -> JSONObject:
    return {
        "path": rel,
        "type": kind,
        "mode": "0o" + format(stat.S_IMODE(st.st_mode), "o"),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": size,
        "sha256": sha,
        "volatile": volatile,
    }


def _snapshot_file(
    abs_path: str, rel: str, st: os.stat_result, snap: Snapshot, rules: SnapshotRules
) -> None:
    """Record a regular file: digest (unless ``unhashed``) and text content if small."""
    if rel in rules.unhashed:
        snap.tree.append(_entry(rel, "file", st, st.st_size, None, volatile=True))
        return
    sha, data = _hash_file(abs_path, st.st_size)
    snap.tree.append(_entry(rel, "file", st, st.st_size, sha, volatile=rel in rules.volatile))
    if data is not None:
        with contextlib.suppress(UnicodeDecodeError):  # binary: digest only
            snap.contents[rel] = data.decode("utf-8")


def _snapshot_one(abs_path: str, rel: str, snap: Snapshot, rules: SnapshotRules) -> bool:
    """Record one entry; return True when it is a directory to descend into."""
    st = os.lstat(abs_path)
    if stat.S_ISDIR(st.st_mode):
        snap.tree.append(_entry(rel, "dir", st, None, None))
        return True
    if stat.S_ISLNK(st.st_mode):
        target = os.fsencode(os.readlink(abs_path))
        snap.tree.append(
            _entry(rel, "symlink", st, len(target), hashlib.sha256(target).hexdigest())
        )
        return False
    if stat.S_ISREG(st.st_mode):
        _snapshot_file(abs_path, rel, st, snap, rules)
        return False
    snap.problems.append(f"skipped special file {rel!r} (mode {oct(st.st_mode)})")
    return False


def snapshot_tree(root: str, rules: SnapshotRules) -> Snapshot:
    """Every entry below ``root`` (lstat, no symlink following), sorted by path."""
    snap = Snapshot()
    pending: list[tuple[str, str]] = [(root, "")]
    while pending:
        directory, rel_dir = pending.pop()
        try:
            names = os.listdir(directory)
        except OSError as exc:
            snap.problems.append(f"cannot list {rel_dir or '.'!r}: {exc}")
            continue
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            abs_path = os.path.join(directory, name)
            try:
                if _snapshot_one(abs_path, rel, snap, rules):
                    pending.append((abs_path, rel))
            except OSError as exc:
                snap.problems.append(f"cannot snapshot {rel!r}: {exc}")
    snap.tree.sort(key=lambda e: e["path"])
    return snap


# ---------------------------------------------------------------------------------------
# Steps 4-5: the legacy run (runner process)
# ---------------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Collects every record >= WARNING from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[JSONObject] = []
        self._formatter = logging.Formatter("%(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self._formatter.format(record)
        except Exception as exc:  # noqa: BLE001 - a broken record must not kill the run
            message = f"<unformattable log record {record.msg!r}: {exc!r}>"
        self.records.append({"level": record.levelname, "logger": record.name, "message": message})

    def install(self) -> None:
        root = logging.getLogger()
        root.addHandler(self)
        if root.level > logging.WARNING or root.level == logging.NOTSET:
            root.setLevel(logging.WARNING)
        for candidate in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(candidate, logging.Logger) and not candidate.propagate:
                candidate.addHandler(self)


class _UnusedDependency:
    """Placeholder for constructor arguments this path never uses (stub 4)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        msg = f"kplan worker stub {self._name!r} has no {attr!r}: legacy used an unexpected dependency"
        raise NotImplementedError(msg)


class _FakeVolumes:
    def __init__(self, names: Sequence[str]) -> None:
        self._names = list(names)

    async def list(self) -> JSONObject:
        return {"Volumes": [{"Name": name} for name in self._names]}


class _FakeDockerClient:
    """Stands in for ``aiodocker.Docker`` inside the legacy module (stub 1)."""

    volume_names: Sequence[str] = ()

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self.volumes = _FakeVolumes(type(self).volume_names)

    async def close(self) -> None:
        return None

    def __getattr__(self, attr: str) -> Any:
        msg = f"kplan worker: Docker.{attr} is not available (no Docker daemon may be contacted)"
        raise NotImplementedError(msg)


class _StubComputePlugin:
    """Device plugin stand-in: only what prepare_container calls (stub 3)."""

    def __init__(
        self, device: str, slot_types: Sequence[tuple[Any, Any]], resource_data: Mapping[str, Any]
    ) -> None:
        self.key = device
        self.slot_types = list(slot_types)
        self._resource_data = {str(k): str(v) for k, v in resource_data.items()}

    async def generate_resource_data(self, device_alloc: Mapping[Any, Any]) -> Mapping[str, str]:
        del device_alloc  # the context already carries the plugin's answer
        return dict(self._resource_data)

    def __getattr__(self, attr: str) -> Any:
        msg = f"kplan worker: device plugin {self.key!r} stub has no {attr!r}"
        raise NotImplementedError(msg)


def _field_names(info: Any, name: str) -> set[str]:
    """All keys under which a pydantic field may appear in input data."""
    names = {name}
    alias = getattr(info, "validation_alias", None)
    names.update(str(choice) for choice in getattr(alias, "choices", []) if isinstance(choice, str))
    if isinstance(getattr(info, "alias", None), str):
        names.add(info.alias)
    return names


def _annotation_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _redirect_auto_dirs(
    legacy: Legacy,
    model: Any,
    data: dict[str, Any],
    attr_path: tuple[str, ...],
    spare: Path,
    redirected: list[tuple[tuple[str, ...], Path]],
) -> None:
    """Stub 2: point absolute ``AutoDirectoryPath`` inputs at ``spare`` dirs, remember originals."""
    from pydantic import BaseModel  # noqa: PLC0415 - legacy dependency, imported lazily

    for name, info in model.model_fields.items():
        keys = _field_names(info, name)
        present = next((k for k in keys if k in data), None)
        members = _annotation_members(info.annotation)
        if legacy.AutoDirectoryPath in members:
            if attr_path + (name,) == ("container", "scratch_root"):
                continue
            raw = data[present] if present is not None else info.default
            if raw is None or not Path(str(raw)).expanduser().is_absolute():
                continue
            substitute = spare / ".".join(attr_path + (name,))
            substitute.mkdir(parents=True, exist_ok=True)
            data[present or name] = str(substitute)
            redirected.append(
                (attr_path + (name,), Path(os.path.normpath(Path(str(raw)).expanduser())))
            )
            continue
        sub_models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if len(sub_models) != 1:
            continue
        sub_data = data.get(present) if present is not None else {}
        if not isinstance(sub_data, dict):
            continue
        before = len(redirected)
        _redirect_auto_dirs(legacy, sub_models[0], sub_data, attr_path + (name,), spare, redirected)
        if present is None and len(redirected) > before:
            data[name] = sub_data


def _with_nested(model: Any, attr_path: tuple[str, ...], value: Any) -> Any:
    """Copy of ``model`` with ``a.b.c = value`` (``model_copy``: no validation, no mkdir)."""
    head, *rest = attr_path
    new_value = _with_nested(getattr(model, head), tuple(rest), value) if rest else value
    return model.model_copy(update={head: new_value})


def build_agent_config(
    legacy: Legacy, local_config: Mapping[str, Any], scratch_root: Path, spare: Path
) -> Any:
    """A real ``AgentUnifiedConfig`` from the context's local_config (+ required minimum)."""
    raw: dict[str, Any] = copy.deepcopy(dict(local_config))
    container = dict(_as_dict(raw.get("container")))
    for alias in ("scratch-root", "scratch_root"):
        container.pop(alias, None)
    container["scratch_root"] = str(scratch_root)
    raw["container"] = container
    agent = dict(_as_dict(raw.get("agent")))
    agent.setdefault("backend", "docker")
    raw["agent"] = agent
    raw.setdefault("resource", {})
    raw.setdefault("etcd", {})
    redirected: list[tuple[tuple[str, ...], Path]] = []
    _redirect_auto_dirs(legacy, legacy.AgentUnifiedConfig, raw, (), spare, redirected)
    config = legacy.AgentUnifiedConfig.model_validate(raw)
    for attr_path, original in redirected:
        config = _with_nested(config, attr_path, original)
    return config


def _parse_kernel_id(value: str) -> Any:
    """Legacy receives ids as UUIDs (``KernelId(UUID(...))``); keep non-UUIDs verbatim."""
    try:
        return UUID(value)
    except ValueError:
        return value


def build_image_ref(legacy: Legacy, image: Mapping[str, Any]) -> Any:
    canonical = image["canonical"]
    registry = image.get("registry")
    if isinstance(registry, Mapping):
        registry = registry.get("name")
    if not registry:
        registry = legacy.ImageRef.parse_image_str(canonical, "*").registry
    return legacy.ImageRef.from_image_str(
        canonical,
        image.get("project"),
        registry,
        architecture=image.get("architecture", "x86_64"),
        is_local=bool(image.get("is_local", False)),
    )


def build_kernel_config(context: Mapping[str, Any], image_ref: Any) -> dict[str, Any]:
    """The manager's kernel config, with neutral defaults for fields the manager always sends."""
    image = _as_dict(context.get("image"))
    registry = image.get("registry")
    if not isinstance(registry, Mapping):
        registry = {"name": image_ref.registry, "url": f"https://{image_ref.registry}"}
    config: dict[str, Any] = {
        "network_id": "",
        "auto_pull": "digest",
        "session_type": "interactive",
        "cluster_mode": "single-node",
        "cluster_role": "main",
        "cluster_idx": 1,
        "cluster_hostname": "main1",
        "local_rank": 0,
        "uid": None,
        "main_gid": None,
        "supplementary_gids": [],
        "resource_slots": {},
        "resource_opts": {},
        "environ": {},
        "mounts": [],
        "package_directory": [],
        "idle_timeout": 0,
        "bootstrap_script": None,
        "startup_command": None,
        "internal_data": None,
        "preopen_ports": [],
        "allocated_host_ports": [],
        "scaling_group": "default",
        "agent_addr": "",
        "endpoint_id": None,
        "owner_user_id": None,
        "owner_project_id": None,
    }
    config.update(copy.deepcopy(dict(_as_dict(context.get("kernel_config")))))
    config["kernel_id"] = context["kernel_id"]
    config["session_id"] = context["session_id"]
    config["image"] = {
        "canonical": image["canonical"],
        "project": image.get("project"),
        "architecture": image_ref.architecture,
        "digest": image.get("digest", ""),
        "repo_digest": image.get("repo_digest"),
        "registry": dict(registry),
        "labels": dict(_as_dict(image.get("labels"))),
        "is_local": bool(image.get("is_local", False)),
        "auto_pull": config["auto_pull"],
    }
    return config


def build_cluster_info(context: Mapping[str, Any]) -> dict[str, Any]:
    info = copy.deepcopy(dict(_as_dict(context.get("cluster_info"))))
    info.setdefault("mode", "single-node")
    info.setdefault("size", 1)
    info.setdefault("replicas", {})
    info.setdefault("network_config", {})
    info.setdefault("ssh_keypair", None)
    info.setdefault("cluster_ssh_port_mapping", None)
    return info


def install_known_slot_types(legacy: Legacy, resource_spec: Mapping[str, Any]) -> dict[str, str]:
    """Stub 5: fill legacy's global ``known_slot_types`` in place."""
    slot_types = dict(_as_dict(resource_spec.get("known_slot_types")) or DEFAULT_KNOWN_SLOT_TYPES)
    target = legacy.resources_module.known_slot_types
    target.clear()
    target.update({legacy.SlotName(k): legacy.SlotTypes(v) for k, v in slot_types.items()})
    return slot_types


def build_computers(
    legacy: Legacy, context: Mapping[str, Any], slot_types: Mapping[str, str]
) -> dict[str, Any]:
    """Stub 3: one ComputerContext per allocated device / device with resource_data."""
    spec = _as_dict(context.get("resource_spec"))
    resource_data = _as_dict(context.get("resource_data"))
    devices = list(_as_dict(spec.get("allocations"))) + [
        d for d in resource_data if d not in _as_dict(spec.get("allocations"))
    ]
    computers = {}
    for device in devices:
        owned = [
            (legacy.SlotName(slot), legacy.SlotTypes(kind))
            for slot, kind in slot_types.items()
            if slot == device or slot.startswith(f"{device}.")
        ]
        plugin = _StubComputePlugin(device, owned, _as_dict(resource_data.get(device)))
        computers[device] = legacy.ComputerContext(instance=plugin, devices=[], alloc_map=None)
    return computers


def build_mount(legacy: Legacy, item: Mapping[str, Any]) -> Any:
    source = item.get("source")
    return legacy.Mount(
        legacy.MountTypes(item.get("type", "bind")),
        Path(source) if source is not None else None,
        Path(item["target"]),
        legacy.MountPermission(item.get("permission", "ro")),
        item.get("opts"),
    )


def build_resource_spec(
    legacy: Legacy,
    context: Mapping[str, Any],
    kernel_config: Mapping[str, Any],
    intrinsic: Sequence[Any],
) -> Any:
    """KernelResourceSpec from context.resource_spec; mounts = intrinsic + context mounts."""
    spec = _as_dict(context.get("resource_spec"))
    slots = spec.get("slots", kernel_config.get("resource_slots", {}))
    allocations = {
        device: {
            legacy.SlotName(slot): {
                device_id: Decimal(str(amount))
                for device_id, amount in _as_dict(per_device).items()
            }
            for slot, per_device in _as_dict(per_slot).items()
        }
        for device, per_slot in _as_dict(spec.get("allocations")).items()
    }
    mounts = list(intrinsic) + [
        build_mount(legacy, _as_dict(m)) for m in context.get("mounts") or []
    ]
    return legacy.KernelResourceSpec(
        slots=legacy.ResourceSlot.from_json(slots),
        allocations=allocations,
        scratch_disk_size=int(spec.get("scratch_disk_size", 0)),
        mounts=mounts,
        unified_devices=[(d, legacy.SlotName(s)) for d, s in spec.get("unified_devices") or []],
    )


def kernel_json(kernel: Any) -> JSONObject:
    return {
        "kernel_id": str(kernel.kernel_id),
        "session_id": str(kernel.session_id),
        "agent_id": str(kernel.agent_id),
        "network_id": to_jsonable(kernel.network_id),
        "image": kernel.image.canonical,
        "version": int(kernel.version),
        "network_driver": to_jsonable(kernel.network_driver),
        "environ": to_jsonable(dict(kernel.environ)),
        "service_ports": to_jsonable(list(kernel.service_ports)),
    }


@dataclass
class Inputs:
    """Everything a DockerKernelCreationContext is built from (shared by both phases)."""

    config: Any
    ownership: Any
    image_ref: Any
    kernel_config: dict[str, Any]
    cluster_info: dict[str, Any]
    computers: dict[str, Any]
    agent_sockpath: Path
    distro: str


class LegacyRun:
    """Drives the real legacy methods in create_kernel's order; records where it stopped."""

    def __init__(
        self, legacy: Legacy, context: Mapping[str, Any], scratch_root: Path, spare: Path
    ) -> None:
        self.legacy = legacy
        self.context = context
        self.scratch_root = scratch_root
        self.spare = spare
        self.step = "build_context"
        self.phase = "create"
        self.ctx: Any = None
        self.kernel: Any = None

    def build_inputs(self) -> Inputs:
        legacy, context = self.legacy, self.context
        config = build_agent_config(
            legacy, _as_dict(context.get("local_config")), self.scratch_root, self.spare
        )
        image = _as_dict(context.get("image"))
        image_ref = build_image_ref(legacy, image)
        kernel_config = build_kernel_config(context, image_ref)
        ownership = legacy.KernelOwnershipData(
            _parse_kernel_id(context["kernel_id"]),
            _parse_kernel_id(context["session_id"]),
            context["agent_id"],
            owner_user_id=kernel_config.get("owner_user_id"),
            owner_project_id=kernel_config.get("owner_project_id"),
        )
        slot_types = install_known_slot_types(legacy, _as_dict(context.get("resource_spec")))
        labels = _as_dict(image.get("labels"))
        return Inputs(
            config=config,
            ownership=ownership,
            image_ref=image_ref,
            kernel_config=kernel_config,
            cluster_info=build_cluster_info(context),
            computers=build_computers(legacy, context, slot_types),
            agent_sockpath=Path(config.agent.ipc_base_path)
            / "container"
            / f"agent.{context['agent_id']}.sock",
            distro=str(labels.get("ai.backend.base-distro", "unknown")),
        )

    def new_context(self, inputs: Inputs, *, restarting: bool) -> Any:
        config = inputs.config
        return self.legacy.DockerKernelCreationContext(
            inputs.ownership,
            _UnusedDependency("event_producer"),
            inputs.image_ref,
            copy.deepcopy(inputs.kernel_config),
            inputs.distro,
            config,
            inputs.computers,
            self.legacy.PortPool(
                tuple(config.container.port_range), config.container.port_reuse_cooldown_sec
            ),
            inputs.agent_sockpath,
            asyncio.Lock(),
            self.legacy.NetworkPluginContext(None, {}),
            restarting=restarting,
            cluster_ssh_port_mapping=inputs.cluster_info.get("cluster_ssh_port_mapping"),
            gwbridge_subnet=None,
            seccomp_profile_as_path=False,
        )

    def default_environ(self, ctx: Any) -> dict[str, str]:
        """legacy-contract §2.1 rows 1-3 (used only when the context has no environ)."""
        environ = {
            str(k): str(v)
            for k, v in _as_dict(_as_dict(self.context.get("kernel_config")).get("environ")).items()
        }
        uid_match = self.legacy.KernelFeatures.UID_MATCH in ctx.kernel_features
        container = ctx.local_config.container
        if (ouid := ctx.get_overriding_uid()) is not None:
            environ["LOCAL_USER_ID"] = str(ouid)
        elif uid_match:
            environ["LOCAL_USER_ID"] = str(container.kernel_uid)
        if (ogid := ctx.get_overriding_gid()) is not None:
            environ["LOCAL_GROUP_ID"] = str(ogid)
        elif uid_match:
            environ["LOCAL_GROUP_ID"] = str(container.kernel_gid)
        return environ

    def environ_for(self, ctx: Any) -> dict[str, str]:
        given = self.context.get("environ")
        if given is None:
            return self.default_environ(ctx)
        return {str(k): str(v) for k, v in given.items()}

    async def create_phase(self, inputs: Inputs) -> None:
        """New kernel: create_kernel steps A9, B1, B2, B3, B8, B15 (legacy-contract §2)."""
        self.phase, self.step = "create", "build_context"
        self.ctx = ctx = self.new_context(inputs, restarting=False)
        environ = self.environ_for(ctx)
        self.step = "get_intrinsic_mounts"
        intrinsic = await ctx.get_intrinsic_mounts()
        self.step = "prepare_scratch"
        await ctx.prepare_scratch()
        self.step = "apply_network"
        await ctx.apply_network(inputs.cluster_info)
        self.step = "prepare_ssh"
        await ctx.prepare_ssh(inputs.cluster_info)
        self.step = "build_resource_spec"
        resource_spec = build_resource_spec(
            self.legacy, self.context, inputs.kernel_config, intrinsic
        )
        self.step = "process_mounts"
        await ctx.process_mounts(resource_spec.mounts)
        self.step = "prepare_container"
        ctx.computer_docker_args = copy.deepcopy(
            dict(_as_dict(self.context.get("computer_docker_args")))
        )
        self.kernel = await ctx.prepare_container(resource_spec, environ, [], inputs.cluster_info)

    async def restart_phase(self, inputs: Inputs) -> None:
        """Restart: resource spec from resource.txt, then B2, B3, B8, B15 (legacy-contract §15)."""
        self.phase, self.step = "restart", "build_context"
        self.kernel = None
        self.ctx = ctx = self.new_context(inputs, restarting=True)
        environ = self.environ_for(ctx)
        self.step = "prepare_resource_spec"
        resource_spec, _resource_opts = await ctx.prepare_resource_spec()
        self.step = "apply_network"
        await ctx.apply_network(inputs.cluster_info)
        self.step = "prepare_ssh"
        await ctx.prepare_ssh(inputs.cluster_info)
        self.step = "process_mounts"
        await ctx.process_mounts(resource_spec.mounts)
        self.step = "prepare_container"
        self.kernel = await ctx.prepare_container(resource_spec, environ, [], inputs.cluster_info)

    async def run(self) -> JSONObject:
        error: JSONObject | None = None
        try:
            inputs = self.build_inputs()
            await self.create_phase(inputs)
            if bool(self.context.get("restarting", False)):
                await self.restart_phase(inputs)
        except Exception as exc:  # noqa: BLE001 - every legacy failure is a result
            error = error_json(exc, self.step, self.phase)
        configs = list(self.ctx.container_configs) if self.ctx is not None else []
        return {
            "container_configs": to_jsonable(configs),
            "kernel": kernel_json(self.kernel) if self.kernel is not None else None,
            "error": error,
        }


def drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def runner_main(
    legacy: Legacy, context: Mapping[str, Any], paths: RunPaths, result_fd: int
) -> None:
    """Runner process body: set identity, stub Docker, run legacy, report (never returns)."""
    capture = LogCapture()
    try:
        set_pdeathsig()
        facts = _as_dict(context.get("facts"))
        os.chdir(paths.aux)
        os.umask(parse_umask(facts.get("umask")))
        if facts.get("is_root", True) is False:
            drop_privileges(int(facts["uid"]), int(facts["gid"]))
        _FakeDockerClient.volume_names = [str(v) for v in facts.get("docker_volumes") or []]
        legacy.docker_agent_module.Docker = _FakeDockerClient  # stub 1
        capture.install()
        result = asyncio.run(LegacyRun(legacy, context, Path(paths.scratch), paths.spare).run())
    except BaseException as exc:  # noqa: BLE001 - report anything, including SystemExit
        result = {"container_configs": [], "kernel": None, "error": error_json(exc, "runner_setup")}
    result["logs"] = capture.records
    try:
        write_all(result_fd, json.dumps(result, ensure_ascii=True, default=str).encode())
    finally:
        os._exit(0)


# ---------------------------------------------------------------------------------------
# Supervisor (first child): confine, run the runner, snapshot as root, unmount
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPaths:
    base: str  # the temp dir; only writable place once confined
    scratch: str  # realpath of the scratch root given to legacy
    aux: str  # runner cwd; relative AutoDirectoryPath defaults land here

    @property
    def spare(self) -> Path:
        return Path(self.aux) / "redirected-auto-dirs"


def read_until_eof(fd: int, deadline: float | None) -> tuple[bytes, bool]:
    """Read a pipe to EOF; returns (data, reached_eof) - False when the deadline passed."""
    chunks: list[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        timeout_ms = None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"".join(chunks), False
            timeout_ms = max(1, int(remaining * 1000))
        if not poller.poll(timeout_ms):
            continue
        data = os.read(fd, 1 << 20)
        if not data:
            return b"".join(chunks), True
        chunks.append(data)


def run_runner(legacy: Legacy, context: Mapping[str, Any], paths: RunPaths) -> JSONObject:
    """Fork the runner and wait for its report (the parent enforces the timeout)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        runner_main(legacy, context, paths, write_fd)
    os.close(write_fd)
    data, _ = read_until_eof(read_fd, None)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if not data:
        message = f"legacy runner died without a report (wait status {status})"
        return {
            "container_configs": [],
            "kernel": None,
            "logs": [],
            "error": simple_error("RunnerCrashed", message, "runner"),
        }
    return json.loads(data)


def _supervisor_log(message: str) -> JSONObject:
    return {"level": "WARNING", "logger": log.name, "message": message}


def _runner_identity(facts: Mapping[str, Any]) -> tuple[int, int] | None:
    """uid:gid the runner drops to, or None when it stays root (``facts.is_root``)."""
    if facts.get("is_root", True) is False:
        return int(facts["uid"]), int(facts["gid"])
    return None


def prepare_sandbox(legacy: Legacy, context: Mapping[str, Any], paths: RunPaths) -> list[str]:
    """Confine, then make the namespace-only changes; returns notes for the response log.

    Order: the private read-only namespace first (``confine_to``), then the runner
    overlay (input substitution 2; its mounts are remounted read-only), then the
    non-root views of the interpreter (patch 7), then one final check that only
    ``paths.base`` is writable. Raises ``ConfinementError`` (or ``OSError``) on failure.
    """
    facts = _as_dict(context.get("facts"))
    identity = _runner_identity(facts)
    confine_to(paths.base)
    if identity is not None:
        for path in (paths.base, paths.scratch, paths.aux):
            os.chown(path, *identity)
    notes: list[str] = []
    assets = runner_assets(facts)
    if assets is not None:
        notes += install_runner_overlay(legacy, assets, paths, identity or (0, 0))
    if identity is not None:
        covered = expose_runtime(*identity)
        log.debug("read-only views over %s let uid %d reach the interpreter", covered, identity[0])
    verify_confinement(paths.base)
    return notes


def _not_run(error: JSONObject) -> JSONObject:
    """Response body of a run in which legacy never started."""
    return {
        "container_configs": [],
        "kernel": None,
        "logs": [],
        "tree": [],
        "contents": {},
        "error": error,
    }


def supervise(legacy: Legacy, context: Mapping[str, Any], paths: RunPaths) -> JSONObject:
    """Confine, run legacy, snapshot, unmount; returns the response body (minus id)."""
    try:
        notes = prepare_sandbox(legacy, context, paths)
    except (OSError, ConfinementError) as exc:
        return _not_run(error_json(exc, "confine"))
    result = run_runner(legacy, context, paths)
    snap = snapshot_tree(paths.scratch, snapshot_rules(context))
    result["tree"], result["contents"] = snap.tree, snap.contents
    logs = [_supervisor_log(n) for n in notes] + list(result.get("logs", []))
    logs += [_supervisor_log(p) for p in snap.problems]
    logs += [_supervisor_log(f"unmount failed: {e}") for e in unmount_below(paths.base)]
    result["logs"] = logs
    return result


def isolate_stdio() -> None:
    """Children must never touch the protocol pipes: stdin <- /dev/null, stdout -> stderr."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)


def supervisor_main(
    legacy: Legacy,
    context: Mapping[str, Any],
    paths: RunPaths,
    result_fd: int,
    inherited: Sequence[int],
) -> None:
    """First child body (never returns)."""
    try:
        os.setsid()  # own process group: the parent kills the whole group on timeout
        set_pdeathsig()
        for fd in inherited:
            os.close(fd)
        isolate_stdio()
        result = supervise(legacy, context, paths)
    except BaseException as exc:  # noqa: BLE001
        result = _not_run(error_json(exc, "supervisor"))
    try:
        write_all(result_fd, json.dumps(result, ensure_ascii=True, default=str).encode())
    finally:
        os._exit(0)


# ---------------------------------------------------------------------------------------
# Parent: request handling
# ---------------------------------------------------------------------------------------


def _response(request_id: Any, **fields: Any) -> JSONObject:
    body: JSONObject = {
        "id": request_id,
        "ok": False,
        "scratch_root": None,
        "tree": [],
        "contents": {},
        "container_configs": [],
        "kernel": None,
        "logs": [],
        "error": None,
        "refused": None,
    }
    body.update(fields)
    return body


def bad_request(request_id: Any, message: str) -> JSONObject:
    return _response(request_id, error=simple_error("BadRequest", message))


def kill_and_reap(pgid: int, grace_seconds: float = 5.0) -> None:
    """SIGKILL the run's process group and reap every descendant (we are a subreaper).

    ``pgid`` is the supervisor's pid; it is also killed directly in case it had not yet
    called ``setsid`` (it forks nothing before that).
    """
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pgid, signal.SIGKILL)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)
    log.warning("some processes of run group %d were not reaped in time", pgid)


def make_paths() -> RunPaths:
    base = os.path.realpath(tempfile.mkdtemp(prefix="kplan-legacy-"))
    scratch, aux = os.path.join(base, "scratch"), os.path.join(base, "aux")
    os.mkdir(scratch, 0o700)
    os.mkdir(aux, 0o700)
    return RunPaths(base=base, scratch=scratch, aux=aux)


def remove_run_dir(paths: RunPaths) -> list[JSONObject]:
    """Delete the temp dir (host view; the child's mounts died with its namespace)."""
    try:
        shutil.rmtree(paths.base)
    except OSError as exc:
        return [_supervisor_log(f"could not remove {paths.base}: {exc}")]
    if os.path.lexists(paths.base):
        return [_supervisor_log(f"{paths.base} still exists after removal")]
    return []


def _timeout_body(context: Mapping[str, Any], paths: RunPaths, timeout: float) -> JSONObject:
    snap = snapshot_tree(paths.scratch, snapshot_rules(context))
    message = (
        f"legacy did not finish within {timeout} s; the run was killed. The tree is the "
        "host-side view of the scratch root (mounts made inside the run are not visible)."
    )
    return {
        "tree": snap.tree,
        "contents": snap.contents,
        "logs": [_supervisor_log(p) for p in snap.problems],
        "error": simple_error("Timeout", message, None),
    }


def handle_run(
    legacy: Legacy, request_id: Any, request: Mapping[str, Any], protocol_fds: Sequence[int]
) -> JSONObject:
    context = request.get("context")
    if not isinstance(context, Mapping):
        return bad_request(request_id, "'context' must be an object")
    timeout = request.get("timeout")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT_SECONDS
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        return bad_request(request_id, "'timeout' must be a positive number of seconds")
    refusals = validate_context(context)
    if refusals:
        return _response(request_id, refused=[r.to_json() for r in refusals])
    paths = make_paths()
    return _response(
        request_id,
        scratch_root=paths.scratch,
        **_fork_run(legacy, context, paths, float(timeout), protocol_fds),
    )


def _fork_run(
    legacy: Legacy,
    context: Mapping[str, Any],
    paths: RunPaths,
    timeout: float,
    protocol_fds: Sequence[int],
) -> JSONObject:
    """Fork the supervisor, wait up to ``timeout``, clean up; returns response fields."""
    deadline = time.monotonic() + timeout
    read_fd, write_fd = os.pipe()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        supervisor_main(legacy, context, paths, write_fd, protocol_fds)
    os.close(write_fd)
    try:
        data, finished = read_until_eof(read_fd, deadline)
    finally:
        os.close(read_fd)
    kill_and_reap(pid)  # before reaping: a zombie keeps the pgid from being reused
    if finished and data:
        body = json.loads(data)
    elif finished:
        body = {
            "error": simple_error(
                "SupervisorCrashed", "the sandboxed run died without a report", "supervisor"
            )
        }
    else:
        body = _timeout_body(context, paths, timeout)
    body["logs"] = list(body.get("logs", [])) + remove_run_dir(paths)
    body["ok"] = body.get("error") is None
    return body


def handle_line(legacy: Legacy, line: bytes, protocol_fds: Sequence[int]) -> JSONObject:
    try:
        request = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return bad_request(None, f"malformed JSON: {exc}")
    if not isinstance(request, dict):
        return bad_request(None, "request must be a JSON object")
    request_id = request.get("id")
    op = request.get("op")
    if op == "ping":
        return {
            "id": request_id,
            "ok": True,
            "legacy_version": legacy.version,
            "python": platform.python_version(),
        }
    if op == "run":
        return handle_run(legacy, request_id, request, protocol_fds)
    return bad_request(request_id, f"unknown op {op!r}")


def take_over_stdio() -> tuple[int, int]:
    """Keep private copies of stdin/stdout for the protocol; fd 1 becomes stderr.

    Anything else that prints (legacy imports, stray prints, subprocesses) then lands on
    stderr and can never corrupt the JSON-lines stream.
    """
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


def serve(legacy: Legacy, proto_in: int, proto_out: int) -> None:
    with os.fdopen(proto_in, "rb", closefd=False) as requests:
        for line in requests:
            if not line.strip():
                continue
            try:
                response = handle_line(legacy, line, (proto_in, proto_out))
            except Exception as exc:  # noqa: BLE001 - the worker must survive any request
                log.exception("internal error while handling a request")
                response = {"id": None, "ok": False, "error": error_json(exc, "worker")}
            write_all(proto_out, json.dumps(response, ensure_ascii=True).encode() + b"\n")


def main() -> int:
    proto_in, proto_out = take_over_stdio()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="kplan-legacy-worker: %(levelname)s %(name)s: %(message)s",
    )
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    started = time.monotonic()
    legacy = load_legacy()
    log.info("legacy %s loaded in %.2f s", legacy.version, time.monotonic() - started)
    serve(legacy, proto_in, proto_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
