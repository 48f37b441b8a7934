"""The canonical plan encoding (architecture.md §2) and its golden pin."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import attrs
import orjson
import pytest
from returns.result import Failure

from effects import (
    Effect,
    JsonObject,
    MakeDir,
    WriteFile,
    decode,
    decode_effect,
    dumps,
    encode,
    encode_effect,
    json_default,
    seal,
)
from effects.decoding import Invalid, Reader

from .plans import every_effect_plan, small_plan

GOLDEN = Path(__file__).parent / "golden" / "small-plan.json"


def test_every_effect_round_trips() -> None:
    plan = every_effect_plan()
    assert decode(encode(plan)).unwrap() == plan


def test_the_encoding_of_a_small_plan_is_pinned() -> None:
    # A change here is a plan format change: bump FORMAT_VERSION and regenerate.
    assert encode(small_plan()) == GOLDEN.read_bytes()


def test_modes_are_octal_strings_and_keys_are_sorted() -> None:
    text = encode(small_plan()).decode()
    assert '"mode": "0o640"' in text
    document = orjson.loads(text)
    assert list(document) == sorted(document)


def test_the_plan_id_is_the_digest_of_the_encoding_without_it() -> None:
    # Format 2: the blob table stands by its digests (each commits to its content).
    plan = small_plan()
    blank = attrs.evolve(plan, header=attrs.evolve(plan.header, plan_id=""))
    document = orjson.loads(encode(blank))
    assert document["header"]["plan_id"] == ""
    document["blobs"] = sorted(document["blobs"])
    assert plan.header.plan_id == hashlib.sha256(dumps(document)).hexdigest()


def test_a_blob_whose_content_does_not_match_its_digest_is_refused() -> None:
    document = orjson.loads(encode(small_plan()))
    (digest,) = document["blobs"]
    document["blobs"][digest] = base64.b64encode(b"other content\n").decode()
    result = decode(orjson.dumps(document))
    assert isinstance(result, Failure)
    assert "does not match its data" in str(result.failure())


def test_sealing_twice_gives_the_same_id() -> None:
    plan = small_plan()
    again = seal(plan.header, plan.steps, plan.blobs, plan.edges)
    assert again == plan


def test_bytes_are_identical_in_another_process() -> None:
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]];"
        "from tests.plans import small_plan; from effects import encode;"
        "sys.stdout.buffer.write(encode(small_plan()))"
    )
    root = str(Path(__file__).parent.parent)
    other = subprocess.run(
        [sys.executable, "-c", code, root],
        capture_output=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert other.stdout == encode(small_plan())


def test_a_tampered_plan_is_refused_by_its_id() -> None:
    document = orjson.loads(encode(small_plan()))
    document["steps"][0]["effect"]["mode"] = "0o777"
    result = decode(orjson.dumps(document))
    assert isinstance(result, Failure)
    assert result.failure().field == "header.plan_id"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["steps"][0]["effect"].update(mode="755"), "steps[0].effect.mode"),
        (lambda d: d["steps"][0]["effect"].update(path="/etc"), "steps[0].effect.path"),
        (
            lambda d: d["steps"][0]["effect"].update(path="k1/../x"),
            "steps[0].effect.path",
        ),
        (lambda d: d["steps"][0]["effect"].update(op="rmrf"), "steps[0].effect.op"),
        (lambda d: d["steps"][0]["effect"].update(extra=1), "steps[0].effect.extra"),
        (lambda d: d["steps"][2]["effect"].update(uid=-5), "steps[2].effect.uid"),
        (lambda d: d["header"].update(kernel_id=3), "header.kernel_id"),
        (lambda d: d.update(edges=[[2, 1]]), "plan"),
        (lambda d: d.update(edges=[["a", 1]]), "edges[0]"),
        (lambda d: d["blobs"].update({"00": "aGk="}), "blobs.00"),
        (lambda d: d["blobs"].update({"00": "\x80"}), "blobs.00"),  # not ASCII
        (lambda d: d.pop("steps"), "steps"),
    ],
)
def test_invalid_documents_name_the_field(change: object, field: str) -> None:
    document = orjson.loads(encode(small_plan()))
    change(document)  # type: ignore[operator]
    result = decode(orjson.dumps(document))
    assert isinstance(result, Failure)
    assert result.failure().field == field


def test_not_json_is_refused() -> None:
    result = decode(b"{")
    assert isinstance(result, Failure)
    assert "not JSON" in result.failure().reason


# --- the fast path of decode_effect -------------------------------------------------

_WRONG: tuple[object, ...] = (
    None, True, 0, -1, 1.5, "", "x", "0o644", "0o17777", "644", "a//b", "/abs", "../x",
    [], {}, {"a": 1},
)  # fmt: skip


def _decoded(value: Mapping[str, object]) -> object:
    """decode_effect's answer: the effect, or the field and reason it refuses."""
    try:
        return decode_effect(Reader(value, "effect"))
    except Invalid as exc:
        return (exc.field, exc.reason)


def _variants(encoded: dict[str, object]) -> list[dict[str, object]]:
    """``encoded`` and, for each key, without it and with each wrong value; with
    an unknown key too."""
    found = [encoded, {**encoded, "extra": 1}]
    for key in encoded:
        found.append({k: v for k, v in encoded.items() if k != key})
        found += [{**encoded, key: wrong} for wrong in _WRONG]
    return found


def test_the_fast_decoders_answer_as_the_strict_ones() -> None:
    # A mapping that is no dict never takes the fast path: the strict answer.
    plan = every_effect_plan()
    # and the other form of a mkdir and a write: with the new entry's owner
    owned: list[Effect] = [
        MakeDir(path=PurePosixPath("k1/o"), mode=0o750, uid=7, gid=None),
        WriteFile(path=PurePosixPath("k1/w"), blob="a" * 64, mode=0o600, uid=1, gid=2),
    ]
    tried = 0
    for effect in [*(step.effect for step in plan.steps), *owned]:
        encoded = encode_effect(effect)
        assert _decoded(encoded) == effect
        for variant in _variants(encoded):
            assert _decoded(variant) == _decoded(MappingProxyType(variant)), variant
            tried += 1
    assert tried > 500


def test_a_frozen_encoding_writes_the_same_json_as_the_plain_one() -> None:
    """``encode_effect(frozen=True)`` keeps JsonObject values for ``json_default``:
    written out, every effect's JSON is byte for byte the plain encoding's."""
    plain_options = orjson.OPT_SORT_KEYS
    frozen_values = 0
    for step in every_effect_plan().steps:
        frozen = encode_effect(step.effect, frozen=True)
        frozen_values += any(isinstance(v, JsonObject) for v in frozen.values())
        written = orjson.dumps(frozen, default=json_default, option=plain_options)
        assert written == orjson.dumps(encode_effect(step.effect), option=plain_options)
    assert frozen_values >= 3  # container mounts and configs, the create, the record
    with pytest.raises(TypeError, match="not a JSON value"):
        json_default(object())
