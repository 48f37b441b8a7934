"""Facts: what was observed on the host before planning (architecture.md §3.1).

pyinfra's idea, made static: ``executor.gather_facts`` reads the host once, the
planner never does. Where legacy asks the host a question while it creates a
kernel (is this file there, what is my umask, which ports are free, what does the
GPU plugin answer), the answer is a fact here. These classes are the facts' JSON
shape (one source of truth with the JSON Schema, like ``planner._inputs``); values
that JSON carries as text (base64 content, octal modes, the scratch tree) are
checked when the document is read and decoded by the properties.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Literal, final

import attrs

from effects import (
    RUNNER_ASSETS,
    Blob,
    Json,
    JsonObject,
    Tree,
    blob_of,
    thaw,
    tree_from_document,
)

from ._inputs import doc

__all__ = [
    "AttachedDevice",
    "DeviceFacts",
    "DeviceMount",
    "Facts",
    "HostProbes",
    "PluginFile",
    "RunnerFacts",
    "RunnerFile",
]

SlotType = Literal["count", "bytes", "unique", "unified"]


@final
@attrs.frozen(kw_only=True)
class RunnerFile:
    """One file of the ``ai.backend.runner`` package that provisioning copies."""

    mode: str = attrs.field(metadata=doc("its mode", pattern="^0o[0-7]{1,5}$"))
    content_base64: str = attrs.field(metadata=doc("its content"))

    @property
    def content(self) -> bytes:
        """The decoded content (checked when the document was read)."""
        return _runner_blob(self.content_base64).data

    @property
    def blob(self) -> Blob:
        """The content as a blob: decoded and hashed once per process."""
        return _runner_blob(self.content_base64)

    @property
    def mode_bits(self) -> int:
        """The mode as an int."""
        return int(self.mode, 8)


# An agent plans every kernel with the same runner package, whose fonts are most of
# the bytes a plan writes: decoding and hashing them for each context was most of a
# compile. Equal text is equal content, so one blob serves every context.
@lru_cache(maxsize=64)
def _runner_blob(content_base64: str) -> Blob:
    return blob_of(base64.b64decode(content_base64, validate=True))


@final
@attrs.frozen(kw_only=True)
class RunnerFacts:
    """The runner package (§4.3, §8 step 2, §9.2)."""

    origin: str = attrs.field(metadata=doc("the runner directory, resolved"))
    has_dropbear: bool = attrs.field(metadata=doc("is dropbearmulti.<arch>.bin there"))
    files: Mapping[str, RunnerFile] = attrs.field(
        metadata=doc(
            "the ten files prepare_scratch copies, by name (§4.3)",
            propertyNames={"enum": sorted(RUNNER_ASSETS)},
        )
    )
    listing: tuple[str, ...] | None = attrs.field(
        default=None,
        metadata=doc("every name in the directory (krunner mounts, §9.2); null: none"),
    )

    def get(self, name: str) -> RunnerFile | None:
        """The copied file ``name``, if the package has it."""
        return self.files.get(name)

    def has(self, name: str) -> bool:
        """True if the runner directory holds ``name``."""
        return name in (self.listing or ())


@final
@attrs.frozen(kw_only=True)
class HostProbes:
    """The host paths legacy probes for intrinsic mounts and RDMA (§5, §7)."""

    platform: str = attrs.field(default="linux", metadata=doc("sys.platform"))
    etc_localtime: bool = attrs.field(metadata=doc("/etc/localtime exists"))
    etc_timezone: bool = attrs.field(metadata=doc("/etc/timezone exists"))
    lxcfs: bool = attrs.field(metadata=doc("/var/lib/lxcfs is a directory"))
    lxcfs_proc: tuple[str, ...] = attrs.field(
        default=(), metadata=doc("non-empty entries of /var/lib/lxcfs/proc, in order")
    )
    lxcfs_cpu: bool = attrs.field(metadata=doc("lxcfs sys/devices/system/cpu exists"))
    lxcfs_cpu_online: bool = attrs.field(metadata=doc("... and cpu/online"))
    infiniband: bool = attrs.field(metadata=doc("/dev/infiniband/uverbs0 exists"))


@final
@attrs.frozen(kw_only=True)
class DeviceMount:
    """One ``MountInfo`` a device plugin's ``generate_mounts`` returns (§9.3)."""

    mode: Literal["bind", "volume", "tmpfs"] = attrs.field(
        default="bind", metadata=doc("mount type")
    )
    source: str = attrs.field(metadata=doc("host path or volume name"))
    target: str = attrs.field(metadata=doc("path in the container"))


@final
@attrs.frozen(kw_only=True)
class PluginFile:
    """A file a device plugin writes under ``config/<device>`` while mounting."""

    content_base64: str = attrs.field(metadata=doc("its content"))
    mode: str | None = attrs.field(
        default=None,
        metadata=doc("its mode; null: the agent's umask", pattern="^0o[0-7]{1,5}$"),
    )

    @cached_property
    def content(self) -> bytes:
        """The decoded content."""
        return base64.b64decode(self.content_base64, validate=True)


@final
@attrs.frozen(kw_only=True)
class AttachedDevice:
    """One ``get_attached_devices`` item (§2 B9, B10)."""

    device_id: str = attrs.field(metadata=doc("the plugin's device id"))
    model_name: str = attrs.field(metadata=doc("GPU_MODEL_NAME of the first one"))
    data: JsonObject = attrs.field(metadata=doc("{'mem': bytes, ...}"))


@final
@attrs.frozen(kw_only=True)
class DeviceFacts:
    """What one compute plugin (not cpu or mem) answers for this kernel (§9.3).

    The agent passes its plugins' answers for the allocation it made; the bridge
    drives legacy with plugins that answer the same.
    """

    slot_types: Mapping[str, SlotType] = attrs.field(
        metadata=doc("the plugin's slot types, in order (A8, §12.2)")
    )
    docker_args: JsonObject = attrs.field(
        factory=lambda: JsonObject(()),
        metadata=doc("generate_docker_args: merged once per allocated slot"),
    )
    mounts: tuple[DeviceMount, ...] = attrs.field(
        default=(), metadata=doc("generate_mounts: read-only mounts")
    )
    files: Mapping[str, PluginFile] = attrs.field(
        default=MappingProxyType({}),
        metadata=doc("files generate_mounts writes into config/<device>"),
    )
    hooks: tuple[str, ...] = attrs.field(
        default=(), metadata=doc("get_hooks: absolute library paths (LD_PRELOAD)")
    )
    additional_gids: tuple[int, ...] = attrs.field(
        default=(), metadata=doc("get_additional_gids")
    )
    allowed_syscalls: tuple[str, ...] = attrs.field(
        default=(), metadata=doc("get_additional_allowed_syscalls (§14.3)")
    )
    attached_devices: tuple[AttachedDevice, ...] = attrs.field(
        default=(), metadata=doc("get_attached_devices")
    )
    resource_data: Mapping[str, str] = attrs.field(
        default=MappingProxyType({}),
        metadata=doc("generate_resource_data: resource.txt lines (§12.2 step 6)"),
    )
    networks: tuple[str, ...] = attrs.field(
        default=(), metadata=doc("get_docker_networks: attached after start")
    )


@final
@attrs.frozen(kw_only=True)
class Facts:
    """Everything observed on the host (see the module docstring)."""

    is_root: bool = attrs.field(metadata=doc("the agent runs as root"))
    uid: int = attrs.field(metadata=doc("the agent's uid", minimum=0))
    gid: int = attrs.field(metadata=doc("the agent's gid", minimum=0))
    umask: str = attrs.field(metadata=doc("its umask", pattern="^0o[0-7]{1,5}$"))
    arch: str = attrs.field(  # a part of file and volume names (§9.2)
        default="x86_64",
        metadata=doc("the agent's architecture (§2 A5)", pattern="^[A-Za-z0-9_-]+$"),
    )
    scratch_root_resolved: str | None = attrs.field(
        default=None, metadata=doc("the scratch root, symlinks resolved")
    )
    runner: RunnerFacts = attrs.field(metadata=doc("the runner package"))
    krunner_python: Mapping[str, str | None] = attrs.field(
        default=MappingProxyType({}),
        metadata=doc(
            "krunner distro key -> its python version; null: the package has no "
            "version file (3.6); absent: no such package (§9.2)"
        ),
    )
    scratch: tuple[Json, ...] = attrs.field(
        default=(), metadata=doc("the kernel's existing scratch, tree format")
    )
    contents: Mapping[str, str] | None = attrs.field(
        default=None, metadata=doc("sha256 -> base64 of small existing files")
    )
    host: HostProbes = attrs.field(metadata=doc("host probes"))
    docker_volumes: tuple[str, ...] | None = attrs.field(
        default=None, metadata=doc("Docker's volume names (§5 row 8)")
    )
    image_present: bool | None = attrs.field(
        default=None, metadata=doc("is the image in the daemon; null: unknown")
    )
    image_id: str | None = attrs.field(
        default=None, metadata=doc("the local image's id (auto_pull digest, A6)")
    )
    image_distro: str | None = attrs.field(
        default=None,
        metadata=doc("the base distro legacy probes when the image has no label"),
    )
    seccomp_profile_base64: str | None = attrs.field(
        default=None, metadata=doc("the runner's default-seccomp.json (§14.3)")
    )
    devices: Mapping[str, DeviceFacts] = attrs.field(
        default=MappingProxyType({}),
        metadata=doc("compute plugins other than cpu and mem, in the agent's order"),
    )
    host_ports: tuple[int, ...] | None = attrs.field(
        default=None,
        metadata=doc("free host ports, oldest first; null: the port range (§14.1)"),
    )
    rlimits: Mapping[str, tuple[int, int]] = attrs.field(
        default=MappingProxyType({}),
        metadata=doc("the agent's nofile/memlock [soft, hard], -1 unlimited (§14.2)"),
    )
    container_opts: tuple[JsonObject, ...] = attrs.field(
        default=(),
        metadata=doc("agent-docker-container-opts.json files found, in order (§14.4)"),
    )
    socket_proxy_tokens: tuple[str, ...] = attrs.field(
        default=(),
        metadata=doc("24-hex names of the domain-socket proxies (§5 row 11)"),
    )

    @cached_property
    def scratch_tree(self) -> Tree:
        """The existing scratch as a tree (checked when the document was read)."""
        return tree_from_document([thaw(entry) for entry in self.scratch])

    @cached_property
    def runner_blobs(self) -> Mapping[int, Blob]:
        """The runner files' blobs, by the identity of their content.

        Hashed once per process (``_runner_blob``): the runner's fonts are most of
        the bytes a plan writes, and ``Draft.write`` would otherwise hash them on
        every compile.
        """
        blobs = [f.blob for f in self.runner.files.values()]
        return MappingProxyType({id(blob.data): blob for blob in blobs})

    def known_blob(self, data: bytes) -> Blob | None:
        """The blob of ``data`` when it is one of the runner files' contents."""
        blob = self.runner_blobs.get(id(data))
        return blob if blob is not None and blob.data is data else None

    @cached_property
    def content_table(self) -> Mapping[str, bytes]:
        """Digest -> bytes: runner files, plugin files and small scratch files."""
        table = {blob.digest: blob.data for blob in self.runner_blobs.values()}
        for digest, text in (self.contents or {}).items():
            table[digest] = base64.b64decode(text, validate=True)
        return MappingProxyType(table)

    def content(self, digest: str) -> bytes | None:
        """The bytes with ``digest``, if the facts carry them."""
        return self.content_table.get(digest)

    @property
    def umask_bits(self) -> int:
        """The umask as an int."""
        return int(self.umask, 8)

    @cached_property
    def seccomp_profile(self) -> bytes | None:
        """The decoded seccomp profile."""
        text = self.seccomp_profile_base64
        return None if text is None else base64.b64decode(text, validate=True)
