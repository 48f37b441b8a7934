"""The one canonical plan encoding (architecture.md §2).

Theory of operation
-------------------
Each effect has one explicit encoder and decoder below; field names in the JSON are
chosen for readers of a diff, not derived from the attrs classes. Documents are
orjson with sorted keys and two-space indentation, modes are ``"0o755"`` strings and
blobs are base64 under their SHA-256, so equal plans give identical bytes in every
run and process. The plan id is the SHA-256 of the encoding with ``plan_id`` set to
the empty string and the blob table as the sorted list of its digests (format 2):
each digest already commits to its content (``decode`` checks every blob against
its digest), so the id commits to the whole plan without hashing the runner's
fonts on every compile. ``seal`` fills it in and ``decode`` refuses a plan whose id
does not match its content.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any, TypeVar

import attrs
import orjson
from returns.result import Failure, Result, Success

from ._container import (
    AllocateHostPorts,
    AppendContainerId,
    ConnectNetworks,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    ProvisionSudo,
    PullImage,
    RegisterKernel,
    ServeSocketProxy,
    StartContainer,
    VerifyContainer,
    WaitKernelReady,
)
from ._fs import Chmod, Chown, GenerateHostKey, MakeDir, MountScratch, WriteFile
from ._json import JsonObject, freeze_object, thaw_object
from ._paths import rel
from ._plan import (
    EFFECT_TYPES,
    Blob,
    Effect,
    Header,
    Plan,
    Step,
    assembled,
    plan_parts,
)
from ._reader import Invalid, Reader, parse_mode
from .errors import DecodeError

__all__ = [
    "DUMP_OPTIONS",
    "decode",
    "decode_effect",
    "describe",
    "dumps",
    "encode",
    "encode_effect",
    "json_default",
    "mode_text",
    "seal",
]

_T = TypeVar("_T")

DUMP_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def mode_text(mode: int) -> str:
    """Render a mode the way every kplan document does: ``"0o755"``."""
    return f"0o{mode:o}"


def dumps(document: object) -> bytes:
    """Canonical JSON bytes for any kplan document."""
    return orjson.dumps(document, default=json_default, option=DUMP_OPTIONS)


def encode_effect(effect: Effect, *, frozen: bool = False) -> dict[str, object]:
    """Encode one effect as a JSON object with an ``op`` field.

    Plain values; or with ``frozen``, the effect's JSON values as they are
    (``JsonObject``), for orjson with ``default=json_default``, which writes
    them without building their dicts first (a journal writes every effect).
    """
    return _ENCODERS[type(effect)](effect, _as_is if frozen else thaw_object)


# How each JSON value an effect holds goes into its encoding: thawed into plain
# dicts, or as it is for writers that give orjson ``json_default`` (``dumps``).
_Thaw = Callable[[JsonObject], object]


def _as_is(value: JsonObject) -> object:
    return value


def json_default(value: object) -> object:
    """orjson's ``default``: a ``JsonObject`` as the dict of its items."""
    if type(value) is JsonObject:
        return dict(value.items)
    msg = f"not a JSON value: {type(value).__name__}"
    raise TypeError(msg)


def _encode_mkdir(effect: MakeDir, _json: _Thaw) -> dict[str, object]:
    fields: dict[str, object] = {"op": "mkdir", "path": str(effect.path)}
    fields["mode"] = mode_text(effect.mode)
    return _owned(fields, effect)


def _encode_write(effect: WriteFile, _json: _Thaw) -> dict[str, object]:
    fields: dict[str, object] = {
        "op": "write",
        "path": str(effect.path),
        "sha256": effect.blob,
        "mode": mode_text(effect.mode),
    }
    return _owned(fields, effect)


def _owned(fields: dict[str, object], effect: MakeDir | WriteFile) -> dict[str, object]:
    """``fields`` with the owner of the entry ``effect`` makes, when it names one:
    the plans without (restarts, an agent not root) encode as before, their ids
    unchanged."""
    if effect.uid is not None or effect.gid is not None:
        fields["uid"], fields["gid"] = effect.uid, effect.gid
    return fields


def _encode_chmod(effect: Chmod, _json: _Thaw) -> dict[str, object]:
    return {"op": "chmod", "path": str(effect.path), "mode": mode_text(effect.mode)}


def _encode_chown(effect: Chown, _json: _Thaw) -> dict[str, object]:
    return {
        "op": "chown",
        "path": str(effect.path),
        "uid": effect.uid,
        "gid": effect.gid,
    }


def _encode_host_key(effect: GenerateHostKey, _json: _Thaw) -> dict[str, object]:
    return {
        "op": "hostkey",
        "path": str(effect.path),
        "kind": effect.kind,
        "bits": effect.bits,
    }


def _encode_container_config(effect: ContainerConfig, json: _Thaw) -> dict[str, object]:
    return {"op": "container-config", "fragment": json(effect.fragment)}


def _encode_socket_proxy(effect: ServeSocketProxy, _json: _Thaw) -> dict[str, object]:
    return {"op": "socket-proxy", "path": str(effect.path), "target": effect.target}


def _encode_pull(effect: PullImage, _json: _Thaw) -> dict[str, object]:
    return {
        "op": "pull-image",
        "ref": effect.ref,
        "digest": effect.digest,
        "timeout_ms": effect.timeout_ms,
    }


def _encode_ports(effect: AllocateHostPorts, _json: _Thaw) -> dict[str, object]:
    return {"op": "allocate-ports", "ports": list(effect.ports)}


def _encode_create(effect: CreateContainer, json: _Thaw) -> dict[str, object]:
    return {
        "op": "create-container",
        "name": effect.name,
        "config": json(effect.config),
    }


def _encode_container_id(effect: AppendContainerId, _json: _Thaw) -> dict[str, object]:
    return {"op": "append-container-id", "path": str(effect.path), "name": effect.name}


def _encode_start(effect: StartContainer, _json: _Thaw) -> dict[str, object]:
    return {"op": "start-container", "name": effect.name}


def _encode_sudo(effect: ProvisionSudo, _json: _Thaw) -> dict[str, object]:
    return {"op": "provision-sudo", "name": effect.name}


def _encode_networks(effect: ConnectNetworks, _json: _Thaw) -> dict[str, object]:
    return {
        "op": "connect-networks",
        "name": effect.name,
        "networks": list(effect.networks),
    }


def _encode_wait(effect: WaitKernelReady, _json: _Thaw) -> dict[str, object]:
    return {
        "op": "wait-ready",
        "name": effect.name,
        "ports": list(effect.ports),
        "timeout_ms": effect.timeout_ms,
    }


def _encode_register(effect: RegisterKernel, json: _Thaw) -> dict[str, object]:
    return {"op": "register-kernel", "record": json(effect.record)}


def _encode_verify(effect: VerifyContainer, _json: _Thaw) -> dict[str, object]:
    return {
        "op": "verify-container",
        "name": effect.name,
        "checks": list(effect.checks),
        "grace_ms": effect.grace_ms,
        "ports": [list(pair) for pair in effect.ports],
    }


def _encode_mount_scratch(effect: MountScratch, _json: _Thaw) -> dict[str, object]:
    image_mode = None if effect.image_mode is None else mode_text(effect.image_mode)
    return {
        "op": "mount-scratch",
        "kind": effect.kind,
        "path": str(effect.path),
        "size": effect.size,
        "image": None if effect.image is None else str(effect.image),
        "image_mode": image_mode,
    }


def _encode_container_mount(effect: ContainerMount, json: _Thaw) -> dict[str, object]:
    return {
        "op": "container-mount",
        "type": effect.type,
        "source": effect.source,
        "target": effect.target,
        "read_only": effect.read_only,
        "options": json(effect.options),
    }


# Each effect's encoder, by its (final) class.
_ENCODERS: dict[type, Callable[[Any, _Thaw], dict[str, object]]] = {
    MakeDir: _encode_mkdir,
    WriteFile: _encode_write,
    Chmod: _encode_chmod,
    Chown: _encode_chown,
    GenerateHostKey: _encode_host_key,
    MountScratch: _encode_mount_scratch,
    ContainerMount: _encode_container_mount,
    ContainerConfig: _encode_container_config,
    ServeSocketProxy: _encode_socket_proxy,
    PullImage: _encode_pull,
    AllocateHostPorts: _encode_ports,
    CreateContainer: _encode_create,
    AppendContainerId: _encode_container_id,
    StartContainer: _encode_start,
    ProvisionSudo: _encode_sudo,
    ConnectNetworks: _encode_networks,
    VerifyContainer: _encode_verify,
    WaitKernelReady: _encode_wait,
    RegisterKernel: _encode_register,
}
# A new effect must have an encoder: the import fails until it does.
assert set(_ENCODERS) == set(EFFECT_TYPES)  # noqa: S101


def _document(plan: Plan, plan_id: str, *, contents: bool = True) -> dict[str, object]:
    return _document_of(
        plan.header, plan_id, plan.steps, plan.blobs, plan.edges, contents=contents
    )


def _document_of(
    header: Header,
    plan_id: str,
    steps: Iterable[Step],
    blobs: Iterable[Blob],
    edges: tuple[tuple[int, int], ...],
    *,
    contents: bool,
) -> dict[str, object]:
    return {
        "format_version": header.format_version,
        "header": {
            "scratch_root": str(header.scratch_root),
            "kernel_id": header.kernel_id,
            "run_as": {"uid": header.run_as_uid, "gid": header.run_as_gid},
            "plan_id": plan_id,
        },
        "steps": [
            {"stage": s.stage, "effect": _ENCODERS[type(s.effect)](s.effect, _as_is)}
            for s in steps
        ],
        "blobs": {b.digest: base64.b64encode(b.data).decode("ascii") for b in blobs}
        if contents
        else [b.digest for b in blobs],
        "edges": edges,  # orjson writes tuples as arrays: no list per edge
    }


def encode(plan: Plan) -> bytes:
    """The canonical bytes of ``plan`` (its id included)."""
    return dumps(_document(plan, plan.header.plan_id))


def _compute_id(plan: Plan) -> str:
    """The plan id: see the module docstring (blobs stand by their digests)."""
    return _id_of(plan.header, plan.steps, plan.blobs, plan.edges)


def _id_of(
    header: Header,
    steps: tuple[Step, ...],
    blobs: tuple[Blob, ...],
    edges: tuple[tuple[int, int], ...],
) -> str:
    document = _document_of(header, "", steps, blobs, edges, contents=False)
    return hashlib.sha256(dumps(document)).hexdigest()


def seal(
    header: Header,
    steps: Iterable[Step],
    blobs: Iterable[Blob] = (),
    edges: Iterable[tuple[int, int]] = (),
) -> Plan:
    """Build a plan and set its id to the digest of its canonical encoding."""
    # The parts as ``Plan`` keeps them, so the id is computed before the one
    # ``Plan`` is built (a compile seals every plan it makes).
    kept_steps, kept_blobs, kept_edges = plan_parts(steps, blobs, edges)
    plan_id = _id_of(header, kept_steps, kept_blobs, kept_edges)
    return assembled(
        attrs.evolve(header, plan_id=plan_id), kept_steps, kept_blobs, kept_edges
    )


def decode(data: bytes | str) -> Result[Plan, DecodeError]:
    """Parse plan JSON (canonical or not); check its structure and its plan id."""
    try:
        document = orjson.loads(data)
        plan = _decode_plan(Reader(document, ""))
    except orjson.JSONDecodeError as exc:
        return Failure(DecodeError(field="(document)", reason=f"not JSON: {exc}"))
    except Invalid as exc:
        return Failure(DecodeError(field=exc.field, reason=exc.reason))
    expected = _compute_id(plan)
    if plan.header.plan_id != expected:
        reason = f"is {plan.header.plan_id!r} but the content hashes to {expected!r}"
        return Failure(DecodeError(field="header.plan_id", reason=reason))
    return Success(plan)


def _decode_plan(doc: Reader) -> Plan:
    version = doc.integer("format_version")
    head = doc.child("header")
    run_as = head.child("run_as")
    header = _build(
        "header",
        Header,
        scratch_root=PurePosixPath(head.text("scratch_root")),
        kernel_id=head.text("kernel_id"),
        run_as_uid=run_as.integer("uid", 0),
        run_as_gid=run_as.integer("gid", 0),
        plan_id=head.text("plan_id"),
        format_version=version,
    )
    run_as.done()
    head.done()
    steps = [
        _decode_step(item, f"steps[{i}]") for i, item in enumerate(doc.array("steps"))
    ]
    blobs = _decode_blobs(doc.child("blobs"))
    edges = [
        _decode_edge(item, f"edges[{i}]") for i, item in enumerate(doc.array("edges"))
    ]
    doc.done()
    return _build("plan", Plan, header=header, steps=steps, blobs=blobs, edges=edges)


def _decode_step(value: object, path: str) -> Step:
    step = Reader(value, path)
    stage = step.text("stage")
    effect = decode_effect(step.child("effect"))
    step.done()
    return _build(path, Step, stage=stage, effect=effect)


def _decode_blobs(blobs: Reader) -> list[Blob]:
    result = []
    for digest, text in blobs.entries():
        if not isinstance(text, str):
            blobs.fail(digest, "expected base64 text")
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError as exc:  # binascii.Error, or text not ASCII
            blobs.fail(digest, f"invalid base64: {exc}")
        result.append(_build(blobs.field(digest), Blob, digest=digest, data=data))
    return result


def _decode_edge(value: object, path: str) -> tuple[int, int]:
    match value:
        case [int(before), int(after)] if not isinstance(before, bool | float):
            if not isinstance(after, bool):
                return (before, after)
    raise Invalid(path, f"expected [before, after] step indices, got {value!r}")


def decode_effect(effect: Reader) -> Effect:
    """Decode one effect object (the inverse of ``encode_effect``)."""
    quick = quick_effect(effect.value)
    if quick is not None:
        return quick
    op = effect.text("op")
    decoder = _DECODERS.get(op)
    if decoder is None:
        effect.fail("op", f"unknown effect {op!r}")
    result = decoder(effect)
    effect.done()
    return result


# --- the fast path: the encoder's own form of the common effects ----------------
#
# Plans and journals hold mostly these, exactly as ``encode_effect`` wrote them:
# built straight from the parsed object. Anything else (another op, a key more or
# less, a type the encoder never writes, a value a constructor refuses) is left to
# the strict decoders above, which name the field; on what both accept, both
# build the same effect (tests/test_encoding.py holds them equal).


def quick_effect(value: object) -> Effect | None:
    """The effect ``value`` encodes when it is in ``encode_effect``'s own form of a
    common effect (a parsed object, exactly its keys, values it writes), else
    ``None``: then ``decode_effect`` decides, naming the field. Readers of many
    effects (a journal) try this first, without building a ``Reader``."""
    if not isinstance(value, dict):
        return None  # parsed JSON is a dict; anything else goes the strict way
    op = value.get("op")
    if type(op) is not str:
        return None
    quick = _QUICK.get(op)
    if quick is not None and value.keys() != quick[0]:
        quick = _QUICK_OWNED.get(op)  # a new entry's owner named (mkdir, write)
    if quick is None or value.keys() != quick[0]:
        return None
    try:
        return quick[1](value)
    except (TypeError, ValueError, Invalid):
        return None


@lru_cache(maxsize=256)  # a plan has a handful of distinct modes
def _quick_mode(text: str) -> int:
    return parse_mode(text, "mode")


def _mode_of(value: object) -> int:
    if type(value) is not str:
        raise TypeError(value)
    return _quick_mode(value)


def _text_of(value: object) -> str:
    if type(value) is not str:
        raise TypeError(value)
    return value


def _id_of_value(value: object) -> int | None:
    if value is not None and type(value) is not int:
        raise TypeError(value)
    return value


# A mkdir's and a write's owner is optional: absent in one of their two forms.
def _quick_mkdir(v: dict[str, object]) -> Effect:
    uid, gid = _id_of_value(v.get("uid")), _id_of_value(v.get("gid"))
    path, mode = rel(_text_of(v["path"])), _mode_of(v["mode"])
    return MakeDir(path=path, mode=mode, uid=uid, gid=gid)


def _quick_write(v: dict[str, object]) -> Effect:
    uid, gid = _id_of_value(v.get("uid")), _id_of_value(v.get("gid"))
    path, blob = rel(_text_of(v["path"])), _text_of(v["sha256"])
    return WriteFile(path=path, blob=blob, mode=_mode_of(v["mode"]), uid=uid, gid=gid)


def _quick_chmod(v: dict[str, object]) -> Effect:
    return Chmod(path=rel(_text_of(v["path"])), mode=_mode_of(v["mode"]))


def _quick_chown(v: dict[str, object]) -> Effect:
    uid, gid = _id_of_value(v["uid"]), _id_of_value(v["gid"])
    return Chown(path=rel(_text_of(v["path"])), uid=uid, gid=gid)


def _quick_container_mount(v: dict[str, object]) -> Effect:
    options, read_only = v["options"], v["read_only"]
    if type(options) is not dict or type(read_only) is not bool:
        raise TypeError(options)
    return ContainerMount(
        type=_text_of(v["type"]),
        source=_text_of(v["source"]),
        target=_text_of(v["target"]),
        read_only=read_only,
        options=freeze_object(options),
    )


_QUICK: dict[str, tuple[frozenset[str], Callable[[dict[str, object]], Effect]]] = {
    "mkdir": (frozenset({"op", "path", "mode"}), _quick_mkdir),
    "write": (frozenset({"op", "path", "sha256", "mode"}), _quick_write),
    "chmod": (frozenset({"op", "path", "mode"}), _quick_chmod),
    "chown": (frozenset({"op", "path", "uid", "gid"}), _quick_chown),
    "container-mount": (
        frozenset({"op", "type", "source", "target", "read_only", "options"}),
        _quick_container_mount,
    ),
}
_OWNER = frozenset({"uid", "gid"})
_QUICK_OWNED: dict[
    str, tuple[frozenset[str], Callable[[dict[str, object]], Effect]]
] = {op: (_QUICK[op][0] | _OWNER, _QUICK[op][1]) for op in ("mkdir", "write")}


def _path(effect: Reader, key: str) -> PurePosixPath:
    try:
        return rel(effect.text(key))
    except ValueError as exc:
        effect.fail(key, str(exc))


def _json_object(effect: Reader, key: str) -> JsonObject:
    value = effect.raw(key)
    if not isinstance(value, dict):
        effect.fail(key, "expected an object")
    return freeze_object(value)


def _build(where: str, klass: Callable[..., _T], **fields: object) -> _T:
    try:
        return klass(**fields)
    except (TypeError, ValueError) as exc:
        raise Invalid(where, str(exc)) from exc


def _mkdir(e: Reader) -> Effect:
    fields = {"path": _path(e, "path"), "mode": e.mode("mode"), **_owner(e)}
    return _build(e.field("op"), MakeDir, **fields)


def _write(e: Reader) -> Effect:
    fields = {
        "path": _path(e, "path"),
        "blob": e.text("sha256"),
        "mode": e.mode("mode"),
        **_owner(e),
    }
    return _build(e.field("op"), WriteFile, **fields)


def _owner(e: Reader) -> dict[str, int | None]:
    """A new entry's optional owner (``uid``, ``gid``: absent or null keep the
    plan's identity)."""
    return {"uid": e.opt_integer("uid", 0), "gid": e.opt_integer("gid", 0)}


def _chmod(e: Reader) -> Effect:
    return _build(e.field("op"), Chmod, path=_path(e, "path"), mode=e.mode("mode"))


def _chown(e: Reader) -> Effect:
    uid, gid = e.opt_integer("uid", 0), e.opt_integer("gid", 0)
    return _build(e.field("op"), Chown, path=_path(e, "path"), uid=uid, gid=gid)


def _hostkey(e: Reader) -> Effect:
    fields = {
        "path": _path(e, "path"),
        "kind": e.text("kind"),
        "bits": e.integer("bits"),
    }
    return _build(e.field("op"), GenerateHostKey, **fields)


def _mount_scratch(e: Reader) -> Effect:
    image = None if e.optional("image") is None else _path(e, "image")
    image_mode = None if e.optional("image_mode") is None else e.mode("image_mode")
    fields = {
        "kind": e.text("kind"),
        "path": _path(e, "path"),
        "size": e.integer("size"),
    }
    return _build(
        e.field("op"), MountScratch, image=image, image_mode=image_mode, **fields
    )


def _container_mount(e: Reader) -> Effect:
    fields = {
        "type": e.text("type"),
        "source": e.text("source"),
        "target": e.text("target"),
        "read_only": e.boolean("read_only"),
        "options": _json_object(e, "options"),
    }
    return _build(e.field("op"), ContainerMount, **fields)


def _container_config(e: Reader) -> Effect:
    return _build(e.field("op"), ContainerConfig, fragment=_json_object(e, "fragment"))


def _socket_proxy(e: Reader) -> Effect:
    path = PurePosixPath(e.text("path"))
    return _build(e.field("op"), ServeSocketProxy, path=path, target=e.text("target"))


def _pull_image(e: Reader) -> Effect:
    fields = {
        "ref": e.text("ref"),
        "digest": e.opt_text("digest"),
        "timeout_ms": e.opt_integer("timeout_ms", 1),
    }
    return _build(e.field("op"), PullImage, **fields)


def _ints(e: Reader, key: str) -> tuple[int, ...]:
    values = e.array(key)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        e.fail(key, "expected a list of integers")
    return tuple(int(str(v)) for v in values)


def _allocate_ports(e: Reader) -> Effect:
    return _build(e.field("op"), AllocateHostPorts, ports=_ints(e, "ports"))


def _create_container(e: Reader) -> Effect:
    fields = {"name": e.text("name"), "config": _json_object(e, "config")}
    return _build(e.field("op"), CreateContainer, **fields)


def _append_container_id(e: Reader) -> Effect:
    return _build(
        e.field("op"), AppendContainerId, path=_path(e, "path"), name=e.text("name")
    )


def _start_container(e: Reader) -> Effect:
    return _build(e.field("op"), StartContainer, name=e.text("name"))


def _provision_sudo(e: Reader) -> Effect:
    return _build(e.field("op"), ProvisionSudo, name=e.text("name"))


def _connect_networks(e: Reader) -> Effect:
    networks = e.array("networks")
    if not all(isinstance(n, str) for n in networks):
        e.fail("networks", "expected a list of strings")
    return _build(
        e.field("op"),
        ConnectNetworks,
        name=e.text("name"),
        networks=tuple(str(n) for n in networks),
    )


def _verify_container(e: Reader) -> Effect:
    checks = e.array("checks")
    if not all(isinstance(check, str) for check in checks):
        e.fail("checks", "expected a list of strings")
    pairs = []
    for index, pair in enumerate(e.array("ports")):
        match pair:
            case [int(inside), int(outside)]:
                pairs.append((inside, outside))
            case _:
                e.fail(f"ports[{index}]", "expected [container port, host port]")
    fields = {
        "name": e.text("name"),
        "checks": tuple(checks),
        "grace_ms": e.integer("grace_ms"),
        "ports": tuple(pairs),
    }
    return _build(e.field("op"), VerifyContainer, **fields)


def _wait_ready(e: Reader) -> Effect:
    fields = {
        "name": e.text("name"),
        "ports": _ints(e, "ports"),
        "timeout_ms": e.integer("timeout_ms", 1),
    }
    return _build(e.field("op"), WaitKernelReady, **fields)


def _register_kernel(e: Reader) -> Effect:
    return _build(e.field("op"), RegisterKernel, record=_json_object(e, "record"))


_DECODERS: dict[str, Callable[[Reader], Effect]] = {
    "mkdir": _mkdir,
    "write": _write,
    "chmod": _chmod,
    "chown": _chown,
    "hostkey": _hostkey,
    "mount-scratch": _mount_scratch,
    "container-mount": _container_mount,
    "container-config": _container_config,
    "socket-proxy": _socket_proxy,
    "pull-image": _pull_image,
    "allocate-ports": _allocate_ports,
    "create-container": _create_container,
    "append-container-id": _append_container_id,
    "start-container": _start_container,
    "provision-sudo": _provision_sudo,
    "connect-networks": _connect_networks,
    "verify-container": _verify_container,
    "wait-ready": _wait_ready,
    "register-kernel": _register_kernel,
}


def describe(effect: Effect) -> str:
    """One line for humans: ``mkdir 0o755 k/config``."""
    fields = encode_effect(effect)
    op = fields.pop("op")
    if "path" in fields:
        head = f"{op} {fields.pop('path')}"
    elif "name" in fields:
        head = f"{op} {fields.pop('name')}"
    else:
        head = str(op)
    rest = " ".join(f"{key}={_short(value)}" for key, value in sorted(fields.items()))
    return f"{head} {rest}".rstrip()


def _short(value: object) -> str:
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    text = text.removeprefix('"').removesuffix('"') if isinstance(value, str) else text
    return text if len(text) <= 60 else f"{text[:57]}..."  # noqa: PLR2004
