"""The filesystem lane: a plan's filesystem steps, in batches, in one worker thread.

Theory of operation
-------------------
The lane takes its *batches* from the scheduler (``executor._apply``), one after
another in one thread without a round trip to the event loop: the steps whose
predecessors have all finished, so no two of them touch related paths (an
antichain of the plan's edges), and the steps it can take *ahead* (below). A batch
runs in four phases:

1. *observe* every step's prior state (``executor._records``);
2. journal all the intents with one ``write()`` (and whatever was deferred);
   data steps (``effects.DATA_EFFECTS``) have none, nor a ``done``: they
   change nothing, so there is nothing to undo (a quarter of a plan's steps);
3. *stage*: for each step, call ``on_step``, then make the new entries under their
   staging names (``.kplan-<token>-<step>``) and announce them all with one write:
   every entry is announced before it gets its final name;
4. *finish*: fill, give the owner the step names and then the exact mode, rename
   into place without replacing anything (``RENAME_NOREPLACE``), change modes and
   owners, write over files; each
   step's ``done`` is deferred to the next write (``executor._journal``).

So an effect never runs before its intent is written, and an entry never has its
final name before its announcement is: the rollback's guarantees, a crash's
included, are those of one step at a time (architecture.md §5.1).

*Taken ahead.* A chmod or chown of an entry the lane made before the batch,
whose every unfinished predecessor is in the batch, joins it: the lane foresees
the state the earlier steps leave the entry in (``_admit``; never with a set-id
or sticky bit, which the kernel may refuse or clear) and journals that as its
prior with the others. If an earlier step fails, the undo of this one (which
never ran) puts the foreseen state back and the earlier step's undo, after it,
the true one: the rollback is exact all the same. So a dotfile's walk of chmods
and chowns up to ``work`` costs one batch, not one per step.

*Nested.* A new directory's children join its batch too (``_admit``): an entry
whose parent the batch makes new is made at its own name inside it (its content,
owner and exact mode given at once, in the *stage* phase), while that parent is
still under its staging name or nested itself, and the top one's rename puts the
whole subtree in place. A dotfile 100 directories deep is one batch, not a
hundred, with one rename. Its intent says so (a new entry without a staging name)
and its announcement comes, as every entry's, before the top one's rename gives
it its final path. A rollback removes a staging directory with all it holds, the
apply's own (``executor._confined_undo``); a nested entry whose top one reached
its name is removed as any new entry is. If one appears at that top name
meanwhile, the batch fails instead of keeping it, and what it made is undone.

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
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath
from typing import Protocol, final

from effects import (
    DATA_EFFECTS,
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
    meta_after,
)

from ._confined_apply import mount
from ._confined_fs import (
    WRITE,
    ScratchRoot,
    cache_bound,
    check_file_or_dir,
    check_single_link,
    fchown_keeping,
    host_error,
    kind_of,
    rename_noreplace,
    stamp_of,
)
from ._confined_observe import observe_mount
from ._journal import JournalWriter, created_line, done_line, intent_parts_line
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
from ._streams import digest_of, holds, pwrite_all, write_all
from .errors import HostError

__all__ = [
    "LANE_EFFECTS",
    "Admit",
    "BatchFailed",
    "BatchStopped",
    "FsLane",
    "LaneFeed",
    "LaneStep",
    "batch_bound",
]

# The effects the lane runs; the classes are final, so a step's type says it.
LANE_EFFECTS: frozenset[type] = frozenset(
    {
        MakeDir,
        WriteFile,
        Chmod,
        Chown,
        MountScratch,
        ContainerMount,
        ContainerConfig,
        RegisterKernel,
    }
)
StepHook = Callable[[int, Step], None]
_SPECIAL = 0o7000  # set-user-ID, set-group-ID, sticky: the kernel may refuse or clear
_NODE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_BITS = 0o755  # a staging entry is never group- or world-writable
_NO_PRIOR = NoPrior()
# The priors every step of their kind shares (frozen values: one serves all).
_DIR_THERE = DirPrior(existed=True, staging=None)
_NESTED_DIR = DirPrior(existed=False, staging=None)
_NESTED_FILE = FilePrior(old=None, saved=None, staging=None)
_LANE_EFFECTS = frozenset({Chmod, Chown, WriteFile, MakeDir, MountScratch})
_NEW_ENTRIES = (MakeDir, WriteFile)  # a tuple: ``A | B`` is built at each test


@final
class LaneStep:
    """One step of a batch: while it runs, and once it ran (the report's, the
    rollback's: ``record``). Times are ``time.perf_counter`` values."""

    __slots__ = (
        "created",
        "effect",
        "end",
        "exact",
        "fd",
        "finish",
        "head",
        "holds",
        "index",
        "key",
        "left",
        "made",
        "name",
        "nest",
        "outcome",
        "owned",
        "parent",
        "path",
        "prior",
        "seconds",
        "stage",
        "staging",
        "start",
        "step",
    )

    def __init__(self, index: int, step: Step) -> None:
        self.index = index
        self.step = step
        self.effect: Effect = step.effect
        self.path: PurePosixPath = _NO_PATH
        self.key = self.head = self.name = ""  # the path's text, its parent's, name
        self.prior: Prior = _NO_PRIOR
        self.fd = -1  # the entry's descriptor, when the step acts through one
        self.owned = False  # the step must close ``fd`` unless it hands it on
        self.parent = -1  # the parent's (cached) descriptor, for a new entry
        self.staging = ""
        self.made: os.stat_result | None = None  # the staging entry, once made
        self.created: tuple[Created, ...] = ()
        self.left: Left | None = None
        # A new entry made at its name inside a directory new in the same batch
        # (*Nested*): that directory's step; and for a directory, whether any is.
        self.nest: LaneStep | None = None
        self.holds = False
        self.exact = 0  # a nested entry's exact mode, given as it was made
        # The lane's method that finishes the step, unbound: a bound one would
        # make each step and its lane a cycle, left for the cyclic collector.
        self.finish: Callable[[FsLane, LaneStep], Left] = _records_only
        self.outcome = "applied"
        self.seconds = 0.0
        self.start = self.end = 0.0

    def record(self) -> StepRecord:
        """The step as journaled (what the rollback undoes)."""
        return StepRecord(
            index=self.index,
            stage=self.step.stage,
            effect=self.effect,
            prior=self.prior,
            created=self.created,
            left=self.left,
        )


_NO_PATH = PurePosixPath("-")


def _records_only(_lane: FsLane, step: LaneStep) -> Left:
    step.outcome = "recorded"  # data: the create body's, the agent's
    return ()


class Admit(Protocol):
    """The lane's say on a step of the batch being made (``LaneFeed.take``)."""

    def __call__(self, index: int, step: Step, *, ahead: bool) -> bool:
        """Note a ready step (``ahead`` false); or take a step that is not ready
        yet, because its predecessors are all in the batch (true if taken)."""


class LaneFeed(Protocol):
    """Where the lane takes its batches from (the scheduler; thread-safe)."""

    def take(self, admit: Admit) -> list[tuple[int, Step]]:
        """The next batch of filesystem steps; empty: none ready now."""

    def finished(self, indices: list[int]) -> None:
        """These steps finished (their successors may be ready now)."""

    def exhausted(self) -> bool:
        """Whether every step of the lane's has finished: no batch will come."""


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
class FsLane:
    """Applies batches of filesystem steps (see the module docstring)."""

    def __init__(  # noqa: PLR0917  (the apply's parts the lane works with)
        self,
        fs: ScratchRoot,
        blobs: Mapping[str, bytes],
        journal: JournalWriter,
        records: dict[int, StepRecord | LaneStep],
        token: str,
        on_step: StepHook | None,
    ) -> None:
        self._fs = fs
        self._blobs = blobs
        self._journal = journal
        self._records = records
        self._token = token
        self._on_step = on_step
        # Keyed by path text: hashing PurePosixPath values costs more than the rest.
        self._left: dict[str, Stamp] = {}  # what the lane left, by path
        # open descriptors of files in ``_left``: (fd, opened for writing)
        self._files: OrderedDict[str, tuple[int, bool]] = OrderedDict()
        self._new_dirs: set[str] = set()  # made new by this apply
        self._foreign: set[str] = set()  # touched by steps outside the lane
        self._elsewhere: list[tuple[PurePosixPath, ...]] = []  # noted, not taken in
        # The batch being made: the state each path will be in after its steps
        # (None: not foreseeable), and the prior foreseen for the steps taken ahead.
        self._ahead: dict[str, Stamp | None] = {}
        self._foreseen: dict[int, Stamp] = {}
        # The batch's directories: planned (admitted), and found absent (observed).
        self._batch_dirs: set[str] = set()
        self._nesting: dict[str, LaneStep] = {}
        self._foresee = True
        self._bound = cache_bound()
        self._current: LaneStep  # the step a batch is at: the one to blame

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

    def _release(self) -> None:
        """The plan's file work is done: close what the lane kept open, files
        and cached directories, here in its thread. In the event loop's, each
        close waits for the interpreter lock while other kernels' lanes hold it
        (applied at once, 32 kernels spent a tenth of their time so). A rollback
        opens again what it needs."""
        self.close()
        self._fs.forget_all()

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
            self._take_notes()  # before the batch is made: _admit reads _left
            self._ahead.clear()
            self._foreseen.clear()
            self._batch_dirs.clear()
            self._nesting.clear()
            self._foresee = True
            batch = feed.take(self._admit)
            if not batch:
                if feed.exhausted():
                    self._release()
                return ran
            steps = [LaneStep(index, step) for index, step in batch]
            self._batch(steps, stop, ran)
            feed.finished([step.index for step in steps])
        raise BatchStopped(ran)

    def _batch(
        self, steps: list[LaneStep], stop: threading.Event, ran: list[LaneStep]
    ) -> None:
        """One batch, its four phases (see the module docstring)."""
        self._current = steps[0]  # the step to blame if the batch fails
        try:
            self._observe_all(steps)
            self._stage_all(steps, stop, ran)
            self._finish_all(steps, stop, ran)
        except (BatchStopped, BatchFailed):
            raise
        except BaseException as exc:
            raise BatchFailed(self._current.index, exc, ran) from exc
        finally:
            for step in steps:
                if step.owned:
                    os.close(step.fd)
                    step.owned = False
            self._trim()

    def _observe_all(self, steps: list[LaneStep]) -> None:
        clock, records, lines = time.perf_counter, self._records, []
        for step in steps:
            self._current = step
            started = clock()
            self._observe(step)
            records[step.index] = step
            if type(step.effect) not in DATA_EFFECTS:
                lines.append(
                    intent_parts_line(
                        step.index, step.step.stage, step.effect, step.prior
                    )
                )
            step.seconds = clock() - started
        self._journal.write(lines)

    def _stage_all(
        self, steps: list[LaneStep], stop: threading.Event, ran: list[LaneStep]
    ) -> None:
        clock = time.perf_counter
        announced: list[bytes] = []
        for step in steps:
            _check(stop, ran)
            self._current = step
            started = clock()
            self._stage(step)
            step.seconds += clock() - started
            announced.extend(created_line(step.index, c) for c in step.created)
        if announced:
            self._journal.write(announced)

    def _finish_all(
        self, steps: list[LaneStep], stop: threading.Event, ran: list[LaneStep]
    ) -> None:
        clock = time.perf_counter
        began = clock()
        done: list[bytes] = []
        try:
            for step in steps:
                _check(stop, ran)
                self._current = step
                started = clock()
                step.left = left = step.finish(self, step)
                step.seconds += clock() - started
                if type(step.effect) not in DATA_EFFECTS:
                    done.append(done_line(step.index, step.seconds, left))
                step.start = began
                ran.append(step)
        finally:
            # A done may lag: without it the step is undone as unfinished. The
            # steps that finished before one failed or the batch stopped keep theirs.
            self._journal.defer_lines(done)
        ended = clock()
        for step in steps:
            step.end = ended

    # --- the phases --------------------------------------------------------------

    def _observe(self, step: LaneStep) -> None:
        effect = step.effect
        kind = type(effect)  # the effect classes are final: compared by identity
        if kind not in _LANE_EFFECTS:
            return  # data: the create body's, the agent's
        step.path = path = effect.path  # type: ignore[union-attr]  # checked above
        step.key = key = str(path)
        step.head, _, step.name = key.rpartition("/")
        if kind is Chmod or kind is Chown:
            step.prior = self._meta_prior(step)
            step.finish = FsLane._finish_meta
            return
        if kind is WriteFile:
            written = self._file_prior(step)
            step.prior = written
            if written.old is None:
                step.finish = FsLane._place_file
                if step.nest is not None:
                    step.finish = FsLane._place_nested
            else:
                step.finish = FsLane._held if written.unchanged else FsLane._write_over
        elif kind is MakeDir:
            made = self._dir_prior(step)
            step.prior = made
            if made.existed:
                step.finish = FsLane._kept
            else:
                self._nesting[step.key] = step
                nested = step.nest is not None
                step.finish = FsLane._place_nested if nested else FsLane._place_dir
        else:
            assert isinstance(effect, MountScratch)  # noqa: S101  (the last lane effect)
            step.prior = observe_mount(self._fs, effect, self._staging(step))
            step.finish = FsLane._mount

    def _stage(self, step: LaneStep) -> None:
        if self._on_step is not None:
            self._on_step(step.index, step.step)
        prior = step.prior
        kind = type(prior)
        if kind is MetaPrior or kind is NoPrior:
            return  # a change in place, or data: all in finish
        if step.nest is not None:
            self._make_nested(step, directory=isinstance(prior, DirPrior))
        elif isinstance(prior, DirPrior) and prior.staging is not None:
            self._make_staging(step, prior.staging, directory=True)
        elif isinstance(prior, FilePrior) and prior.staging is not None:
            self._make_staging(step, prior.staging, directory=False)

    # --- observing --------------------------------------------------------------

    def _admit(self, index: int, step: Step, *, ahead: bool) -> bool:
        """``Admit``: foresee the batch's effect on the entries the lane made.

        A step is taken ahead only if it changes the mode or owner of an entry
        the lane made before this batch, and the state the batch's earlier steps
        leave it in can be told without looking: no set-id or sticky bit, which
        the kernel may refuse or clear. Its intent then holds that state as its
        prior; if an earlier step fails, the rollback's undo of this one (which
        never ran) puts that state back, and the earlier step's undo the one
        before it (reverse order), so the rollback is exact all the same.
        """
        effect = step.effect
        kind = type(effect)
        if kind is Chmod or kind is Chown:
            path = str(effect.path)  # type: ignore[union-attr]  # a Chmod or a Chown
        elif kind is MakeDir or kind is WriteFile:
            key = str(effect.path)  # type: ignore[union-attr]  # a MakeDir or WriteFile
            if ahead and (
                key in self._ahead or key.rpartition("/")[0] not in self._batch_dirs
            ):
                # *Nested* entries only: new inside a directory of the batch, on
                # a path no other step of the batch touches.
                return False
            self._ahead[key] = None
            if kind is MakeDir:
                self._batch_dirs.add(key)
            return True
        else:
            if kind is MountScratch:
                self._foresee = False  # it hides a whole subtree
            return False
        ahead_state = self._ahead
        state = ahead_state[path] if path in ahead_state else self._left.get(path)
        after = None if state is None else _foreseen_meta(state, effect)  # type: ignore[arg-type]
        if ahead and (after is None or not self._foresee):
            return False
        if state is not None:
            self._foreseen[index] = state
        ahead_state[path] = after
        return True

    def _take_notes(self) -> None:
        while self._elsewhere:
            for noted in self._elsewhere.pop():
                path = str(noted)
                self._foreign.add(path)
                self._left.pop(path, None)
                kept = self._files.pop(path, None)
                if kept is not None:
                    os.close(kept[0])

    def _nested(self, step: LaneStep) -> bool:
        """Whether the step's entry is made *nested*: its parent is a directory
        this batch found absent and makes (absent, then, is the entry)."""
        parent = self._nesting.get(step.head)
        if parent is None:
            return False
        step.nest = parent
        parent.holds = True
        return True

    def _known_absent(self, step: LaneStep) -> bool:
        return (
            step.head in self._new_dirs
            and step.key not in self._left
            and step.key not in self._foreign
        )

    def _lstat(self, step: LaneStep) -> os.stat_result | None:
        parent = self._fs.dir_fd(step.head)
        try:
            return os.stat(step.name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise host_error("stat", step.path, exc) from exc

    def _staging(self, step: LaneStep) -> str:
        """The staging name of the step's new entry (unique to the apply)."""
        return f".kplan-{self._token}-{step.index}"

    def _dir_prior(self, step: LaneStep) -> DirPrior:
        left = self._left.get(step.key)
        if left is not None:
            if left.kind != "dir":
                reason = "exists and is a regular file, not a directory"
                raise HostError("mkdir", step.key, reason)
            return _DIR_THERE
        if self._nested(step):
            return _NESTED_DIR
        if self._known_absent(step):
            return DirPrior(existed=False, staging=self._staging(step))
        info = self._lstat(step)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            reason = f"exists and is {kind_of(info.st_mode)}, not a directory"
            raise HostError("mkdir", step.key, reason)
        if info is not None:
            return _DIR_THERE
        return DirPrior(existed=False, staging=self._staging(step))

    def _file_prior(self, step: LaneStep) -> FilePrior:
        saved = f"prior-{step.index}"
        blob = step.effect.blob  # type: ignore[union-attr]  # a WriteFile
        left = self._left.get(step.key)
        if left is not None:  # a file of this apply's: its content is the plan's
            if left.kind != "file" or left.sha256 is None:
                reason = f"a {left.kind}, cannot write a file over it"
                raise HostError("write", step.key, reason)
            if left.sha256 == blob and not left.mode & _SPECIAL:
                return FilePrior(old=left, saved=None, staging=None)  # _held
            step.fd = self._tracked_file(step, left, writing=True)  # to write
            private = self._fs.need_private("write", step.path)
            copy = private.save_bytes(saved, self._blobs[left.sha256], left.sha256)
            return FilePrior(old=left, saved=copy, staging=None)
        if self._nested(step):
            return _NESTED_FILE
        info = None if self._known_absent(step) else self._lstat(step)
        if info is None:
            return FilePrior(old=None, saved=None, staging=self._staging(step))
        if not stat.S_ISREG(info.st_mode):
            reason = f"{kind_of(info.st_mode)}, cannot write a file over it"
            raise HostError("write", step.key, reason)
        node = self._open(step, "write", WRITE, info)  # looked at just above
        check_single_link("write", step.path, node)
        # Already the planned content (a restart's rewrites mostly are): nothing
        # to save, nothing to write. Not with a set-id or sticky bit, which a
        # write by a process without CAP_FSETID clears: that write is made.
        data = self._blobs[blob]
        if not node.st_mode & _SPECIAL and holds(step.fd, node.st_size, data):
            return FilePrior(old=stamp_of(node, blob), saved=None, staging=None)
        copy = self._fs.need_private("write", step.path).save(saved, step.fd)
        return FilePrior(old=stamp_of(node, copy.sha256), saved=copy, staging=None)

    def _meta_prior(self, step: LaneStep) -> MetaPrior:
        left = self._foreseen.pop(step.index, None) or self._left.get(step.key)
        if left is not None:
            if left.kind == "dir":
                step.fd = self._tracked_dir(step, left)
            else:
                step.fd = self._tracked_file(step, left, writing=False)
            return MetaPrior(old=left)
        operation = "chmod" if isinstance(step.effect, Chmod) else "chown"
        node = self._open(step, operation, _NODE)
        check_single_link(operation, step.path, node)
        return MetaPrior(old=stamp_of(node, None))

    def _open(
        self,
        step: LaneStep,
        operation: str,
        flags: int,
        entry: os.stat_result | None = None,
    ) -> os.stat_result:
        """Open the entry at ``path`` as ``ScratchRoot.node`` does, for the step:
        only a file or a directory (its ``lstat``, or ``entry`` when the caller
        just took it, says), never a socket or a FIFO, whose open acts."""
        parent = self._fs.dir_fd(step.head)
        try:
            if entry is None:
                entry = os.stat(step.name, dir_fd=parent, follow_symlinks=False)
            check_file_or_dir(operation, step.path, entry)
            step.fd = os.open(step.name, flags, 0o600, dir_fd=parent)
            step.owned = True
            info = os.fstat(step.fd)
        except OSError as exc:
            raise host_error(operation, step.path, exc) from exc
        check_file_or_dir(operation, step.path, info)
        return info

    def _tracked_file(self, step: LaneStep, left: Stamp, *, writing: bool) -> int:
        key = step.key
        kept = self._files.get(key)
        if kept is not None and (kept[1] or not writing):
            self._files.move_to_end(key)
            return kept[0]
        if kept is not None:
            os.close(self._files.pop(key)[0])
        parent = self._fs.dir_fd(step.head)
        try:
            entry = os.stat(step.name, dir_fd=parent, follow_symlinks=False)
            check_file_or_dir("reopen", step.path, entry)
            fd = os.open(step.name, WRITE if writing else _NODE, dir_fd=parent)
        except OSError as exc:
            raise host_error("reopen", step.path, exc) from exc
        self._files[key] = (fd, writing)
        _check_same(step.path, os.fstat(fd), left)
        return fd

    def _tracked_dir(self, step: LaneStep, left: Stamp) -> int:
        cached = self._fs.cached(step.key)
        if cached is not None:
            return cached
        fd = self._fs.dir_fd(step.key)  # evicted since: opened again, and checked
        _check_same(step.path, os.fstat(fd), left)
        return fd

    # --- making new entries -----------------------------------------------------

    def _make_staging(self, step: LaneStep, staging: str, *, directory: bool) -> None:
        path = step.path
        mode = step.effect.mode  # type: ignore[union-attr]  # a MakeDir or WriteFile
        parent = self._fs.dir_fd(step.head)
        try:
            if directory:
                os.mkdir(staging, mode & _CREATE_BITS, dir_fd=parent)
                step.fd = os.open(staging, _DIR, dir_fd=parent)
            else:
                step.fd = os.open(
                    staging, _NEW_FILE, mode & _CREATE_BITS, dir_fd=parent
                )
            step.owned = True
            step.made = made = os.fstat(step.fd)
        except OSError as exc:
            raise host_error("mkdir" if directory else "write", path, exc) from exc
        step.parent, step.staging = parent, staging
        step.created = (Created(path=path, dev=made.st_dev, ino=made.st_ino),)

    def _make_nested(self, step: LaneStep, *, directory: bool) -> None:
        """Make the entry at its name inside its new parent, still under a staging
        name or nested itself (*Nested*), complete: content, owner, exact mode."""
        nest = step.nest
        assert nest is not None  # noqa: S101  (set by _nested)
        path, name, parent = step.path, step.name, nest.fd
        effect = step.effect
        assert isinstance(effect, _NEW_ENTRIES)  # noqa: S101  (a new entry)
        try:
            if directory:
                os.mkdir(name, effect.mode & _CREATE_BITS, dir_fd=parent)
                step.fd = os.open(name, _DIR, dir_fd=parent)
            else:
                step.fd = os.open(
                    name, _NEW_FILE, effect.mode & _CREATE_BITS, dir_fd=parent
                )
            step.owned = True
            step.made = made = os.fstat(step.fd)
            step.parent = parent
            step.created = (Created(path=path, dev=made.st_dev, ino=made.st_ino),)
            if isinstance(effect, WriteFile):
                write_all(step.fd, self._blobs[effect.blob])
            step.exact = self._owner_then_mode(step)
        except OSError as exc:
            raise host_error("mkdir" if directory else "write", path, exc) from exc

    def _owner_then_mode(self, step: LaneStep) -> int:
        """Give the new entry the owner its step names, then exactly its mode
        (which it returns): a chown clears set-ids, so the mode comes after
        (the entry was made with none)."""
        effect = step.effect
        assert isinstance(effect, _NEW_ENTRIES)  # noqa: S101  (a new entry)
        if effect.uid is not None or effect.gid is not None:
            fchown_keeping(step.fd, effect.uid, effect.gid)
        return self._exact_mode(step, effect.mode)

    def _exact_mode(self, step: LaneStep, mode: int) -> int:
        """Give the new entry exactly ``mode`` (the umask applied at creation)."""
        made = step.made
        assert made is not None  # noqa: S101  (set by _make_staging)
        if stat.S_IMODE(made.st_mode) == mode:
            return mode
        os.fchmod(step.fd, mode)
        if mode & _SPECIAL:  # the kernel may keep or drop these: ask it
            return stat.S_IMODE(os.fstat(step.fd).st_mode)
        return mode

    def _stamp(
        self, step: LaneStep, kind: EntryKind, mode: int, sha256: str | None
    ) -> Stamp:
        made = step.made
        assert made is not None  # noqa: S101  (set by _make_staging)
        effect = step.effect
        assert isinstance(effect, _NEW_ENTRIES)  # noqa: S101  (a new entry)
        return Stamp(
            kind=kind,
            dev=made.st_dev,
            ino=made.st_ino,
            mode=mode,
            uid=made.st_uid if effect.uid is None else effect.uid,
            gid=made.st_gid if effect.gid is None else effect.gid,
            sha256=sha256,
        )

    def _kept(self, step: LaneStep) -> Left:
        step.outcome = "kept"
        return ()

    def _place_dir(self, step: LaneStep) -> Left:
        path = step.path
        try:
            placed, exact = self._rename_into_place(step, os.rmdir)
        except OSError as exc:
            raise host_error("mkdir", path, exc) from exc
        if not placed:  # one appeared since kplan looked: kept, if a directory
            info = self._lstat(step)
            if info is not None and not stat.S_ISDIR(info.st_mode):
                reason = f"exists and is {kind_of(info.st_mode)}, not a directory"
                raise HostError("mkdir", str(path), reason)
            step.outcome = "kept"
            return ()
        return self._new_dir_left(step, exact)

    def _new_dir_left(self, step: LaneStep, exact: int) -> Left:
        """A directory the step made, in place: remembered, its descriptor cached."""
        stamp = self._stamp(step, "dir", exact, None)
        self._left[step.key] = stamp
        self._new_dirs.add(step.key)
        self._fs.adopt_dir(step.key, step.fd)
        step.owned = False
        return ((step.path, stamp),)

    def _place_nested(self, step: LaneStep) -> Left:
        """A nested entry (``_make_nested``): in place once its top one is."""
        effect = step.effect
        try:
            if self._fs.durable:  # a directory's entries are all made by now
                os.fsync(step.fd)
        except OSError as exc:
            raise host_error("mkdir", step.path, exc) from exc
        if isinstance(effect, WriteFile):
            stamp = self._stamp(step, "file", step.exact, effect.blob)
            self._keep_file(stamp, step, writable=True)
            return ((step.path, stamp),)
        return self._new_dir_left(step, step.exact)

    def _place_file(self, step: LaneStep) -> Left:
        path = step.path
        effect = step.effect
        assert isinstance(effect, WriteFile)  # noqa: S101  (chosen by _observe)
        try:
            write_all(step.fd, self._blobs[effect.blob])
            placed, exact = self._rename_into_place(step, os.unlink)
        except OSError as exc:
            raise host_error("write", path, exc) from exc
        if not placed:
            reason = (
                "exists already: it appeared after kplan looked, and is never replaced"
            )
            raise HostError("write", str(path), reason)
        stamp = self._stamp(step, "file", exact, effect.blob)
        self._keep_file(stamp, step, writable=True)
        return ((path, stamp),)

    def _rename_into_place(
        self, step: LaneStep, discard: Callable[..., None]
    ) -> tuple[bool, int]:
        """Give the staged entry the owner its step names, then its exact mode
        (``_owner_then_mode``; fsynced when durable), and its final name, never
        replacing one; if one appeared meanwhile, ``discard`` (``os.rmdir`` or
        ``os.unlink``) the staged entry. Whether it was placed, and the exact
        mode it has."""
        exact = self._owner_then_mode(step)
        if self._fs.durable:
            os.fsync(step.fd)
        placed = rename_noreplace(step.parent, step.staging, step.name)
        if not placed and step.holds:  # the entries made inside it: rolled back
            reason = "exists already: it appeared after kplan looked, and the "
            raise HostError("mkdir", step.key, reason + "entries made in it are undone")
        if not placed:
            discard(step.staging, dir_fd=step.parent)
        return placed, exact

    def _keep_file(self, stamp: Stamp, step: LaneStep, *, writable: bool) -> None:
        """Remember the file as left, keeping the step's descriptor open for later."""
        key = step.key
        self._left[key] = stamp
        if step.owned and key not in self._files:
            self._files[key] = (step.fd, writable)
            step.owned = False

    # --- changing entries in place ----------------------------------------------

    def _write_over(self, step: LaneStep) -> Left:
        path = step.path
        effect, prior = step.effect, step.prior
        assert isinstance(effect, WriteFile)  # noqa: S101  (chosen by _observe)
        assert isinstance(prior, FilePrior)  # noqa: S101
        assert prior.old is not None  # noqa: S101
        old = prior.old
        try:
            os.ftruncate(step.fd, 0)
            pwrite_all(step.fd, self._blobs[effect.blob], 0)
            if self._fs.durable:
                os.fsync(step.fd)
            mode = old.mode
            if mode & _SPECIAL:  # a write may clear set-ids (not for root): ask
                mode = stat.S_IMODE(os.fstat(step.fd).st_mode)
        except OSError as exc:
            raise host_error("write", path, exc) from exc
        stamp = Stamp(
            kind="file",
            dev=old.dev,
            ino=old.ino,
            mode=mode,
            uid=old.uid,
            gid=old.gid,
            sha256=effect.blob,
        )
        self._keep_file(stamp, step, writable=True)
        return ((path, stamp),)

    def _held(self, step: LaneStep) -> Left:
        """The file held the planned content already (``_file_prior``): as it was."""
        prior = step.prior
        assert isinstance(prior, FilePrior)  # noqa: S101  (chosen by _observe)
        assert prior.old is not None  # noqa: S101
        step.outcome = "kept"
        self._keep_file(prior.old, step, writable=True)
        return ((step.path, prior.old),)

    def _finish_meta(self, step: LaneStep) -> Left:
        """A chmod or chown, through the descriptor ``_meta_prior`` found."""
        path, effect, prior = step.path, step.effect, step.prior
        assert isinstance(prior, MetaPrior)  # noqa: S101  (chosen by _observe)
        old = prior.old
        uid, gid, now = old.uid, old.gid, old.mode
        operation = "chmod" if isinstance(effect, Chmod) else "chown"
        try:
            if isinstance(effect, Chmod):
                os.fchmod(step.fd, effect.mode)
                now = effect.mode
            else:
                assert isinstance(effect, Chown)  # noqa: S101
                fchown_keeping(step.fd, effect.uid, effect.gid)
                uid = uid if effect.uid is None else effect.uid
                gid = gid if effect.gid is None else effect.gid
            if now & _SPECIAL:  # a chown clears set-ids, a chmod may not set them
                now = stat.S_IMODE(os.fstat(step.fd).st_mode)
            digest = old.sha256
            if digest is None and old.kind == "file":  # not one of this apply's
                digest = digest_of(step.fd)[0]
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
            self._keep_file(stamp, step, writable=False)
        else:
            self._left[step.key] = stamp
        return ((path, stamp),)

    def _mount(self, step: LaneStep) -> Left:
        effect, prior = step.effect, step.prior
        assert isinstance(effect, MountScratch)  # noqa: S101  (chosen by _observe)
        assert isinstance(prior, MountPrior)  # noqa: S101

        def announce(entry: Created) -> None:
            self._journal.created(step.index, entry)
            step.created = (*step.created, entry)

        left = mount(self._fs, effect, prior, announce)
        # What was below the mount point is hidden now: forget all of it.
        self._fs.forget(effect.path)
        top, below = step.key, f"{step.key}/"
        for key in [k for k in self._left if k == top or k.startswith(below)]:
            del self._left[key]
        for key in [k for k in self._files if k.startswith(below)]:
            os.close(self._files.pop(key)[0])
        self._new_dirs = {
            d for d in self._new_dirs if d != top and not d.startswith(below)
        }
        return left

    def _trim(self) -> None:
        self._fs.trim()
        while len(self._files) > self._bound:
            _, (fd, _) = self._files.popitem(last=False)
            os.close(fd)


def _check(stop: threading.Event, ran: list[LaneStep]) -> None:
    if stop.is_set():
        raise BatchStopped(ran)


def _foreseen_meta(state: Stamp, effect: Chmod | Chown) -> Stamp | None:
    """What a chmod or chown leaves an entry in, or ``None`` if that depends on
    the kernel (set-id and sticky bits, which it may refuse or clear)."""
    mode, uid, gid = meta_after(effect, state.mode, state.uid, state.gid)
    if (state.mode | mode) & _SPECIAL:
        return None
    return Stamp(
        kind=state.kind,
        dev=state.dev,
        ino=state.ino,
        mode=mode,
        uid=uid,
        gid=gid,
        sha256=state.sha256,
    )


def _check_same(path: PurePosixPath, info: os.stat_result, left: Stamp) -> None:
    if not left.is_entry(info.st_dev, info.st_ino):
        reason = "another entry is there than the one kplan left there"
        raise HostError("reopen", str(path), reason)


def batch_bound() -> int:
    """How many steps a batch takes at most: each may hold a descriptor until the
    batch ends, so a share of the soft ``RLIMIT_NOFILE``, between 16 and 256."""
    return max(16, min(256, cache_bound() * 4))
