"""The agent's own inputs to ``create_kernel``, as typed values (architecture.md §3.1).

Each class mirrors one structure the agent receives, field for field and named as
the agent names it: ``KernelCreationConfig`` (the manager's ``kernel_config``, with
its ``ImageConfig``, vfolder mounts and ``internal_data``), ``ClusterInfo``, and the
sections of the agent's local config that kernel creation reads. They are the one
source of truth of the context format: ``planner._document`` structures JSON into
them (cattrs, strict types, unknown keys refused) and ``planner._schema`` derives
the JSON Schema from them. A field's ``metadata["doc"]`` is its documentation,
``metadata["schema"]`` extra JSON Schema keywords the parser enforces too
(``KEYWORDS``), and ``metadata["empty_is_none"]`` marks a field where an empty
object means "not given", as legacy's truthiness test reads it.

Legacy keeps the manager's mapping as it came (it pickles it into
``config/kconfig.dat``, §2 B14), so free-form values stay JSON (``Json``) and the
raw document is kept beside the typed view (``Context.kernel_config_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, final

import attrs

from effects import EMPTY, Json, JsonObject

__all__ = [
    "DASHLESS",
    "EMPTY_IS_NONE",
    "KEYWORDS",
    "LENIENT",
    "AgentSection",
    "ApiSection",
    "AutoPull",
    "ClusterInfo",
    "ContainerLogsSection",
    "ContainerSection",
    "CoredumpSection",
    "DebugSection",
    "Dotfile",
    "ImageConfig",
    "ImageRegistry",
    "InternalData",
    "KernelConfig",
    "KernelLifecyclesSection",
    "LocalConfig",
    "ResourceSection",
    "ScratchType",
    "SessionType",
    "SshKeyPair",
    "VFolderMount",
    "doc",
]

ScratchType = Literal["hostdir", "hostfile", "memory", "k8s-nfs"]
SessionType = Literal["interactive", "batch", "inference", "system"]
AutoPull = Literal["digest", "tag", "none"]
MountPermission = Literal["ro", "rw", "wd"]
UsageMode = Literal["general", "model", "data"]
NO_MAP: Mapping[str, str] = MappingProxyType({})


# The JSON Schema keywords a field's metadata may carry: the parser enforces each
# (planner._structure), so the schema never promises what the parser lets through.
KEYWORDS = frozenset({"minimum", "maximum", "minLength", "pattern", "propertyNames"})
EMPTY_IS_NONE = "empty_is_none"
# The longest timeout, in seconds (31,700 years): a plan holds it in milliseconds,
# a 64-bit integer.
MAX_TIMEOUT = 10**12


def doc(
    text: str, *, empty_is_none: bool = False, **schema: object
) -> dict[str, object]:
    """Field metadata: its documentation and extra JSON Schema keywords."""
    unknown = set(schema) - KEYWORDS
    names = schema.get("propertyNames", {"enum": ()})
    if unknown or not isinstance(names, Mapping) or set(names) != {"enum"}:
        msg = f"the parser does not enforce the keywords {sorted(unknown) or names}"
        raise TypeError(msg)
    return {"doc": text, "schema": schema, EMPTY_IS_NONE: empty_is_none}


_field = doc


# --- the manager's kernel_config ---------------------------------------------------


@final
@attrs.frozen(kw_only=True)
class ImageRegistry:
    """``ImageRegistry``: where the image comes from."""

    name: str = attrs.field(metadata=_field("registry name (host[:port])"))
    url: str = attrs.field(metadata=_field("registry URL"))
    username: str | None = attrs.field(default=None, metadata=_field("login"))
    password: str | None = attrs.field(default=None, metadata=_field("password"))


@final
@attrs.frozen(kw_only=True)
class ImageConfig:
    """``ImageConfig``, as ``kernel_config["image"]`` carries it."""

    canonical: str = attrs.field(
        metadata=_field("registry/project/name:tag", minLength=1)
    )
    project: str | None = attrs.field(default=None, metadata=_field("project"))
    architecture: str = attrs.field(
        default="x86_64", metadata=_field("the image's architecture (§2 A5)")
    )
    digest: str = attrs.field(
        default="", metadata=_field("the image id the manager expects (A6)")
    )
    repo_digest: str | None = attrs.field(default=None, metadata=_field("digest"))
    registry: ImageRegistry | None = attrs.field(
        default=None, metadata=_field("null: parsed from the canonical name")
    )
    labels: Mapping[str, str] = attrs.field(
        default=NO_MAP, metadata=_field("image labels (ai.backend.*)")
    )
    is_local: bool = attrs.field(
        default=False, metadata=_field("built here: never pulled (A6)")
    )
    auto_pull: AutoPull = attrs.field(default="digest", metadata=_field("A6"))


@final
@attrs.frozen(kw_only=True)
class SshKeyPair:
    """An SSH key pair as text (``ClusterSSHKeyPair`` and the container's)."""

    public_key: str = attrs.field(metadata=_field("OpenSSH public key text"))
    private_key: str = attrs.field(metadata=_field("private key text"))


@final
@attrs.frozen(kw_only=True)
class ClusterKeyPair:
    """``ClusterSSHKeyPair``: either key may be missing (the ssh stage refuses
    that as H38, naming the key: legacy writes what it can and goes on)."""

    public_key: str | None = attrs.field(
        default=None, metadata=_field("OpenSSH public key text")
    )
    private_key: str | None = attrs.field(
        default=None, metadata=_field("private key text")
    )


@final
@attrs.frozen(kw_only=True)
class Dotfile:
    """One ``internal_data.dotfiles`` item, raw: the dotfiles stage checks hazards."""

    path: str = attrs.field(metadata=_field("/home/..., absolute, or relative (§12.5)"))
    data: str = attrs.field(metadata=_field("file content"))
    perm: str = attrs.field(metadata=_field("octal mode text, as int(perm, 8) reads"))


@final
@attrs.frozen(kw_only=True)
class InternalData:
    """``kernel_config["internal_data"]``: the manager's private instructions."""

    docker_credentials: Json = attrs.field(
        default=None, metadata=_field("written to docker-creds.json when truthy")
    )
    ssh_keypair: SshKeyPair | None = attrs.field(
        default=None,
        metadata=doc(
            "the container user's key pair; {} or null: none (§12.4)",
            empty_is_none=True,
        ),
    )
    dotfiles: tuple[Dotfile, ...] | None = attrs.field(
        default=None, metadata=_field("user dotfiles (§12.5)")
    )
    domain_socket_proxies: tuple[str, ...] | None = attrs.field(
        default=None, metadata=_field("host unix sockets proxied in (§5 row 11)")
    )
    prevent_vfolder_mounts: bool | None = attrs.field(
        default=None, metadata=_field("mount only the '.logs' vfolder (§9.1)")
    )
    block_service_ports: bool | None = attrs.field(
        default=None, metadata=_field("label block-service-ports (§14.2)")
    )
    sudo_session_enabled: bool | None = attrs.field(
        default=None, metadata=_field("sudoers for the work user (§14.5)")
    )
    model_definition: Json = attrs.field(
        default=None, metadata=_field("inference: the inlined model definition (B12)")
    )


@final
@attrs.frozen(kw_only=True)
class VFolderMount:
    """One ``kernel_config["mounts"]`` item (``VFolderMount.to_json``, §9.1)."""

    name: str = attrs.field(metadata=_field("vfolder name"))
    vfid: str = attrs.field(metadata=_field("[quota scope id/]folder uuid"))
    vfsubpath: str = attrs.field(default=".", metadata=_field("sub-path (unused)"))
    host_path: str = attrs.field(metadata=_field("absolute host path", minLength=1))
    kernel_path: str = attrs.field(
        metadata=_field("absolute path in the container", minLength=1)
    )
    mount_perm: MountPermission = attrs.field(metadata=_field("ro, rw or wd"))
    usage_mode: UsageMode | None = attrs.field(
        default="general", metadata=_field("general, model or data")
    )


@final
@attrs.frozen(kw_only=True)
class KernelConfig:
    """``KernelCreationConfig``: what the manager sends for one kernel, every key.

    Keys legacy indexes directly are required (it raises ``KeyError`` without
    them); the others take the manager's usual value when absent.
    """

    image: ImageConfig | None = attrs.field(
        default=None, metadata=_field("the image; null: the top-level image")
    )
    kernel_id: str | None = attrs.field(
        default=None, metadata=_field("null: the top-level kernel_id")
    )
    session_id: str | None = attrs.field(
        default=None, metadata=_field("null: the top-level session_id")
    )
    owner_user_id: str | None = attrs.field(default=None, metadata=_field("owner"))
    owner_project_id: str | None = attrs.field(
        default=None, metadata=_field("owning project")
    )
    network_id: str = attrs.field(default="", metadata=_field("network id"))
    auto_pull: AutoPull = attrs.field(default="digest", metadata=_field("A6"))
    session_type: SessionType = attrs.field(
        default="interactive", metadata=_field("inference loads a model (B12)")
    )
    cluster_mode: str = attrs.field(default="single-node", metadata=_field("mode"))
    cluster_role: str = attrs.field(
        default="main", metadata=_field("main/master kernels get service ports")
    )
    cluster_idx: int = attrs.field(default=1, metadata=_field("index in the cluster"))
    cluster_hostname: str = attrs.field(
        default="main1", metadata=_field("the container's hostname")
    )
    local_rank: int = attrs.field(default=0, metadata=_field("rank on this agent"))
    uid: int | None = attrs.field(
        default=None, metadata=_field("overriding uid (§1.2)", minimum=0)
    )
    main_gid: int | None = attrs.field(
        default=None, metadata=_field("overriding gid (§1.2)", minimum=0)
    )
    supplementary_gids: tuple[int, ...] = attrs.field(
        default=(), metadata=_field("extra groups of the work user (§2.1 row 5)")
    )
    resource_slots: Mapping[str, str | int | float | None] = attrs.field(
        default=NO_MAP, metadata=_field("requested amounts (ResourceSlot JSON)")
    )
    resource_opts: JsonObject = attrs.field(
        default=EMPTY, metadata=_field("shmem, allow_fractional_... (§14.4)")
    )
    environ: Mapping[str, str] = attrs.field(
        default=NO_MAP, metadata=_field("the user's environment (§2.1 row 1)")
    )
    mounts: tuple[VFolderMount, ...] = attrs.field(
        default=(), metadata=_field("vfolders to mount (§9.1)")
    )
    package_directory: tuple[str, ...] = attrs.field(
        default=(), metadata=_field("unused")
    )
    idle_timeout: int = attrs.field(default=0, metadata=_field("unused here"))
    bootstrap_script: str | None = attrs.field(
        default=None, metadata=_field("work/bootstrap.sh (§12)")
    )
    startup_command: str | None = attrs.field(default=None, metadata=_field("unused"))
    internal_data: InternalData | None = attrs.field(
        default=None, metadata=_field("the manager's private instructions")
    )
    preopen_ports: tuple[int, ...] = attrs.field(
        default=(), metadata=_field("ports opened at start (B11)")
    )
    allocated_host_ports: tuple[int, ...] = attrs.field(
        default=(), metadata=_field("host ports given to the kernel (B11)")
    )
    scaling_group: str = attrs.field(default="default", metadata=_field("group"))
    agent_addr: str = attrs.field(default="", metadata=_field("unused here"))
    endpoint_id: str | None = attrs.field(default=None, metadata=_field("endpoint"))

    @property
    def internal(self) -> InternalData:
        """``internal_data or {}``, as legacy reads it."""
        return self.internal_data or InternalData()


# --- cluster_info ----------------------------------------------------------------


@final
@attrs.frozen(kw_only=True)
class ClusterInfo:
    """``ClusterInfo``: the session's cluster (§17.3)."""

    mode: str = attrs.field(default="single-node", metadata=_field("cluster mode"))
    size: int = attrs.field(default=1, metadata=_field("kernels in the session"))
    replicas: Mapping[str, int] = attrs.field(
        default=MappingProxyType({}), metadata=_field("kernels per role")
    )
    network_config: JsonObject = attrs.field(
        default=EMPTY, metadata=_field("{mode, network_name, ...} (§7)")
    )
    ssh_keypair: ClusterKeyPair | None = attrs.field(
        default=None, metadata=_field("the cluster's key pair (§8)")
    )
    cluster_ssh_port_mapping: Mapping[str, tuple[str, int]] | None = attrs.field(
        default=None, metadata=_field("hostname -> [host, port] (§8, §14.1)")
    )


# --- the agent's local config ------------------------------------------------------


@final
@attrs.frozen(kw_only=True)
class ContainerSection:
    """``[container]`` of the agent's config (§17.4, §9.2, §14.1)."""

    scratch_root: str = attrs.field(metadata=_field("absolute scratch root"))
    scratch_type: ScratchType = attrs.field(default="hostdir", metadata=_field("§4"))
    scratch_size: int | str = attrs.field(
        default=0, metadata=_field("bytes or a size like '64m' (hostfile, §4.1)")
    )
    kernel_uid: int = attrs.field(
        default=-1, metadata=_field("-1: the agent's own uid (§1.1)", minimum=-1)
    )
    kernel_gid: int = attrs.field(
        default=-1, metadata=_field("-1: the agent's own gid (§1.1)", minimum=-1)
    )
    port_range: tuple[int, int] = attrs.field(
        default=(30000, 31000), metadata=_field("host port pool (§14.1)")
    )
    port_reuse_cooldown_sec: float = attrs.field(
        default=60, metadata=_field("pool cooldown (unused: facts give free ports)")
    )
    bind_host: str = attrs.field(default="", metadata=_field("host IP of bindings"))
    advertised_host: str | None = attrs.field(
        default=None, metadata=_field("host reported as kernel_host")
    )
    sandbox_type: Literal["docker", "jail"] = attrs.field(
        default="docker", metadata=_field("jail runs the kernel under /opt/kernel/jail")
    )
    jail_args: tuple[str, ...] = attrs.field(default=(), metadata=_field("§13"))
    alternative_bridge: str | None = attrs.field(
        default=None, metadata=_field("NetworkMode override (§7)")
    )
    krunner_volumes: Mapping[str, str] | None = attrs.field(
        default=None, metadata=_field("distro key -> krunner volume (§9.2)")
    )
    stats_type: object = attrs.field(default=None, metadata=_field("unused"))
    scratch_nfs_address: object = attrs.field(default=None, metadata=_field("unused"))
    scratch_nfs_options: object = attrs.field(default=None, metadata=_field("unused"))
    swarm_enabled: object = attrs.field(default=None, metadata=_field("unused"))


@final
@attrs.frozen(kw_only=True)
class AgentSection:
    """``[agent]``: the ipc path and the resource group type (§5, §14.1).

    The agent's other ``[agent]`` fields are accepted and unused.
    """

    ipc_base_path: str = attrs.field(
        default="/tmp/backend.ai/ipc",  # noqa: S108  (legacy's default)
        metadata=_field("absolute; agent socket and proxies (§1.1, §5)"),
    )
    scaling_group_type: Literal["compute", "storage"] = attrs.field(
        default="compute", metadata=_field("storage protects ttyd (§14.1)")
    )


@final
@attrs.frozen(kw_only=True)
class ApiSection:
    """``[api]``: the image pull timeout (§2 A6)."""

    pull_timeout: float | None = attrs.field(  # legacy's config has ge=0
        default=7200.0,
        metadata=_field("seconds; null: none", minimum=0, maximum=MAX_TIMEOUT),
    )


@final
@attrs.frozen(kw_only=True)
class CoredumpSection:
    """``[debug.coredump]`` (§5 row 9)."""

    enabled: bool = attrs.field(default=False, metadata=_field("mount core dumps"))
    path: str = attrs.field(default="./coredumps", metadata=_field("host dir"))
    core_path: str = attrs.field(
        default="/var/crash", metadata=_field("the container's core dir")
    )


@final
@attrs.frozen(kw_only=True)
class DebugSection:
    """``[debug]``: the kernel runner's debug flag and core dumps (§13, §5)."""

    kernel_runner: bool = attrs.field(default=False, metadata=_field("--debug"))
    coredump: CoredumpSection = attrs.field(
        factory=CoredumpSection, metadata=_field("core dumps")
    )


@final
@attrs.frozen(kw_only=True)
class ContainerLogsSection:
    """``[container-logs]``: the container's log driver (§14.2)."""

    driver: Literal["local", "json-file"] = attrs.field(
        default="local", metadata=_field("log driver")
    )
    max_length: int | str = attrs.field(
        default=10 * 2**20, metadata=_field("bytes or a size, split over 5 files")
    )


@final
@attrs.frozen(kw_only=True)
class KernelLifecyclesSection:
    """``[kernel-lifecycles]``: how long readiness may take (§2 B19)."""

    init_polling_attempt: int = attrs.field(default=10, metadata=_field("tries"))
    init_polling_timeout_sec: float = attrs.field(
        default=60.0, metadata=_field("seconds", maximum=MAX_TIMEOUT)
    )
    init_timeout_sec: float = attrs.field(default=60.0, metadata=_field("seconds"))


@final
@attrs.frozen(kw_only=True)
class ResourceSection:
    """``[resource]``: the order ``allocate()`` visits devices in (§6)."""

    allocation_order: tuple[str, ...] = attrs.field(
        default=("cuda", "rocm", "tpu", "cpu", "mem"),
        metadata=_field("device names; a requested device missing here fails"),
    )


@final
@attrs.frozen(kw_only=True)
class LocalConfig:
    """The agent's local config: the sections kernel creation reads.

    Keys may be spelled with ``-`` or ``_``, as the agent accepts both. The agent's
    other sections are accepted and unused.
    """

    container: ContainerSection = attrs.field(metadata=_field("[container]"))
    agent: AgentSection = attrs.field(factory=AgentSection, metadata=_field("[agent]"))
    api: ApiSection = attrs.field(factory=ApiSection, metadata=_field("[api]"))
    debug: DebugSection = attrs.field(factory=DebugSection, metadata=_field("[debug]"))
    container_logs: ContainerLogsSection = attrs.field(
        factory=ContainerLogsSection, metadata=_field("[container-logs]")
    )
    kernel_lifecycles: KernelLifecyclesSection = attrs.field(
        factory=KernelLifecyclesSection, metadata=_field("[kernel-lifecycles]")
    )
    resource: ResourceSection = attrs.field(
        factory=ResourceSection, metadata=_field("[resource]")
    )
    pyroscope: object = attrs.field(default=None, metadata=_field("unused"))
    logging: object = attrs.field(default=None, metadata=_field("unused"))
    otel: object = attrs.field(default=None, metadata=_field("unused"))
    service_discovery: object = attrs.field(default=None, metadata=_field("unused"))
    etcd: object = attrs.field(default=None, metadata=_field("unused"))
    plugins: object = attrs.field(default=None, metadata=_field("unused"))
    redis: object = attrs.field(default=None, metadata=_field("unused"))
    agents: object = attrs.field(default=None, metadata=_field("unused"))


# Sections whose other fields (the agent has dozens) are accepted and unused.
LENIENT: frozenset[type] = frozenset(
    {
        AgentSection,
        ApiSection,
        CoredumpSection,
        DebugSection,
        ContainerLogsSection,
        KernelLifecyclesSection,
        ResourceSection,
    }
)


# Sections whose keys the agent's config accepts with ``-`` or ``_`` alike.
DASHLESS: frozenset[type] = frozenset(
    {
        LocalConfig,
        ContainerSection,
        AgentSection,
        ApiSection,
        DebugSection,
        CoredumpSection,
        ContainerLogsSection,
        KernelLifecyclesSection,
        ResourceSection,
    }
)
