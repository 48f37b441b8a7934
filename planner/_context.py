"""The planner's input: an immutable ``Context`` built once, from inputs and facts.

Legacy reads its inputs from five places at once (``kernel_config``, ``cluster_info``,
the agent's local config, the resource spec and the host itself). kplan gathers all
of them, host facts included, into this one value before planning (architecture.md §3.1,
architecture.md §3.1), so a provisioner is a pure function of it. Values are typed and
frozen; the raw JSON shapes live only in ``planner._context_parse``. Where legacy output
depends on the *order* of a JSON mapping (environ.txt, SLOTS, docker-creds.json,
port-mapping.json), the order is kept: mappings are tuples of pairs in input order.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal, TypeGuard, final

import attrs

from effects import JsonObject, Tree

__all__ = [
    "PERMISSIONS",
    "SCRATCH_TYPES",
    "Context",
    "Dotfile",
    "Facts",
    "HostProbes",
    "Image",
    "KernelConfig",
    "LocalConfig",
    "Mount",
    "ResourceSpec",
    "RunnerAssets",
    "RunnerFile",
    "SshKeyPair",
    "is_permission",
    "is_scratch_type",
]

ScratchType = Literal["hostdir", "hostfile", "memory", "k8s-nfs"]
Permission = Literal["ro", "rw", "wd"]
SCRATCH_TYPES: tuple[ScratchType, ...] = ("hostdir", "hostfile", "memory", "k8s-nfs")
PERMISSIONS: tuple[Permission, ...] = ("ro", "rw", "wd")


def is_scratch_type(value: str) -> TypeGuard[ScratchType]:
    """True if ``value`` names a scratch type."""
    return value in SCRATCH_TYPES


def is_permission(value: str) -> TypeGuard[Permission]:
    """True if ``value`` is a mount permission."""
    return value in PERMISSIONS


Pairs = tuple[tuple[str, str], ...]

UID_MATCH = "uid-match"
DEFAULT_FEATURES = "uid-match"


@final
@attrs.frozen(kw_only=True)
class Image:
    """The kernel image (``kernel_config["image"]`` / ``ImageRef``)."""

    canonical: str
    labels: Pairs
    is_local: bool
    architecture: str
    digest: str | None

    def label(self, name: str, default: str) -> str:
        """The value of label ``name``, or ``default``."""
        return dict(self.labels).get(name, default)

    @property
    def features(self) -> frozenset[str]:
        """``ai.backend.features`` as a set (§1.2)."""
        return frozenset(self.label("ai.backend.features", DEFAULT_FEATURES).split())

    @property
    def short(self) -> str:
        """The reference without its registry (``stable/python:3.9``)."""
        first, sep, rest = self.canonical.partition("/")
        is_registry = "." in first or ":" in first or first == "localhost"
        return rest if sep and is_registry else self.canonical


@final
@attrs.frozen(kw_only=True)
class SshKeyPair:
    """An SSH key pair as text."""

    public_key: str
    private_key: str


@final
@attrs.frozen(kw_only=True)
class Dotfile:
    """One ``internal_data.dotfiles`` item, raw: the provisioner checks hazards."""

    path: str
    data: str
    perm: str


@final
@attrs.frozen(kw_only=True)
class KernelConfig:
    """The fields of the manager's ``kernel_config`` that provisioning reads."""

    uid: int | None
    main_gid: int | None
    supplementary_gids: tuple[int, ...]
    bootstrap_script: str | None
    environ: Pairs
    resource_slots: Pairs
    resource_opts: JsonObject
    network_id: str
    cluster_hostname: str
    cluster_role: str
    preopen_ports: tuple[int, ...]
    owner_user_id: str | None
    owner_project_id: str | None
    docker_credentials_json: bytes | None  # orjson bytes, key order as given
    ssh_keypair: SshKeyPair | None
    dotfiles: tuple[Dotfile, ...]
    domain_socket_proxies: tuple[str, ...]
    block_service_ports: bool


@final
@attrs.frozen(kw_only=True)
class ClusterInfo:
    """``cluster_info`` (§17.3)."""

    mode: str
    size: int
    network_mode: str | None
    network_name: str | None
    ssh_keypair: SshKeyPair | None
    port_mapping_json: bytes | None  # orjson bytes of a truthy mapping, order kept


@final
@attrs.frozen(kw_only=True)
class LocalConfig:
    """The agent's local config fields on this path (§17.4)."""

    scratch_root: PurePosixPath
    scratch_type: ScratchType
    scratch_size: int
    kernel_uid: int
    kernel_gid: int
    sandbox_type: str
    jail_args: tuple[str, ...]
    alternative_bridge: str | None
    bind_host: str
    ipc_base_path: PurePosixPath
    coredump_enabled: bool
    coredump_path: str
    coredump_core_path: str
    kernel_runner_debug: bool
    container_log_driver: str
    container_log_max_length: int


@final
@attrs.frozen(kw_only=True)
class Mount:
    """One resolved mount (legacy ``Mount``); source and target as ``str(Path)``."""

    type: str
    source: str
    target: str
    permission: Permission
    opts: JsonObject | None

    def legacy_str(self) -> str:
        """Legacy's ``str(mount)``: ``<source>:<target>:<perm>`` (resource.txt)."""
        return f"{self.source}:{self.target}:{self.permission}"


@final
@attrs.frozen(kw_only=True)
class ResourceSpec:
    """``KernelResourceSpec`` with Decimal amounts kept as their ``str()`` text."""

    slots: Pairs
    allocations: tuple[tuple[str, tuple[tuple[str, Pairs], ...]], ...]
    unified_devices: tuple[tuple[str, str], ...]
    scratch_disk_size: int
    known_slot_types: Pairs

    def slot_type(self, slot: str) -> str:
        """``known_slot_types.get(slot, "count")``."""
        return dict(self.known_slot_types).get(slot, "count")


@final
@attrs.frozen(kw_only=True)
class RunnerFile:
    """One file of the ``ai.backend.runner`` package: its mode and content digest."""

    name: str
    mode: int
    digest: str


@final
@attrs.frozen(kw_only=True)
class RunnerAssets:
    """What the runner package holds, as far as provisioning reads it."""

    origin: str
    files: tuple[RunnerFile, ...]
    has_dropbear: bool

    def get(self, name: str) -> RunnerFile | None:
        """The file called ``name``, if the package has it."""
        for item in self.files:
            if item.name == name:
                return item
        return None


@final
@attrs.frozen(kw_only=True)
class HostProbes:
    """The host paths legacy probes while listing intrinsic mounts (§5, §7)."""

    platform: str
    etc_localtime: bool
    etc_timezone: bool
    lxcfs: bool
    lxcfs_proc: tuple[str, ...]
    lxcfs_cpu: bool
    lxcfs_cpu_online: bool
    infiniband: bool


@final
@attrs.frozen(kw_only=True)
class Facts:
    """What the shell observed on the host before planning (architecture.md §3.1)."""

    is_root: bool
    uid: int
    gid: int
    umask: int
    scratch_root_resolved: PurePosixPath | None  # None: the scratch root is canonical
    runner: RunnerAssets
    scratch: Tree
    contents: tuple[
        tuple[str, bytes], ...
    ]  # digest -> bytes: runner files, small scratch files
    host: HostProbes
    docker_volumes: tuple[str, ...]
    image_present: bool | None
    seccomp_profile: bytes | None = None  # the runner's default-seccomp.json (§14.3)

    def content(self, digest: str) -> bytes | None:
        """The bytes with ``digest``, if the facts carry them."""
        for known, data in self.contents:
            if known == digest:
                return data
        return None


@final
@attrs.frozen(kw_only=True)
class Context:
    """Everything one kernel's provisioning depends on."""

    kernel_id: str
    session_id: str
    agent_id: str
    restarting: bool
    image: Image
    kernel_config: KernelConfig
    cluster: ClusterInfo
    local: LocalConfig
    environ: Pairs
    resource_spec: ResourceSpec
    mounts: tuple[Mount, ...]
    computer_env: tuple[str, ...]
    computer_docker_args: JsonObject
    resource_data: tuple[tuple[str, Pairs], ...]
    facts: Facts

    @property
    def uid_match(self) -> bool:
        """True if the image has the ``uid-match`` feature (§1.2)."""
        return UID_MATCH in self.image.features

    def first_run(self) -> Context:
        """The same inputs for a new kernel (how legacy ran before a restart)."""
        return attrs.evolve(self, restarting=False)
