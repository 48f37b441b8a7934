"""Planning and applying a kernel leave no reference cycles.

What a context, a compile, an apply and a rollback allocate goes with its last
reference. A cycle left behind lives until a pass of the cyclic collector, which
meets it among whatever the agent allocates next: a refusal's traceback kept by
the union structuring (its frame holding the list of refusals) made each new
kernel's compile pay 0.3 ms of collector passes, and a bound method on each lane
step tied the steps to their lane (500 objects per apply). ``gc.collect()``
returns how many unreachable objects it found: none, here.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.kernels import KERNELS, document
from bench.sides import kplan_plan
from executor import ApplyOptions, apply_plan, rollback_journal
from planner import compile_plan, context_from_document

from .executing import needs_root, tools


@contextmanager
def _uncollected() -> Iterator[list[int]]:
    """Yields a list that gets, once the block ran, the number of objects only the
    cyclic collector could free (the collector held off meanwhile)."""
    found: list[int] = []
    gc.collect()
    gc.disable()
    try:
        yield found
        found.append(gc.collect())
    finally:
        gc.enable()


@pytest.mark.parametrize("name", KERNELS)
def test_a_context_and_its_compile_leave_no_cycle(name: str, tmp_path: Path) -> None:
    doc = document(name, tmp_path / "scratch")

    def plan() -> None:
        compile_plan(context_from_document(doc).unwrap()).unwrap()

    plan()  # once first: the converters and caches a process builds once
    with _uncollected() as found:
        plan()
    assert found == [0]


def test_a_refused_union_option_leaves_no_cycle(tmp_path: Path) -> None:
    """The sample's ``int | str`` and optional fields: options refused first."""
    doc = document("sample", tmp_path / "scratch")
    context_from_document(doc).unwrap()
    with _uncollected() as found:
        context_from_document(doc).unwrap()
    assert found == [0]


@needs_root
@pytest.mark.parametrize("in_loop", [True, False], ids=["loop", "worker"])
def test_an_apply_and_its_rollback_leave_no_cycle(
    tmp_path: Path, *, in_loop: bool
) -> None:
    root = tmp_path / "scratch"
    root.mkdir()
    plan = kplan_plan(document("sample", root))
    options = ApplyOptions(
        journal=tmp_path / "journal", tools=tools(), small_in_loop=in_loop
    )

    async def both() -> tuple[list[int], list[int]]:
        with _uncollected() as applied:
            (await apply_plan(plan, options)).unwrap()
        with _uncollected() as undone:
            rolled = await rollback_journal(options.journal, tools(), in_loop=in_loop)
        assert rolled.unwrap().complete
        return applied, undone

    assert asyncio.run(both()) == ([0], [0])
    assert not any(root.iterdir())  # the rollback did undo the apply
