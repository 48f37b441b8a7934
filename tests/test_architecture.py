"""The folders are the architecture (style.md rule 1): imports only point one way.

effects imports nothing of ours; planner and executor import effects and never each
other; effects and planner import no IO module (ruff's banned-api rule enforces the
same; this test is the backstop that also catches ``import x as y`` tricks).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
OURS = {"effects", "planner", "executor", "kplan"}
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
# The legacy bridge is the one IO module in planner (design.md §6); the worker (every
# module of its directory) runs in the legacy interpreter and imports nothing of ours.
WORKER = "planner/_legacy/worker"
IO_EXCEPTIONS = {"planner/_legacy/_bridge.py"}


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
    "kplan": {"effects", "planner", "executor"},
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    for module in _modules(package):
        ours = _imports(module) & OURS - {package}
        assert ours <= ALLOWED[package], f"{module.relative_to(ROOT)} imports {ours}"


@pytest.mark.parametrize("package", ["effects", "planner"])
def test_the_core_does_no_io(package: str) -> None:
    for module in _modules(package):
        relative = str(module.relative_to(ROOT))
        if relative in IO_EXCEPTIONS or relative.startswith(f"{WORKER}/"):
            continue
        banned = _imports(module) & (IO_MODULES | {"pathlib.Path"})
        assert not banned, f"{relative} imports {banned}"


def test_the_worker_imports_nothing_of_ours() -> None:
    modules = _modules(WORKER)
    assert ROOT / WORKER / "__main__.py" in modules
    for module in modules:
        ours = _imports(module) & OURS
        assert not ours, f"{module.relative_to(ROOT)} imports {ours}"
