"""Bad input is refused by name, never raised: contexts, the agent's own inputs,
plan files and journals.

Each property takes a valid document (a generated context, the plan of one, the
journal of a real apply), changes one to three of its values to ill-typed or
odd ones (or removes them, or adds a key the sample kernel has where the
document lacks it), and hands it to the reader: the result is a value or a
refusal naming a field with a one-line reason, never an exception. The agent's
inputs to ``plan_kernel`` are Python objects, so their odd values include what
no JSON holds (bytes, sets, tuples, UUIDs, decimals). A non-ASCII base64 text
once escaped as a ``ValueError`` from every decoder; an object as the cluster's
network mode, as a ``TypeError`` from the kernel record.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from returns.result import Failure, Success

from effects import decode, encode
from executor import read_journal
from kplan import plan_kernel
from kplan._runner_location import SAMPLE_KERNEL
from planner import compile_plan, context_from_document
from tests.executing import apply, plan_at

from .applying import HOST, RUNNER, needs_root, planned
from .strategies import context_documents

DOCUMENTS = context_documents(
    HOST, RUNNER, scratch_types=("hostdir", "memory", "hostfile")
)
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=5),
    st.sampled_from(["", "\x00", "..", "/", "-1", "0o7777", "1e309", "\n", "é"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# What an agent's Python objects may hold besides JSON's values.
PYTHON_VALUES = st.one_of(
    ODD_VALUES,
    st.binary(max_size=3),
    st.frozensets(st.integers(0, 3), max_size=2),
    st.tuples(st.integers(), st.text(max_size=2)),
    st.uuids(),
    st.decimals(allow_nan=False, places=2),
    st.builds(object),
)
# The agent's inputs, as the context documents hold them.
AGENT_INPUTS = ("kernel_config", "cluster_info", "local_config", "resource_spec")
Key = str | int
Where = tuple[Key, ...]


def _places(value: object, where: Where = ()) -> Iterator[Where]:
    """Every key and index below ``value`` (a list's first three items only: the
    host port pool would otherwise be most of the draws)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*where, key)
            yield from _places(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield (*where, index)
            yield from _places(item, (*where, index))


def _change(
    data: st.DataObject,
    document: Any,
    depth: int,
    *,
    values: st.SearchStrategy[object] = ODD_VALUES,
    extra: tuple[Where, ...] = (),
) -> None:
    """Change or remove one to three values of ``document`` in place, drawn among
    its sections (places agreeing on their first ``depth`` keys) first, so
    small sections are changed as often as large ones. ``extra`` are places a
    value may be added at, where the document has their parent but not them."""
    for _ in range(data.draw(st.integers(1, 3))):
        places = sorted(_places(document), key=repr)
        places += [w for w in extra if w not in places and _addable(document, w)]
        if not places:
            return
        section = data.draw(st.sampled_from(sorted({p[:depth] for p in places})))
        where = data.draw(st.sampled_from([p for p in places if p[:depth] == section]))
        parent = document
        for key in where[:-1]:
            parent = parent.setdefault(key, {}) if isinstance(key, str) else parent[key]
        last = where[-1]
        if isinstance(parent, list):
            present = isinstance(last, int) and last < len(parent)
        else:
            present = last in parent
        if present and data.draw(st.booleans()):
            note(f"removed {where}")
            del parent[where[-1]]
        else:
            value = data.draw(values)
            note(f"set {where} to {value!r}")
            parent[where[-1]] = value


def _addable(document: Any, where: Where) -> bool:
    """Whether ``where`` can be set in ``document``: its parent is a dict, or the
    objects missing on the way to it can be added (keys, not list indexes)."""
    parent = document
    for at, key in enumerate(where[:-1]):
        if isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            parent = parent[key]
        elif not isinstance(parent, dict):
            return False
        elif key in parent:
            parent = parent[key]
        else:
            return all(isinstance(k, str) for k in where[at:])
    return isinstance(parent, dict)


def _schema_places(schema: Any, defs: Any, where: Where, depth: int) -> Iterator[Where]:
    """Every property the context schema describes below ``where`` (an array's
    first item), refs followed, ``depth`` levels at most."""
    if depth == 0 or not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = defs[ref.rsplit("/", 1)[-1]]
    for option in schema.get("anyOf", []):
        yield from _schema_places(option, defs, where, depth)
    for key, item in schema.get("properties", {}).items():
        yield (*where, key)
        yield from _schema_places(item, defs, (*where, key), depth - 1)
    if "items" in schema:
        yield from _schema_places(schema["items"], defs, (*where, 0), depth - 1)


def _described_places() -> tuple[Where, ...]:
    """The places the context schema and the sample kernel have: what a context
    may hold and a generated one lacks."""
    schema = orjson.loads(CONTEXT_SCHEMA.read_bytes())
    places = set(_schema_places(schema, schema["$defs"], (), 6))
    places |= set(_places(orjson.loads(SAMPLE_KERNEL.read_bytes())))
    return tuple(sorted(places, key=repr))


CONTEXT_SCHEMA = Path(__file__).parent.parent / "planner" / "context.schema.json"
SAMPLE_PLACES = _described_places()


def _named(field: object, reason: object) -> None:
    assert field, reason
    assert "\n" not in str(reason), reason


@given(DOCUMENTS, st.data())
def test_a_changed_context_is_planned_or_refused_by_name(
    document: dict[str, Any], data: st.DataObject
) -> None:
    changed = copy.deepcopy(document)
    _change(data, changed, depth=2, extra=SAMPLE_PLACES)
    match context_from_document(changed):
        case Success(ctx):
            plan = compile_plan(ctx)
            for error in plan.failure() if isinstance(plan, Failure) else ():
                _named(error.field, error.reason)
        case Failure(errors):
            for error in errors:
                _named(error.field, error.reason)
        case _:
            raise AssertionError("unreachable")  # returns#1361


@given(DOCUMENTS, st.data())
def test_the_agents_changed_inputs_are_planned_or_refused_by_name(
    document: dict[str, Any], data: st.DataObject
) -> None:
    """``plan_kernel`` from the agent's objects (the facts given, Docker not
    asked), one to three of them changed to odd Python values."""
    inputs = {key: copy.deepcopy(document[key]) for key in AGENT_INPUTS}
    _change(data, inputs, depth=2, values=PYTHON_VALUES, extra=SAMPLE_PLACES)
    given = {key: inputs.get(key, {}) for key in AGENT_INPUTS}  # removed: empty
    spec = given["resource_spec"]
    result = asyncio.run(
        plan_kernel(
            kernel_id=document["kernel_id"],
            session_id=document["session_id"],
            agent_id=document["agent_id"],
            kernel_config=given["kernel_config"],
            cluster_info=given["cluster_info"],
            local_config=given["local_config"],
            allocations=spec.get("allocations") if isinstance(spec, dict) else spec,
            facts=document["facts"],
            restarting=document.get("restarting", False),
            ask_docker=False,
        )
    )
    for refusal in result.failure() if isinstance(result, Failure) else ():
        _named(refusal.field, refusal.reason)


@given(DOCUMENTS, st.data())
def test_a_changed_plan_file_is_decoded_or_refused_by_name(
    document: dict[str, Any], data: st.DataObject
) -> None:
    plan = planned(context_from_document(copy.deepcopy(document)).unwrap())
    changed = orjson.loads(encode(plan))
    _change(data, changed, depth=3)
    try:
        text = orjson.dumps(changed)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, say
        return
    result = decode(text)
    if isinstance(result, Failure):
        _named(result.failure().field, result.failure().reason)


@pytest.fixture(scope="module")
def journal_lines(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], Path]:
    """The records of a real apply of the test kernel's scratch (``tests.contexts``),
    and a directory for the changed copies."""
    root = tmp_path_factory.mktemp("journal-root")
    journal = root.parent / f"{root.name}.journal"
    _, plan = plan_at(root)
    apply(plan, journal).unwrap()
    assert isinstance(read_journal(journal), Success)
    return journal.read_bytes().splitlines(), tmp_path_factory.mktemp("changed")


@needs_root
@given(data=st.data())
def test_a_changed_journal_is_read_or_refused_by_name(
    journal_lines: tuple[list[bytes], Path], data: st.DataObject
) -> None:
    original, directory = journal_lines
    lines = list(original)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["value", "value", "cut", "drop", "twice"]))
        note(f"{how} record {at}")
        if how == "value":
            try:
                record = orjson.loads(lines[at])
            except orjson.JSONDecodeError:  # a record cut before
                continue
            _change(data, record, depth=1)
            try:
                lines[at] = orjson.dumps(record)
            except orjson.JSONEncodeError:  # an integer beyond 64 bits, say
                continue
        elif how == "cut":
            lines[at] = lines[at][: data.draw(st.integers(0, len(lines[at])))]
        elif how == "drop" and len(lines) > 1:
            del lines[at]
        else:
            lines.insert(at, lines[at])
    journal = directory / "journal"
    journal.write_bytes(b"\n".join(lines) + b"\n")
    result = read_journal(journal)
    journal.unlink()
    if isinstance(result, Failure):
        _named(result.failure().field, result.failure().reason)
