"""Named constructors for ``Context``: the only place that reads raw inputs.

``context_from_document`` reads a context file (docs/context.md); every field is
typed and unknown fields are refused. ``context_from_agent`` reads the agent's own
mappings (``kernel_config``, ``cluster_info``, a ``local_config`` dump) and ignores
the many agent config sections and manager fields provisioning does not use.
Both return a ``ContextError`` naming the first bad field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath

import orjson
from returns.result import Failure, Result, Success

from effects import Invalid, JsonObject, Reader, freeze_object

from ._binary_size import parse_binary_size
from ._context import (
    SCRATCH_TYPES,
    ClusterInfo,
    Context,
    Dotfile,
    Facts,
    Image,
    KernelConfig,
    LocalConfig,
    ScratchType,
    SshKeyPair,
    is_scratch_type,
)
from ._facts_parse import facts_from_reader
from ._field_readers import (
    amount,
    int_list,
    opt_text,
    ordered_text_map,
    text,
    text_list,
)
from ._resource_parse import environ_of, mounts_of, resource_data_of, resource_spec_of
from .errors import ContextError

__all__ = ["canonical_kernel_id", "context_from_agent", "context_from_document"]

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
TOP_LEVEL_EXTRA = frozenset({"$schema", "comment"})
MANAGER_FIELDS = frozenset(
    {
        "image",
        "kernel_id",
        "session_id",
        "auto_pull",
        "session_type",
        "cluster_mode",
        "cluster_idx",
        "local_rank",
        "package_directory",
        "idle_timeout",
        "startup_command",
        "allocated_host_ports",
        "scaling_group",
        "agent_addr",
        "endpoint_id",
    }
)
IMAGE_EXTRA = frozenset({"project", "repo_digest", "registry", "auto_pull"})
INTERNAL_EXTRA = frozenset(
    {"prevent_vfolder_mounts", "sudo_session_enabled", "model_definition"}
)
CONTAINER_UNUSED = frozenset(
    {
        "port_range",
        "port_reuse_cooldown_sec",
        "stats_type",
        "scratch_nfs_address",
        "scratch_nfs_options",
        "swarm_enabled",
        "advertised_host",
        "krunner_volumes",
    }
)
AGENT_SECTIONS = frozenset(
    {
        "resource",
        "pyroscope",
        "logging",
        "otel",
        "service_discovery",
        "etcd",
        "api",
        "kernel_lifecycles",
        "plugins",
        "redis",
        "agents",
    }
)


def context_from_document(document: object) -> Result[Context, ContextError]:
    """Build a ``Context`` from a parsed context file (facts included)."""
    try:
        doc = Reader(document, "")
        return Success(
            _context(doc, lambda: facts_from_reader(doc.child("facts")), strict=True)
        )
    except Invalid as exc:
        return Failure(ContextError(field=exc.field, reason=exc.reason))


def context_from_agent(
    *,
    kernel_id: str,
    session_id: str,
    agent_id: str,
    kernel_config: Mapping[str, object],
    cluster_info: Mapping[str, object],
    local_config: Mapping[str, object],
    facts: Facts,
    restarting: bool = False,
    environ: Mapping[str, str] | None = None,
    resource_spec: Mapping[str, object] | None = None,
    mounts: list[Mapping[str, object]] | None = None,
    computer_docker_args: Mapping[str, object] | None = None,
    resource_data: Mapping[str, Mapping[str, str]] | None = None,
) -> Result[Context, ContextError]:
    """Build a ``Context`` from the agent's own objects, as ``create_kernel`` has them.

    ``kernel_config["image"]`` supplies the image; ``local_config`` may be a whole
    ``AgentUnifiedConfig.model_dump(by_alias=True)``.
    """
    document: dict[str, object] = {
        "kernel_id": kernel_id,
        "session_id": session_id,
        "agent_id": agent_id,
        "restarting": restarting,
        "image": kernel_config.get("image"),
        "kernel_config": kernel_config,
        "cluster_info": cluster_info,
        "local_config": local_config,
    }
    optional = {
        "environ": environ,
        "resource_spec": resource_spec,
        "mounts": mounts,
        "computer_docker_args": computer_docker_args,
        "resource_data": resource_data,
    }
    document.update(
        {key: value for key, value in optional.items() if value is not None}
    )
    try:
        return Success(_context(Reader(document, ""), lambda: facts, strict=False))
    except Invalid as exc:
        return Failure(ContextError(field=exc.field, reason=exc.reason))


def _context(doc: Reader, read_facts: Callable[[], Facts], *, strict: bool) -> Context:
    kernel_id = _kernel_id(doc)
    image = _image(doc.child("image"), strict=strict)
    kernel_config = _kernel_config(doc.child("kernel_config"), strict=strict)
    facts = read_facts()  # after the kernel's own fields, whose errors come first
    local = _local_config(doc.child("local_config"), facts, strict=strict)
    docker_args = _optional_object(doc, "computer_docker_args")
    context = Context(
        kernel_id=kernel_id,
        session_id=text(doc, "session_id"),
        agent_id=text(doc, "agent_id"),
        restarting=doc.boolean("restarting") if doc.has("restarting") else False,
        image=image,
        kernel_config=kernel_config,
        cluster=_cluster_info(doc.child("cluster_info"), strict=strict),
        local=local,
        environ=environ_of(doc, kernel_config, local, image),
        resource_spec=resource_spec_of(doc, kernel_config, strict=strict),
        mounts=mounts_of(doc, strict=strict),
        computer_env=text_list(
            Reader(docker_args, doc.field("computer_docker_args")), "Env"
        ),
        computer_docker_args=_frozen(doc, "computer_docker_args"),
        resource_data=resource_data_of(doc),
        facts=facts,
    )
    for key in TOP_LEVEL_EXTRA:
        doc.has(key)
    if strict:
        doc.done()
    return context


def _kernel_id(doc: Reader) -> str:
    """The kernel id as legacy spells its directory: a UUID in canonical form."""
    value = canonical_kernel_id(text(doc, "kernel_id"))
    if not value or "/" in value or value in {".", ".."} or "\x00" in value:
        doc.fail("kernel_id", f"{value!r} cannot name a directory in the scratch root")
    return value


def canonical_kernel_id(value: str) -> str:
    """A UUID id in canonical lower-case form (legacy's directory name); else as is."""
    if _UUID.fullmatch(value.strip().lower().removeprefix("urn:uuid:").strip("{}")):
        return str(uuid.UUID(value))
    return value


def _image(image: Reader, *, strict: bool) -> Image:
    labels = ordered_text_map(image, "labels")
    result = Image(
        canonical=text(image, "canonical"),
        labels=labels,
        is_local=image.boolean("is_local") if image.has("is_local") else False,
        architecture=text(image, "architecture", "x86_64"),
        digest=opt_text(image, "digest"),
    )
    _finish(image, IMAGE_EXTRA, strict=strict)
    return result


def _kernel_config(config: Reader, *, strict: bool) -> KernelConfig:
    internal = config.optional("internal_data")
    data = Reader({} if internal is None else internal, config.field("internal_data"))
    result = KernelConfig(
        uid=config.opt_integer("uid", 0),
        main_gid=config.opt_integer("main_gid", 0),
        supplementary_gids=int_list(config, "supplementary_gids"),
        bootstrap_script=opt_text(config, "bootstrap_script"),
        environ=ordered_text_map(config, "environ"),
        resource_slots=_resource_slots(config),
        resource_opts=_frozen(config, "resource_opts"),
        network_id=text(config, "network_id", ""),
        cluster_hostname=text(config, "cluster_hostname"),
        cluster_role=text(config, "cluster_role", "main"),
        preopen_ports=int_list(config, "preopen_ports"),
        owner_user_id=opt_text(config, "owner_user_id"),
        owner_project_id=opt_text(config, "owner_project_id"),
        docker_credentials_json=_truthy_json(data, "docker_credentials"),
        ssh_keypair=_keypair(data, "ssh_keypair"),
        dotfiles=_dotfiles(data),
        domain_socket_proxies=text_list(data, "domain_socket_proxies"),
        block_service_ports=bool(data.optional("block_service_ports")),
    )
    config.has("mounts")
    if config.has("mounts") and not isinstance(config.optional("mounts"), list | None):
        config.fail("mounts", "expected a list of vfolder mounts")
    _finish(data, INTERNAL_EXTRA, strict=strict)
    _finish(config, MANAGER_FIELDS, strict=strict)
    return result


def _resource_slots(config: Reader) -> tuple[tuple[str, str], ...]:
    """``ResourceSlot.from_json``: amounts as ``str(Decimal)``, ``None`` dropped."""
    slots = config.optional("resource_slots") or {}
    if not isinstance(slots, Mapping):
        config.fail("resource_slots", "expected an object of amounts")
    field = config.field("resource_slots")
    return tuple(
        (str(name), amount(value, f"{field}.{name}"))
        for name, value in slots.items()
        if value is not None
    )


def _keypair(reader: Reader, key: str) -> SshKeyPair | None:
    value = reader.optional(key)
    if not value:
        return None  # legacy tests the key pair for truthiness
    pair = Reader(value, reader.field(key))
    result = SshKeyPair(
        public_key=text(pair, "public_key"), private_key=text(pair, "private_key")
    )
    pair.done()
    return result


def _dotfiles(data: Reader) -> tuple[Dotfile, ...]:
    if data.optional("dotfiles") is None:
        return ()
    items = []
    for index, raw in enumerate(data.array("dotfiles")):
        item = Reader(raw, f"{data.field('dotfiles')}[{index}]")
        items.append(
            Dotfile(
                path=text(item, "path"),
                data=text(item, "data"),
                perm=text(item, "perm"),
            )
        )
        item.done()
    return tuple(items)


def _truthy_json(reader: Reader, key: str) -> bytes | None:
    value = reader.optional(key)
    if not value:
        return None
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        reader.fail(key, f"not JSON-serialisable: {exc}")


def _cluster_info(info: Reader, *, strict: bool) -> ClusterInfo:
    network = _optional_object(info, "network_config")
    net = Reader(network, info.field("network_config"))
    mapping = info.optional("cluster_ssh_port_mapping")
    if mapping is not None and not isinstance(mapping, Mapping):
        info.fail(
            "cluster_ssh_port_mapping", "expected an object of [host, port] pairs"
        )
    result = ClusterInfo(
        mode=text(info, "mode", "single-node"),
        size=info.integer("size", 1) if info.has("size") else 1,
        network_mode=opt_text(net, "mode"),
        network_name=opt_text(net, "network_name"),
        ssh_keypair=_keypair(info, "ssh_keypair"),
        port_mapping_json=orjson.dumps(mapping) if mapping else None,
    )
    info.has("replicas")
    if strict:
        info.done()
    return result


def _local_config(config: Reader, facts: Facts, *, strict: bool) -> LocalConfig:
    container = _dashless(config, "container")
    agent = _dashless(config, "agent", required=False)
    debug = _dashless(config, "debug", required=False)
    logs = _dashless(config, "container_logs", required=False)
    coredump = Reader(debug.optional("coredump") or {}, debug.field("coredump"))
    result = LocalConfig(
        scratch_root=_absolute(container, "scratch_root"),
        scratch_type=_scratch_type(container),
        scratch_size=_size(container, "scratch_size"),
        kernel_uid=_resolved_id(container, "kernel_uid", facts.uid),
        kernel_gid=_resolved_id(container, "kernel_gid", facts.gid),
        sandbox_type=text(container, "sandbox_type", "docker"),
        jail_args=text_list(container, "jail_args"),
        alternative_bridge=opt_text(container, "alternative_bridge"),
        bind_host=text(container, "bind_host", ""),
        ipc_base_path=_absolute(agent, "ipc_base_path", "/tmp/backend.ai/ipc"),  # noqa: S108
        coredump_enabled=bool(coredump.optional("enabled")),
        coredump_path=text(coredump, "path", "./coredumps"),
        coredump_core_path=text(coredump, "core_path", "/var/crash"),
        kernel_runner_debug=bool(debug.optional("kernel_runner")),
        container_log_driver=text(logs, "driver", "local"),
        container_log_max_length=_size(logs, "max_length", 10 * 2**20),
    )
    if strict:
        for reader, extra in ((container, CONTAINER_UNUSED), (config, AGENT_SECTIONS)):
            _finish(reader, extra, strict=True)
    return result


def _dashless(config: Reader, key: str, *, required: bool = True) -> Reader:
    if not required and config.optional(key) is None:
        return Reader({}, config.field(key))
    value = config.raw(key)
    if not isinstance(value, Mapping):
        config.fail(key, "expected an object")
    normalised: dict[str, object] = {}
    for name, item in value.items():
        plain = str(name).replace("-", "_")
        if plain in normalised:
            config.fail(f"{key}.{name}", f"given twice (as {plain!r} too)")
        normalised[plain] = item
    return Reader(normalised, config.field(key))


def _absolute(reader: Reader, key: str, default: str | None = None) -> PurePosixPath:
    value = text(reader, key, default)
    path = PurePosixPath(value)
    if not path.is_absolute() or "\x00" in value or ".." in path.parts:
        reader.fail(key, f"{value!r} must be an absolute path without '..'")
    return path


def _scratch_type(container: Reader) -> ScratchType:
    value = text(container, "scratch_type", "hostdir")
    if not is_scratch_type(value):
        container.fail(
            "scratch_type", f"{value!r} is not one of {', '.join(SCRATCH_TYPES)}"
        )
    return value


def _size(reader: Reader, key: str, default: int = 0) -> int:
    if not reader.has(key):
        return default
    value = reader.raw(key)
    size = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str):
        size = parse_binary_size(value)
    if size is None or size < 0:
        reader.fail(key, f"{value!r} is not a size (bytes, or like '64m', '1g')")
    return size


def _resolved_id(container: Reader, key: str, own: int) -> int:
    value = container.integer(key, -1) if container.has(key) else -1
    return own if value == -1 else value  # -1 means "the agent's own id" (§1.1)


def _optional_object(reader: Reader, key: str) -> Mapping[str, object]:
    value = reader.optional(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        reader.fail(key, "expected an object")
    return value


def _frozen(reader: Reader, key: str) -> JsonObject:
    try:
        return freeze_object(_optional_object(reader, key))
    except (TypeError, ValueError) as exc:
        raise Invalid(reader.field(key), str(exc)) from exc


def _finish(reader: Reader, extra: frozenset[str], *, strict: bool) -> None:
    for key in extra:
        reader.has(key)
    if strict:
        reader.done()
