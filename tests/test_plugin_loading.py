"""Broken stage plugins are one clear error naming them, never a traceback.

An installed broken plugin is a distribution on ``PYTHONPATH`` (a ``.dist-info``
directory with its ``entry_points.txt``, which is all ``importlib.metadata`` reads)
naming a module that is not there; the other cases are entry points naming the
wrong objects of ``tests.broken_plugins``.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from returns.result import Failure

from kplan._plugin_loading import GROUP, load_stage_plugins, plugin_stages

from .commands import kplan


def _broken_distribution(path: Path, value: str) -> dict[str, str]:
    info = path / "kplan_broken_stage-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kplan-broken-stage\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nmotd = {value}\n")
    return {"PYTHONPATH": str(path)}


def test_a_plugin_that_does_not_import_is_one_error_naming_it(tmp_path: Path) -> None:
    env = _broken_distribution(tmp_path / "site", "kplan_no_such_module:STAGE")
    done = kplan("plan", "sample", env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    problem = (
        "  - [plugins] entry-points.kplan.stages.motd=kplan-broken-stage 0.1: "
        "kplan_no_such_module:STAGE: cannot be loaded: ModuleNotFoundError: "
        "No module named 'kplan_no_such_module'"
    )
    assert done.stderr.splitlines() == ["kplan: refused, 1 problem:", problem]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("tests.broken_plugins:NOT_A_PLUGIN", "is a dict, not a planner.StagePlugin"),
        ("tests.broken_plugins:MISNAMED", "its stage is named 'other-name'"),
        ("tests.broken_plugins:NOWHERE", "cannot be loaded: AttributeError"),
    ],
)
def test_an_entry_point_that_is_not_a_stage_plugin_is_named(
    value: str, words: str
) -> None:
    point = EntryPoint(name="motd", value=value, group=GROUP)
    result = load_stage_plugins([point])
    assert isinstance(result, Failure)
    (error,) = result.failure()
    assert error.field == "entry-points.kplan.stages.motd"
    assert error.value == value
    assert words in error.reason


def test_a_misplaced_plugin_is_named_with_its_origin() -> None:
    point = EntryPoint(
        name="misplaced", value="tests.broken_plugins:MISPLACED", group=GROUP
    )
    result = plugin_stages([point])
    assert isinstance(result, Failure)
    (error,) = result.failure()
    assert error.reason == (
        "stage plugin 'misplaced' (tests.broken_plugins:MISPLACED): "
        "no such stage (built-in or plugin)"
    )
    assert (error.field, error.value) == ("after", "no-such-stage")


def test_the_installed_plugins_are_found_again_when_a_distribution_comes_or_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # plugin_stages() remembers what it found while the import path is unchanged
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = plugin_stages()
    assert plugin_stages() == before
    _broken_distribution(site, "kplan_no_such_module:STAGE")  # installed
    found = plugin_stages()
    assert isinstance(found, Failure), before
    (error,) = found.failure()
    assert error.field == "entry-points.kplan.stages.motd"
    for entry in sorted(site.rglob("*"), reverse=True):  # uninstalled
        entry.rmdir() if entry.is_dir() else entry.unlink()
    assert plugin_stages() == before


def test_entries_beside_the_distributions_read_no_metadata_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent's working directory is on its import path (``python -m``): its
    # logs and sockets come and go there, and each plan must not re-read every
    # distribution's metadata for it. The import path is the directory alone,
    # so this venv's distributions (their times) play no part.
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site)])
    before = plugin_stages()
    assert plugin_stages() is before
    (site / "agent.log").write_text("started\n")
    (site / "ipc").mkdir()
    assert plugin_stages() is before  # looked at again, not read again
    # Installed at once, within the clock tick of the last look: still seen.
    _broken_distribution(site, "kplan_no_such_module:STAGE")
    assert isinstance(plugin_stages(), Failure)
    assert isinstance(plugin_stages(), Failure)
