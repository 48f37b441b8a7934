"""The pure filesystem model: every projection rule (effects._model)."""

from __future__ import annotations

from pathlib import PurePosixPath as P

import pytest
from returns.result import Failure

from effects import (
    EMPTY,
    Chmod,
    Chown,
    ContainerConfig,
    Effect,
    EffectError,
    GenerateHostKey,
    Header,
    MakeDir,
    MountScratch,
    Node,
    Plan,
    StartContainer,
    Step,
    Tree,
    WriteFile,
    blob_of,
    project,
    seal,
)

HEADER = Header(scratch_root=P("/s"), kernel_id="k", run_as_uid=7, run_as_gid=8)
DATA = blob_of(b"data")
OTHER = blob_of(b"other")


def run(before: Tree, *effects: Effect) -> Tree:
    return project(_plan(effects), before).unwrap()


def refused(before: Tree, *effects: Effect) -> str:
    result = project(_plan(effects), before)
    assert isinstance(result, Failure)
    error: EffectError = result.failure()
    return error.reason


def _plan(effects: tuple[Effect, ...]) -> Plan:
    used = {e.blob for e in effects if isinstance(e, WriteFile)}
    blobs = [b for b in (DATA, OTHER) if b.digest in used]
    return seal(HEADER, [Step(stage="t", effect=e) for e in effects], blobs)


def d(mode: int = 0o755, uid: int = 0, gid: int = 0) -> Node:
    return Node(type="dir", mode=mode, uid=uid, gid=gid)


def f(blob: str = DATA.digest, size: int = 4, mode: int = 0o644, uid: int = 0) -> Node:
    return Node(type="file", mode=mode, uid=uid, gid=0, size=size, sha256=blob)


LINK = Node(type="symlink", mode=0o777, uid=0, gid=0, size=4, sha256=DATA.digest)
EMPTY_TREE = Tree()
BASE = Tree([(P("k"), d()), (P("k/file"), f()), (P("k/link"), LINK)])


def test_mkdir_creates_with_the_exact_mode_owned_by_the_applier() -> None:
    tree = run(EMPTY_TREE, MakeDir(path=P("k"), mode=0o700))
    assert tree.nodes[P("k")] == d(0o700, 7, 8)


def test_mkdir_needs_an_existing_parent() -> None:
    assert "does not exist" in refused(
        EMPTY_TREE, MakeDir(path=P("k/config"), mode=0o755)
    )


def test_mkdir_keeps_an_existing_directory_as_it_is() -> None:
    assert run(BASE, MakeDir(path=P("k"), mode=0o700)).nodes[P("k")] == d()


def test_mkdir_fails_on_an_existing_non_directory() -> None:
    assert "not a directory" in refused(BASE, MakeDir(path=P("k/file"), mode=0o755))


def test_write_creates_a_file_with_mode_digest_and_size() -> None:
    tree = run(BASE, WriteFile(path=P("k/new"), blob=OTHER.digest, mode=0o600))
    assert tree.nodes[P("k/new")] == Node(
        type="file", mode=0o600, uid=7, gid=8, size=5, sha256=OTHER.digest
    )


def test_write_replaces_content_but_keeps_mode_and_owner() -> None:
    tree = run(BASE, WriteFile(path=P("k/file"), blob=OTHER.digest, mode=0o600))
    assert tree.nodes[P("k/file")] == f(OTHER.digest, 5)


def test_write_fails_on_a_directory_and_a_symlink() -> None:
    assert "is a dir" in refused(
        BASE, WriteFile(path=P("k"), blob=DATA.digest, mode=0o644)
    )
    assert "is a symlink" in refused(
        BASE, WriteFile(path=P("k/link"), blob=DATA.digest, mode=0o644)
    )


def test_write_fails_below_a_file() -> None:
    reason = refused(BASE, WriteFile(path=P("k/file/x"), blob=DATA.digest, mode=0o644))
    assert "not a directory" in reason


def test_nothing_goes_through_a_symlinked_directory() -> None:
    tree = Tree([(P("k"), LINK)])
    assert "symlink" in refused(tree, MakeDir(path=P("k/x"), mode=0o755))


def test_chmod_and_chown_change_existing_paths() -> None:
    tree = run(
        BASE,
        Chmod(path=P("k/file"), mode=0o600),
        Chown(path=P("k/file"), uid=5, gid=None),
    )
    node = tree.nodes[P("k/file")]
    assert (node.mode, node.uid, node.gid) == (0o600, 5, 0)


def test_chmod_and_chown_fail_on_a_missing_path() -> None:
    assert "does not exist" in refused(BASE, Chmod(path=P("k/nope"), mode=0o600))
    assert "does not exist" in refused(BASE, Chown(path=P("k/nope"), uid=1, gid=1))


def test_chmod_and_chown_never_follow_a_symlink() -> None:
    assert "symlink" in refused(BASE, Chmod(path=P("k/link"), mode=0o600))
    assert "symlink" in refused(BASE, Chown(path=P("k/link"), uid=1, gid=1))


def test_a_host_key_and_its_public_half_are_volatile_0600() -> None:
    tree = run(BASE, GenerateHostKey(path=P("k/key"), kind="rsa", bits=2048))
    for name in ("k/key", "k/key.pub"):
        node = tree.nodes[P(name)]
        assert (node.type, node.mode, node.volatile, node.sha256) == (
            "file",
            0o600,
            True,
            None,
        )


def test_an_existing_public_half_is_left_alone() -> None:
    before = Tree([*BASE.entries, (P("k/key.pub"), f())])
    assert (
        run(before, GenerateHostKey(path=P("k/key"), kind="rsa", bits=2048)).nodes[
            P("k/key.pub")
        ]
        == f()
    )


def test_a_host_key_is_never_overwritten() -> None:
    assert "already exists" in refused(
        BASE, GenerateHostKey(path=P("k/file"), kind="rsa", bits=2048)
    )


def test_a_tmpfs_hides_what_was_below_and_is_sticky_world_writable() -> None:
    tree = run(BASE, MountScratch(kind="tmpfs", path=P("k"), size=1))
    assert tree.nodes[P("k")] == d(0o1777, 7, 8)
    assert P("k/file") not in tree.nodes


def test_a_loopfile_makes_its_image_and_an_ext4_root() -> None:
    tree = run(
        BASE,
        MountScratch(
            kind="loopfile", path=P("k"), size=2**20, image=P("k.img"), image_mode=0o644
        ),
    )
    assert tree.nodes[P("k.img")].volatile
    assert tree.nodes[P("k")] == d(0o755, 0, 0)
    assert tree.nodes[P("k/lost+found")] == d(0o700, 0, 0)
    assert P("k/file") not in tree.nodes


def test_a_mount_point_must_be_an_existing_directory() -> None:
    assert "does not exist" in refused(
        EMPTY_TREE, MountScratch(kind="tmpfs", path=P("k"), size=1)
    )
    assert "not a directory" in refused(
        BASE, MountScratch(kind="tmpfs", path=P("k/file"), size=1)
    )


def test_container_effects_do_not_change_the_tree() -> None:
    effects = (ContainerConfig(fragment=EMPTY), StartContainer(name="c"))
    assert run(BASE, *effects) == BASE


def test_the_error_names_the_step_and_the_path() -> None:
    result = project(
        _plan((MakeDir(path=P("a"), mode=0o755), MakeDir(path=P("b/c"), mode=0o755))),
        EMPTY_TREE,
    )
    assert isinstance(result, Failure)
    error = result.failure()
    assert (error.index, error.stage, error.path) == (1, "t", "b/c")
    assert "mkdir b/c" in str(error)


@pytest.mark.parametrize(
    "bad",
    [
        [(P("a/b"), d())],
        [(P("a"), f()), (P("a/b"), d())],
    ],
)
def test_a_tree_needs_every_parent_as_a_directory(bad: list[tuple[P, Node]]) -> None:
    with pytest.raises(ValueError, match="parent"):
        Tree(bad)


SOCKET = Node(type="socket", mode=0o755, uid=0, gid=0)
FIFO = Node(type="fifo", mode=0o644, uid=0, gid=0)
SPECIAL = Tree([*BASE.entries, (P("k/sock"), SOCKET), (P("k/fifo"), FIFO)])


@pytest.mark.parametrize(("name", "kind"), [("k/sock", "socket"), ("k/fifo", "fifo")])
def test_sockets_and_fifos_are_names_nothing_is_written_through(
    name: str, kind: str
) -> None:
    path = P(name)
    write = WriteFile(path=path, blob=DATA.digest, mode=0o644)
    assert f"is a {kind}, cannot write a file over it" in refused(SPECIAL, write)
    assert "not a directory" in refused(SPECIAL, MakeDir(path=path, mode=0o755))
    assert f"is a {kind}" in refused(SPECIAL, Chmod(path=path, mode=0o600))
    assert f"is a {kind}" in refused(SPECIAL, Chown(path=path, uid=1, gid=1))
    below = WriteFile(path=path / "x", blob=DATA.digest, mode=0o644)
    assert "not a directory" in refused(SPECIAL, below)
    assert "already exists" in refused(
        SPECIAL, GenerateHostKey(path=path, kind="rsa", bits=2048)
    )


def test_sockets_and_fifos_stay_as_they_are_around_other_effects() -> None:
    tree = run(SPECIAL, WriteFile(path=P("k/new"), blob=DATA.digest, mode=0o600))
    assert tree.nodes[P("k/sock")] == SOCKET
    assert tree.nodes[P("k/fifo")] == FIFO


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (0o4755, 0o755),
        (0o6755, 0o755),
        (0o2755, 0o755),
        (0o2745, 0o2745),  # no group-execute: the bit means mandatory locking
        (0o6745, 0o2745),
        (0o4644, 0o644),
        (0o6711, 0o711),
        (0o1755, 0o1755),
    ],
)
def test_a_chown_clears_setuid_and_setgid_of_a_file_as_the_kernel_does(
    before: int, after: int
) -> None:
    tree = Tree([(P("k"), d()), (P("k/file"), f(mode=before))])
    for chown in (
        Chown(path=P("k/file"), uid=5, gid=6),
        Chown(path=P("k/file"), uid=None, gid=6),
        Chown(path=P("k/file"), uid=0, gid=0),  # the same owner: cleared all the same
    ):
        assert run(tree, chown).nodes[P("k/file")].mode == after


def test_a_chown_keeps_the_set_id_bits_of_a_directory() -> None:
    tree = Tree([(P("k"), d(mode=0o6755))])
    assert run(tree, Chown(path=P("k"), uid=5, gid=6)).nodes[P("k")].mode == 0o6755
