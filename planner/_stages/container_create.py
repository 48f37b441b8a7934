"""The container: image pull, the create body, start and verification (§13, §14).

Only planned when the caller asks for containers (``kplan apply --docker``). The
create body follows ``start_container`` (§14.2, §14.4): the base
config, the seccomp profile with its extra rule, the fragments of the network and
mounts stages, jail options, the shared-memory size, the service-ports label and
the compute plugins' args, merged with legacy's rules. Two things are not planned,
because the agent decides them when the container starts, outside this plan: host
port bindings (the agent's port pool, §14.1) and ulimits (the agent's own rlimits).
"""

from __future__ import annotations

import orjson
from returns.result import Result

from effects import (
    CreateContainer,
    PullImage,
    StartContainer,
    VerifyContainer,
    freeze_object,
    thaw_object,
)

from .._binary_size import format_binary_size
from .._context import Context
from .._docker_merge import fragments_of, merge
from .._stage_api import Draft, Part, Upstream
from ..errors import MergeError, PlanError

__all__ = ["container", "container_name", "create_body"]

STAGE = "container"
INTRINSIC_PORTS = (("sshd", 2200), ("ttyd", 7681))
REPL_PORTS = (2000, 2001)


def container_name(ctx: Context) -> str:
    """``kernel.<last component of the image name>.<kernel id>`` (§14.5)."""
    name = (
        ctx.image.short.rsplit(":", 1)[0] if ":" in ctx.image.short else ctx.image.short
    )
    return f"kernel.{name.rsplit('/', 1)[-1]}.{ctx.kernel_id}"


def container(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan pulling (if the facts say so), creating, starting and verifying."""
    draft = Draft(ctx, up, STAGE)
    if ctx.facts.image_present is False and not ctx.image.is_local:
        draft.add(PullImage(ref=ctx.image.canonical, digest=ctx.image.digest))
    body = create_body(ctx, up, draft)
    if body is not None:
        name = container_name(ctx)
        draft.add(
            CreateContainer(name=name, config=freeze_object(body)),
            StartContainer(name=name),
            VerifyContainer(
                name=name, checks=("running", "init-alive", "still-running")
            ),
        )
    return draft.result()


def create_body(ctx: Context, up: Upstream, draft: Draft) -> dict[str, object] | None:
    """The folded create config, or ``None`` after recording why legacy fails."""
    ports = _service_ports(ctx, draft)
    if ports is None:
        return None
    fragments = [*fragments_of(up.effects), *_jail(ctx)]
    docker_args = thaw_object(ctx.computer_docker_args)
    if not _shared_memory(ctx, docker_args, draft):
        return None
    try:
        body = merge(_base(ctx, ports), fragments)
        body["Labels"] = {
            **_dict(body["Labels"]),
            "ai.backend.service-ports": _ports_label(ctx),
        }
        return merge(body, [docker_args])
    except MergeError as exc:
        draft.fail(
            "crash",
            "computer_docker_args",
            "fragments",
            f"{exc}: legacy raises TypeError",
        )
        return None


def _base(ctx: Context, ports: list[int]) -> dict[str, object]:
    image = ctx.image.short if ctx.image.is_local else ctx.image.canonical
    owner = ctx.kernel_config
    return {
        "Image": image,
        "Tty": True,
        "OpenStdin": True,
        "Privileged": False,
        "StopSignal": "SIGINT",
        "ExposedPorts": {f"{port}/tcp": {} for port in ports},
        "EntryPoint": ["/opt/kernel/entrypoint.sh"],
        "Cmd": _cmdargs(ctx),
        "Env": [f"{key}={value}" for key, value in ctx.environ],
        "WorkingDir": "/home/work",
        "Hostname": ctx.kernel_config.cluster_hostname,
        "Labels": {
            "ai.backend.agent-id": ctx.agent_id,
            "ai.backend.kernel-id": ctx.kernel_id,
            "ai.backend.session-id": ctx.session_id,
            "ai.backend.owner-user-id": owner.owner_user_id,
            "ai.backend.owner-project-id": owner.owner_project_id,
            "ai.backend.owner": ctx.agent_id,
            "ai.backend.internal.block-service-ports": "1"
            if owner.block_service_ports
            else "0",
        },
        "HostConfig": {
            "Init": True,
            "PublishAllPorts": False,
            "CapAdd": ["IPC_LOCK", "SYS_NICE"],
            "LogConfig": {
                "Type": ctx.local.container_log_driver,
                "Config": {
                    "max-size": format_binary_size(
                        ctx.local.container_log_max_length // 5, "s"
                    ),
                    "max-file": "5",
                    "compress": "false",
                },
            },
            **_seccomp(ctx),
        },
    }


def _seccomp(ctx: Context) -> dict[str, object]:
    profile = ctx.facts.seccomp_profile
    if profile is None:
        return {}  # legacy warns and sets no SecurityOpt (§14.3)
    document = orjson.loads(profile)
    document["syscalls"].append(
        {
            "names": [],
            "action": "SCMP_ACT_ALLOW",
            "args": [],
            "comment": "Additionally allowed syscalls by Backend.AI Agent",
        }
    )
    return {"SecurityOpt": [f"seccomp={orjson.dumps(document).decode()}"]}


def _cmdargs(ctx: Context) -> list[str]:
    """The kernel runner command line (§13)."""
    jail = ["/opt/kernel/jail", *(arg.strip() for arg in ctx.local.jail_args), "--"]
    args = jail if ctx.local.sandbox_type == "jail" else []
    args += ["/opt/backend.ai/bin/python", "-s", "-m", "ai.backend.kernel"]
    args += ["--debug"] if ctx.local.kernel_runner_debug else []
    args.append(ctx.image.label("ai.backend.runtime-type", "app"))
    path = dict(ctx.image.labels).get("ai.backend.runtime-path")
    return [*args, path] if path is not None else args


def _jail(ctx: Context) -> list[dict[str, object]]:
    if ctx.local.sandbox_type != "jail":
        return []
    return [
        {
            "HostConfig": {
                "SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"],
                "CapAdd": ["SYS_PTRACE"],
            }
        }
    ]


def _service_ports(ctx: Context, draft: Draft) -> list[int] | None:
    ports = [*REPL_PORTS, *(port for _, port in INTRINSIC_PORTS)]
    if ctx.kernel_config.cluster_role not in {"main", "master"}:
        return ports
    for item in filter(
        None, ctx.image.label("ai.backend.service-ports", "").split(",")
    ):
        fields = item.split(":")
        if len(fields) != 3 or not fields[2].isdigit():  # noqa: PLR2004
            draft.fail(
                "crash",
                "image.labels.ai.backend.service-ports",
                repr(item),
                "not <name>:<protocol>:<port>; multi-port services break legacy (H13)",
            )
            return None
        ports.append(int(fields[2]))
    for port in ctx.kernel_config.preopen_ports:
        if port in REPL_PORTS or port in dict(INTRINSIC_PORTS).values():
            draft.fail(
                "crash",
                "kernel_config.preopen_ports",
                str(port),
                "a reserved port: legacy raises ReservedPortError/PortConflictError",
            )
            return None
        ports.append(port)
    return ports


def _ports_label(ctx: Context) -> str:
    items = ctx.image.label("ai.backend.service-ports", "").split(",")
    items += [f"{port}:preopen:{port}" for port in ctx.kernel_config.preopen_ports]
    return ",".join(item for item in items if item)


def _shared_memory(ctx: Context, docker_args: dict[str, object], draft: Draft) -> bool:
    """Set ``HostConfig.ShmSize`` (§14.4 step 4); False after recording H15."""
    shmem = ctx.kernel_config.resource_opts.get("shmem")
    if not shmem:
        return True
    host_config = docker_args.get("HostConfig")
    if not isinstance(host_config, dict):
        draft.fail(
            "crash",
            "kernel_config.resource_opts.shmem",
            repr(shmem),
            "H15: computer_docker_args has no HostConfig; legacy raises KeyError",
        )
        return False
    host_config["ShmSize"] = int(str(shmem))
    return True


def _dict(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}
