"""Stage plugins in the planner: placement, declared reads, the guard, the compiler.

The plugins here are plain ``StagePlugin`` values (``tests.broken_plugins``); the
installed package and its entry point are ``test_plugin_package``'s.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import attrs
import pytest
from returns.result import Failure, Result, Success

from effects import WriteFile, project
from planner import (
    STAGES,
    THREADED_BY,
    Context,
    Part,
    PlanError,
    Stage,
    StagePlugin,
    Threaded,
    Upstream,
    compile_plan,
    stage_names,
    with_plugins,
)

from . import broken_plugins as broken
from .contexts import KERNEL_ID, context


def _placed(*plugins: StagePlugin) -> tuple[str, ...]:
    return stage_names(with_plugins(plugins).unwrap())


def _refused(*plugins: StagePlugin) -> tuple[PlanError, ...]:
    result = with_plugins(plugins)
    assert isinstance(result, Failure), result
    errors: tuple[PlanError, ...] = result.failure()
    return errors


def _plugin(name: str, run: Any = broken._fine, **where: Any) -> StagePlugin:
    return StagePlugin(name=name, run=run, **where)


def test_a_plugin_sits_after_or_before_the_stage_it_names() -> None:
    names = _placed(
        _plugin("late", after="config-files"), _plugin("early", before="scratch")
    )
    assert names[names.index("config-files") + 1] == "late"
    assert names[names.index("scratch") - 1] == "early"
    assert len(names) == len(STAGES) + 2


def test_plugins_by_one_anchor_keep_name_order_and_may_follow_each_other() -> None:
    names = _placed(
        _plugin("b", after="kernel"),
        _plugin("a", after="kernel"),
        _plugin("c", after="a"),
    )
    at = names.index("kernel")
    assert names[at + 1 : at + 4] == ("a", "c", "b")


@pytest.mark.parametrize(
    ("plugin", "field", "words"),
    [
        (_plugin("x"), "position", "exactly one of after= and before="),
        (_plugin("x", after="kernel", before="kernel"), "position", "exactly one"),
        (_plugin("x", after="x"), "position", "names itself"),
        (_plugin("Bad Name", after="kernel"), "name", "not [a-z0-9]"),
        (_plugin("environ", after="kernel"), "name", "a built-in stage's name"),
        (_plugin("x", run="not code", after="kernel"), "run", "not callable"),
        (
            _plugin("x", after="kernel", reads={"environs"}),
            "reads",
            "not threaded (one of allowed_syscalls",
        ),
        (
            _plugin("x", after="config-files", reads={"host_ports"}),
            "reads",
            "no stage before it sets it (set by host-ports)",
        ),
        (_plugin("x", after="nowhere"), "after", "no such stage"),
    ],
)
def test_a_misdeclared_plugin_is_refused_naming_it(
    plugin: StagePlugin, field: str, words: str
) -> None:
    (error,) = _refused(plugin)
    assert error.code == "plugin"
    assert error.field == field
    assert f"stage plugin {plugin.name!r}" in error.reason
    assert words in error.reason


def test_two_plugins_of_one_name_are_refused() -> None:
    errors = _refused(_plugin("twin", after="kernel"), _plugin("twin", before="kernel"))
    assert {e.reason for e in errors} == {"stage plugin 'twin': two plugins have it"}


def test_a_read_of_what_another_plugin_writes_before_it_is_allowed() -> None:
    names = _placed(
        _plugin("maker", after="inputs", writes={"cmdargs"}),
        _plugin("user", after="maker", reads={"cmdargs"}),
    )
    assert names.index("maker") < names.index("user")


def _compiled(*plugins: StagePlugin, **changes: Any) -> Result[Any, Any]:
    return compile_plan(context(**changes), stages=with_plugins(plugins).unwrap())


def _only_error(result: Result[Any, tuple[PlanError, ...]]) -> PlanError:
    assert isinstance(result, Failure), result
    errors: tuple[PlanError, ...] = result.failure()
    (error,) = errors
    return error


@pytest.mark.parametrize(
    ("run", "what", "words"),
    [
        (broken.raising, "raised", f"KeyError: '{KERNEL_ID}'"),
        (broken.returning_none, "returned", "None, not a Result[Part"),
        (broken.returning_text, "returned", "<Success: done>, not a Result"),
        (broken.emitting_a_stranger, "emitted", "'mkdir config', not an effect"),
        (broken.threading_environ, "threaded", "set environ, not in its writes"),
    ],
)
def test_a_broken_plugin_is_one_error_naming_it(
    run: Stage, what: str, words: str
) -> None:
    error = _only_error(_compiled(_plugin("bad", run=run, after="environ")))
    assert error.stage == "bad"
    assert error.code == "plugin"
    assert error.value == what
    assert error.reason.startswith(f"stage plugin 'bad' is broken: it {what} ")
    assert words in error.reason


def test_a_plugin_sees_only_the_threaded_values_it_declares() -> None:
    seen: list[Upstream] = []
    plugin = _plugin(
        "seeing", run=broken.seeing(seen), after="cmdargs", reads={"environ"}
    )
    _compiled(plugin).unwrap()
    (up,) = seen
    assert dict(up.threaded.environ)  # declared: the environ stage's
    assert up.threaded.cmdargs == ()  # not declared: the default, not cmdargs'
    assert up.threaded.service_ports == Threaded().service_ports
    assert up.tree.nodes  # the model tree after every earlier stage


def test_a_declared_write_reaches_the_later_stages() -> None:
    plugin = _plugin(
        "threads",
        run=broken.threading_environ,
        after="environ",
        reads={"environ"},
        writes={"environ"},
    )
    plan = _compiled(plugin).unwrap()
    environ = f"{KERNEL_ID}/config/environ.txt"
    (write,) = [
        s.effect
        for s in plan.steps
        if isinstance(s.effect, WriteFile) and str(s.effect.path) == environ
    ]
    data = plan.blob_table[write.blob]
    assert b"FROM_PLUGIN=1\n" in data
    assert data.count(b"\n") > 1  # the other variables are still there


def test_a_plugins_effects_are_in_the_plan_with_its_stage_and_edges() -> None:
    plugin = _plugin(
        "writing", run=broken.writing("config/hello", b"hi\n"), after="kernel"
    )
    plan = _compiled(plugin).unwrap()
    (index,) = [i for i, s in enumerate(plan.steps) if s.stage == "writing"]
    assert isinstance(plan.steps[index].effect, WriteFile)
    before = {a for a, b in plan.edges if b == index}
    assert any(plan.steps[a].stage == "scratch" for a in before)  # its config dir
    tree = project(plan, context().facts.scratch_tree).unwrap()
    assert PurePosixPath(f"{KERNEL_ID}/config/hello") in tree.nodes


def test_a_plugins_effects_meet_the_compilers_checks() -> None:
    conflict = _plugin(
        "writing", run=broken.writing("config/environ.txt", b"X=1\n"), after="kernel"
    )
    error = _only_error(_compiled(conflict))
    assert (error.stage, error.code) == ("writing", "conflict")
    assert "conflicts with what stage 'config-files' wrote there" in error.reason
    orphan = _plugin("orphan", run=broken.writing("no-dir/f", b""), after="kernel")
    error = _only_error(_compiled(orphan))
    assert (error.stage, error.code) == ("orphan", "model")
    assert error.field == f"facts.scratch.{KERNEL_ID}/no-dir/f"


def test_the_other_stages_still_report_beside_a_broken_plugin() -> None:
    plugin = _plugin("bad", run=broken.raising, after="inputs")
    dotfile = [{"path": "/etc/shadow", "perm": "644", "data": ""}]
    result = _compiled(plugin, **{"kernel_config.internal_data.dotfiles": dotfile})
    assert isinstance(result, Failure)
    assert {e.stage for e in result.failure()} == {"bad", "dotfiles"}


def test_threaded_by_names_every_stage_that_sets_a_field() -> None:
    """The table plugins' reads are checked against is what the stages really set."""
    seen: dict[str, set[str]] = {}

    def watched(name: str, stage: Stage) -> Stage:
        def run(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
            result = stage(ctx, up)
            if isinstance(result, Success) and result.unwrap().threaded is not None:
                after = result.unwrap().threaded
                for field in attrs.fields(Threaded):
                    if getattr(after, field.name) != getattr(up.threaded, field.name):
                        seen.setdefault(field.name, set()).add(name)
            return result

        return run

    stages = tuple((name, watched(name, stage)) for name, stage in STAGES)
    full = {
        "kernel_config.image.labels.ai__backend__service-ports": "web:http:8080",
        "kernel_config.resource_opts": {"shmem": 67108864},
        "kernel_config.mounts": [
            {
                "name": "data",
                "vfid": "b1e8e0c8-2f5a-4a4e-9d8b-0000000000a1",
                "vfsubpath": ".",
                "host_path": "/srv/data",
                "kernel_path": "/home/work/data",
                "mount_perm": "rw",
                "usage_mode": "general",
            }
        ],
    }
    ctx: Context = context(**full)
    compile_plan(ctx, stages=stages).unwrap()
    # hooks and syscalls come only from device plugins' answers, none here
    assert set(seen) == set(THREADED_BY) - {"hooks", "allowed_syscalls"}
    for field, setters in seen.items():
        assert setters <= set(THREADED_BY[field]), field
