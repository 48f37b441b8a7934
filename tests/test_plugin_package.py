"""A real stage plugin package, installed into the test venv, planned and applied with.

``tests/plugin_package`` is a package of its own (``kplan-example-stage``, entry
point ``motd`` in the ``kplan.stages`` group). The module's fixture builds and
installs it with pip, without network or build isolation, and uninstalls it after;
the ``kplan`` commands then find it as an agent's installed plugin would be found.
Broken plugins are ``test_plugin_loading``'s.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from kplan._plugin_loading import load_stage_plugins, plugin_stages
from planner import stage_names

from .commands import ROOT, kplan
from .executing import context_file, needs_root

PACKAGE = ROOT / "tests" / "plugin_package"
DISTRIBUTION = "kplan-example-stage"


def _pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``kplan-example-stage`` installed into this venv for the module's tests."""
    source = tmp_path_factory.mktemp("plugin") / "package"
    shutil.copytree(PACKAGE, source)  # pip builds in place: not in the repository
    _pip(
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        str(source),
    )
    importlib.invalidate_caches()
    try:
        yield
    finally:
        _pip("uninstall", "--quiet", "--yes", DISTRIBUTION)
        importlib.invalidate_caches()


def _context(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return context_file(root, tmp_path / "ctx.json")


@pytest.mark.usefixtures("installed")
def test_the_installed_plugin_is_found_with_its_distribution() -> None:
    (plugin,) = load_stage_plugins().unwrap()
    assert plugin.name == "motd"
    assert plugin.origin == f"{DISTRIBUTION} 1.0.0: kplan_example_stage:STAGE"
    names = stage_names(plugin_stages().unwrap())
    assert names[names.index("config-files") + 1] == "motd"


@pytest.mark.usefixtures("installed")
def test_kplan_plan_shows_the_plugins_stage(tmp_path: Path) -> None:
    context = _context(tmp_path)
    done = kplan("plan", str(context))
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if " motd " in line]
    assert (
        "  write 11111111-2222-4333-8444-555555555555/config/motd.txt mode=0o644"
        in line
    )
    plan = orjson.loads(kplan("plan", str(context), "--format", "json").stdout)
    stages = [step["stage"] for step in plan["steps"]]
    assert stages.index("motd") > stages.index("config-files")


@pytest.mark.usefixtures("installed")
def test_kplan_graph_draws_the_plugins_stage(tmp_path: Path) -> None:
    context = _context(tmp_path)
    done = kplan("graph", str(context), "--level", "stage", "--format", "json")
    assert done.returncode == 0, done.stderr
    graph = orjson.loads(done.stdout)
    assert "motd" in graph["nodes"]
    # it writes into the config dir the scratch stage made
    assert any(edge[:2] == ["scratch", "motd"] for edge in graph["edges"])
    text = kplan("graph", str(context), "--level", "stage").stdout
    assert "motd (plugin) after scratch" in text.splitlines()
    svg = tmp_path / "g.svg"
    dot = kplan(
        "graph", str(context), "--level", "stage", "--format", "dot", "--svg", str(svg)
    )
    assert dot.returncode == 0, dot.stderr
    assert '[label="motd", style=dashed];' in dot.stdout  # a plugin: dashed
    assert "<title>n" in svg.read_text()  # Graphviz's SVG, one group per node
    assert ">motd</text>" in svg.read_text()


@needs_root
@pytest.mark.usefixtures("installed")
def test_kplan_apply_writes_the_plugins_file_and_its_metrics(tmp_path: Path) -> None:
    context = _context(tmp_path)
    metrics = tmp_path / "kplan.prom"
    journal = tmp_path / "journal.jsonl"
    done = kplan(
        "apply",
        str(context),
        "--scratch-only",
        "--journal",
        str(journal),
        "--metrics",
        str(metrics),
    )
    assert done.returncode == 0, done.stderr
    (motd,) = (tmp_path / "root").glob("*/config/motd.txt")
    assert motd.read_text().startswith("Welcome to kernel ")
    text = metrics.read_text()
    assert 'kplan_plan_stage_seconds_count{outcome="ok",stage="motd"} 1.0' in text
    assert 'kplan_apply_stage_seconds_count{outcome="applied",stage="motd"} 1.0' in text
    assert 'kplan_effect_seconds_count{effect="write",outcome="applied"}' in text
    # the diff compares the plugin's file as any stage's: the applied root matches
    expected = kplan("expect", str(context)).stdout
    assert "/config/motd.txt" in expected
    same = kplan("diff", str(context), "--against", str(tmp_path / "root"))
    assert same.returncode == 0, same.stdout + same.stderr
    motd.write_text("edited\n")
    changed = kplan("diff", str(context), "--against", str(tmp_path / "root"))
    assert changed.returncode == 2
    assert "/config/motd.txt" in changed.stdout
    motd.unlink()  # what the rollback will find changed: put back by --force
    assert kplan("rollback", str(journal), "--force").returncode == 0
    assert list((tmp_path / "root").iterdir()) == []
