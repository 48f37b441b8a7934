"""The context document: its top level, and how it becomes a ``Context``.

Theory of operation
-------------------
A context document (docs/context.md) holds the agent's inputs to ``create_kernel``
and the facts. Reading one is three steps, each returning every problem found:

1. *normalise* the raw JSON the way the agent would see it: the agent's config
   accepts ``scratch-root`` and ``scratch_root`` alike, so section keys lose their
   dashes (a key given in both spellings is refused); ``kernel_config`` takes the
   manager's usual value for a key it lacks and the top-level ``image``,
   ``kernel_id`` and ``session_id`` when it has none of its own; ``cluster_info``
   takes single-node defaults. What legacy receives is
   exactly this normalised document (``legacy_inputs``), so kplan and the legacy
   bridge can never disagree about defaults;
2. *structure* it into the typed classes (``planner._structure``): types and the
   fields' schema keywords checked, unknown keys refused;
3. *check* what types cannot say: ids, absolute paths, sizes, amounts, base64,
   the scratch tree.

Fields the first context format carried pre-digested (``environ``, ``mounts``,
``computer_docker_args``, ``resource_data`` and the derived parts of
``resource_spec``) are accepted for compatibility, type-checked, not used: kplan
derives them. Each one present adds a note to ``Context.notes``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import typing
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import final

import attrs
import orjson
from returns.result import Failure, Result, Success

from effects import (
    Json,
    JsonObject,  # noqa: F401  (cattrs resolves the string alias Json here too)
    is_port,
)
from effects.decoding import Invalid

from ._binary_size import LARGEST_SIZE, parse_binary_size
from ._context import Allocations, Context
from ._facts import Facts
from ._image_ref import ImageRefError, image_ref, registry_of
from ._inputs import (
    DASHLESS,
    ClusterInfo,
    ImageConfig,
    KernelConfig,
    LocalConfig,
    doc,
)
from ._structure import kind_of, structure
from .errors import ContextError

__all__ = [
    "ContextDocument",
    "ResourceSpecDocument",
    "agent_document",
    "canonical_kernel_id",
    "context_from_document",
    "context_with_facts",
    "legacy_inputs",
    "read_document",
]

Errors = tuple[ContextError, ...]
Amount = str | int | float  # decimal text or a number (checked in step 3)
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
# What the manager always sends; a context may leave these out (docs/context.md).
MANAGER_DEFAULTS: Mapping[str, object] = MappingProxyType(
    {
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
)
CLUSTER_DEFAULTS: Mapping[str, object] = MappingProxyType(
    {
        "mode": "single-node",
        "size": 1,
        "replicas": {},
        "network_config": {},
        "ssh_keypair": None,
        "cluster_ssh_port_mapping": None,
    }
)


@final
@attrs.frozen(kw_only=True)
class ResourceSpecDocument:
    """``resource_spec``: the allocation the agent's ``allocate()`` made (§6)."""

    allocations: Mapping[str, Mapping[str, Mapping[str, Amount]]] = attrs.field(
        default=MappingProxyType({}),
        metadata=doc("device -> slot -> device id -> amount, in allocation order"),
    )
    slots: Mapping[str, Json] | None = attrs.field(
        default=None, metadata=doc("superseded: derived from resource_slots")
    )
    unified_devices: tuple[tuple[str, str], ...] | None = attrs.field(
        default=None, metadata=doc("superseded: derived from the plugins")
    )
    scratch_disk_size: int | None = attrs.field(
        default=None, metadata=doc("superseded: always 0")
    )
    known_slot_types: Mapping[str, str] | None = attrs.field(
        default=None, metadata=doc("superseded: the plugins' slot types")
    )


@final
@attrs.frozen(kw_only=True)
class ContextDocument:
    """A context file (docs/context.md); ``facts`` may be left for kplan to gather."""

    kernel_id: str = attrs.field(metadata=doc("the kernel id (a UUID)", minLength=1))
    session_id: str = attrs.field(metadata=doc("the session id"))
    agent_id: str = attrs.field(metadata=doc("the agent id"))
    restarting: bool = attrs.field(default=False, metadata=doc("a restart (§15)"))
    comment: str | None = attrs.field(default=None, metadata=doc("free text"))
    image: ImageConfig | None = attrs.field(
        default=None, metadata=doc("the image, when kernel_config has none")
    )
    kernel_config: KernelConfig = attrs.field(
        metadata=doc("the manager's KernelCreationConfig")
    )
    updating_kernel_config: Mapping[str, Json] = attrs.field(
        default=MappingProxyType({}),
        metadata=doc("restart: restart_kernel's update over kconfig.dat (§15)"),
    )
    cluster_info: ClusterInfo = attrs.field(
        factory=ClusterInfo, metadata=doc("the session's ClusterInfo")
    )
    local_config: LocalConfig = attrs.field(metadata=doc("the agent's local config"))
    resource_spec: ResourceSpecDocument = attrs.field(
        factory=ResourceSpecDocument, metadata=doc("the agent's allocation")
    )
    facts: Facts | None = attrs.field(
        default=None, metadata=doc("observed host facts; gathered by the CLI if absent")
    )
    environ: Mapping[str, str] | None = attrs.field(
        default=None, metadata=doc("superseded: kplan derives the environ")
    )
    mounts: tuple[Json, ...] | None = attrs.field(
        default=None, metadata=doc("superseded: kplan derives the mounts")
    )
    computer_docker_args: Json = attrs.field(
        default=None, metadata=doc("superseded: kplan derives the devices' args")
    )
    resource_data: Json = attrs.field(
        default=None, metadata=doc("superseded: give facts.devices.*.resource_data")
    )


SUPERSEDED = ("environ", "mounts", "computer_docker_args", "resource_data")
SUPERSEDED_SPEC = ("slots", "unified_devices", "scratch_disk_size", "known_slot_types")


def canonical_kernel_id(value: str) -> str:
    """A UUID id in canonical lower-case form (legacy's directory name); else as is."""
    if _UUID.fullmatch(value.strip().lower().removeprefix("urn:uuid:").strip("{}")):
        return str(uuid.UUID(value))
    return value


def _normalised(
    document: Mapping[str, object], clashes: list[ContextError] | None = None
) -> dict[str, object]:
    """Step 1 of the module docstring (never fails; problems surface in step 2).

    A local config key given in both spellings is kept once, and named in
    ``clashes`` when the caller asks (the agent's config refuses it too).
    """
    result = {k: v for k, v in document.items() if k != "$schema"}
    local = result.get("local_config")
    if isinstance(local, Mapping):
        found = [] if clashes is None else clashes
        result["local_config"] = _dashless(local, LocalConfig, "local_config", found)
    config = result.get("kernel_config")
    if isinstance(config, Mapping):
        result["kernel_config"] = _manager_config(result, config)
    info = result.get("cluster_info", {})
    if isinstance(info, Mapping):
        result["cluster_info"] = {
            **info,
            **{k: v for k, v in CLUSTER_DEFAULTS.items() if k not in info},
        }
    return result


def _dashless(
    section: Mapping[str, object],
    cls: type,
    where: str,
    clashes: list[ContextError],
) -> dict[str, object]:
    """``section`` (of ``cls``, a ``DASHLESS`` class) with its fields' keys in
    ``_`` spelling, its sub-sections likewise; other keys stay as given."""
    fields = _type_hints(cls)
    result: dict[str, object] = {}
    spelled: dict[str, str] = {}
    for key, value in section.items():
        plain = str(key).replace("-", "_")
        name = plain if plain in fields else str(key)
        if name in spelled:
            reason = f"given twice, as {spelled[name]!r} and {key!r}"
            clashes.append(ContextError(field=f"{where}.{name}", reason=reason))
            continue
        spelled[name] = str(key)
        sub = fields.get(name)
        if isinstance(value, Mapping) and isinstance(sub, type) and sub in DASHLESS:
            result[name] = _dashless(value, sub, f"{where}.{name}", clashes)
        else:
            result[name] = value
    return result


@functools.cache  # a class's hints never change; resolving them costs 0.1 ms
def _type_hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


def _manager_config(
    document: Mapping[str, object], config: Mapping[str, object]
) -> dict[str, object]:
    result = dict(config)
    for key in ("kernel_id", "session_id"):
        if key not in result and isinstance(document.get(key), str):
            result[key] = document[key]
    image = result.get("image", document.get("image"))
    if isinstance(image, Mapping):
        # legacy indexes every ImageConfig key (ImageRef.from_image_config)
        result["image"] = {**_image_config(image, config), **image}
    for key, value in MANAGER_DEFAULTS.items():
        result.setdefault(key, orjson.loads(orjson.dumps(value)))
    return result


def _image_config(
    image: Mapping[str, object], config: Mapping[str, object]
) -> dict[str, object]:
    """The manager's ``ImageConfig``: every key, as the manager sends it."""
    registry = image.get("registry")
    canonical = image.get("canonical")
    if registry is None and isinstance(canonical, str):
        try:
            name = registry_of(canonical)
        except ImageRefError:
            name = ""  # the image stage reports the bad name
        registry = {"name": name, "url": f"https://{name}"}
    return {
        # a missing canonical name stays missing: structuring names it required
        **({"canonical": canonical} if "canonical" in image else {}),
        "project": image.get("project"),
        "architecture": image.get("architecture", "x86_64"),
        "digest": image.get("digest") or "",
        "repo_digest": image.get("repo_digest"),
        "registry": registry,
        "labels": image.get("labels") or {},
        "is_local": image.get("is_local", False),
        "auto_pull": config.get("auto_pull", "digest"),
    }


def read_document(document: object) -> Result[ContextDocument, Errors]:
    """Normalise, structure and check a context document (``facts`` optional)."""
    if not isinstance(document, Mapping):
        return Failure((ContextError(field="(document)", reason="not a JSON object"),))
    early: list[ContextError] = []
    url = document.get("$schema", "")
    if not isinstance(url, str):
        reason = f"expected the schema's URL (a string), got {kind_of(url)}"
        early.append(ContextError(field="$schema", reason=reason))
    normalised = _normalised(document, early)
    match structure(normalised, ContextDocument):
        case Failure(errors):
            return Failure((*early, *errors))
        case Success(parsed):
            problems = (*early, *_checked(parsed))
            return Failure(problems) if problems else Success(parsed)
        case _:
            raise AssertionError("unreachable")  # returns#1361


_NO_FACTS = ContextError(
    field="facts",
    reason="is required (kplan gathers it when it plans from the command line)",
)


def context_from_document(document: object) -> Result[Context, Errors]:
    """A ``Context`` from a complete context document (facts included)."""
    if not isinstance(document, Mapping):
        return Failure((ContextError(field="(document)", reason="not a JSON object"),))
    if document.get("facts") is None:
        return Failure((_NO_FACTS,))
    return read_document(document).map(lambda d: _context(d, _normalised(document)))


def context_with_facts(
    parsed: ContextDocument, document: Mapping[str, object], facts: object
) -> Result[Context, Errors]:
    """``context_from_document`` of ``document`` with ``facts`` added, where
    ``parsed`` is what ``read_document`` gave for ``document``: only the facts
    are read now (the agent's path reads its inputs first, to know which facts
    to gather; reading them again was a tenth of a plan's time)."""
    if facts is None:
        return Failure((_NO_FACTS,))
    match structure(facts, Facts, "facts"):
        case Failure(errors):
            return Failure(errors)
        case Success(read):
            pass
        case _:
            raise AssertionError("unreachable")  # returns#1361
    problems = _check_facts(read)
    if problems:
        return Failure(tuple(problems))
    return Success(_context(attrs.evolve(parsed, facts=read), _normalised(document)))


def _context(parsed: ContextDocument, raw: Mapping[str, object]) -> Context:
    facts = parsed.facts
    assert facts is not None  # noqa: S101  (checked by the caller)
    config = parsed.kernel_config
    return Context(
        kernel_id=canonical_kernel_id(parsed.kernel_id),
        session_id=parsed.session_id,
        agent_id=parsed.agent_id,
        restarting=parsed.restarting,
        kernel_config=config,
        kernel_config_json=orjson.dumps(raw["kernel_config"]),
        updating_kernel_config_json=orjson.dumps(raw.get("updating_kernel_config", {})),
        cluster=parsed.cluster_info,
        cluster_info_json=orjson.dumps(raw["cluster_info"]),
        local=parsed.local_config,
        allocations=_allocations(parsed.resource_spec),
        facts=facts,
        notes=_notes(parsed),
    )


def legacy_inputs(ctx: Context) -> dict[str, object]:
    """What legacy's ``create_kernel`` receives for ``ctx``: the normalised inputs."""
    return {
        "kernel_config": orjson.loads(ctx.kernel_config_json),
        "cluster_info": orjson.loads(ctx.cluster_info_json),
        "updating_kernel_config": orjson.loads(ctx.updating_kernel_config_json),
    }


def _allocations(spec: ResourceSpecDocument) -> Allocations:
    return tuple(
        (
            device,
            tuple(
                (slot, tuple((dev, str(Decimal(str(a)))) for dev, a in per_dev.items()))
                for slot, per_dev in slots.items()
            ),
        )
        for device, slots in spec.allocations.items()
    )


def _notes(parsed: ContextDocument) -> tuple[str, ...]:
    given = [name for name in SUPERSEDED if getattr(parsed, name) is not None]
    given += [
        f"resource_spec.{name}"
        for name in SUPERSEDED_SPEC
        if getattr(parsed.resource_spec, name) is not None
    ]
    return tuple(
        f"{name}: superseded; kplan derives it from the agent's inputs, "
        "the given value is not used"
        for name in given
    )


# --- step 3: what types cannot say ---------------------------------------------------


def _checked(parsed: ContextDocument) -> Errors:
    problems: list[ContextError] = []
    problems += _check_ids(parsed)
    problems += _check_local(parsed.local_config)
    problems += _check_kernel_config(parsed.kernel_config, parsed.image)
    problems += _check_allocations(parsed.resource_spec)
    if parsed.facts is not None:
        problems += _check_facts(parsed.facts)
    return tuple(problems)


def _check_ids(parsed: ContextDocument) -> list[ContextError]:
    """Ids are UUIDs: the agent's RPC parses them so (``KernelId(UUID(...))``)."""
    problems = [
        ContextError(field=name, reason=f"{value!r} is not a UUID")
        for name, value in (
            ("kernel_id", parsed.kernel_id),
            ("session_id", parsed.session_id),
        )
        if not _is_uuid(value)
    ]
    kernel_id = canonical_kernel_id(parsed.kernel_id)
    given = parsed.kernel_config.kernel_id
    if given is not None and canonical_kernel_id(given) != kernel_id:
        reason = f"{given!r} differs from the top-level kernel_id {parsed.kernel_id!r}"
        problems.append(ContextError(field="kernel_config.kernel_id", reason=reason))
    return problems


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _check_local(local: LocalConfig) -> list[ContextError]:
    problems = []
    for field, value in (
        ("local_config.container.scratch_root", local.container.scratch_root),
        ("local_config.agent.ipc_base_path", local.agent.ipc_base_path),
    ):
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts or "\x00" in value:
            reason = f"{value!r} must be an absolute path without '..' or NUL"
            problems.append(ContextError(field=field, reason=reason))
    for field, size in (
        ("local_config.container.scratch_size", local.container.scratch_size),
        ("local_config.container_logs.max_length", local.container_logs.max_length),
    ):
        if size_of(size) is None:
            reason = f"{size!r} is not a size (bytes, or like '64m', '1g')"
            problems.append(ContextError(field=field, reason=reason))
    start, end = local.container.port_range
    if not (is_port(start) and is_port(end) and start <= end):
        reason = f"[{start}, {end}] is not a range of ports"
        problems.append(
            ContextError(field="local_config.container.port_range", reason=reason)
        )
    return problems


def size_of(value: int | str) -> int | None:
    """Bytes for an int or a size text like ``'64m'`` (``None`` if it is not one)."""
    if isinstance(value, int):
        return value if value >= 0 else None
    return parse_binary_size(value)


def _check_kernel_config(
    config: KernelConfig, image: ImageConfig | None
) -> list[ContextError]:
    problems = []
    if config.image is None:
        problems.append(
            ContextError(
                field="kernel_config.image", reason="is required (or a top-level image)"
            )
        )
    elif image is not None and image.canonical != config.image.canonical:
        reason = f"{image.canonical!r} differs from kernel_config.image.canonical"
        problems.append(ContextError(field="image.canonical", reason=reason))
    else:
        try:
            image_ref(config.image)
        except ImageRefError as exc:
            problems.append(
                ContextError(field="kernel_config.image.canonical", reason=str(exc))
            )
    for name, value in config.resource_slots.items():
        where = f"kernel_config.resource_slots.{name}"
        if value is not None and _amount(value) is None:
            problems.append(ContextError(field=where, reason=f"{value!r} {NOT_AMOUNT}"))
    return problems


def _amount(value: object) -> Decimal | None:
    """The amount ``value`` is, or ``None``: not a finite number, or beyond
    ``LARGEST_AMOUNT`` in size."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) <= LARGEST_AMOUNT else None


# No slot holds more than the largest size; "1e999999" would cost legacy's int()
# of it, and the planner's, half a minute.
LARGEST_AMOUNT = Decimal(LARGEST_SIZE)
NOT_AMOUNT = "is not an amount (a finite number, at most 2**64 in size)"


def _check_allocations(spec: ResourceSpecDocument) -> list[ContextError]:
    return [
        ContextError(
            field=f"resource_spec.allocations.{device}.{slot}.{dev}",
            reason=f"{amount!r} {NOT_AMOUNT}",
        )
        for device, slots in spec.allocations.items()
        for slot, per_dev in slots.items()
        for dev, amount in per_dev.items()
        if _amount(amount) is None
    ]


def _check_facts(facts: Facts) -> list[ContextError]:
    problems = []
    for name, item in facts.runner.files.items():
        try:
            _ = item.blob  # decoded as the planner decodes it (once per process)
        except ValueError as exc:  # binascii.Error, or text not ASCII
            where = f"facts.runner.files.{name}.content_base64"
            problems.append(ContextError(field=where, reason=f"invalid base64: {exc}"))
    for digest, text in (facts.contents or {}).items():
        problems += _check_content(f"facts.contents.{digest}", digest, text)
    for device, answers in facts.devices.items():
        for name, plugin_file in answers.files.items():
            where = f"facts.devices.{device}.files.{name}"
            problems += _check_base64(
                f"{where}.content_base64", plugin_file.content_base64
            )
            if "/" in name or name in {"", ".", ".."}:
                problems.append(ContextError(field=where, reason="not a file name"))
    if facts.seccomp_profile_base64 is not None:
        problems += _check_base64(
            "facts.seccomp_profile_base64", facts.seccomp_profile_base64
        )
    problems += _check_ports("facts.host_ports", facts.host_ports or ())
    try:
        _ = facts.scratch_tree  # what the planner decodes
    except Invalid as exc:
        inside = "" if exc.field.startswith("(") else exc.field  # "(document)"
        problems.append(ContextError(field=f"facts.scratch{inside}", reason=exc.reason))
    return problems


def _check_ports(where: str, ports: Iterable[int]) -> list[ContextError]:
    return [
        ContextError(field=f"{where}[{index}]", reason=f"{port} is not a port number")
        for index, port in enumerate(ports)
        if not is_port(port)
    ]


def _check_content(where: str, digest: str, text: str) -> list[ContextError]:
    try:  # decoded once: a restart's contents hold the old kconfig.dat, MBs
        data = base64.b64decode(text, validate=True)
    except ValueError as exc:  # binascii.Error, or text not ASCII
        return [ContextError(field=where, reason=f"invalid base64: {exc}")]
    if hashlib.sha256(data).hexdigest() != digest:
        return [
            ContextError(field=where, reason="content does not match its sha256 key")
        ]
    return []


def _check_base64(where: str, text: str) -> list[ContextError]:
    try:
        base64.b64decode(text, validate=True)
    except ValueError as exc:  # binascii.Error, or text not ASCII
        return [ContextError(field=where, reason=f"invalid base64: {exc}")]
    return []


def agent_document(
    *,
    kernel_id: str,
    session_id: str,
    agent_id: str,
    kernel_config: Mapping[str, object],
    cluster_info: Mapping[str, object],
    local_config: Mapping[str, object],
    allocations: Mapping[str, object],
    facts: Mapping[str, object] | None = None,
    restarting: bool = False,
    updating_kernel_config: Mapping[str, object] | None = None,
    image: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The context document of the agent's own objects (``context_from_agent``'s
    arguments), as plain JSON: ``Decimal`` amounts, ``Path``s and ``UUID``s as text.

    Without ``facts`` it is a document whose facts are still to gather.
    """
    document: dict[str, object] = {
        "kernel_id": kernel_id,
        "session_id": session_id,
        "agent_id": agent_id,
        "restarting": restarting,
        "kernel_config": kernel_config,
        "cluster_info": cluster_info,
        "local_config": local_config,
        "resource_spec": {"allocations": allocations},
    }
    if facts is not None:
        document["facts"] = facts
    if updating_kernel_config is not None:
        document["updating_kernel_config"] = updating_kernel_config
    if image is not None:
        document["image"] = image
    plain = _plain(document)
    assert isinstance(plain, dict)  # noqa: S101  (a mapping stays a mapping)
    return plain


def context_from_agent(
    *,
    kernel_id: str,
    session_id: str,
    agent_id: str,
    kernel_config: Mapping[str, object],
    cluster_info: Mapping[str, object],
    local_config: Mapping[str, object],
    allocations: Mapping[str, object],
    facts: Mapping[str, object],
    restarting: bool = False,
    updating_kernel_config: Mapping[str, object] | None = None,
    image: Mapping[str, object] | None = None,
) -> Result[Context, Errors]:
    """A ``Context`` from the agent's own objects, as ``create_kernel`` has them.

    ``kernel_config`` and ``cluster_info`` are the manager's mappings, ``image``
    the image ref's fields for a ``kernel_config`` without ``image``,
    ``local_config`` the agent's config (``model_dump(by_alias=True)`` is fine),
    ``allocations`` what ``allocate()`` put in ``resource_spec.allocations`` (plain
    strings or numbers for amounts), ``facts`` the mapping ``executor.gather_facts``
    returns, with the device plugins' answers under ``devices``. Returns every
    problem, each naming its field.
    """
    return context_from_document(
        agent_document(
            kernel_id=kernel_id,
            session_id=session_id,
            agent_id=agent_id,
            kernel_config=kernel_config,
            cluster_info=cluster_info,
            local_config=local_config,
            allocations=allocations,
            facts=facts,
            restarting=restarting,
            updating_kernel_config=updating_kernel_config,
            image=image,
        )
    )


def _plain(value: object) -> object:
    """The agent's values as JSON: ``Decimal`` amounts and ``Path``s become text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal | PurePosixPath) or type(value).__name__ in {
        "PosixPath",
        "UUID",
    }:
        return str(value)
    return value
