"""The compiler's last pass: chmods and chowns a plan can do without (issue 12).

Left out or folded, they change nothing of the outcome: the model's tree of the
folded plan is the tree of the plan as legacy does it, step for step.
"""

from __future__ import annotations

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
    Plan,
    Step,
    Tree,
    WriteFile,
    blob_of,
    project,
)
from planner import compile_plan
from planner._folding import fold

from .contexts import context

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


def _tree(steps: list[Step]) -> Tree | None:
    writes = any(isinstance(step.effect, WriteFile) for step in steps)
    plan = Plan(header=HEADER, steps=steps, blobs=[BLOB] if writes else [])
    match project(plan, Tree()):
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
