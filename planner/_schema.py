"""The context's JSON Schema, generated from the classes the parser structures.

One source of truth (architecture.md §3.1): every class in ``planner._inputs``,
``planner._facts`` and ``planner._document`` becomes a ``$defs`` entry whose
properties are its fields, their types translated (``str`` a string, ``int`` an
integer, ``X | None`` adds null, ``tuple[T, ...]`` an array, ``Mapping[str, T]`` an
object of ``T``, ``Literal`` an enum, ``Json`` anything, ``object`` an accepted
unused field), ``required`` the fields without a default, and no other properties
unless the parser is lenient there too (``LENIENT``). A field's ``metadata`` gives
its description and extra keywords (which the parser enforces too), and whether an
empty object stands for null there (``empty_is_none``). The agent's config sections
(``DASHLESS``) take each key spelled with ``-`` or ``_``, but only once. What the
parser checks beyond types (ids, absolute paths, sizes, amounts, base64) is not
expressed. ``planner/context.schema.json`` is ``schema_text()``; a test checks the
file is current and that the schema and the parser agree.
"""

from __future__ import annotations

import itertools
import json
import typing
from collections.abc import Mapping
from types import UnionType
from typing import Literal, get_args, get_origin

import attrs

from effects import JsonObject

from ._document import ContextDocument
from ._inputs import DASHLESS, EMPTY_IS_NONE, LENIENT
from ._structure import is_json_type

__all__ = ["context_schema", "schema_text"]

SCHEMA_ID = "https://kplan.invalid/context.schema.json"


def context_schema() -> dict[str, object]:
    """The JSON Schema of a context document (draft 2020-12)."""
    defs: dict[str, object] = {}
    root = _class(ContextDocument, defs)
    properties = root["properties"]
    assert isinstance(properties, dict)  # noqa: S101  (_class builds a dict)
    root["properties"] = {
        "$schema": {"type": "string", "description": "the schema's URL"},
        **properties,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "kplan context file",
        "description": "The agent's inputs to create_kernel and the host facts "
        "(docs/context.md). Generated from planner/_inputs.py and planner/_facts.py.",
        **root,
        # kernel_config.image, or, when kernel_config has no image key, the
        # top-level one (planner._document reads it so)
        "anyOf": [
            {"properties": {"kernel_config": {"required": ["image"], **_AN_IMAGE}}},
            {
                "required": ["image"],
                "properties": {
                    "image": {"type": "object"},
                    "kernel_config": {"not": {"required": ["image"]}},
                },
            },
        ],
        "$defs": dict(sorted(defs.items())),
    }


_AN_IMAGE = {"properties": {"image": {"type": "object"}}}


def schema_text() -> str:
    """The schema as ``planner/context.schema.json`` holds it."""
    return json.dumps(context_schema(), indent=2, ensure_ascii=False) + "\n"


def _class(cls: type, defs: dict[str, object]) -> dict[str, object]:
    hints = typing.get_type_hints(cls, include_extras=False)
    properties, required = {}, []
    for field in attrs.fields(cls):
        schema = _type(hints[field.name], defs)
        meta = field.metadata
        if meta.get(EMPTY_IS_NONE):
            schema = {"anyOf": [schema, {"type": "object", "maxProperties": 0}]}
        if "doc" in meta:
            schema = {**schema, "description": meta["doc"], **meta.get("schema", {})}
        properties[field.name] = schema
        if field.default is attrs.NOTHING:
            required.append(field.name)
    result: dict[str, object] = {
        "type": "object",
        "description": (cls.__doc__ or "").strip().split("\n")[0],
        "properties": properties,
        "additionalProperties": cls in LENIENT,
    }
    if cls in DASHLESS:
        result.update(_spellings(properties, required))
    elif required:
        result["required"] = required
    return result


def _spellings(
    properties: Mapping[str, object], required: list[str]
) -> dict[str, object]:
    """A ``DASHLESS`` section's keywords: each field under any spelling, once."""
    patterns, once, alternatives = {}, {}, []
    for name, schema in properties.items():
        spellings = _spelled(name)
        if len(spellings) == 1:
            continue
        patterns["^" + "[-_]".join(name.split("_")) + "$"] = schema
        for spelling in spellings:
            once[spelling] = {
                "properties": {other: False for other in spellings if other != spelling}
            }
        if name in required:
            alternatives.append({"anyOf": [{"required": [s]} for s in spellings]})
    result: dict[str, object] = {}
    plain = [name for name in required if len(_spelled(name)) == 1]
    if plain:
        result["required"] = plain
    if alternatives:
        result["allOf"] = alternatives
    if patterns:
        result["patternProperties"] = patterns
        result["dependentSchemas"] = once
    return result


def _spelled(name: str) -> list[str]:
    """``name`` with each ``_`` as ``_`` or ``-``: every spelling the agent takes."""
    first, *rest = name.split("_")
    return [
        first + "".join(sep + part for sep, part in zip(seps, rest, strict=True))
        for seps in itertools.product("_-", repeat=len(rest))
    ]


def _ref(cls: type, defs: dict[str, object]) -> dict[str, object]:
    if cls.__name__ not in defs:
        defs[cls.__name__] = {}  # a placeholder first: classes may nest
        defs[cls.__name__] = _class(cls, defs)
    return {"$ref": f"#/$defs/{cls.__name__}"}


def _type(hint: object, defs: dict[str, object]) -> dict[str, object]:  # noqa: PLR0911
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if hint in simple:
        return {"type": simple[hint]}
    if hint is object or is_json_type(hint):
        return {}
    if hint is JsonObject:
        return {"type": "object"}
    if isinstance(hint, type) and attrs.has(hint):
        return _ref(hint, defs)
    origin, args = get_origin(hint), get_args(hint)
    if origin in {UnionType, typing.Union}:
        return _union(args, defs)
    if origin is Literal:
        return {"enum": list(args)}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # noqa: PLR2004
        return {"type": "array", "items": _type(args[0], defs)}
    if origin is tuple:
        items = [_type(a, defs) for a in args]
        return {
            "type": "array",
            "prefixItems": items,
            "minItems": len(items),
            "maxItems": len(items),
        }
    if origin in {Mapping, dict}:
        return {"type": "object", "additionalProperties": _type(args[1], defs)}
    msg = f"no JSON Schema for {hint!r}"
    raise TypeError(msg)


def _union(args: tuple[object, ...], defs: dict[str, object]) -> dict[str, object]:
    options = [_type(a, defs) for a in args if a is not type(None)]
    nullable = type(None) in args
    if len(options) == 1 and set(options[0]) == {"type"}:
        kind = options[0]["type"]
        return {"type": [kind, "null"] if nullable else kind}
    if nullable:
        options.append({"type": "null"})
    return {"anyOf": options}
