"""The folders are the architecture (architecture.md §7.2): imports only point one way.

``effects`` imports nothing of ours; ``planner`` and ``executor`` import ``effects``
and never each other; only the command line (``kplan``) and the bridge client
(``legacy``) may import more. ``effects`` and ``planner`` import no IO module at all
(ruff's banned-api rule enforces the same with no per-file exception; this test is
the backstop that also catches ``import x as y``). The legacy worker runs in
another interpreter and imports nothing of ours.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from effects import decode, encode
from executor import read_journal
from planner import scratch_only

from .commands import kplan
from .executing import context_file

ROOT = Path(__file__).parent.parent
OURS = {"effects", "planner", "executor", "legacy", "kplan"}
IO_MODULES = {
    "os",
    "asyncio",
    "aiodocker",
    "shutil",
    "subprocess",
    "socket",
    "tempfile",
    "time",
    "random",
    "secrets",
    "select",
    "fcntl",
    "signal",
}
WORKER = ROOT / "legacy" / "worker"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
            if node.module == "pathlib":
                names |= {f"pathlib.{a.name}" for a in node.names}
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


ALLOWED = {
    "effects": set(),
    "planner": {"effects"},
    "executor": {"effects"},
    "legacy": {"effects", "planner"},
    "kplan": {"effects", "planner", "executor", "legacy"},
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    modules = [m for m in _modules(package) if WORKER not in m.parents]
    assert modules
    for module in modules:
        ours = _imports(module) & OURS - {package}
        assert ours <= ALLOWED[package], f"{module.relative_to(ROOT)} imports {ours}"


@pytest.mark.parametrize("package", ["effects", "planner"])
def test_the_core_does_no_io(package: str) -> None:
    for module in _modules(package):
        banned = _imports(module) & (IO_MODULES | {"pathlib.Path"})
        assert not banned, f"{module.relative_to(ROOT)} imports {banned}"


def test_the_worker_imports_nothing_of_ours() -> None:
    modules = sorted(WORKER.rglob("*.py"))
    assert WORKER / "server.py" in modules
    for module in modules:
        ours = _imports(module) & OURS
        assert not ours, f"{module.relative_to(ROOT)} imports {ours}"


def test_no_module_name_means_two_things() -> None:
    """One name, one content: ``errors.py`` per package is the only repeat."""
    seen: dict[str, Path] = {}
    for package in (*sorted(ALLOWED), "legacy/worker"):
        for module in sorted((ROOT / package).glob("**/*.py")):
            if module.stem in {"__init__", "__main__", "errors"}:
                continue
            name = module.stem.removeprefix("_")
            other = seen.setdefault(name, module)
            assert other == module, f"{name!r} names {other} and {module}"


def test_only_what_talks_to_docker_loads_its_client() -> None:
    # aiodocker (with aiohttp) takes a tenth of a second to import: planning, a
    # scratch-only apply and `kplan plan` never pay it; docker_facts loads it.
    script = """
import json, sys
import kplan, kplan.cli, executor, planner, effects
loaded = lambda: sorted(m for m in ("aiodocker", "aiohttp") if m in sys.modules)
before = loaded()
executor.docker_facts
print(json.dumps([before, loaded()]))
"""
    assert _printed(script) == [[], ["aiodocker", "aiohttp"]]


def test_planning_loads_no_apply_machinery() -> None:
    # `kplan plan` paid half a second of start-up importing the journal, the
    # apply lanes and Prometheus it never uses (issue 12): the packages export
    # their names lazily (effects._exports) and the CLI imports a command's
    # module when it runs. rich (0.1 s) only for a terminal: text for a pipe
    # or a file is the same without its styles.
    script = """
import contextlib, io, json, sys
from kplan.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(["plan", "sample"])
heavy = ("executor._apply", "executor._journal", "executor._rollback",
         "kplan._apply_cmd", "kplan._agent_api", "prometheus_client", "rich")
loaded = lambda: sorted(m for m in heavy if m in sys.modules)
before = loaded()
import kplan
kplan.apply_kernel, kplan.KernelMetrics, kplan.rollback_kernel
print(json.dumps([code, "steps" in out.getvalue(), before, loaded()]))
"""
    code, printed, before, after = _printed(script)
    assert (code, printed, before) == (0, True, [])
    # the library's entry points load them when asked for
    assert {"executor._apply", "kplan._agent_api", "prometheus_client"} <= set(after)


@pytest.mark.parametrize("package", ["executor", "kplan", "legacy", "planner"])
def test_lazy_exports_name_where_each_export_lives(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module._WHERE) == sorted(module.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = module.nothing


def test_rollback_loads_no_planner() -> None:
    # `kplan rollback` reads a journal and undoes it: the planner's stages, the
    # legacy bridge, rich and Prometheus (without --metrics) would only delay it.
    script = """
import contextlib, io, json, sys
from kplan.cli import main
with contextlib.redirect_stderr(io.StringIO()) as err:
    code = main(["rollback", "/nonexistent/journal"])
heavy = ("planner._compile", "planner._stages", "planner._context", "legacy._bridge",
         "rich", "prometheus_client", "kplan._completion", "kplan._apply_cmd")
print(json.dumps([code, err.getvalue(), sorted(m for m in heavy if m in sys.modules)]))
"""
    code, err, loaded = _printed(script)
    assert (code, loaded) == (1, [])
    assert "cannot roll back /nonexistent/journal" in err
    assert err.count("\n") == 1


def test_applying_a_plan_file_loads_no_planner_stages(tmp_path: Path) -> None:
    # A plan file is applied as it is: the stages that made it, the document's
    # completion, rich (off a terminal) and Prometheus (without --metrics) only
    # delayed `kplan apply PLAN` (0.7 s -> 0.45 s, issue 12).
    root = tmp_path / "root"
    root.mkdir()
    whole = tmp_path / "whole.json"
    made = kplan(
        "plan", str(context_file(root, tmp_path / "ctx.json")), "-o", str(whole)
    )
    assert made.returncode == 0, made.stderr
    part = tmp_path / "scratch.json"
    part.write_bytes(encode(scratch_only(decode(whole.read_bytes()).unwrap())))
    journal = tmp_path / "journal"
    script = f"""
import contextlib, io, json, sys
from kplan.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(["apply", {str(part)!r}, "--journal", {str(journal)!r}])
heavy = ("planner._compile", "planner._stages", "planner._context", "planner._facts",
         "kplan._completion", "kplan._apply_context", "rich", "prometheus_client")
print(json.dumps([code, out.getvalue(), sorted(m for m in heavy if m in sys.modules)]))
"""
    code, out, loaded = _printed(script)
    assert (code, loaded) == (0, [])
    assert out.startswith("applied: plan ")
    assert read_journal(journal).unwrap().outcome == "applied"


def _printed(script: str) -> Any:
    """What ``script``, run in a fresh interpreter, printed as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout)


def test_make_writes_the_bytecode_of_every_installed_package() -> None:
    # The editable install leaves our modules as sources; where
    # PYTHONDONTWRITEBYTECODE is set every command would compile them again at
    # start-up (`kplan plan`: 0.60 s -> 0.47 s with them written, issue 12). The
    # Makefile's bytecode step must cover every package pyproject installs.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    installed = {
        name.split(".")[0] for name in project["tool"]["setuptools"]["packages"]
    }
    lines = (ROOT / "Makefile").read_text().splitlines()
    listed = next(line for line in lines if line.startswith("PACKAGES :="))
    compiled = set(listed.split(":=", 1)[1].split())
    assert installed <= compiled, sorted(installed - compiled)
    assert all((ROOT / name / "__init__.py").is_file() for name in compiled)
