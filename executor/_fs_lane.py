"""The filesystem lane: a plan's filesystem steps, in batches, in one worker thread.

Theory of operation
-------------------
The scheduler (``executor._apply``) hands the lane *batches*: steps whose
predecessors have all finished, so no two of a batch touch related paths (an
antichain of the plan's edges). A batch runs in four phases, in one thread:

1. *observe* every step's prior state (``executor._records``);
2. journal all the intents with one ``write()`` (and whatever was deferred);
3. *stage*: for each step, call ``on_step``, then make the new entries under their
   staging names (``.kplan-<token>-<step>``) and announce them all with one write:
   every entry is announced before it gets its final name;
4. *finish*: fill, give the exact mode, rename into place without replacing
   anything (``RENAME_NOREPLACE``), change modes and owners, write over files; each
   step's ``done`` is deferred to the next write (``executor._journal``).

So an effect never runs before its intent is written, and an entry never has its
final name before its announcement is: the rollback's guarantees, a crash's
included, are those of one step at a time (architecture.md §5.1).

*What the lane knows.* It remembers every entry it made or changed as it left it
(a ``Stamp``, and an open descriptor for files, a cached one for directories:
``ScratchRoot.dir_fd``). A later step on such an entry takes its prior state from
there instead of looking again, and acts through that descriptor, the very entry;
a path below a directory this apply made new, that no step made, is known absent
(its exclusive create or ``RENAME_NOREPLACE`` still refuses anything that appeared
since). Everything else is observed as ``executor._confined_observe`` does, and
acted on through a descriptor of the entry observed: a socket or FIFO is never
opened, a file with a second hard link never changed (§16 H36). Steps that run
outside the lane (host keys, the container's) tell it which paths they touch
(``touched_elsewhere``): the lane forgets them and looks again.

A stop request (cancellation, a failure elsewhere) ends the batch between two
steps; a failure ends it at once. Either way what ran is in the journal, and the
descriptors the batch held are closed.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Protocol, final

from effects import (
    Chmod,
    Chown,
    ContainerConfig,
    ContainerMount,
    Effect,
    MakeDir,
    MountScratch,
    RegisterKernel,
    Step,
    WriteFile,
)

from ._confined_apply import mount
from ._confined_fs import (
    WRITE,
    ScratchRoot,
    cache_bound,
    check_single_link,
    host_error,
    kind_of,
    rename_noreplace,
    stamp_of,
)
from ._confined_observe import observe_mount
from ._journal import JournalWriter, created_line, done_line, intent_line
from ._records import (
    Created,
    DirPrior,
    EntryKind,
    FilePrior,
    Left,
    MetaPrior,
    MountPrior,
    NoPrior,
    Prior,
    Stamp,
    StepRecord,
)
from ._streams import digest_of, pwrite_all, write_all
from .errors import HostError

__all__ = [
    "LANE_EFFECTS",
    "BatchFailed",
    "BatchStopped",
    "FsLane",
    "LaneFeed",
    "LaneStep",
    "batch_bound",
    "runs_in_lane",
]

LANE_EFFECTS = (
    MakeDir,
    WriteFile,
    Chmod,
    Chown,
    MountScratch,
    ContainerMount,
    ContainerConfig,
    RegisterKernel,
)
StepHook = Callable[[int, Step], None]
_SPECIAL = 0o7000  # set-user-ID, set-group-ID, sticky: the kernel may refuse or clear
_NODE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_BITS = 0o755  # a staging entry is never group- or world-writable


@final
class LaneStep:
    """One step the lane ran: its outcome, its own time, its batch's start and end
    (``time.perf_counter`` values; the report's)."""

    __slots__ = ("end", "index", "outcome", "seconds", "start")

    def __init__(self, index: int, outcome: str, seconds: float, start: float) -> None:
        self.index = index
        self.outcome = outcome
        self.seconds = seconds
        self.start = start
        self.end = start


class LaneFeed(Protocol):
    """Where the lane takes its batches from (the scheduler; thread-safe)."""

    def take(self) -> list[tuple[int, Step]]:
        """The next batch of ready filesystem steps; empty: none ready now."""

    def finished(self, indices: list[int]) -> None:
        """These steps finished (their successors may be ready now)."""


class BatchFailed(Exception):  # noqa: N818  (carries the step's own error out of the thread)
    """Step ``index`` of a batch failed with ``cause``; ``ran`` is what finished."""

    def __init__(self, index: int, cause: BaseException, ran: list[LaneStep]) -> None:
        super().__init__(f"step {index}: {cause}")
        self.index = index
        self.cause = cause
        self.ran = ran


class BatchStopped(Exception):  # noqa: N818  (a stop request, not an error)
    """The batch stopped between two steps as asked; ``ran`` is what finished."""

    def __init__(self, ran: list[LaneStep]) -> None:
        super().__init__("stopped")
        self.ran = ran


@final
class _Work:
    """One step of a batch while it runs."""

    __slots__ = (
        "created",
        "effect",
        "fd",
        "index",
        "made",
        "owned",
        "parent",
        "path",
        "prior",
        "seconds",
        "staging",
        "step",
    )

    def __init__(self, index: int, step: Step) -> None:
        self.index = index
        self.step = step
        self.effect: Effect = step.effect
        self.path: PurePosixPath | None = None
        self.prior: Prior = NoPrior()
        self.fd = -1  # the entry's descriptor, when the step acts through one
        self.owned = False  # the step must close ``fd`` unless it hands it on
        self.parent = -1  # the parent's (cached) descriptor, for a new entry
        self.staging = ""
        self.made: os.stat_result | None = None  # the staging entry, once made
        self.created: tuple[Created, ...] = ()
        self.seconds = 0.0


@final
class _Failing:
    """The step a batch is at (the one to blame if it fails) and what ran."""

    __slots__ = ("ran", "work")

    def __init__(self, work: _Work, ran: list[LaneStep]) -> None:
        self.work = work
        self.ran = ran


def _check_stop(stop: threading.Event, ran: list[LaneStep]) -> None:
    if stop.is_set():
        raise BatchStopped(ran)


@final
class FsLane:
    """Applies batches of filesystem steps (see the module docstring)."""

    def __init__(  # noqa: PLR0917  (the apply's parts the lane works with)
        self,
        fs: ScratchRoot,
        blobs: Mapping[str, bytes],
        journal: JournalWriter,
        records: dict[int, StepRecord],
        token: str,
        on_step: StepHook | None,
    ) -> None:
        self._fs = fs
        self._blobs = blobs
        self._journal = journal
        self._records = records
        self._token = token
        self._on_step = on_step
        self._left: dict[PurePosixPath, Stamp] = {}  # what the lane left, by path
        # open descriptors of files in ``_left``: (fd, opened for writing)
        self._files: OrderedDict[PurePosixPath, tuple[int, bool]] = OrderedDict()
        self._new_dirs: set[PurePosixPath] = set()  # made new by this apply
        self._foreign: set[PurePosixPath] = set()  # touched by steps outside the lane
        self._elsewhere: list[tuple[PurePosixPath, ...]] = []  # noted, not taken in
        self._bound = cache_bound()

    # --- the scheduler's side ---------------------------------------------------

    def touched_elsewhere(self, paths: Iterable[PurePosixPath]) -> None:
        """Paths a step outside the lane changes: looked at again from now on.

        Called from the event loop; taken in by the next batch, which cannot touch
        them before that step finished (the plan's edges order them).
        """
        self._elsewhere.append(tuple(paths))

    def close(self) -> None:
        """Close the files the lane kept open."""
        for fd, _ in self._files.values():
            os.close(fd)
        self._files.clear()

    def run(self, feed: LaneFeed, stop: threading.Event) -> list[LaneStep]:
        """Run batches from ``feed`` until it has none ready (in a worker thread).

        The lane takes the next batch itself, without a round trip to the event
        loop, so a plan's levels of file work cost one thread hand-over, not one
        each; steps of other units that become ready meanwhile are started by
        the loop (``LaneFeed.finished`` wakes it).

        Raises:
            BatchFailed: a step failed (its cause a ``HostError``, or a bug).
            BatchStopped: ``stop`` was set; the lane stopped between two steps.
        """
        ran: list[LaneStep] = []
        while not stop.is_set():
            batch = feed.take()
            if not batch:
                return ran
            first = len(ran)
            self._batch(batch, stop, ran)
            feed.finished([done.index for done in ran[first:]])
        raise BatchStopped(ran)

    def _batch(
        self,
        batch: Sequence[tuple[int, Step]],
        stop: threading.Event,
        ran: list[LaneStep],
    ) -> None:
        """One batch, its four phases (see the module docstring)."""
        self._take_notes()
        works = [_Work(index, step) for index, step in batch]
        failing = _Failing(works[0], ran)
        try:
            for work in works:
                failing.work = work
                clock = time.perf_counter()
                self._observe(work)
                work.seconds = time.perf_counter() - clock
            self._journal_intents(works)
            self._stage_all(works, stop, failing)
            self._finish_all(works, stop, failing)
        except (BatchStopped, BatchFailed):
            raise
        except BaseException as exc:
            raise BatchFailed(failing.work.index, exc, ran) from exc
        finally:
            for work in works:
                if work.owned:
                    os.close(work.fd)
                    work.owned = False
            self._trim()

    def _stage_all(
        self, works: list[_Work], stop: threading.Event, failing: _Failing
    ) -> None:
        announced: list[bytes] = []
        for work in works:
            _check_stop(stop, failing.ran)
            failing.work = work
            clock = time.perf_counter()
            self._stage(work)
            work.seconds += time.perf_counter() - clock
            announced.extend(created_line(work.index, c) for c in work.created)
        if announced:
            self._journal.write(announced)

    def _finish_all(
        self, works: list[_Work], stop: threading.Event, failing: _Failing
    ) -> None:
        started = time.perf_counter()
        done: list[LaneStep] = []
        for work in works:
            _check_stop(stop, failing.ran)
            failing.work = work
            clock = time.perf_counter()
            left, outcome = self._finish(work)
            work.seconds += time.perf_counter() - clock
            self._done(work, left)
            step = LaneStep(work.index, outcome, work.seconds, started)
            done.append(step)
            failing.ran.append(step)
        ended = time.perf_counter()
        for step in done:
            step.end = ended

    # --- the phases --------------------------------------------------------------

    def _journal_intents(self, works: list[_Work]) -> None:
        lines = []
        for work in works:
            record = StepRecord(
                index=work.index,
                stage=work.step.stage,
                effect=work.effect,
                prior=work.prior,
            )
            self._records[work.index] = record
            lines.append(intent_line(record))
        self._journal.write(lines)

    def _done(self, work: _Work, left: Left) -> None:
        self._records[work.index] = StepRecord(
            index=work.index,
            stage=work.step.stage,
            effect=work.effect,
            prior=work.prior,
            created=work.created,
            left=left,
        )
        # A data-only step changes nothing: its records need not lead anything.
        self._journal.defer_line(done_line(work.index, work.seconds, left))

    def _observe(self, work: _Work) -> None:
        staging = f".kplan-{self._token}-{work.index}"
        match work.effect:
            case MakeDir(path=path):
                work.path = path
                work.prior = self._dir_prior(path, staging)
            case WriteFile(path=path):
                work.path = path
                work.prior = self._file_prior(work, path, staging)
            case Chmod(path=path):
                work.path = path
                work.prior = self._meta_prior(work, path, "chmod")
            case Chown(path=path):
                work.path = path
                work.prior = self._meta_prior(work, path, "chown")
            case MountScratch(path=path):
                work.path = path
                work.prior = observe_mount(self._fs, work.effect, staging)
            case _:
                work.prior = NoPrior()  # data: the create body's, the agent's

    def _stage(self, work: _Work) -> None:
        if self._on_step is not None:
            self._on_step(work.index, work.step)
        match work.effect, work.prior:
            case MakeDir(mode=mode), DirPrior(staging=str(staging)):
                self._make_staging(work, staging, mode, directory=True)
            case WriteFile(mode=mode), FilePrior(staging=str(staging)):
                self._make_staging(work, staging, mode, directory=False)
            case _:
                pass  # changes in place: all in ``_finish``

    def _finish(self, work: _Work) -> tuple[Left, str]:  # noqa: PLR0911  (one per effect)
        match work.effect, work.prior:
            case MakeDir(), DirPrior(existed=True):
                return (), "kept"
            case MakeDir(mode=mode), DirPrior():
                return self._place_dir(work, mode)
            case WriteFile(blob=blob, mode=mode), FilePrior(old=None):
                return self._place_file(work, self._blobs[blob], blob, mode), "applied"
            case WriteFile(blob=blob), FilePrior(old=Stamp() as old):
                return self._write_over(work, self._blobs[blob], blob, old), "applied"
            case Chmod(mode=mode), MetaPrior(old=old):
                return self._change(work, old, mode, None), "applied"
            case Chown(uid=uid, gid=gid), MetaPrior(old=old):
                return self._change(work, old, None, (uid, gid)), "applied"
            case MountScratch() as effect, MountPrior() as prior:
                return self._mount(work, effect, prior), "applied"
            case _:
                return (), "recorded"

    # --- observing --------------------------------------------------------------

    def _take_notes(self) -> None:
        while self._elsewhere:
            for path in self._elsewhere.pop():
                self._foreign.add(path)
                self._left.pop(path, None)
                kept = self._files.pop(path, None)
                if kept is not None:
                    os.close(kept[0])

    def _known_absent(self, path: PurePosixPath) -> bool:
        return (
            path.parent in self._new_dirs
            and path not in self._left
            and path not in self._foreign
        )

    def _lstat(self, path: PurePosixPath) -> os.stat_result | None:
        parent = self._fs.dir_fd(path.parent)
        try:
            return os.stat(path.name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise host_error("stat", path, exc) from exc

    def _dir_prior(self, path: PurePosixPath, staging: str) -> DirPrior:
        left = self._left.get(path)
        if left is not None:
            if left.kind != "dir":
                reason = "exists and is a regular file, not a directory"
                raise HostError("mkdir", str(path), reason)
            return DirPrior(existed=True, staging=None)
        if self._known_absent(path):
            return DirPrior(existed=False, staging=staging)
        info = self._lstat(path)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            reason = f"exists and is {kind_of(info.st_mode)}, not a directory"
            raise HostError("mkdir", str(path), reason)
        existed = info is not None
        return DirPrior(existed=existed, staging=None if existed else staging)

    def _file_prior(self, work: _Work, path: PurePosixPath, staging: str) -> FilePrior:
        saved = f"prior-{work.index}"
        left = self._left.get(path)
        if left is not None:  # a file of this apply's: its content is the plan's
            if left.kind != "file" or left.sha256 is None:
                reason = f"a {left.kind}, cannot write a file over it"
                raise HostError("write", str(path), reason)
            work.fd = self._tracked_file(path, left, writing=True)
            private = self._fs.need_private("write", path)
            copy = private.save_bytes(saved, self._blobs[left.sha256], left.sha256)
            return FilePrior(old=left, saved=copy, staging=None)
        if self._known_absent(path):
            return FilePrior(old=None, saved=None, staging=staging)
        info = self._lstat(path)
        if info is None:
            return FilePrior(old=None, saved=None, staging=staging)
        if not stat.S_ISREG(info.st_mode):
            reason = f"{kind_of(info.st_mode)}, cannot write a file over it"
            raise HostError("write", str(path), reason)
        node = self._open(work, path, "write", WRITE)
        check_single_link("write", path, node)
        copy = self._fs.need_private("write", path).save(saved, work.fd)
        return FilePrior(old=stamp_of(node, copy.sha256), saved=copy, staging=None)

    def _meta_prior(
        self, work: _Work, path: PurePosixPath, operation: str
    ) -> MetaPrior:
        left = self._left.get(path)
        if left is not None:
            if left.kind == "dir":
                work.fd = self._tracked_dir(path, left)
            else:
                work.fd = self._tracked_file(path, left, writing=False)
            return MetaPrior(old=left)
        node = self._open(work, path, operation, _NODE)
        check_single_link(operation, path, node)
        return MetaPrior(old=stamp_of(node, None))

    def _open(
        self, work: _Work, path: PurePosixPath, operation: str, flags: int
    ) -> os.stat_result:
        """Open the entry at ``path`` as ``ScratchRoot.node`` does, for the step."""
        parent = self._fs.dir_fd(path.parent)
        try:
            entry = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
            _check_file_or_dir(operation, path, entry)
            work.fd = os.open(path.name, flags, 0o600, dir_fd=parent)
            work.owned = True
            info = os.fstat(work.fd)
        except OSError as exc:
            raise host_error(operation, path, exc) from exc
        _check_file_or_dir(operation, path, info)
        return info

    def _tracked_file(self, path: PurePosixPath, left: Stamp, *, writing: bool) -> int:
        kept = self._files.get(path)
        if kept is not None and (kept[1] or not writing):
            self._files.move_to_end(path)
            return kept[0]
        if kept is not None:
            os.close(self._files.pop(path)[0])
        parent = self._fs.dir_fd(path.parent)
        try:
            entry = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
            _check_file_or_dir("reopen", path, entry)
            fd = os.open(path.name, WRITE if writing else _NODE, dir_fd=parent)
        except OSError as exc:
            raise host_error("reopen", path, exc) from exc
        self._files[path] = (fd, writing)
        _check_same(path, os.fstat(fd), left)
        return fd

    def _tracked_dir(self, path: PurePosixPath, left: Stamp) -> int:
        cached = self._fs.cached(path)
        if cached is not None:
            return cached
        fd = self._fs.dir_fd(path)  # evicted since: opened again, and checked
        _check_same(path, os.fstat(fd), left)
        return fd

    # --- making new entries -----------------------------------------------------

    def _make_staging(
        self, work: _Work, staging: str, mode: int, *, directory: bool
    ) -> None:
        path = work.path
        assert path is not None  # noqa: S101  (set by _observe)
        parent = self._fs.dir_fd(path.parent)
        try:
            if directory:
                os.mkdir(staging, mode & _CREATE_BITS, dir_fd=parent)
                work.fd = os.open(staging, _DIR, dir_fd=parent)
            else:
                work.fd = os.open(
                    staging, _NEW_FILE, mode & _CREATE_BITS, dir_fd=parent
                )
            work.owned = True
            work.made = os.fstat(work.fd)
        except OSError as exc:
            raise host_error("mkdir" if directory else "write", path, exc) from exc
        work.parent, work.staging = parent, staging
        made = work.made
        work.created = (Created(path=path, dev=made.st_dev, ino=made.st_ino),)

    def _exact_mode(self, work: _Work, mode: int) -> int:
        """Give the new entry exactly ``mode`` (the umask applied at creation)."""
        made = work.made
        assert made is not None  # noqa: S101  (set by _make_staging)
        if stat.S_IMODE(made.st_mode) == mode:
            return mode
        os.fchmod(work.fd, mode)
        if mode & _SPECIAL:  # the kernel may keep or drop these: ask it
            return stat.S_IMODE(os.fstat(work.fd).st_mode)
        return mode

    def _stamp(
        self, work: _Work, kind: EntryKind, mode: int, sha256: str | None
    ) -> Stamp:
        made = work.made
        assert made is not None  # noqa: S101  (set by _make_staging)
        return Stamp(
            kind=kind,
            dev=made.st_dev,
            ino=made.st_ino,
            mode=mode,
            uid=made.st_uid,
            gid=made.st_gid,
            sha256=sha256,
        )

    def _place_dir(self, work: _Work, mode: int) -> tuple[Left, str]:
        path = work.path
        assert path is not None  # noqa: S101  (set by _observe)
        try:
            exact = self._exact_mode(work, mode)
            if self._fs.durable:
                os.fsync(work.fd)
            placed = rename_noreplace(work.parent, work.staging, path.name)
            if not placed:
                os.rmdir(work.staging, dir_fd=work.parent)
        except OSError as exc:
            raise host_error("mkdir", path, exc) from exc
        if not placed:  # one appeared since kplan looked: kept, if a directory
            info = self._lstat(path)
            if info is not None and not stat.S_ISDIR(info.st_mode):
                reason = f"exists and is {kind_of(info.st_mode)}, not a directory"
                raise HostError("mkdir", str(path), reason)
            return (), "kept"
        stamp = self._stamp(work, "dir", exact, None)
        self._left[path] = stamp
        self._new_dirs.add(path)
        self._fs.adopt_dir(path, work.fd)
        work.owned = False
        return ((path, stamp),), "applied"

    def _place_file(self, work: _Work, data: bytes, digest: str, mode: int) -> Left:
        path = work.path
        assert path is not None  # noqa: S101  (set by _observe)
        try:
            write_all(work.fd, data)
            exact = self._exact_mode(work, mode)
            if self._fs.durable:
                os.fsync(work.fd)
            placed = rename_noreplace(work.parent, work.staging, path.name)
            if not placed:
                os.unlink(work.staging, dir_fd=work.parent)
        except OSError as exc:
            raise host_error("write", path, exc) from exc
        if not placed:
            reason = (
                "exists already: it appeared after kplan looked, and is never replaced"
            )
            raise HostError("write", str(path), reason)
        stamp = self._stamp(work, "file", exact, digest)
        self._keep_file(path, stamp, work, writable=True)
        return ((path, stamp),)

    def _keep_file(
        self, path: PurePosixPath, stamp: Stamp, work: _Work, *, writable: bool
    ) -> None:
        """Remember the file as left, keeping the step's descriptor open for later."""
        self._left[path] = stamp
        if work.owned and path not in self._files:
            self._files[path] = (work.fd, writable)
            work.owned = False

    # --- changing entries in place ----------------------------------------------

    def _write_over(self, work: _Work, data: bytes, digest: str, old: Stamp) -> Left:
        path = work.path
        assert path is not None  # noqa: S101  (set by _observe)
        try:
            os.ftruncate(work.fd, 0)
            pwrite_all(work.fd, data, 0)
            if self._fs.durable:
                os.fsync(work.fd)
            mode = old.mode
            if mode & _SPECIAL:  # a write may clear set-ids (not for root): ask
                mode = stat.S_IMODE(os.fstat(work.fd).st_mode)
        except OSError as exc:
            raise host_error("write", path, exc) from exc
        stamp = Stamp(
            kind="file",
            dev=old.dev,
            ino=old.ino,
            mode=mode,
            uid=old.uid,
            gid=old.gid,
            sha256=digest,
        )
        self._keep_file(path, stamp, work, writable=True)
        return ((path, stamp),)

    def _change(
        self,
        work: _Work,
        old: Stamp,
        mode: int | None,
        owner: tuple[int | None, int | None] | None,
    ) -> Left:
        path = work.path
        assert path is not None  # noqa: S101  (set by _observe)
        operation = "chmod" if owner is None else "chown"
        uid, gid, now = old.uid, old.gid, old.mode
        try:
            if mode is not None:
                os.fchmod(work.fd, mode)
                now = mode
            if owner is not None:
                new_uid, new_gid = owner
                os.fchown(
                    work.fd,
                    -1 if new_uid is None else new_uid,
                    -1 if new_gid is None else new_gid,
                )
                uid = uid if new_uid is None else new_uid
                gid = gid if new_gid is None else new_gid
            if now & _SPECIAL:  # a chown clears set-ids, a chmod may not set them
                now = stat.S_IMODE(os.fstat(work.fd).st_mode)
            digest = old.sha256
            if digest is None and old.kind == "file":  # not one of this apply's
                digest = digest_of(work.fd)[0]
        except OSError as exc:
            raise host_error(operation, path, exc) from exc
        stamp = Stamp(
            kind=old.kind,
            dev=old.dev,
            ino=old.ino,
            mode=now,
            uid=uid,
            gid=gid,
            sha256=digest,
        )
        if old.kind == "file":
            self._keep_file(path, stamp, work, writable=False)
        else:
            self._left[path] = stamp
        return ((path, stamp),)

    def _mount(self, work: _Work, effect: MountScratch, prior: MountPrior) -> Left:
        def announce(entry: Created) -> None:
            self._journal.created(work.index, entry)
            work.created = (*work.created, entry)

        left = mount(self._fs, effect, prior, announce)
        # What was below the mount point is hidden now: forget all of it.
        self._fs.forget(effect.path)
        below = f"{effect.path}/"
        for path in [
            p for p in self._left if p == effect.path or str(p).startswith(below)
        ]:
            del self._left[path]
        for path in [p for p in self._files if str(p).startswith(below)]:
            os.close(self._files.pop(path)[0])
        self._new_dirs = {
            d
            for d in self._new_dirs
            if d != effect.path and not str(d).startswith(below)
        }
        return left

    def _trim(self) -> None:
        self._fs.trim()
        while len(self._files) > self._bound:
            _, (fd, _) = self._files.popitem(last=False)
            os.close(fd)


def _check_file_or_dir(
    operation: str, path: PurePosixPath, info: os.stat_result
) -> None:
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        reason = f"is {kind_of(info.st_mode)}: kplan changes only files and directories"
        raise HostError(operation, str(path), reason)


def _check_same(path: PurePosixPath, info: os.stat_result, left: Stamp) -> None:
    if not left.is_entry(info.st_dev, info.st_ino):
        reason = "another entry is there than the one kplan left there"
        raise HostError("reopen", str(path), reason)


def batch_bound() -> int:
    """How many steps a batch takes at most: each may hold a descriptor until the
    batch ends, so a share of the soft ``RLIMIT_NOFILE``, between 16 and 256."""
    return max(16, min(256, cache_bound() * 4))


def runs_in_lane(effect: Effect) -> bool:
    """Whether the lane runs ``effect`` (else it is a task of its own)."""
    return isinstance(effect, LANE_EFFECTS)
