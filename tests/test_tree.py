"""The tree value and its JSON format (architecture.md §2)."""

from __future__ import annotations

from pathlib import PurePosixPath as P

import orjson
import pytest
from returns.result import Failure

from effects import Node, Tree, decode_tree, encode_tree

DIGEST = "a" * 64
TREE = Tree(
    [
        (P("k/f"), Node(type="file", mode=0o644, uid=1, gid=2, size=3, sha256=DIGEST)),
        (P("k"), Node(type="dir", mode=0o1777, uid=0, gid=0)),
        (P("k/key"), Node(type="file", mode=0o600, uid=0, gid=0, volatile=True)),
    ]
)


def test_the_json_has_exactly_the_design_fields_sorted_by_path() -> None:
    document = orjson.loads(encode_tree(TREE))
    assert [entry["path"] for entry in document] == ["k", "k/f", "k/key"]
    assert document[1] == {
        "path": "k/f",
        "type": "file",
        "mode": "0o644",
        "uid": 1,
        "gid": 2,
        "size": 3,
        "sha256": DIGEST,
        "volatile": False,
    }
    assert document[0]["mode"] == "0o1777"
    assert (document[0]["size"], document[0]["sha256"]) == (None, None)


def test_round_trip() -> None:
    assert decode_tree(encode_tree(TREE)).unwrap() == TREE


def test_duplicates_are_refused() -> None:
    node = Node(type="dir", mode=0o755, uid=0, gid=0)
    with pytest.raises(ValueError, match="duplicate"):
        Tree([(P("k"), node), (P("k"), node)])


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"path": "/abs"}, "[1].path"),
        ({"mode": "644"}, "[1].mode"),
        ({"uid": -1}, "[1].uid"),
        ({"type": "fifo"}, "[1]"),
        ({"sha256": None}, "[1]"),
        ({"colour": "red"}, "[1].colour"),
    ],
)
def test_bad_entries_name_the_field(entry: dict[str, object], field: str) -> None:
    document = orjson.loads(encode_tree(TREE))
    document[1] = {**document[1], **entry}
    result = decode_tree(orjson.dumps(document))
    assert isinstance(result, Failure)
    assert result.failure().field == field


def test_a_directory_has_no_content_and_a_file_needs_it() -> None:
    with pytest.raises(ValueError, match="directory"):
        Node(type="dir", mode=0o755, uid=0, gid=0, size=1)
    with pytest.raises(ValueError, match="size"):
        Node(type="file", mode=0o644, uid=0, gid=0)


@pytest.mark.parametrize("kind", ["socket", "fifo"])
def test_sockets_and_fifos_have_a_type_mode_and_owner_and_no_content(
    kind: str,
) -> None:
    node = Node(type=kind, mode=0o755, uid=1000, gid=1000)  # type: ignore[arg-type]
    tree = Tree(
        [(P("k"), Node(type="dir", mode=0o755, uid=0, gid=0)), (P("k/s"), node)]
    )
    document = orjson.loads(encode_tree(tree))
    assert document[1] == {
        "path": "k/s",
        "type": kind,
        "mode": "0o755",
        "uid": 1000,
        "gid": 1000,
        "size": None,
        "sha256": None,
        "volatile": False,
    }
    assert decode_tree(encode_tree(tree)).unwrap() == tree
    with pytest.raises(ValueError, match=f"a {kind} node has no size"):
        Node(type=kind, mode=0o755, uid=0, gid=0, size=0, sha256=DIGEST)  # type: ignore[arg-type]


def test_volatile_paths_are_host_keys_and_scratch_images() -> None:
    from effects import is_volatile_path  # noqa: PLC0415

    assert is_volatile_path(P("k/config/ssh/dropbear_rsa_host_key"))
    assert is_volatile_path(P("k/config/ssh/dropbear_rsa_host_key.pub"))
    assert is_volatile_path(P("k.img"))
    assert not is_volatile_path(P("k/config/ssh/id_cluster"))
    assert not is_volatile_path(P("k/work/config/ssh/dropbear_rsa_host_key"))
    assert not is_volatile_path(P("k/work/x.img"))


def test_a_snapshot_without_volatile_content_reads_like_the_model() -> None:
    from effects import without_volatile_content  # noqa: PLC0415

    key = P("k/config/ssh/dropbear_rsa_host_key")
    real = Tree(
        [
            (P("k"), Node(type="dir", mode=0o755, uid=0, gid=0)),
            (P("k/config"), Node(type="dir", mode=0o755, uid=0, gid=0)),
            (P("k/config/ssh"), Node(type="dir", mode=0o755, uid=0, gid=0)),
            (key, Node(type="file", mode=0o600, uid=1, gid=1, size=805, sha256=DIGEST)),
        ]
    )
    node = without_volatile_content(real).nodes[key]
    assert (node.volatile, node.size, node.sha256, node.mode, node.uid) == (
        True,
        None,
        None,
        0o600,
        1,
    )
