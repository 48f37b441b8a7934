"""From JSON to the typed input classes: strict, every problem named by its path.

Theory of operation
-------------------
One cattrs converter structures plain JSON values (what ``orjson.loads`` or the
agent's own mappings give) into the attrs classes of ``planner._inputs`` and
``planner._facts``. It is strict where cattrs is lenient by default: a string is
never turned into an int nor an int into a string, a bool is not a number, a list
is not a tuple of characters, and unknown keys are refused (the classes in
``LENIENT`` excepted, which model agent config sections whose many other fields
provisioning never reads). Mappings stay in document order (legacy's output
follows it) behind read-only views; free-form JSON is frozen (``effects.Json``).

``structure`` returns every problem, each as a ``ContextError`` whose ``field`` is
the JSON path (``kernel_config.mounts[0].host_path``), instead of cattrs'
exception groups.
"""

from __future__ import annotations

import functools
import math
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType, UnionType
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn
from returns.result import Failure, Result, Success

from effects import Json, JsonObject, freeze, freeze_object

from ._inputs import EMPTY_IS_NONE, LENIENT
from .errors import ContextError

__all__ = ["is_json_type", "kind_of", "structure"]

T = TypeVar("T")


class _RefusedError(ValueError):
    """A leaf problem: the value at this path is not what the field takes."""


SHOWN = 40  # characters of a string an error message shows


def kind_of(value: object) -> str:  # noqa: PLR0911  (one answer per JSON kind)
    """A short description of a JSON value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= SHOWN else f"{value[: SHOWN - 3]}..."
        return f"a string ({shown!r})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _text(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise _RefusedError(f"expected a string, got {kind_of(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _RefusedError(f"text is not valid Unicode ({exc.reason})") from exc
    return value


def _integer(value: object, _type: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _RefusedError(f"expected an integer, got {kind_of(value)}")
    return _written(value)


def _number(value: object, _type: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _RefusedError(f"expected a number, got {kind_of(value)}")
    if not math.isfinite(value):
        raise _RefusedError(f"expected a finite number, got {value!r}")
    return _written(value) if isinstance(value, int) else value


def _written(value: int) -> int:
    """``value`` if orjson can write it back (the agent's own mappings may hold
    any int, a parsed file's cannot): the context's JSON copies must encode."""
    try:
        freeze(value)
    except ValueError as exc:
        raise _OutOfRangeError(str(exc)) from exc
    return value


class _OutOfRangeError(_RefusedError):
    """A number of the right kind but beyond what JSON copies can hold: what a
    union reports, rather than that none of its options fit."""


def _boolean(value: object, _type: object) -> bool:
    if not isinstance(value, bool):
        raise _RefusedError(f"expected true or false, got {kind_of(value)}")
    return value


def _json(value: object, _type: object) -> Json:
    try:
        return freeze(value)
    except (TypeError, ValueError) as exc:
        raise _RefusedError(str(exc)) from exc


def _json_object(value: object, _type: object) -> JsonObject:
    if not isinstance(value, Mapping):
        raise _RefusedError(f"expected an object, got {kind_of(value)}")
    try:
        return freeze_object(value)
    except (TypeError, ValueError) as exc:
        raise _RefusedError(str(exc)) from exc


def _anything(value: object, _type: object) -> object:
    return value


def is_json_type(type_: object) -> bool:
    """``Json``, also where a container type holds the recursive alias unevaluated."""
    if isinstance(type_, typing.ForwardRef):
        return type_.__forward_arg__ == Json
    return type_ == Json


def _is_mapping(type_: object) -> bool:
    return get_origin(type_) in {Mapping, typing.Mapping, dict}


def _is_variadic_tuple(type_: object) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis  # noqa: PLR2004


def _is_fixed_tuple(type_: object) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and bool(args) and Ellipsis not in args


def _is_union(type_: object) -> bool:
    return get_origin(type_) in {UnionType, typing.Union}


def _is_literal(type_: object) -> bool:
    return get_origin(type_) is Literal


def _is_input_class(type_: object) -> bool:
    return isinstance(type_, type) and attrs.has(type_) and type_ is not JsonObject


def _keyword_problems(
    name: str, field_type: object, value: object, schema: Mapping[str, object]
) -> list[Exception]:
    """What the JSON Schema keywords of field ``name`` refuse in its ``value``, as
    JSON Schema reads them: a keyword constrains only values of its own kind."""
    found: list[tuple[str | None, str]] = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        if isinstance(minimum, int | float) and value < minimum:
            found.append((None, f"{value!r} is less than {minimum}"))
        if isinstance(maximum, int | float) and value > maximum:
            found.append((None, f"{value!r} is more than {maximum}"))
    if isinstance(value, str):
        length = schema.get("minLength")
        if isinstance(length, int) and len(value) < length:
            short = (
                "is empty" if length == 1 else f"is shorter than {length} characters"
            )
            found.append((None, short))
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and _compiled(pattern).search(value) is None:
            found.append((None, f"{value!r} does not match {pattern}"))
    names = schema.get("propertyNames")
    if isinstance(value, Mapping) and isinstance(names, Mapping):
        allowed = names["enum"]
        found += [
            (str(key), f"not one of {', '.join(allowed)}")
            for key in value
            if key not in allowed
        ]
    problems: list[Exception] = []
    for key, reason in found:
        problem: Exception = _RefusedError(reason)
        if key is not None:
            problem.add_note(f"kplan-key:{key}")
            problem = IterableValidationError("invalid keys", [problem], Mapping)
        problem.add_note(AttributeValidationNote(reason, name, field_type))
        problems.append(problem)
    return problems


class _Converter:
    """The strict converter (see the module docstring)."""

    def __init__(self) -> None:
        self.cattrs = cattrs.Converter(forbid_extra_keys=True)
        hooks: dict[Any, Callable[[object, object], object]] = {
            str: _text,
            int: _integer,
            float: _number,
            bool: _boolean,
            JsonObject: _json_object,
        }
        for type_, hook in hooks.items():
            self.cattrs.register_structure_hook(type_, hook)
        self.cattrs.register_structure_hook_func(is_json_type, _json)
        self.cattrs.register_structure_hook_func(lambda t: t is object, _anything)
        factories: list[tuple[Callable[[Any], bool], Callable[[Any], Any]]] = [
            (_is_mapping, self._mapping),
            (_is_variadic_tuple, self._sequence),
            (_is_fixed_tuple, self._fixed),
            (_is_union, self._union),
            (_is_literal, self._literal),
            (_is_input_class, self._class),
        ]
        for predicate, factory in factories:
            self.cattrs.register_structure_hook_factory(predicate, factory)

    def _class(self, cls: type) -> Callable[[object, object], object]:
        """An attrs class: its fields' keywords and empty objects, then cattrs."""
        inner: Callable[[Mapping[str, object], object], object]
        inner = make_dict_structure_fn(
            cls, self.cattrs, _cattrs_forbid_extra_keys=cls not in LENIENT
        )
        fields = attrs.fields(cls)
        empty_is_none = [f.name for f in fields if f.metadata.get(EMPTY_IS_NONE)]
        keywords = [
            (f.name, f.type, f.metadata["schema"])
            for f in fields
            if f.metadata.get("schema")
        ]

        def structure(value: object, type_: object) -> object:
            if not isinstance(value, Mapping):
                raise _RefusedError(f"expected an object, got {kind_of(value)}")
            given = dict(value)
            for name in empty_is_none:
                if isinstance(given.get(name), Mapping) and not given[name]:
                    given[name] = None
            problems: list[Exception] = []
            for name, field_type, schema in keywords:
                if name in given:
                    problems += _keyword_problems(name, field_type, given[name], schema)
            try:
                result = inner(given, type_)
            except ClassValidationError as exc:
                raise ClassValidationError(
                    exc.message, [*exc.exceptions, *problems], cls
                ) from None
            if problems:
                raise ClassValidationError(f"While structuring {cls}", problems, cls)
            return result

        return structure

    def _mapping(self, type_: object) -> Callable[[object, object], object]:
        value_type = get_args(type_)[1]

        def structure(value: object, _type: object) -> Mapping[str, object]:
            if not isinstance(value, Mapping):
                raise _RefusedError(f"expected an object, got {kind_of(value)}")
            result, errors = {}, []
            for key, item in value.items():
                try:
                    result[_text(key, str)] = self.cattrs.structure(item, value_type)
                except Exception as exc:  # noqa: BLE001  (collected, re-raised as a group)
                    exc.add_note(f"kplan-key:{key}")
                    errors.append(exc)
            if errors:
                raise IterableValidationError("invalid items", errors, tuple)
            return MappingProxyType(result)

        return structure

    def _sequence(self, type_: object) -> Callable[[object, object], object]:
        item_type = get_args(type_)[0]

        def structure(value: object, _type: object) -> tuple[object, ...]:
            if not isinstance(value, list | tuple):
                raise _RefusedError(f"expected a list, got {kind_of(value)}")
            result, errors = [], []
            for index, item in enumerate(value):
                try:
                    result.append(self.cattrs.structure(item, item_type))
                except Exception as exc:  # noqa: BLE001  (collected, re-raised as a group)
                    exc.add_note(f"kplan-index:{index}")
                    errors.append(exc)
            if errors:
                raise IterableValidationError("invalid items", errors, tuple)
            return tuple(result)

        return structure

    def _fixed(self, type_: object) -> Callable[[object, object], object]:
        item_types = get_args(type_)

        def structure(value: object, _type: object) -> tuple[object, ...]:
            if not isinstance(value, list | tuple) or len(value) != len(item_types):
                raise _RefusedError(
                    f"expected a list of {len(item_types)} items, got {kind_of(value)}"
                )
            return tuple(
                self.cattrs.structure(item, item_type)
                for item, item_type in zip(value, item_types, strict=True)
            )

        return structure

    def _union(self, type_: object) -> Callable[[object, object], object]:
        options = get_args(type_)

        def structure(value: object, _type: object) -> object:
            if value is None and type(None) in options:
                return None
            problems = []
            for option in (o for o in options if o is not type(None)):
                try:
                    structured = self.cattrs.structure(value, option)
                except Exception as exc:  # noqa: BLE001  (the next option may fit)
                    problems.append(exc)
                    continue
                # Each refusal's traceback holds this frame, which holds the list:
                # emptied, they go with their last reference, not in a pass of
                # the cyclic collector (which then costs every compile after).
                problems.clear()
                return structured
            if len(problems) == 1:
                raise problems[0]
            for problem in problems:
                if isinstance(problem, _OutOfRangeError):
                    raise problem
            raise _RefusedError(f"expected {_describe(type_)}, got {kind_of(value)}")

        return structure

    def _literal(self, type_: object) -> Callable[[object, object], object]:
        allowed = get_args(type_)

        def structure(value: object, _type: object) -> object:
            if value not in allowed or isinstance(value, bool):
                choices = ", ".join(repr(a) for a in allowed)
                raise _RefusedError(f"{kind_of(value)} is not one of {choices}")
            return value

        return structure


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """A schema ``pattern`` as JSON Schema reads it: its closing ``$`` is the end
    of the text, where Python's also matches before a final newline ("0o22\\n")."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + "\\Z"
    return re.compile(pattern)


def _describe(type_: object) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    parts = [
        names.get(option, "an object" if attrs.has(option) else "a value")
        for option in get_args(type_)
        if option is not type(None)
    ]
    return " or ".join(parts) + (" or null" if type(None) in get_args(type_) else "")


_CONVERTER = _Converter()


def structure(
    value: object, cls: type[T], where: str = ""
) -> Result[T, tuple[ContextError, ...]]:
    """``value`` as ``cls``, or every problem with its JSON path."""
    if not isinstance(value, Mapping):
        reason = f"expected an object, got {kind_of(value)}"
        return Failure((ContextError(field=where or "(document)", reason=reason),))
    try:
        return Success(_CONVERTER.cattrs.structure(value, cls))
    except Exception as exc:  # noqa: BLE001  (bad input becomes values; _errors re-raises bugs)
        return Failure(tuple(_errors(exc, where)))


def _errors(exc: BaseException, where: str) -> Iterator[ContextError]:
    """Walk cattrs' exception groups down to the leaves, tracking the path."""
    if isinstance(exc, ForbiddenExtraKeysError):
        # keys are text in JSON; a restart's kconfig.dat is a pickle, with any keys
        for key in sorted(map(str, exc.extra_fields)):
            yield ContextError(field=_join(where, key), reason="is not a known field")
        return
    if isinstance(exc, ClassValidationError | IterableValidationError):
        for child in exc.exceptions:
            yield from _errors(child, _join(where, _step(child)))
        return
    if isinstance(exc, KeyError):
        yield ContextError(field=where or "(document)", reason="is required")
        return
    if not isinstance(exc, _RefusedError | ValueError | TypeError):
        raise exc  # a bug, not bad input: never reported as a context error
    reason = (
        str(exc) if isinstance(exc, _RefusedError) else f"{type(exc).__name__}: {exc}"
    )
    yield ContextError(field=where or "(document)", reason=reason)


def _step(exc: BaseException) -> str:
    """The path step a child exception's note records (attribute, index or key).

    cattrs' notes are ``str`` subclasses carrying ``name`` or ``index``; kplan's own
    mapping and sequence hooks add plain ``kplan-key:``/``kplan-index:`` notes.
    """
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return str(note.name)
        if isinstance(note, IterableValidationNote):
            return f"[{note.index}]"
        if note.startswith("kplan-index:"):
            return f"[{note.removeprefix('kplan-index:')}]"
        if note.startswith("kplan-key:"):
            return str(note).removeprefix("kplan-key:")
    return ""


def _join(where: str, step: str) -> str:
    if not step:
        return where
    if step.startswith("["):
        return f"{where}{step}"
    return f"{where}.{step}" if where else step
