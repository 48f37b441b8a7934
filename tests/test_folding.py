"""The compiler's last pass: chmods and chowns a plan can do without (issue 12).

Left out or folded, they change nothing of the outcome: the model's tree of the
folded plan is the tree of the plan as legacy does it, step for step.
"""

from __future__ import annotations

import os
from pathlib import Path
from pathlib import PurePosixPath as P

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from effects import (
    Chmod,
    Chown,
    Effect,
    Header,
    MakeDir,
    Node,
    Plan,
    Step,
    Tree,
    WriteFile,
    blob_of,
    project,
)
from planner import compile_plan
from planner._folding import fold

from .contexts import KERNEL_ID, context
from .executing import apply, needs_root, plan_at, snapshot

BLOB = blob_of(b"x")
HEADER = Header(scratch_root=P("/s"), kernel_id="k", run_as_uid=0, run_as_gid=0)
DOTFILES = "kernel_config.internal_data.dotfiles"
PATHS = st.lists(st.sampled_from("ab"), min_size=1, max_size=3).map(
    lambda parts: P("k", *parts)
)
MODES = st.sampled_from([0o755, 0o700, 0o640, 0o600, 0o4755, 0o2750, 0o1777])
# A maker names no owner (as the stages make them) or one, whole or in part.
OWNERS = st.sampled_from([(None, None), (None, None), (3, None), (None, 4), (3, 4)])


@st.composite
def _effect(draw: st.DrawFn) -> Effect:
    path, mode = draw(PATHS), draw(MODES)
    uid, gid = draw(OWNERS)
    choices: list[Effect] = [
        MakeDir(path=path, mode=mode, uid=uid, gid=gid),
        WriteFile(path=path, blob=BLOB.digest, mode=mode, uid=uid, gid=gid),
        Chmod(path=path, mode=mode),
        Chown(path=path, uid=draw(st.sampled_from([None, 1, 2])), gid=2),
    ]
    return draw(st.sampled_from(choices))


def _tree(steps: list[Step], before: Tree | None = None) -> Tree | None:
    writes = any(isinstance(step.effect, WriteFile) for step in steps)
    plan = Plan(header=HEADER, steps=steps, blobs=[BLOB] if writes else [])
    match project(plan, Tree() if before is None else before):
        case Success(tree):
            return tree  # type: ignore[no-any-return]
        case Failure(_):
            return None
        case _:
            raise AssertionError("unreachable")


@given(st.lists(_effect(), max_size=25))
def test_folding_never_changes_the_outcome(effects: list[Effect]) -> None:
    steps = [Step(stage="s", effect=MakeDir(path=P("k"), mode=0o755))]
    steps += [Step(stage="s", effect=effect) for effect in effects]
    expected = _tree(steps)
    if expected is None:
        return  # a plan the model refuses is never compiled
    folded = fold(steps, Tree(), as_root=True)
    assert _tree(folded) == expected


DIR = Node(type="dir", mode=0o755, uid=0, gid=0)


@st.composite
def _before(draw: st.DrawFn) -> Tree:
    """A tree the facts saw: ``k`` and some entries below it, modes and owners
    drawn from those the effects set (so some chmods and chowns change nothing)."""
    nodes = {P("k"): DIR}
    for path in draw(st.lists(PATHS, max_size=4, unique=True)):
        parents = list(reversed(path.parents[:-1]))
        if any(nodes.get(parent, DIR).type != "dir" for parent in parents):
            continue  # below a file drawn before
        if path in nodes:
            continue  # an ancestor of one drawn before
        for parent in parents:
            nodes.setdefault(parent, DIR)
        kind = draw(st.sampled_from(["dir", "file"]))
        ids = draw(st.sampled_from([1, 2])), 2
        mode = draw(MODES)
        if kind == "dir":
            nodes[path] = Node(type="dir", mode=mode, uid=ids[0], gid=ids[1])
        else:
            nodes[path] = Node(
                type="file",
                mode=mode,
                uid=ids[0],
                gid=ids[1],
                size=len(BLOB.data),
                sha256=BLOB.digest,
            )
    return Tree.of(nodes)


@given(_before(), st.lists(_effect(), max_size=25))
def test_folding_over_what_the_facts_saw_never_changes_the_outcome(
    before: Tree, effects: list[Effect]
) -> None:
    # A restart's plan: chmods and chowns of entries there already, of which
    # those that change nothing are left out.
    steps = [Step(stage="s", effect=effect) for effect in effects]
    expected = _tree(steps, before)
    if expected is None:
        return
    folded = fold(steps, before, as_root=True)
    assert _tree(folded, before) == expected


@needs_root
def test_a_restart_leaves_out_the_chmods_and_chowns_that_change_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    dotfiles = {DOTFILES: [{"path": ".config/app/rc", "perm": "640", "data": "x"}]}
    _, first = plan_at(root, **dotfiles)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    rc = root / KERNEL_ID / "work" / ".config" / "app" / "rc"
    owner = rc.stat().st_uid, rc.stat().st_gid
    os.chown(rc, 4321, owner[1])  # the user's change since: chowned back
    ctx, restart = plan_at(root, restarting=True, **dotfiles)
    # What the first run left is as the restart's chmods and chowns would
    # leave it, but for that one file.
    changes = [s.effect for s in restart.steps if isinstance(s.effect, Chmod | Chown)]
    assert [str(e.path) for e in changes] == [f"{KERNEL_ID}/work/.config/app/rc"]
    assert isinstance(changes[0], Chown)
    assert isinstance(apply(restart, tmp_path / "restart"), Success)
    assert (rc.stat().st_uid, rc.stat().st_gid) == owner
    assert snapshot(root) == project(restart, ctx.facts.scratch_tree).unwrap()


def test_the_dotfiles_walk_folds_into_the_mkdir_of_each_directory() -> None:
    dotfiles = [
        {"path": f".config/app/rc{index}", "perm": perm, "data": "x"}
        for index, perm in enumerate(["640", "600", "644"])
    ]
    ctx = context(**{DOTFILES: dotfiles})
    plan = compile_plan(ctx).unwrap()
    on_app = [
        s.effect
        for s in plan.steps
        if isinstance(s.effect, Chmod | Chown | MakeDir)
        and str(s.effect.path).endswith("work/.config/app")
    ]
    # legacy: a mkdir, then a chmod and a chown per dotfile; kept: the mkdir with
    # the last chmod's mode and the last chown's owner folded in
    assert [type(e) for e in on_app] == [MakeDir]
    made = on_app[0]
    assert isinstance(made, MakeDir)
    owner = (ctx.kernel_uid, ctx.kernel_gid)
    assert (made.mode, made.uid, made.gid) == (0o644, *owner)
    node = project(plan, ctx.facts.scratch_tree).unwrap().nodes[made.path]
    assert (node.mode, node.uid, node.gid) == (0o644, *owner)


def test_nothing_is_folded_for_a_plan_run_as_another_user_or_with_set_ids() -> None:
    steps = [
        Step(stage="s", effect=MakeDir(path=P("k"), mode=0o755)),
        Step(stage="s", effect=Chmod(path=P("k"), mode=0o700)),
        Step(stage="s", effect=Chmod(path=P("k"), mode=0o750)),
    ]
    assert fold(steps, Tree(), as_root=False) == steps
    special = [*steps, Step(stage="s", effect=Chmod(path=P("k"), mode=0o2750))]
    assert fold(special, Tree(), as_root=True) == special
