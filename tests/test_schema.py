"""The published JSON Schema agrees with the parser on what a context file is."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from returns.result import Failure, Success

from planner import context_from_document

from .contexts import document, put

SCHEMA = orjson.loads(
    (Path(__file__).parent.parent / "planner" / "context.schema.json").read_bytes()
)
SAMPLE = Path(__file__).parent.parent / "kplan" / "samples" / "kernel.json"


def test_the_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_sample_kernel_validates() -> None:
    jsonschema.validate(orjson.loads(SAMPLE.read_bytes()), SCHEMA)


def test_a_complete_test_context_validates_and_parses() -> None:
    doc = document()
    jsonschema.validate(doc, SCHEMA)
    assert isinstance(context_from_document(copy.deepcopy(doc)), Success)


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("colour", 1),
        ("kernel_config.favourite", 1),
        ("kernel_config.uid", "1000"),
        ("kernel_config.internal_data.secret", 1),
        ("image.is_local", "no"),
        ("mounts", [{"target": "/x", "permission": "rwx"}]),
        ("facts.umask", "022"),
        ("restarting", 1),
    ],
)
def test_schema_and_parser_both_refuse(dotted: str, value: Any) -> None:
    doc = document()
    put(doc, dotted, value)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
    assert isinstance(context_from_document(doc), Failure)
