"""Constructors and validators of every effect (architecture.md §2)."""

from __future__ import annotations

from pathlib import PurePosixPath as P

import pytest

from effects import (
    EMPTY,
    Blob,
    Chmod,
    Chown,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    GenerateHostKey,
    Header,
    MakeDir,
    MountScratch,
    Plan,
    PullImage,
    RegisterKernel,
    StartContainer,
    Step,
    VerifyContainer,
    WriteFile,
    blob_of,
    freeze,
    freeze_object,
    thaw,
)
from effects.decoding import check_absolute, rel

DIGEST = blob_of(b"x").digest


@pytest.mark.parametrize("text", ["/abs", "a/../b", "..", "a/\x00b"])
def test_paths_outside_the_scratch_root_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must"):
        MakeDir(path=P(text), mode=0o755)


def test_an_empty_path_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Chmod(path=P(), mode=0o600)


def test_a_path_must_be_a_pure_posix_path() -> None:
    with pytest.raises(TypeError, match="PurePosixPath"):
        MakeDir(path="k/config", mode=0o755)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["a//b", "./a", "a/", "a/./b", ""])
def test_rel_refuses_text_that_needs_normalising(text: str) -> None:
    with pytest.raises(ValueError, match="path"):
        rel(text)


def test_rel_accepts_canonical_text() -> None:
    assert rel("k/work/.bashrc") == P("k/work/.bashrc")


@pytest.mark.parametrize("mode", [-1, 0o10000, 99999])
def test_modes_outside_0_to_7777_are_refused(mode: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        Chmod(path=P("a"), mode=mode)


@pytest.mark.parametrize("mode", [True, "0o755", 1.5])
def test_modes_must_be_ints(mode: object) -> None:
    with pytest.raises(TypeError, match="int"):
        MakeDir(path=P("a"), mode=mode)  # type: ignore[arg-type]


def test_extreme_modes_are_allowed() -> None:
    assert Chmod(path=P("a"), mode=0).mode == 0
    assert Chmod(path=P("a"), mode=0o7777).mode == 0o7777


@pytest.mark.parametrize("owner", [(-1, 0), (0, -2), (True, 0)])
def test_negative_or_bool_owners_are_refused(owner: tuple[object, object]) -> None:
    with pytest.raises(ValueError, match="None or an int >= 0"):
        Chown(path=P("a"), uid=owner[0], gid=owner[1])  # type: ignore[arg-type]


def test_chown_keeps_a_side_given_as_none() -> None:
    assert Chown(path=P("a"), uid=None, gid=5).uid is None


def test_chown_that_keeps_both_sides_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to do"):
        Chown(path=P("a"), uid=None, gid=None)


def test_effects_are_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        MakeDir(P("a"), 0o755)  # type: ignore[call-arg]
    effect = MakeDir(path=P("a"), mode=0o755)
    with pytest.raises(AttributeError):
        effect.mode = 0o700  # type: ignore[misc]


@pytest.mark.parametrize("digest", ["", "ABC", "0" * 63, "g" * 64])
def test_write_file_needs_a_sha256_blob(digest: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        WriteFile(path=P("a"), blob=digest, mode=0o644)


def test_a_blob_must_match_its_data() -> None:
    with pytest.raises(ValueError, match="does not match"):
        Blob(digest=DIGEST, data=b"y")


@pytest.mark.parametrize("bits", [0, -1])
def test_host_key_bits_must_be_positive(bits: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        GenerateHostKey(path=P("k"), kind="rsa", bits=bits)


def test_host_key_kind_is_a_name() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        GenerateHostKey(path=P("k"), kind="", bits=2048)


def test_loopfile_scratch_needs_an_image_and_tmpfs_refuses_one() -> None:
    with pytest.raises(ValueError, match="image path exactly"):
        MountScratch(kind="loopfile", path=P("k"), size=1)
    with pytest.raises(ValueError, match="image path exactly"):
        MountScratch(
            kind="tmpfs", path=P("k"), size=1, image=P("k.img"), image_mode=0o644
        )
    with pytest.raises(ValueError, match="image_mode exactly"):
        MountScratch(kind="loopfile", path=P("k"), size=1, image=P("k.img"))


def test_scratch_mount_kind_and_size_are_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        MountScratch(kind="nfs", path=P("k"), size=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        MountScratch(kind="tmpfs", path=P("k"), size=0)


def test_container_mount_target_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="absolute"):
        ContainerMount(
            type="bind", source="/s", target="rel", read_only=True, options=EMPTY
        )


@pytest.mark.parametrize("name", ["", "a\x00b"])
def test_container_names_must_be_non_empty(name: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        StartContainer(name=name)
    with pytest.raises(ValueError, match="non-empty"):
        CreateContainer(name=name, config=EMPTY)


def test_verify_container_checks_are_known_and_non_empty() -> None:
    with pytest.raises(ValueError, match="non-empty tuple"):
        VerifyContainer(name="c", checks=())
    with pytest.raises(ValueError, match="unknown"):
        VerifyContainer(name="c", checks=("healthy",))


def test_pull_image_digest_is_optional_text() -> None:
    assert PullImage(ref="busybox").digest is None
    with pytest.raises(ValueError, match="non-empty"):
        PullImage(ref="busybox", digest="")


def test_container_config_and_kernel_record_are_frozen_json() -> None:
    with pytest.raises(TypeError):
        ContainerConfig(fragment={"a": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RegisterKernel(record={"a": 1})  # type: ignore[arg-type]


def test_frozen_json_round_trips_and_sorts_keys() -> None:
    document = {"b": [1, {"c": None}], "a": True}
    frozen = freeze_object(document)
    assert list(frozen.keys()) == ["a", "b"]
    assert thaw(frozen) == document
    assert freeze_object({"a": 1, "b": 2}) == freeze_object({"b": 2, "a": 1})


def test_a_json_objects_keys_include_those_holding_null() -> None:
    frozen = freeze_object({"mode": None, "name": "n"})
    assert "mode" in frozen
    assert "name" in frozen
    assert "other" not in frozen
    assert frozen.get("mode") is frozen.get("other") is None


def test_freeze_keeps_frozen_values_inside_a_document() -> None:
    inner = freeze_object({"driver": "overlay", "opts": [1, 2]})
    document = {"network": inner, "pairs": (inner, [True])}
    frozen = freeze_object(document)
    assert frozen.get("network") is inner
    assert thaw(frozen) == {
        "network": {"driver": "overlay", "opts": [1, 2]},
        "pairs": [{"driver": "overlay", "opts": [1, 2]}, [True]],
    }


@pytest.mark.parametrize("value", [float("nan"), b"bytes", {1: 2}, {1, 2}])
def test_freeze_refuses_non_json(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        freeze(value)


def test_header_checks_root_id_and_version() -> None:
    with pytest.raises(ValueError, match="absolute"):
        Header(scratch_root=P("rel"), kernel_id="k", run_as_uid=0, run_as_gid=0)
    with pytest.raises(ValueError, match="non-empty"):
        Header(scratch_root=P("/s"), kernel_id="", run_as_uid=0, run_as_gid=0)
    with pytest.raises(ValueError, match="int >= 0"):
        Header(scratch_root=P("/s"), kernel_id="k", run_as_uid=-1, run_as_gid=0)
    with pytest.raises(ValueError, match="plan_id"):
        Header(
            scratch_root=P("/s"), kernel_id="k", run_as_uid=0, run_as_gid=0, plan_id="x"
        )
    with pytest.raises(ValueError, match="format version"):
        Header(
            scratch_root=P("/s"),
            kernel_id="k",
            run_as_uid=0,
            run_as_gid=0,
            format_version=3,
        )


def test_absolute_paths_reject_dotdot() -> None:
    with pytest.raises(ValueError, match=r"\.\."):
        check_absolute(P("/a/../b"))


HEADER = Header(scratch_root=P("/s"), kernel_id="k", run_as_uid=0, run_as_gid=0)


def test_a_step_holds_an_effect_and_a_stage() -> None:
    with pytest.raises(TypeError, match="not an effect"):
        Step(stage="s", effect="mkdir")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        Step(stage="", effect=MakeDir(path=P("a"), mode=0o755))


def test_a_plan_must_carry_exactly_the_blobs_it_writes() -> None:
    write = Step(stage="s", effect=WriteFile(path=P("a"), blob=DIGEST, mode=0o644))
    with pytest.raises(ValueError, match="missing blobs"):
        Plan(header=HEADER, steps=[write])
    with pytest.raises(ValueError, match="unreferenced"):
        Plan(header=HEADER, steps=[], blobs=[blob_of(b"x")])
    assert (
        Plan(header=HEADER, steps=[write], blobs=[blob_of(b"x")]).blob_table[DIGEST]
        == b"x"
    )


@pytest.mark.parametrize("edge", [(1, 0), (0, 0), (0, 5), (-1, 0)])
def test_edges_must_point_forward_between_steps(edge: tuple[int, int]) -> None:
    steps = [Step(stage="s", effect=MakeDir(path=P(name), mode=0o755)) for name in "ab"]
    with pytest.raises(ValueError, match="edge"):
        Plan(header=HEADER, steps=steps, edges=[edge])
