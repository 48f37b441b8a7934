"""The base of the container's create body and its seccomp option (§14.2, §14.3).

``start_container`` starts from a fixed body (the image, a TTY and open stdin, no
privilege, ``SIGINT`` to stop, the entrypoint and the command, the derived
environ, the working dir and hostname, the kernel's labels, an init process,
published ports bound as planned, two added capabilities, ulimits and the log
config) and sets one ``SecurityOpt``: the runner's default seccomp profile with an
extra rule allowing the devices' syscalls, inline as compact JSON (no option at all
when the runner has no profile).
"""

from __future__ import annotations

from functools import lru_cache

import orjson

from ._binary_size import format_binary_size
from ._context import Context
from ._threaded import Threaded

__all__ = ["SeccompError", "base_config", "exposed_ports", "seccomp_options", "ulimits"]

REPL_PORTS = (2000, 2001)
LOG_FILES = 5
NOFILE = 1048576


def exposed_ports(threaded: Threaded) -> list[int]:
    """The REPL ports, then every service's container ports, in order (§14.1)."""
    return [
        *REPL_PORTS,
        *(p for s in threaded.service_ports for p in s.container_ports),
    ]


def _host_ips(ctx: Context, threaded: Threaded) -> list[str]:
    protected = {"ttyd"} if ctx.local.agent.scaling_group_type == "storage" else set()
    guarded = {
        p
        for s in threaded.service_ports
        if s.name in protected
        for p in s.container_ports
    }
    return [
        "127.0.0.1"
        if port in REPL_PORTS or port in guarded
        else ctx.local.container.bind_host
        for port in exposed_ports(threaded)
    ]


def base_config(ctx: Context, threaded: Threaded) -> dict[str, object]:
    """The body before any fragment is merged in (§14.2)."""
    image = ctx.image_ref.short if ctx.image.is_local else ctx.image_ref.canonical
    exposed = exposed_ports(threaded)
    bindings = zip(exposed, threaded.host_ports, _host_ips(ctx, threaded), strict=True)
    return {
        "Image": image,
        "Tty": True,
        "OpenStdin": True,
        "Privileged": False,
        "StopSignal": "SIGINT",
        "ExposedPorts": {f"{port}/tcp": {} for port in exposed},
        "EntryPoint": ["/opt/kernel/entrypoint.sh"],
        "Cmd": list(threaded.cmdargs),
        "Env": [f"{key}={value}" for key, value in threaded.environ],
        "WorkingDir": "/home/work",
        "Hostname": ctx.kernel_config.cluster_hostname,
        "Labels": _labels(ctx),
        "HostConfig": {
            "Init": True,
            "PortBindings": {
                f"{port}/tcp": [{"HostPort": str(host), "HostIp": ip}]
                for port, host, ip in bindings
            },
            "PublishAllPorts": False,
            "CapAdd": ["IPC_LOCK", "SYS_NICE"],
            "Ulimits": ulimits(ctx),
            "LogConfig": {
                "Type": ctx.local.container_logs.driver,
                "Config": {
                    "max-size": format_binary_size(
                        ctx.log_max_length // LOG_FILES, "s"
                    ),
                    "max-file": str(LOG_FILES),
                    "compress": "false",
                },
            },
        },
    }


def _labels(ctx: Context) -> dict[str, object]:
    config = ctx.kernel_config
    # restart_kernel's ownership data has no owners: a restart's labels are null
    owners = (
        (None, None)
        if ctx.restarting
        else (config.owner_user_id, config.owner_project_id)
    )
    return {
        "ai.backend.agent-id": ctx.agent_id,
        "ai.backend.kernel-id": ctx.kernel_id,
        "ai.backend.session-id": ctx.session_id,
        "ai.backend.owner-user-id": owners[0],
        "ai.backend.owner-project-id": owners[1],
        "ai.backend.owner": ctx.agent_id,
        "ai.backend.internal.block-service-ports": "1"
        if ctx.internal.block_service_ports
        else "0",
    }


def ulimits(ctx: Context) -> list[dict[str, object]]:
    """``get_safe_ulimit``: the wanted limits capped by the agent's own (§14.2)."""
    return [
        _safe(ctx, "nofile", NOFILE, NOFILE),
        _safe(ctx, "memlock", -1, -1),
    ]


def _safe(ctx: Context, name: str, soft: int, hard: int) -> dict[str, object]:
    limits = ctx.facts.rlimits.get(name)
    if limits is None:
        return {"Name": name, "Soft": soft, "Hard": hard}
    return {"Name": name, "Soft": _cap(soft, limits[0]), "Hard": _cap(hard, limits[1])}


def _cap(wanted: int, current: int) -> int:
    """-1 wants the agent's limit; an unlimited (-1) agent grants what is wanted."""
    if wanted == -1:
        return current
    return wanted if current == -1 else min(wanted, current)


class SeccompError(ValueError):
    """The runner's seccomp profile is none legacy can add its rule to: the
    message says what legacy's ``_apply_seccomp_profile`` raises."""


def seccomp_options(ctx: Context, threaded: Threaded) -> dict[str, object]:
    """``{"SecurityOpt": [...]}`` with the extra syscalls rule, or ``{}`` (§14.3).

    Raises:
        SeccompError: the profile is not JSON, or has no ``syscalls`` list.
    """
    profile = ctx.facts.seccomp_profile
    if profile is None:
        return {}  # legacy warns and sets no SecurityOpt
    return {"SecurityOpt": [_seccomp(profile, tuple(threaded.allowed_syscalls))]}


# The same profile and syscalls for every kernel of an agent: its text is made
# once, not parsed (hundreds of objects, for the collector) and written again
# per compile.
@lru_cache(maxsize=64)
def _seccomp(profile: bytes, allowed: tuple[str, ...]) -> str:
    try:
        document = orjson.loads(profile)
    except orjson.JSONDecodeError as exc:
        msg = f"not JSON ({exc}): load_json's JSONDecodeError"
        raise SeccompError(msg) from exc
    # What legacy's document["syscalls"].append raises on each other shape.
    if not isinstance(document, dict):
        msg = "not a JSON object: the TypeError of its ['syscalls']"
        raise SeccompError(msg)
    if "syscalls" not in document:
        raise SeccompError("no syscalls: the KeyError of its ['syscalls']")
    if not isinstance(document["syscalls"], list):
        msg = "syscalls is not a list: the AttributeError of its append"
        raise SeccompError(msg)
    document["syscalls"].append(
        {
            "names": list(allowed),
            "action": "SCMP_ACT_ALLOW",
            "args": [],
            "comment": "Additionally allowed syscalls by Backend.AI Agent",
        }
    )
    return f"seccomp={orjson.dumps(document).decode()}"
