"""The container: its create body, create, start and post-start steps (§14).

The body follows ``start_container``: the base config (§14.2: image, ports and their
bindings, command, the derived environ, labels, ulimits from the agent's own
limits, the log config), the seccomp profile with one extra rule holding the
devices' allowed syscalls (§14.3), then legacy's merge (§14.4) of the network and
mount fragments, the jail options, the shared-memory size, the service-ports label,
the compute plugins' Docker arguments and the local container-opts files. After the
create legacy appends ``CID=<id>`` to resource.txt, starts the container, gives the
work user sudo when asked, attaches the devices' networks, and checks Docker bound
each port where it was asked to. ``create_kernel`` raises any failure of
``start_container`` as ``ContainerCreationFailedError`` (§2 B17).
"""

from __future__ import annotations

from returns.result import Result

from effects import (
    AppendContainerId,
    ConnectNetworks,
    CreateContainer,
    JsonObject,
    ProvisionSudo,
    StartContainer,
    VerifyContainer,
    freeze_object,
    thaw,
    thaw_object,
)

from .._context import Context
from .._create_body import (
    SeccompError,
    base_config,
    exposed_ports,
    seccomp_options,
)
from .._docker_merge import fragments_of, merge_into
from .._layout import below, config_dir
from .._plugins import DOCKER_INT_MAX, networks
from .._python_int import python_int
from .._stage_api import Draft, Part, Upstream
from ..errors import MergeError, PlanError

__all__ = ["container", "container_body", "container_name"]

STAGE = "container"
CHECKS = ("running", "init-alive", "still-running", "port-bindings")


def container_name(ctx: Context) -> str:
    """``kernel.<last component of the image name>.<kernel id>`` (§14.5)."""
    return f"kernel.{ctx.image_ref.name.split('/')[-1]}.{ctx.kernel_id}"


def container(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan creating, starting and checking the kernel's container (§14)."""
    draft = Draft(ctx, up, STAGE)
    if len(up.threaded.host_ports) != len(exposed_ports(up.threaded)):
        return draft.result()  # the host-ports stage took no ports and said why
    body = container_body(ctx, up, draft)
    if body is None:
        return draft.result()
    name = container_name(ctx)
    draft.add(
        CreateContainer(name=name, config=freeze_object(body)),
        AppendContainerId(path=below(config_dir(ctx), "resource.txt"), name=name),
        StartContainer(name=name),
    )
    if ctx.internal.sudo_session_enabled:
        draft.add(ProvisionSudo(name=name))
    attached = sorted(
        {
            n
            for device, _ in up.threaded.resource_spec.allocations
            for n in networks(ctx, device)
        }
    )
    if attached:
        draft.add(ConnectNetworks(name=name, networks=tuple(attached)))
    bindings = tuple(
        zip(exposed_ports(up.threaded), up.threaded.host_ports, strict=True)
    )
    draft.add(VerifyContainer(name=name, checks=CHECKS, ports=bindings))
    return draft.result()


def container_body(
    ctx: Context, up: Upstream, draft: Draft
) -> dict[str, object] | None:
    """The folded create body, or ``None`` after recording why legacy fails."""
    threaded = up.threaded
    args = thaw_object(threaded.docker_args)
    if not _shared_memory(ctx, threaded.resource_opts, args, draft):
        return None
    body = base_config(ctx, threaded)  # the log size prints: at most 2**64 bytes
    try:
        seccomp = seccomp_options(ctx, threaded)
    except SeccompError as exc:
        draft.fail(
            "crash",
            "facts.seccomp_profile_base64",
            "the runner's default-seccomp.json",
            f"{exc}: legacy raises ContainerCreationFailedError (start_container)",
        )
        return None
    body["HostConfig"] = {**_dict(body["HostConfig"]), **seccomp}
    try:
        # The body and every fragment are this call's own (thawed or built just
        # now, each merged once): merged as they are, none copied.
        merge_into(body, [*fragments_of(up.effects), *_jail(ctx)], owned=True)
        body["Labels"] = {
            **_dict(body["Labels"]),
            "ai.backend.service-ports": _ports_label(ctx),
        }
        merge_into(body, [args], owned=True)
        opts = [thaw_object(opts) for opts in ctx.facts.container_opts]
        merge_into(body, opts, owned=True)
    except MergeError as exc:
        draft.fail(
            "crash",
            "facts.devices",
            "docker_args",
            f"{exc}: legacy raises ContainerCreationFailedError (update_nested_dict's "
            "TypeError in start_container)",
        )
        return None
    return body


def _jail(ctx: Context) -> list[dict[str, object]]:
    if ctx.local.container.sandbox_type != "jail":
        return []
    return [
        {
            "HostConfig": {
                "SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"],
                "CapAdd": ["SYS_PTRACE"],
            }
        }
    ]


def _ports_label(ctx: Context) -> str:
    items = ctx.label("ai.backend.service-ports").split(",")
    items += [f"{port}:preopen:{port}" for port in ctx.kernel_config.preopen_ports]
    return ",".join(item for item in items if item)


def _shared_memory(
    ctx: Context, opts: JsonObject | None, args: dict[str, object], draft: Draft
) -> bool:
    """``HostConfig.ShmSize`` from ``resource_opts.shmem`` (§14.4 step 4): what
    legacy's ``int()`` makes of it (a bool, a float cut, text with a sign, spaces
    or underscores), put in the devices' ``HostConfig``."""
    del ctx  # the options are threaded: a restart has none (§15)
    shmem = None if opts is None else thaw(opts.get("shmem"))
    if not shmem:  # as legacy tests it: {} and [] are no shmem either
        return True
    field = "kernel_config.resource_opts.shmem"
    size = python_int(shmem)
    if isinstance(size, str):
        draft.fail(
            "crash",
            field,
            repr(shmem),
            "not an integer: legacy raises ContainerCreationFailedError "
            f"(start_container's int(), {size})",
        )
        return False
    host = args.get("HostConfig")
    if not isinstance(host, dict):
        draft.fail(
            "crash",
            field,
            repr(shmem),
            "H15: the devices gave no HostConfig to put ShmSize in: legacy raises "
            "ContainerCreationFailedError (start_container's KeyError)",
        )
        return False
    if not -DOCKER_INT_MAX - 1 <= size <= DOCKER_INT_MAX:
        draft.fail(
            "crash",
            field,
            repr(shmem),
            "does not fit Docker's 64-bit ShmSize: legacy raises "
            "ContainerCreationFailedError (Docker refuses the create)",
        )
        return False
    host["ShmSize"] = size
    return True


def _dict(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}
