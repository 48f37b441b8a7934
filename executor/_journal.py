"""The apply journal: JSON lines that make every apply undoable, even after a crash.

Theory of operation
-------------------
``begin`` names the plan, the scratch root and the Docker endpoint. Before each
effect runs, an ``intent`` line holds the encoded effect and the prior state its
inverse needs (``executor._inverse``); ``done`` follows when it finished. Rollback
writes ``undone`` (or ``undo-failed``) per step and ``end``. Each line is one
``write()`` on an ``O_APPEND`` descriptor, which is all that survives the death of
the process (the page cache keeps it); ``durable=True`` adds an ``fsync`` per line
for power loss. A reader ignores a last line cut short by a crash.

Rolling back needs only this file: the intents, in reverse, minus the steps
already undone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import final

import attrs
import orjson

from effects import Effect, Reader, decode_effect, encode_effect

from ._inverse import Prior

__all__ = ["Intent", "JournalState", "JournalWriter", "read_journal"]


@final
class JournalWriter:
    """Appends journal records to a new file (refuses to reuse one)."""

    def __init__(self, path: Path, *, durable: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o600)
        self._durable = durable
        self.path = path
        if durable:
            _fsync_dir(path.parent)

    @classmethod
    def reopen(cls, path: Path) -> JournalWriter:
        """Append to an existing journal (rollback after a crash)."""
        writer = cls.__new__(cls)
        writer._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)  # noqa: SLF001
        writer._durable = True  # a recovery is rare; make every record stick  # noqa: SLF001
        writer.path = path
        return writer

    def append(self, record: dict[str, object]) -> None:
        """Write one record as one line with one ``write()``."""
        line = orjson.dumps(record) + b"\n"
        written = os.write(self._fd, line)
        if written != len(line):
            msg = f"short journal write to {self.path}: {written} of {len(line)} bytes"
            raise OSError(msg)
        if self._durable:
            os.fsync(self._fd)

    def intent(self, index: int, stage: str, effect: Effect, prior: Prior) -> None:
        """Record what is about to run and what undoes it."""
        self.append(
            {
                "kind": "intent",
                "index": index,
                "stage": stage,
                "effect": encode_effect(effect),
                "prior": prior,
            }
        )

    def close(self) -> None:
        """Close the journal file."""
        os.close(self._fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@final
@attrs.frozen(kw_only=True)
class Intent:
    """One recorded intent."""

    index: int
    stage: str
    effect: Effect
    prior: Prior


@final
@attrs.frozen(kw_only=True)
class JournalState:
    """What a journal says happened."""

    plan_id: str
    kernel_id: str
    scratch_root: Path
    docker: str | None
    intents: tuple[Intent, ...]
    done: frozenset[int]
    undone: frozenset[int]
    outcome: str | None

    def pending_undo(self) -> Iterator[Intent]:
        """Intents to undo, last first, skipping those already undone."""
        return (i for i in reversed(self.intents) if i.index not in self.undone)


def read_journal(path: Path) -> JournalState:
    """Parse a journal; raises ``ValueError`` naming the line of a corrupt record."""
    lines = path.read_bytes().split(b"\n")
    records = [_record(line, number) for number, line in enumerate(lines[:-1], 1)]
    if not records or records[0].get("kind") != "begin":
        msg = f"{path}: not a kplan journal (no begin record)"
        raise ValueError(msg)
    begin = records[0]
    intents, done, undone, outcome = [], set(), set(), None
    for record in records[1:]:
        kind = record.get("kind")
        if kind == "intent":
            intents.append(_intent(record))
        elif kind == "done":
            done.add(_index(record))
        elif kind == "undone":
            undone.add(_index(record))
        elif kind == "end":
            outcome = str(record.get("outcome"))
    return JournalState(
        plan_id=str(begin["plan_id"]),
        kernel_id=str(begin["kernel_id"]),
        scratch_root=Path(str(begin["scratch_root"])),
        docker=None if begin.get("docker") is None else str(begin["docker"]),
        intents=tuple(intents),
        done=frozenset(done),
        undone=frozenset(undone),
        outcome=outcome,
    )


def _record(line: bytes, number: int) -> dict[str, object]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        msg = f"journal line {number} is not JSON: {exc}"
        raise ValueError(msg) from exc
    if not isinstance(record, dict):
        msg = f"journal line {number} is not an object"
        raise ValueError(msg)  # noqa: TRY004  (a corrupt file, not a type error)
    return record


def _index(record: dict[str, object]) -> int:
    index = record.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        msg = f"journal record has no step index: {record!r}"
        raise ValueError(msg)  # noqa: TRY004  (a corrupt file, not a type error)
    return index


def _intent(record: dict[str, object]) -> Intent:
    prior = record.get("prior")
    if not isinstance(prior, dict):
        msg = f"journal intent {record.get('index')} has no prior state"
        raise ValueError(msg)  # noqa: TRY004
    return Intent(
        index=_index(record),
        stage=str(record["stage"]),
        effect=decode_effect(Reader(record["effect"], "effect")),
        prior=prior,
    )
