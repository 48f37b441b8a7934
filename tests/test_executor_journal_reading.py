"""Reading a journal: the fast path agrees with the ``Reader`` path, field by field.

``read_journal`` takes the records in the encoder's own form on a fast path
(``executor._record_codec``'s *Fast paths*) and everything else through the
``Reader``, which names the line and the field of a problem. The two must accept
the same journals with the same state, and refuse the same ones with the same
line, field and reason: checked on the journals of real applies and rollbacks, and
on every field of each kind of line replaced by each wrong value, dropped, or
joined by an unknown one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.result import Success

from effects.decoding import Invalid, Reader
from executor import rollback_journal
from executor._journal import JournalState, _Parser
from executor._record_codec import decode_prior, quick_prior

from .executing import apply, needs_root, plan_at, tools
from .plans import every_effect_plan
from .test_executor_rollback import RESTART

pytestmark = needs_root
WRONG: tuple[object, ...] = (None, -1, 0, "x", 1.5, True, [], {}, "0o7777", "a" * 64)


def _parse(lines: list[bytes], *, fast: bool) -> JournalState | tuple[int, str, str]:
    parser = _Parser("journal", fast=fast)
    try:
        return parser.parse(lines)
    except Invalid as exc:
        return (parser.line, exc.field, exc.reason)


def _journals(tmp_path: Path) -> list[list[bytes]]:
    """A first apply's journal, a restart's (files written over), and the latter
    after its rollback (the rollback's records)."""
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root, **RESTART)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    work = root / f"{first.header.kernel_id}/work"
    (work / ".bashrc").write_text("edited\n")
    (work / ".bashrc").chmod(0o644)  # a mode and an owner the restart puts back
    os.chown(work / ".config", 4321, 4321)
    tool = work / ".config" / "tool.ini"
    kept = tool.read_bytes()
    tool.write_bytes(b"for a moment\n")  # planned for: its rewrite is in the plan
    _, restart = plan_at(root, restarting=True, **RESTART)
    tool.write_bytes(kept)  # and by the apply it holds the planned bytes again
    assert isinstance(apply(restart, tmp_path / "restart"), Success)
    applied = (tmp_path / "restart").read_bytes().splitlines()
    priors = [orjson.loads(line).get("prior") or {} for line in applied]
    over = [p for p in priors if "saved" in p and p["old"] is not None]
    assert any(p["saved"] is None for p in over)  # rewrites that held the content
    assert any(p["saved"] is not None for p in over)  # the edited .bashrc's
    assert (
        asyncio.run(rollback_journal(tmp_path / "restart", tools())).unwrap().complete
    )
    rolled = (tmp_path / "restart").read_bytes().splitlines()
    return [(tmp_path / "first").read_bytes().splitlines(), applied, rolled]


def _leaves(value: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path in a JSON value, containers included."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _leaves(item, (*path, number))


def _replaced(value: Any, path: tuple[Any, ...], new: object) -> Any:
    copy = orjson.loads(orjson.dumps(value))
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    if new is _DROP:
        del holder[path[-1]]
    else:
        holder[path[-1]] = new
    return copy


_DROP = object()


def _samples(lines: list[bytes]) -> Iterator[int]:
    """The first line of each kind (and effect) of record; of a write over a file,
    one whose old content was saved and one that held the content already."""
    seen = set()
    for number, line in enumerate(lines):
        record = orjson.loads(line)
        prior = record.get("prior") or {}
        held = "saved" in prior and prior["old"] is not None and prior["saved"] is None
        kind = (record.get("kind"), record.get("effect", {}).get("op"), held)
        if kind not in seen:
            seen.add(kind)
            yield number


def test_the_fast_path_reads_real_journals_as_the_reader_does(tmp_path: Path) -> None:
    for lines in _journals(tmp_path):
        fast = _parse(lines, fast=True)
        assert isinstance(fast, JournalState)
        assert fast == _parse(lines, fast=False)


def test_the_fast_path_refuses_what_the_reader_refuses_naming_the_same_field(
    tmp_path: Path,
) -> None:
    compared = 0
    for lines in _journals(tmp_path):
        for number in _samples(lines):
            record = orjson.loads(lines[number])
            for path in _leaves(record):
                for new in (*WRONG, _DROP):
                    changed = orjson.dumps(_replaced(record, path, new))
                    prefix = [*lines[:number], changed]
                    assert _parse(prefix, fast=True) == _parse(prefix, fast=False), (
                        number,
                        path,
                        new,
                    )
                    compared += 1
            extra = orjson.dumps({**record, "unknown": 1})
            prefix = [*lines[:number], extra]
            assert _parse(prefix, fast=True) == _parse(prefix, fast=False)
    assert compared > 500


@pytest.mark.parametrize("index", [0, -1, 10**6])
def test_records_of_other_steps_are_refused_alike(tmp_path: Path, index: int) -> None:
    lines = _journals(tmp_path)[1]
    done = orjson.loads(next(line for line in lines if b'"done"' in line))
    for kind in ("undoing", "undone", "not-undone", "done", "created"):
        record = {"kind": kind, "index": index}
        if kind == "done":
            record = {**done, **record}
        prefix = [*lines, orjson.dumps(record)]
        assert _parse(prefix, fast=True) == _parse(prefix, fast=False)


def test_an_empty_prior_is_read_as_the_strict_reader_reads_it() -> None:
    """The fast path's list of effects without a prior is ``decode_prior``'s: an
    empty prior gives each effect of every kind what the Reader path gives."""
    without = 0
    for step in every_effect_plan().steps:
        try:
            strict = decode_prior(step.effect, Reader({}, "prior"))
        except Invalid:
            strict = None
        assert quick_prior(step.effect, {}) == strict, step.effect
        without += strict is not None
    assert without >= 5  # container mounts, configs, the create, start, record
