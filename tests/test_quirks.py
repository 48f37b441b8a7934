"""Each quirk, off (legacy's behaviour) and on (the fix), on the same context."""

from __future__ import annotations

from pathlib import PurePosixPath as P

from effects import Node, Tree
from planner import QUIRKS, compile_plan, expected_tree, quirk_labels

from .contexts import KERNEL_ID, context

WORK = P(KERNEL_ID) / "work"
CTX = context(
    **{
        "kernel_config.uid": 2001,
        "kernel_config.internal_data.dotfiles": [
            {"path": "a/b/c.ini", "perm": "640", "data": "x"}
        ],
        "kernel_config.internal_data.docker_credentials": {"r.io": {"password": "p"}},
    }
)


def tree(*quirks: str) -> Tree:
    return expected_tree(CTX, compile_plan(CTX, quirks).unwrap())


def node(found: Tree, path: P) -> Node:
    return found.nodes[path]


def test_dotfile_dir_mode() -> None:
    legacy, fixed = tree(), tree("dotfile-dir-mode")
    for directory in (WORK / "a", WORK / "a/b"):
        assert node(legacy, directory).mode == 0o640  # H3: untraversable dirs
        assert node(fixed, directory).mode == 0o755
    assert node(fixed, WORK / "a/b/c.ini").mode == 0o640
    assert node(fixed, WORK / "a").uid == 2001  # still owned like the file


def test_secret_file_modes() -> None:
    creds = P(KERNEL_ID) / "config" / "docker-creds.json"
    legacy, fixed = node(tree(), creds), node(tree("secret-file-modes"), creds)
    assert (legacy.mode, legacy.uid) == (0o644, 0)  # H9
    assert (fixed.mode, fixed.uid, fixed.gid) == (0o600, 2001, 1200)


def test_unowned_jupyter_assets() -> None:
    logo = WORK / ".jupyter" / "custom" / "logo.svg"
    assert node(tree(), logo).uid == 0  # H10
    assert node(tree("unowned-jupyter-assets"), logo).uid == 2001


def test_quirks_combine_and_label_exactly_the_paths_they_change() -> None:
    labels = quirk_labels(CTX, sorted(QUIRKS))
    assert labels[str(WORK / "a")] == "dotfile-dir-mode"
    assert (
        labels[str(P(KERNEL_ID) / "config" / "docker-creds.json")]
        == "secret-file-modes"
    )
    assert labels[str(WORK / ".jupyter/custom/roboto.ttf")] == "unowned-jupyter-assets"
    assert str(WORK / ".bashrc") not in labels
    both = tree(*QUIRKS)
    assert node(both, WORK / "a").mode == 0o755
    assert node(both, WORK / ".jupyter/custom/logo.svg").uid == 2001
