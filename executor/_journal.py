"""The apply journal: JSON lines that make every apply undoable, even after a crash.

Theory of operation
-------------------
``begin`` names the journal format, the plan, the scratch root and the Docker
endpoint. Before each effect runs, an ``intent`` line holds the encoded effect and
its prior state (``executor._records``); a ``created`` line announces each entry the
effect makes new before it gets its final name; ``done`` follows when it finished,
with the stamps it left. A data effect (a mount entry, a config fragment, the
kernel record) changes nothing on the host and has no lines: there is nothing to
undo. Rollback writes, per step, ``undoing``, then
``undo-failed`` or ``changed`` (left as it is: changed since the apply) per action
that did not go back, then ``undone`` or ``not-undone``; and ``end``. Lines are
appended with ``write()`` on an ``O_APPEND`` descriptor, which is all that survives
the death of the process (the page cache keeps it); ``durable=True`` adds an
``fsync`` per write for power loss. A reader ignores a last line cut short by a
crash.

*Batching.* What must be in the kernel before an effect runs (its intent, and the
``created`` announcement of an entry before it gets its final name) is written at
once, together with everything deferred so far; what may lag (a ``done``, an
``undone``) is deferred and goes out
with the next write. So a batch of independent steps costs one write for all their
intents and one for all their announcements, and a crash can only lose records a
rollback does without: a step without ``done`` is undone as unfinished, by the
identity of what it made (``executor._inverse``). The writer is shared by the
apply's threads; a lock keeps each write whole and in order.

Intents are in the order the steps started: plan order when applied one by one,
a topological order of the plan's edges when applied in parallel. Reversed, it is
an order in which to undo them.

Prior contents are not in the journal: they are files in its private directory
(``executor._private_dir``), named from the intent with their size and sha256, so
the journal stays small whatever the files' size.

``read_journal`` validates the whole file before anything is undone: every line a
JSON object of a known kind with exactly its fields, each effect and prior decoded,
each index naming an intent. A problem is a ``JournalError`` naming the line and the
field; nothing is ever half-undone from a corrupt journal.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import final

import attrs
import orjson
from returns.result import Failure, Result, Success

from effects import Effect, decode_effect, encode_effect, json_default
from effects.decoding import Invalid, Reader, quick_effect

from ._record_codec import (
    decode_created,
    decode_left,
    decode_prior,
    encode_prior,
    missing_left,
    quick_created,
    quick_left,
    quick_prior,
)
from ._records import Created, Left, Prior, StepRecord
from ._streams import write_all
from .errors import HostError, JournalError

__all__ = [
    "FORMAT",
    "OUTCOMES",
    "JournalState",
    "JournalWriter",
    "created_line",
    "done_line",
    "intent_line",
    "intent_parts_line",
    "line_of",
    "read_journal",
]

FORMAT = 2  # 1 held prior contents as base64 inside the journal
OUTCOMES = frozenset({"applied", "rolled-back", "rollback-incomplete"})


@final
class JournalWriter:
    """Appends journal records to a file of its own."""

    def __init__(self, fd: int, path: Path, *, durable: bool) -> None:
        self._fd = fd
        self._durable = durable
        self.path = path
        self._lock = threading.Lock()
        self._deferred: list[bytes] = []
        self.writes = 0  # how many write() calls (the benchmark reports it)

    @staticmethod
    def check_new(path: Path) -> None:
        """Make the journal's directory; ``HostError`` if ``path`` is taken or bad."""
        try:
            if not path.parent.is_dir():  # most journals go to an existing one
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = f"{exc.filename or path.parent}: {exc.strerror or exc}"
            raise HostError("create journal", str(path), reason) from exc
        if os.path.lexists(path):
            raise _taken(path)

    @classmethod
    def create(cls, path: Path, *, durable: bool) -> JournalWriter:
        """A new journal at ``path`` (its directory made by ``check_new``)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW
        try:
            fd = os.open(path, flags | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise _taken(path) from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise HostError("create journal", str(path), reason) from exc
        if durable:
            _fsync_dir(path.parent)
        return cls(fd, path, durable=durable)

    @classmethod
    def reopen(cls, path: Path, *, durable: bool) -> JournalWriter:
        """Append to an existing journal (a rollback), fsyncing as ``create`` does."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise HostError("open journal", str(path), reason) from exc
        return cls(fd, path, durable=durable)

    def append(self, record: dict[str, object]) -> None:
        """Write one record now (after everything deferred), with one ``write()``."""
        self.write((line_of(record),))

    def defer(self, record: dict[str, object]) -> None:
        """Keep a record that may lag for the next write (see *Batching*)."""
        self.defer_line(line_of(record))

    def defer_line(self, line: bytes) -> None:
        """Keep an encoded line that may lag for the next write."""
        with self._lock:
            self._deferred.append(line)

    def defer_lines(self, lines: list[bytes]) -> None:
        """Keep encoded lines that may lag for the next write."""
        with self._lock:
            self._deferred.extend(lines)

    def write(self, lines: Iterable[bytes]) -> None:
        """Write what is deferred, then ``lines``, with one ``write()`` (and fsync)."""
        with self._lock:
            data = b"".join((*self._deferred, *lines))
            self._deferred.clear()
            if not data:
                return
            write_all(self._fd, data)
            self.writes += 1
            if self._durable:
                os.fsync(self._fd)

    def flush(self) -> None:
        """Write what is deferred, if anything."""
        self.write(())

    def intent(self, record: StepRecord) -> None:
        """Record, now, what is about to run and what its undo needs."""
        self.write((intent_line(record),))

    def created(self, index: int, created: Created) -> None:
        """Announce, now, an entry step ``index`` made new (before its final name)."""
        self.write((created_line(index, created),))

    def done(self, index: int, seconds: float, left: Left) -> None:
        """Record that step ``index`` finished and what it left (deferred)."""
        self.defer_line(done_line(index, seconds, left))

    def close(self) -> None:
        """Close the journal file."""
        os.close(self._fd)


def line_of(record: dict[str, object]) -> bytes:
    """One journal line."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def intent_line(record: StepRecord) -> bytes:
    """The ``intent`` line of a step about to run."""
    return intent_parts_line(record.index, record.stage, record.effect, record.prior)


def intent_parts_line(index: int, stage: str, effect: Effect, prior: Prior) -> bytes:
    """The ``intent`` line of step ``index``, from its parts."""
    return orjson.dumps(
        {
            "kind": "intent",
            "index": index,
            "stage": stage,
            "effect": encode_effect(effect, frozen=True),
            "prior": encode_prior(prior),
        },
        default=json_default,
        option=orjson.OPT_APPEND_NEWLINE,
    )


def created_line(index: int, created: Created) -> bytes:
    """The ``created`` line announcing an entry step ``index`` made new.

    Formatted directly, as ``done_line`` is, the fields of ``encode_created``'s
    (a test holds them equal): every new entry writes one.
    """
    path = orjson.dumps(str(created.path))
    return _CREATED % (index, path, created.dev, created.ino)


def done_line(index: int, seconds: float, left: Left) -> bytes:
    """The ``done`` line of a finished step.

    Formatted directly, the field names and values of ``encode_left``'s (a test
    holds them equal): a step's ``done`` is the line every step writes.
    """
    stamps = b",".join(
        [
            _LEFT
            % (
                orjson.dumps(str(path)),
                stamp.kind.encode(),
                stamp.dev,
                stamp.ino,
                stamp.mode,
                stamp.uid,
                stamp.gid,
                b"null" if stamp.sha256 is None else b'"%s"' % stamp.sha256.encode(),
            )
            for path, stamp in left
        ]
    )
    # To the nanosecond, as integers: a float's shortest repr costs more than
    # all the rest of the line.
    whole, part = divmod(round(seconds * 1e9), 1_000_000_000)
    return _DONE % (index, whole, part, stamps)


_CREATED = b'{"kind":"created","index":%d,"path":%s,"dev":%d,"ino":%d}\n'
_DONE = b'{"kind":"done","index":%d,"seconds":%d.%09d,"left":[%s]}\n'
_LEFT = (
    b'{"path":%s,"stamp":{"kind":"%s","dev":%d,"ino":%d,"mode":"0o%o",'
    b'"uid":%d,"gid":%d,"sha256":%s}}'
)


def _taken(path: Path) -> HostError:
    kind = "a directory" if path.is_dir() else "a file"
    reason = f"{kind} exists there; a journal is never reused (name a new one)"
    return HostError("create journal", str(path), reason)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@final
@attrs.frozen(kw_only=True)
class JournalState:
    """What a journal says happened."""

    plan_id: str
    kernel_id: str
    scratch_root: Path
    docker: str | None
    steps: tuple[StepRecord, ...]
    undone: frozenset[int]
    outcome: str | None
    interrupted: frozenset[int] = frozenset()

    def pending_undo(self) -> tuple[StepRecord, ...]:
        """Steps to undo, last first, skipping those already undone.

        A step whose undo a crash interrupted may be half put back: it comes as
        unfinished (``left`` None), so its undo checks identity, not the stamps.
        """
        return tuple(
            attrs.evolve(step, left=None) if step.index in self.interrupted else step
            for step in reversed(self.steps)
            if step.index not in self.undone
        )


def read_journal(path: Path) -> Result[JournalState, JournalError]:
    """Parse and validate a whole journal (see the module docstring)."""
    try:
        data = _read_regular(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ELOOP:
            reason = "a symlink: kplan reads a journal only as the file itself"
        error = JournalError(journal=str(path), line=0, field="(file)", reason=reason)
        return Failure(error)
    parser = _Parser(str(path))
    try:
        return Success(parser.parse(data.split(b"\n")[:-1]))
    except Invalid as exc:
        return Failure(
            JournalError(
                journal=str(path), line=parser.line, field=exc.field, reason=exc.reason
            )
        )


def _read_regular(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        # One read of the size it has, one more to see the end (it may have grown).
        chunks = []
        while chunk := os.read(fd, max(info.st_size + 1, 65536)):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@final
class _Step:
    """A step as read so far: a ``StepRecord`` once the whole journal is read."""

    __slots__ = ("created", "effect", "index", "left", "line", "prior", "stage")

    def __init__(
        self, index: int, stage: str, effect: Effect, prior: Prior, line: int
    ) -> None:
        self.index = index
        self.stage = stage
        self.effect = effect
        self.prior = prior
        self.line = line
        self.created: list[Created] = []
        self.left: Left | None = None

    def record(self) -> StepRecord:
        return StepRecord(
            index=self.index,
            stage=self.stage,
            effect=self.effect,
            prior=self.prior,
            line=self.line,
            created=tuple(self.created),
            left=self.left,
        )


_INTENT_KEYS = frozenset({"kind", "index", "stage", "effect", "prior"})
_CREATED_KEYS = frozenset({"kind", "index", "path", "dev", "ino"})
_DONE_KEYS = frozenset({"kind", "index", "seconds", "left"})
_INDEX_KEYS = frozenset({"kind", "index"})


@final
class _Parser:
    """Reads records in order, keeping the line number for error messages.

    Each record is first tried on a fast path (``executor._record_codec``'s
    *Fast paths*: the encoder's own form, checked on the parsed JSON, which
    changes nothing unless it accepts the whole record); anything it does not
    accept goes through the ``Reader`` handlers, which accept or name the field.
    """

    def __init__(self, journal: str, *, fast: bool = True) -> None:
        self.journal = journal
        self.line = 0
        self.steps: dict[int, _Step] = {}
        self.undone: set[int] = set()
        self.undoing: set[int] = set()
        self.outcome: str | None = None
        self._fast = fast

    def parse(self, lines: list[bytes]) -> JournalState:
        if not lines:
            raise Invalid("(file)", "empty: not a kplan journal")
        records = iter(enumerate(lines, 1))
        self.line, first = next(records)
        begin = self._begin(_object(first))
        quick = self._quick if self._fast else _never
        for self.line, raw in records:
            value = _value(raw)
            if not quick(value):
                self._record(Reader(value, ""))
        return attrs.evolve(
            begin,
            steps=tuple(step.record() for step in self.steps.values()),
            undone=frozenset(self.undone),
            outcome=self.outcome,
            interrupted=frozenset(self.undoing),
        )

    def _begin(self, record: Reader) -> JournalState:
        if record.text("kind") != "begin":
            record.fail("kind", "the first record must be 'begin': not a kplan journal")
        version = record.integer("format", 1) if record.has("format") else 1
        if version != FORMAT:
            record.fail(
                "format", f"journal format {version}; this kplan reads format {FORMAT}"
            )
        root = record.text("scratch_root")
        if not root.startswith("/") or "\0" in root:
            record.fail("scratch_root", "expected an absolute path")
        state = JournalState(
            plan_id=record.text("plan_id"),
            kernel_id=record.text("kernel_id"),
            scratch_root=Path(root),
            docker=record.opt_text("docker"),
            steps=(),
            undone=frozenset(),
            outcome=None,
        )
        record.integer("pid", 0)
        _number(record, "time")
        record.done()
        return state

    # --- the fast path: True if it took the record in ---------------------------

    def _quick(self, value: object) -> bool:  # noqa: PLR0911  (one per kind)
        if type(value) is not dict:
            return False
        keys, kind, index = value.keys(), value.get("kind"), value.get("index")
        if type(index) is not int or index < 0:
            return False
        if kind == "done" and keys == _DONE_KEYS:
            return self._quick_done(value, index)
        if kind == "intent" and keys == _INTENT_KEYS:
            return self._quick_intent(value, index)
        if kind == "created" and keys == _CREATED_KEYS:
            return self._quick_created(value, index)
        step = self.steps.get(index)
        if keys != _INDEX_KEYS or step is None:
            return False
        if kind == "undone":
            self.undone.add(index)
            self.undoing.discard(index)
        elif kind == "undoing":
            self.undoing.add(index)
        elif kind == "not-undone":
            self.undoing.discard(index)
        else:
            return False
        return True

    def _quick_intent(self, value: dict[str, object], index: int) -> bool:
        stage = value["stage"]
        if index in self.steps or type(stage) is not str:
            return False
        effect = quick_effect(value["effect"])
        if effect is None:
            try:
                effect = decode_effect(Reader(value["effect"], "effect"))
            except Invalid:
                return False
        prior = quick_prior(effect, value["prior"])
        if prior is None:
            return False
        self.steps[index] = _Step(index, stage, effect, prior, self.line)
        return True

    def _quick_created(self, value: dict[str, object], index: int) -> bool:
        step = self.steps.get(index)
        if step is None or step.left is not None:
            return False
        created = quick_created(step.effect, value["path"], value["dev"], value["ino"])
        if created is None:
            return False
        step.created.append(created)
        return True

    def _quick_done(self, value: dict[str, object], index: int) -> bool:
        step = self.steps.get(index)
        if step is None or step.left is not None:
            return False
        if type(value["seconds"]) is not float and type(value["seconds"]) is not int:
            return False
        left = quick_left(step.effect, value["left"])
        if left is None or missing_left(step.effect, step.prior, left) is not None:
            return False
        step.left = left
        return True

    # --- the Reader path: accepts, or names the field ---------------------------

    def _record(self, record: Reader) -> None:
        kind = record.text("kind")
        handler = _HANDLERS.get(kind)
        if handler is None:
            record.fail("kind", f"unknown record kind {kind!r}")
        handler(self, record)
        record.done()

    def _intent(self, record: Reader) -> None:
        index = record.integer("index", 0)
        if index in self.steps:  # any order: parallel steps start out of plan order
            record.fail("index", f"step {index} is journaled twice")
        effect = decode_effect(record.child("effect"))
        self.steps[index] = _Step(
            index,
            record.text("stage"),
            effect,
            decode_prior(effect, record.child("prior")),
            self.line,
        )

    def _step(self, record: Reader) -> _Step:
        index = record.integer("index", 0)
        step = self.steps.get(index)
        if step is None:
            record.fail("index", f"no intent for step {index} before this line")
        return step

    def _created(self, record: Reader) -> None:
        step = self._step(record)
        if step.left is not None:
            record.fail("index", f"step {step.index} already finished")
        step.created.append(decode_created(step.effect, record))

    def _done(self, record: Reader) -> None:
        step = self._step(record)
        if step.left is not None:
            record.fail("index", f"step {step.index} finished twice")
        _number(record, "seconds")
        left = decode_left(step.effect, record)
        missing = missing_left(step.effect, step.prior, left)
        if missing is not None:
            record.fail("left", f"has no stamp for {str(missing)!r}")
        step.left = left

    def _undoing(self, record: Reader) -> None:
        self.undoing.add(self._step(record).index)

    def _undone(self, record: Reader) -> None:
        index = self._step(record).index
        self.undone.add(index)
        self.undoing.discard(index)

    def _not_undone(self, record: Reader) -> None:
        self.undoing.discard(self._step(record).index)

    def _undo_failed(self, record: Reader) -> None:
        self._step(record)
        record.text("action")
        record.text("reason")

    def _changed(self, record: Reader) -> None:
        self._step(record)
        record.text("path")
        record.text("reason")

    def _end(self, record: Reader) -> None:
        outcome = record.text("outcome")
        if outcome not in OUTCOMES:
            record.fail("outcome", f"unknown outcome {outcome!r}")
        self.outcome = outcome


_HANDLERS: dict[str, Callable[[_Parser, Reader], None]] = {
    "intent": _Parser._intent,  # noqa: SLF001  (the parser's own table)
    "created": _Parser._created,  # noqa: SLF001
    "done": _Parser._done,  # noqa: SLF001
    "undoing": _Parser._undoing,  # noqa: SLF001
    "undone": _Parser._undone,  # noqa: SLF001
    "not-undone": _Parser._not_undone,  # noqa: SLF001
    "undo-failed": _Parser._undo_failed,  # noqa: SLF001
    "changed": _Parser._changed,  # noqa: SLF001
    "end": _Parser._end,  # noqa: SLF001
}


def _never(_value: object) -> bool:
    return False


def _value(line: bytes) -> dict[str, object]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise Invalid("(line)", f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Invalid("(line)", "not a JSON object")
    return value


def _object(line: bytes) -> Reader:
    return Reader(_value(line), "")


def _number(record: Reader, key: str) -> float:
    value = record.raw(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        record.fail(key, "expected a number")
    return float(value)
