"""Small pure pieces of the planner: sizes, resource.txt parsing, merging."""

from __future__ import annotations

import pytest

from planner._binary_size import SizeError, format_binary_size, parse_binary_size
from planner._docker_merge import merge
from planner._kconfig import KconfigError, read_kconfig
from planner._model_definition import DefinitionError, Model, _model
from planner._resource_txt import read_resource_txt
from planner.errors import MergeError


@pytest.mark.parametrize(
    ("value", "spec", "text"),
    [
        (0, "m", "0m"),
        (1023, "s", "1023"),
        (1024, "s", "1k"),
        (1234567, "s", "1.18m"),
        (4294967296, "s", "4g"),
        (1536, "s", "1.5k"),
        (2**20, "m", "1m"),
        (3 * 2**19, "m", "1.5m"),
    ],
)
def test_binary_sizes_print_like_legacy(value: int, spec: str, text: str) -> None:
    assert format_binary_size(value, spec) == text


def test_binary_sizes_legacy_cannot_print_raise_what_it_raises() -> None:
    # As the real BinarySize prints and raises (26.9.6, run at these values).
    assert format_binary_size(2**90 - 1, "s") == "1024y"
    assert format_binary_size(10**34, "m") == "9536743164062500000000000000m"
    with pytest.raises(SizeError, match=r"raises IndexError \(no unit > y\)"):
        format_binary_size(2**90, "s")
    with pytest.raises(SizeError, match="raises InvalidOperation"):
        format_binary_size(10**40, "m")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("64m", 64 * 2**20),
        ("1g", 2**30),
        ("2 GiB", 2 * 2**30),
        ("1.5k", 1536),
        ("10_000", 10000),
        ("\u00b2", None),  # a digit, not a decimal one: legacy refuses it too
        ("\u0661\u0662m", 12 * 2**20),  # Arabic-Indic digits, as legacy reads them
        ("16e", 2**64),  # the largest size
        ("17e", None),
        ("1" * 5000, None),  # int() refuses a text of more than 4,300 digits
        ("0" * 30 + "12", 12),
        ("9" * 100_000 + "y", None),  # beyond the decimal context's exponents
        ("big", None),
        ("1.5", None),
        ("m", None),
    ],
)
def test_binary_sizes_parse(text: str, value: int | None) -> None:
    assert parse_binary_size(text) == value


RESOURCE = (
    'SCRATCH_SIZE=0m\nMOUNTS={}\nSLOTS={{"cpu":"1"}}\nUNIFIED_DEVICES=[]\nCID=abc\n'
)


SLOT_TYPES = {"cpu": "count", "mem": "bytes"}


def parse_resource_txt(text: str) -> tuple[object, str | None]:
    restored, problem = read_resource_txt(text, SLOT_TYPES)
    return (None if restored is None else restored[1]), problem


def test_a_restart_reads_mounts_back_without_options() -> None:
    restored, problem = read_resource_txt(
        RESOURCE.format("/a:/b:ro,vol:/opt/x:wd"), SLOT_TYPES
    )
    assert problem is None
    assert restored is not None
    mounts = restored[1]
    assert [(m.type, m.source, m.target, m.permission, m.opts) for m in mounts] == [
        ("bind", "/a", "/b", "ro", None),
        ("volume", "vol", "/opt/x", "wd", None),
    ]


@pytest.mark.parametrize(
    ("mounts", "reason"),
    [
        ("/a:b:c:ro", "H21"),
        ("rel/dir:/b:ro", "volume name"),
        ("/a:rel:ro", "relative target"),
        ("/a:/b:rwx", "permission"),
    ],
)
def test_mount_lines_legacy_cannot_read_are_reported(mounts: str, reason: str) -> None:
    parsed, problem = parse_resource_txt(RESOURCE.format(mounts))
    assert parsed is None
    assert problem is not None
    assert reason in problem


def test_a_resource_txt_without_slots_is_reported() -> None:
    assert parse_resource_txt("MOUNTS=\nSCRATCH_SIZE=0m\n")[1] == (
        "resource.txt has no SLOTS line: legacy raises KeyError"
    )


def test_merge_recurses_extends_and_replaces_like_update_nested_dict() -> None:
    cap_add = ["A"]
    base = {"HostConfig": {"CapAdd": cap_add, "Init": True}, "Env": ["X=1"]}
    merged = merge(
        base,
        [
            {"HostConfig": {"CapAdd": ["B"], "NetworkMode": "n1"}},
            {"HostConfig": {"NetworkMode": "n2"}, "Env": ["Y=2"]},
        ],
    )
    assert merged == {
        "HostConfig": {"CapAdd": ["A", "B"], "Init": True, "NetworkMode": "n2"},
        "Env": ["X=1", "Y=2"],
    }
    assert cap_add == ["A"]  # no aliasing (H23)


@pytest.mark.parametrize("bad", [{"HostConfig": 1}, {"Env": "X=1"}])
def test_merge_refuses_what_legacy_raises_on(bad: dict[str, object]) -> None:
    with pytest.raises(MergeError):
        merge({"HostConfig": {}, "Env": []}, [bad])


def test_a_restart_reads_allocations_back_as_legacy_rounds_them() -> None:
    text = RESOURCE.format("") + "CPU_SHARES=0:1,3:1\nMEM_SHARES=root:1.18m\n"
    restored, problem = read_resource_txt(text, SLOT_TYPES)
    assert problem is None
    assert restored is not None
    spec = restored[0]
    # 1234567 bytes were written as 1.18m (H21): reading it back loses bytes
    assert spec.allocations == (
        ("cpu", (("cpu", (("0", "1"), ("3", "1"))),)),
        ("mem", (("mem", (("root", str(int(1.18 * 2**20))),)),)),
    )


@pytest.mark.parametrize(
    ("port", "read"), [("+8000", 8000), (" 80 ", 80), ("\u00b2", None)]
)
def test_a_model_service_port_in_text_is_read_as_digits(
    port: str, read: int | None
) -> None:
    model = _model({"name": "m", "model_path": "/m", "service": {"port": port}}, "x")
    if read is None:  # a digit int() refuses: refused, not raised
        assert isinstance(model, DefinitionError)
        assert model.field == "x.service.port"
    else:
        assert model == Model(name="m", model_path="/m", port=read)


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x04\x8f(]\x90.",  # a set of a list: TypeError
        b"\x80\x04\x88(K\x01\x90.",  # items added to True: AttributeError
        b"\x80\x04]",  # cut short: EOFError
    ],
)
def test_a_corrupt_kconfig_is_a_kconfig_error_whatever_the_unpickler_raises(
    data: bytes,
) -> None:
    with pytest.raises(KconfigError):
        read_kconfig(data)
