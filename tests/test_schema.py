"""The published JSON Schema agrees with the parser on what a context file is.

``planner/context.schema.json`` is generated (``planner._schema.schema_text``) from
the classes the parser structures into; the schema says nothing about what the
parser checks beyond structure and types (UUIDs, absolute paths, sizes, amounts,
base64). So: every document the parser reads validates, and on a structural
mutation of one (a field deleted, an unknown key added, a value of another JSON
kind) the two agree, which means both refuse wherever the format is strict.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from returns.result import Success

from executor import runner_facts
from planner import context_from_document, read_document
from planner._schema import schema_text
from property_tests.strategies import context_documents

from .contexts import HOST, SAMPLE_RUNNER, document

ROOT = Path(__file__).parent.parent
SCHEMA_FILE = ROOT / "planner" / "context.schema.json"
SCHEMA = orjson.loads(SCHEMA_FILE.read_bytes())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SAMPLE = ROOT / "kplan" / "samples" / "kernel.json"
RUNNER: dict[str, Any] = runner_facts(SAMPLE_RUNNER)


def schema_accepts(doc: object) -> bool:
    return bool(VALIDATOR.is_valid(doc))


def parser_accepts(doc: object) -> bool:
    return isinstance(read_document(copy.deepcopy(doc)), Success)


def test_the_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_schema_file_is_what_the_generator_writes() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "planner/context.schema.json is stale: regenerate it with "
        "python -c 'from planner._schema import schema_text; "
        'open("planner/context.schema.json", "w").write(schema_text())\''
    )


def test_the_sample_kernel_validates_and_reads() -> None:
    sample = orjson.loads(SAMPLE.read_bytes())
    VALIDATOR.validate(sample)
    assert parser_accepts(sample)
    assert isinstance(
        context_from_document({**sample, "facts": document()["facts"]}), Success
    )


def test_a_complete_test_context_validates_and_parses() -> None:
    doc = document()
    VALIDATOR.validate(doc)
    assert isinstance(context_from_document(copy.deepcopy(doc)), Success)


def _without(dotted: str) -> dict[str, Any]:
    doc = document()
    *parents, last = dotted.split(".")
    target = doc
    for key in parents:
        target = target[key]
    del target[last]
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        document(colour=1),
        document(**{"kernel_config.favourite": 1}),
        document(**{"kernel_config.uid": "1000"}),
        document(**{"kernel_config.uid": -3}),
        document(**{"kernel_config.internal_data.secret": 1}),
        document(**{"kernel_config.image.is_local": "no"}),
        document(**{"kernel_config.image.canonical": ""}),
        document(**{"kernel_config.mounts": [{"name": "x", "mount_perm": "rwx"}]}),
        document(**{"kernel_config.resource_slots.cpu": True}),
        document(**{"resource_spec.allocations.cpu.cpu.0": None}),
        document(**{"local_config.container.scratch-speed": 1}),
        document(**{"local_config.container.scratch-root": "/s"}),  # and scratch_root
        document(**{"local_config.container.kernel-uid": "5"}),
        document(**{"local_config.agent.ipc-base-path": 5}),
        document(**{"cluster_info.ssh_keypair": {"public_key": 5}}),
        document(**{"facts.umask": "022"}),
        document(**{"facts.uid": -1}),
        document(**{"facts.runner.files.evil__sh": RUNNER["files"][".bashrc"]}),
        document(restarting=1),
        document(**{"$schema": 5}),
        _without("kernel_config.image"),
        _without("kernel_config.image.canonical"),
        _without("local_config.container.scratch_root"),
        _without("facts.host.lxcfs"),
    ],
)
def test_schema_and_parser_both_refuse(doc: dict[str, Any]) -> None:
    assert not schema_accepts(doc)
    assert not parser_accepts(doc)


def _dashed() -> dict[str, Any]:
    doc = document()
    doc["local_config"] = {
        "container": {
            "scratch-root": "/s",
            "kernel-uid": 5,
            "port_reuse-cooldown-sec": 1,
        },
        "container-logs": {"max-length": "1m"},
        "kernel-lifecycles": {"init-polling-attempt": 3},
        "debug": {"coredump": {"core-path": "/c"}},
    }
    return doc


def _top_level_image() -> dict[str, Any]:
    doc = document()
    doc["image"] = doc["kernel_config"].pop("image")
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        _dashed(),
        _top_level_image(),
        document(**{"kernel_config.internal_data.ssh_keypair": {}}),
        document(**{"local_config.etcd": {"addr": "x"}, "local_config.agent.x": 1}),
        document(**{"$schema": "https://kplan.invalid/context.schema.json"}),
        _without("facts"),
        _without("kernel_config.image.registry"),
    ],
)
def test_schema_and_parser_both_accept(doc: dict[str, Any]) -> None:
    assert schema_accepts(doc)
    assert parser_accepts(doc)


# --- the property ------------------------------------------------------------------

Path_ = tuple[str | int, ...]
OTHER_KINDS: list[object] = [None, True, 7, 0.5, "x", [], {}]


def _kind(value: object) -> str:
    """The JSON kind (JSON Schema's reading of ``7`` and ``7.0`` differs from the
    parser's, so integral floats are never drawn)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return type(value).__name__


def _nodes(value: object, path: Path_ = ()) -> Iterator[tuple[Path_, object]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, (*path, index))


def _at(doc: object, path: Path_) -> Any:
    for step in path:
        doc = doc[step]  # type: ignore[index]
    return doc


@st.composite
def mutations(draw: st.DrawFn, doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``doc`` with one structural change, and a label for it."""
    doc = copy.deepcopy(doc)
    nodes = list(_nodes(doc))
    kind = draw(st.sampled_from(["delete", "add", "retype"]))
    if kind == "delete":
        keyed = [path for path, _ in nodes if path and isinstance(path[-1], str)]
        path = draw(st.sampled_from(keyed))
        del _at(doc, path[:-1])[path[-1]]
    elif kind == "add":
        objects = [path for path, value in nodes if isinstance(value, dict)]
        path = draw(st.sampled_from(objects))
        target = _at(doc, path)
        # a sibling's value, so only the key can be wrong
        sibling = next(iter(target.values()), None)
        name = draw(st.sampled_from(["kplan_unknown", "kplan-unknown", "Unknown"]))
        target[name] = copy.deepcopy(sibling)
    else:
        path = draw(st.sampled_from([path for path, _ in nodes if path]))
        old = _at(doc, path)
        new = draw(st.sampled_from([v for v in OTHER_KINDS if _kind(v) != _kind(old)]))
        _at(doc, path[:-1])[path[-1]] = copy.deepcopy(new)
    return f"{kind} {'.'.join(map(str, path))}", doc


generated = context_documents(HOST, RUNNER) | st.builds(document)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated)
def test_every_document_the_parser_reads_validates(doc: dict[str, Any]) -> None:
    assert parser_accepts(doc)
    errors = [error.message for error in VALIDATOR.iter_errors(doc)]
    assert not errors


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated.flatmap(mutations))
def test_schema_and_parser_agree_on_mutated_documents(
    mutated: tuple[str, dict[str, Any]],
) -> None:
    label, doc = mutated
    schema, parser = schema_accepts(doc), parser_accepts(doc)
    event(f"{label.split()[0]}: {'accepted' if parser else 'refused'}")
    assert schema == parser, (
        f"{label}: the schema {'accepts' if schema else 'refuses'}, the parser "
        f"{'accepts' if parser else 'refuses'}: "
        f"{[e.message for e in VALIDATOR.iter_errors(doc)]} "
        f"{read_document(copy.deepcopy(doc))}"
    )


def test_mutations_refused_by_both_include_every_kind() -> None:
    """The property is not vacuous: each kind of mutation of the base document
    is refused somewhere, by the schema and the parser alike."""
    base = document()
    refused = {"delete": 0, "add": 0, "retype": 0}
    for path, value in _nodes(base):
        if not path:
            continue
        mutants: list[tuple[str, dict[str, Any]]] = []
        if isinstance(path[-1], str):
            doc = copy.deepcopy(base)
            del _at(doc, path[:-1])[path[-1]]
            mutants.append(("delete", doc))
        if isinstance(value, dict):
            doc = copy.deepcopy(base)
            _at(doc, path)["kplan_unknown"] = None
            mutants.append(("add", doc))
        doc = copy.deepcopy(base)
        _at(doc, path[:-1])[path[-1]] = "x" if _kind(value) != "str" else 7
        mutants.append(("retype", doc))
        for kind, mutant in mutants:
            schema, parser = schema_accepts(mutant), parser_accepts(mutant)
            assert schema == parser, (kind, path)
            refused[kind] += not parser
    assert min(refused.values()) >= 10, refused
