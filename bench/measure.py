"""The benchmark's sections: each measures one table of BENCHMARKS.md.

Every comparison applies the same inputs on each side (``bench.sides``) and checks
that both left the same tree (``same_tree``: legacy's ``CID=`` line, written after
the timed window by ``start_container``, and ``kconfig.dat``'s pickle bytes, which
depend on object identity, compared by value).
"""

from __future__ import annotations

import asyncio
import pickle
import shutil
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from effects import Plan, Step, Tree, decode, encode, encode_tree, project
from executor import (
    ApplyOptions,
    ApplyReport,
    HostError,
    Tools,
    apply_plan,
    lane_in_loop,
    rollback_journal,
    snapshot,
)
from kplan import plan_kernel
from legacy import legacy_runner_dir
from planner import compile_plan, context_from_document, scratch_only

from .compile_phases import phases
from .kernels import KERNELS, document, dotfiles_document
from .machine import inode_probe
from .sides import (
    LegacySession,
    Timing,
    cached_host_key,
    clear,
    floor_times,
    host_key_seconds,
    kplan_plan,
    kplan_round,
    kplan_times,
    legacy_command,
    legacy_request,
)
from .syscall_purposes import PURPOSES
from .syscalls import count_marked
from .timing import Collector, collected, each, repeat

__all__ = ["Sections", "same_tree"]

ROOT = Path(__file__).resolve().parent.parent
CONCURRENT = 32
# Kernel numbers no other section plans: a new kernel's compile meets nothing
# cached for its paths (the sample is kernel 1, the concurrent ones 0-31).
FIRST_NEW = 1000
CONCURRENT_ROUNDS = 7
BIG = 1000  # steps from which a measurement takes fewer rounds
WARM_UP = 3  # rounds of each side run and dropped before a kernel's timed ones


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _timing(timing: Timing) -> dict[str, float]:
    return {"median_ms": _ms(timing.median), "min_ms": _ms(timing.minimum)}


def _decode_times(plan: Plan, file: Path, rounds: int) -> Timing:
    """Reading and decoding the plan's file, as ``kplan apply PLAN`` does before
    it applies (``kplan rollback`` likewise reads and validates its journal)."""
    file.write_bytes(encode(plan))
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        decoded = decode(file.read_bytes()).unwrap()
        seconds.append(time.perf_counter() - started)
        assert decoded == plan
    return Timing(seconds=tuple(seconds))


def _contents(root: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def _normalised(name: str, data: bytes) -> object:
    if name.endswith("kconfig.dat"):
        return pickle.loads(data)  # noqa: S301  (written by the benchmark's sides)
    if name.endswith("resource.txt"):
        return [line for line in data.splitlines() if not line.startswith(b"CID=")]
    return data


def same_tree(one: Path, other: Path) -> bool:
    """Whether two scratch roots hold the same tree (see the module docstring)."""
    shape = [
        (p, n.type, n.mode, n.uid, n.gid) for p, n in snapshot(one)[0].entries
    ] == [(p, n.type, n.mode, n.uid, n.gid) for p, n in snapshot(other)[0].entries]
    left, right = _contents(one), _contents(other)
    return (
        shape
        and left.keys() == right.keys()
        and all(
            _normalised(name, left[name]) == _normalised(name, right[name])
            for name in left
        )
    )


class Sections:
    """The measurements, sharing the scratch places, the tools and one legacy
    driver (``LegacySession``): each side's rounds alternate with the other's."""

    def __init__(
        self,
        *,
        tmpfs: Path,
        disk: Path,
        tools: Tools,
        quick: bool,
        legacy: LegacySession,
    ) -> None:
        self.tmpfs, self.disk, self.tools, self.quick = tmpfs, disk, tools, quick
        self.legacy = legacy

    # --- apply: kplan, legacy, the floor ------------------------------------------

    def apply_rows(self, rounds: int) -> list[dict[str, Any]]:
        """Each kernel on tmpfs: the three sides, syscalls, --durable, rollback."""
        return [self._apply_row(name, rounds) for name in KERNELS]

    def _apply_row(self, name: str, rounds: int) -> dict[str, Any]:
        place = self.tmpfs / name
        root, floor_root, journals = place / "root", place / "floor", place / "journals"
        journals.mkdir(parents=True)
        doc = document(name, root)
        plan = kplan_plan(doc)
        before = context_from_document(doc).unwrap().facts.scratch_tree
        request = legacy_request(doc, [root])
        kept = place / "kplan-tree"
        kplan, legacy, report = asyncio.run(
            self._alternate([plan] * rounds, request, [root] * rounds, kept)
        )
        same = same_tree(kept, root)
        floor = floor_times(plan, before, [floor_root] * rounds)
        durable, _ = asyncio.run(
            kplan_times(
                [plan] * max(rounds // 4, 3), journals, self.tools, durable=True
            )
        )
        rollback = asyncio.run(self._rollback(plan, journals, max(rounds // 2, 3)))
        decoded = _decode_times(plan, place / "plan-file.json", rounds)
        failed, undo = asyncio.run(self._failed(plan, journals, rounds))
        return {
            "kernel": name,
            "steps": len(plan.steps),
            "lane": self._lane(plan),
            "same_tree": same,
            "kplan": _timing(kplan),
            "legacy": _timing(legacy),
            "floor": _timing(floor),
            "durable": _timing(durable),
            "rollback": _timing(rollback),
            "plan_file_decode": _timing(decoded),
            "failed_last": _timing(failed),
            "undo_in_process_ms": _ms(undo.median),
            "ratio_rollback_apply": round(rollback.median / kplan.median, 2),
            "ratio_rollback_apply_from_file": round(
                rollback.median / (decoded.median + kplan.median), 2
            ),
            "ratio_legacy": round(kplan.median / legacy.median, 3),
            "ratio_floor": round(kplan.median / floor.median, 2),
            "syscalls": self._syscalls(doc, plan, before, place),
            "lane_seconds": round(sum(s.seconds for s in report.steps), 6),
        }

    def _lane(self, plan: Plan) -> str:
        """Where ``apply_plan`` runs the plan's lane: the loop's thread or the
        worker's (``executor.lane_in_loop``)."""
        options = ApplyOptions(journal=self.tmpfs / "unused", tools=self.tools)
        return "loop" if lane_in_loop(plan, options) else "worker"

    async def _alternate(
        self,
        plans: list[Plan],
        request: dict[str, Any],
        legacy_roots: list[Path],
        kept: Path | None = None,
        warm_up: int = WARM_UP,
    ) -> tuple[Timing, Timing, ApplyReport]:
        """Round by round, kplan's apply then legacy's, on the same conditions;
        ``kept`` gets a copy of kplan's last tree (legacy's is left in place).

        Each kplan round follows a compile of its kernel, untimed, as an agent's
        apply follows its compile: legacy's window likewise follows its own
        preparation of the kernel in the same call, so both start warm, not
        after a wait on the other process. ``warm_up`` rounds of each side on the
        first plan and root come first and are dropped (a process's first
        applies meet cold caches).
        """
        journals = self.tmpfs / "alternate-journals"
        journals.mkdir(exist_ok=True)
        kplan: list[float] = []
        legacy: list[float] = []
        report = None
        context = context_from_document(request["context"]).unwrap()
        warm = [(plans[0], legacy_roots[0])] * warm_up
        rounds = [*warm, *zip(plans, legacy_roots, strict=True)]
        for number, (plan, root) in enumerate(rounds):
            compile_plan(context).unwrap()
            took, report = await kplan_round(plan, journals, self.tools)
            if kept is not None and number == len(rounds) - 1:  # before legacy's
                shutil.rmtree(kept, ignore_errors=True)  # round on the same root
                _copy_tree(Path(str(plan.header.scratch_root)), kept)
            timed = self.legacy.times({**request, "roots": [str(root)]}).seconds
            if number >= warm_up:
                kplan.append(took)
                legacy += timed
        assert report is not None
        return Timing(seconds=tuple(kplan)), Timing(seconds=tuple(legacy)), report

    async def _rollback(self, plan: Plan, journals: Path, rounds: int) -> Timing:
        """``rollback_journal`` of a completed apply (the whole kernel undone), as
        ``kplan rollback`` calls it (its file work in the loop's thread)."""
        seconds = []
        for number in range(rounds):
            clear(Path(str(plan.header.scratch_root)))
            journal = journals / f"rollback-{number}-{time.monotonic_ns()}"
            options = ApplyOptions(journal=journal, tools=self.tools)
            (await apply_plan(plan, options)).unwrap()
            started = time.perf_counter()
            undone = await rollback_journal(journal, self.tools, in_loop=True)
            outcome = undone.unwrap()
            seconds.append(time.perf_counter() - started)
            assert outcome.complete, outcome
            journal.unlink()
        return Timing(seconds=tuple(seconds))

    async def _failed(
        self, plan: Plan, journals: Path, rounds: int
    ) -> tuple[Timing, Timing]:
        """An apply that fails at the step it starts last and rolls back in-process:
        its whole time, and the undo's (from the failure to the apply's return)."""
        last = _deepest(plan)
        failed_at: list[float] = []

        def fail(index: int, _step: Step) -> None:
            if index == last:
                failed_at.append(time.perf_counter())
                raise HostError("bench", "(last step)", "a failure injected")

        seconds, undo = [], []
        for number in range(rounds):
            clear(Path(str(plan.header.scratch_root)))
            journal = journals / f"failed-{number}-{time.monotonic_ns()}"
            options = ApplyOptions(journal=journal, tools=self.tools, on_step=fail)
            failed_at.clear()
            started = time.perf_counter()
            result = await apply_plan(plan, options)
            ended = time.perf_counter()
            seconds.append(ended - started)
            (injected,) = failed_at
            undo.append(ended - injected)
            assert result.failure().rollback.complete
            journal.unlink()
        return Timing(seconds=tuple(seconds)), Timing(seconds=tuple(undo))

    def _syscalls(
        self, doc: dict[str, Any], plan: Plan, before: Tree, place: Path
    ) -> dict[str, Any] | None:
        plan_file, tree_file = place / "plan.json", place / "tree.json"
        plan_file.write_bytes(encode(plan))
        tree_file.write_bytes(encode_tree(project(plan, before).unwrap()))
        root = Path(str(plan.header.scratch_root))
        python = [sys.executable, "-m", "bench.once"]
        kplan = count_marked(
            [*python, "kplan", str(plan_file), str(place / "journals")], cwd=ROOT
        )
        if kplan is None:
            return None
        request = legacy_request(doc, [root, root], mark=True)
        legacy = count_marked(
            legacy_command(), stdin=orjson.dumps(request).decode() + "\n"
        )
        floor = count_marked(
            [*python, "floor", str(plan_file), str(tree_file), str(place / "floor")],
            cwd=ROOT,
        )
        assert legacy is not None
        assert floor is not None
        totals = {
            "kplan": kplan.total(),
            "legacy": legacy.total(),
            "floor": floor.total(),
        }
        return {
            **totals,
            "ratio_floor": round(totals["kplan"] / totals["floor"], 2),
            "kplan_by_call": dict(kplan.by_call.most_common()),
            "kplan_by_purpose": {p: kplan.by_purpose[p] for p in PURPOSES},
            "floor_by_call": dict(floor.by_call.most_common()),
            "legacy_by_call": dict(legacy.by_call.most_common(12)),
        }

    # --- a restart over the first run's scratch -------------------------------------

    def restart_rows(self, rounds: int) -> list[dict[str, Any]]:
        """Each kernel restarted: ``create_kernel(restarting=True)`` over the
        scratch its first run left, both sides alternating (``_restart_row``)."""
        return [self._restart_row(name, rounds) for name in KERNELS]

    def _restart_row(self, name: str, rounds: int) -> dict[str, Any]:
        """kplan: the first run applied, the restart planned from the facts of
        what it left, both untimed, then the restart applied; legacy: its
        driver makes the first run and times the restart's window (from
        apply_network: a restart's create_kernel skips prepare_scratch)."""
        place = self.tmpfs / "restart" / name
        root, legacy_root, journals = place / "root", place / "legacy", place / "j"
        journals.mkdir(parents=True)
        first = kplan_plan(document(name, root))
        request = legacy_request(
            document(name, legacy_root, restarting=True), [legacy_root]
        )
        kplan: list[float] = []
        legacy: list[float] = []
        steps, lane = 0, ""
        for number in range(rounds):
            clear(root)
            options = ApplyOptions(
                journal=journals / f"first-{number}", tools=self.tools
            )
            asyncio.run(apply_plan(first, options)).unwrap()
            restart = document(name, root, restarting=True)  # what the first left
            ctx = context_from_document(restart).unwrap()
            plan = cached_host_key(scratch_only(compile_plan(ctx).unwrap()))
            assert not any(s.stage.startswith("first-run/") for s in plan.steps)
            steps, lane = len(plan.steps), self._lane(plan)
            took, _ = asyncio.run(
                kplan_round(plan, journals, self.tools, fresh_root=False)
            )
            kplan.append(took)
            legacy += self.legacy.times(request).seconds
        kplan_timing = Timing(seconds=tuple(kplan))
        legacy_timing = Timing(seconds=tuple(legacy))
        return {
            "kernel": name,
            "steps": steps,
            "lane": lane,
            "kplan": _timing(kplan_timing),
            "legacy": _timing(legacy_timing),
            "ratio_legacy": round(kplan_timing.median / legacy_timing.median, 3),
        }

    # --- on disk, in fresh directories ----------------------------------------------

    def disk_rows(self, rounds: int) -> list[dict[str, Any]]:
        """Each kernel on disk, a fresh scratch root per round, beside a probe."""
        rows = []
        for name in KERNELS:
            place = self.disk / name
            probe = inode_probe(place)
            roots = [place / f"kplan-{n}" for n in range(rounds)]
            plans = [kplan_plan(document(name, root)) for root in roots]
            legacy_roots = [place / f"legacy-{n}" for n in range(rounds)]
            request = legacy_request(document(name, legacy_roots[0]), legacy_roots[:1])
            kplan, legacy, _ = asyncio.run(  # each round in a fresh directory
                self._alternate(plans, request, legacy_roots, warm_up=0)
            )
            journals = place / "journals"
            journals.mkdir(parents=True)
            durable_roots = [place / f"durable-{n}" for n in range(rounds)]
            durable_plans = [kplan_plan(document(name, r)) for r in durable_roots]
            durable, _ = asyncio.run(
                kplan_times(durable_plans, journals, self.tools, durable=True)
            )
            rows.append(
                {
                    "kernel": name,
                    "inode_probe_us": round(probe, 1),
                    "inode_probe_after_us": round(inode_probe(place), 1),
                    "kplan": _timing(kplan),
                    "legacy": _timing(legacy),
                    "durable": _timing(durable),
                    "ratio_legacy": round(kplan.median / legacy.median, 3),
                }
            )
        return rows

    # --- the host key: parallel apply against legacy's serial dropbearkey ----------

    def host_key_row(self, rounds: int) -> dict[str, Any]:
        """The sample with a real dropbearkey: kernel-ready latency, both sides.

        RSA key generation takes 0.05 to 0.25 s here, at random: the sides
        alternate round by round, and besides the medians the report gives each
        side's time outside its own key generation (the part a parallel apply
        hides under the key), which does not depend on how long the key took.
        """
        place = self.tmpfs / "host-key"
        root, journals = place / "root", place / "journals"
        journals.mkdir(parents=True)
        doc = document("sample", root)
        plan = kplan_plan(doc, host_key="real")
        request = legacy_request(doc, [root], host_key="real")
        parallel, serial, legacy, report = asyncio.run(
            self._host_key_rounds(plan, journals, request, rounds)
        )
        key = next(o for o in report.overlaps if o.unit == "host key")
        alongside = [s for s in report.steps if s.index in set(key.alongside)]
        sides = {"parallel": parallel, "one_at_a_time": serial, "legacy": legacy}
        merged = {name: _merged(timings) for name, timings in sides.items()}
        # Every side runs the same dropbearkey: at the key time of all rounds'
        # median, a side's latency is that plus its own time beyond the key. The
        # raw medians differ mostly by which key times their rounds drew.
        key_time = statistics.median(k for t in merged.values() for k in t.host_key)
        at_key = {name: key_time + t.beyond_host_key for name, t in merged.items()}
        return {
            **{name: _timing(t) for name, t in merged.items()},
            **{
                f"{name}_beyond_key_ms": _ms(t.beyond_host_key)
                for name, t in merged.items()
            },
            **{f"{name}_at_median_key_ms": _ms(at_key[name]) for name in merged},
            "median_key_ms": _ms(key_time),
            "rounds": rounds,
            "ratio_legacy": round(
                merged["parallel"].median / merged["legacy"].median, 3
            ),
            "ratio_legacy_at_median_key": round(
                at_key["parallel"] / at_key["legacy"], 3
            ),
            "host_key_ms": _ms(key.seconds),
            "overlapped_steps": len(alongside),
            "overlapped_ms": _ms(sum(s.seconds for s in alongside)),
        }

    async def _host_key_rounds(
        self, plan: Plan, journals: Path, request: dict[str, Any], rounds: int
    ) -> tuple[list[Timing], list[Timing], list[Timing], ApplyReport]:
        parallel: list[Timing] = []
        serial: list[Timing] = []
        legacy: list[Timing] = []
        report = None
        for _ in range(rounds):
            took, report = await kplan_round(plan, journals, self.tools)
            parallel.append(
                Timing(seconds=(took,), host_key=(host_key_seconds(report),))
            )
            took, alone = await kplan_round(plan, journals, self.tools, parallel=1)
            serial.append(Timing(seconds=(took,), host_key=(host_key_seconds(alone),)))
            legacy.append(self.legacy.times(request))
        assert report is not None
        return parallel, serial, legacy, report

    # --- 32 kernels in one process -------------------------------------------------

    def concurrent_row(self) -> dict[str, Any]:
        """32 kernels of one scratch root, applied at once and one after another."""
        root = self.tmpfs / "concurrent" / "root"
        journals = self.tmpfs / "concurrent" / "journals"
        journals.mkdir(parents=True)
        plans = [
            kplan_plan(_kernel(document("sample", root), number))
            for number in range(CONCURRENT)
        ]
        # Rounds alternate (one run of each is at the mercy of the machine's
        # other work); medians.
        sequential, concurrent = [], []
        # The cyclic collector's share: applies at once keep each other's
        # records alive while they allocate, so its passes are more and longer.
        collectors = {"sequential": Collector(), "concurrent": Collector()}
        for _ in range(CONCURRENT_ROUNDS):
            with collectors["sequential"].watching():
                sequential.append(
                    asyncio.run(self._many(plans, journals, at_once=False))
                )
            with collectors["concurrent"].watching():
                concurrent.append(
                    asyncio.run(self._many(plans, journals, at_once=True))
                )
        return {
            "kernels": CONCURRENT,
            "rounds": CONCURRENT_ROUNDS,
            "sequential_ms": _ms(statistics.median(sequential)),
            "concurrent_ms": _ms(statistics.median(concurrent)),
            "speedup": round(
                statistics.median(sequential) / statistics.median(concurrent), 2
            ),
            "each_correct": True,  # _many raises otherwise
            **{
                f"{side}_collector_ms": _ms(watched.seconds / CONCURRENT_ROUNDS)
                for side, watched in collectors.items()
            },
            **{
                f"{side}_collector_passes": round(watched.passes / CONCURRENT_ROUNDS, 1)
                for side, watched in collectors.items()
            },
        }

    async def _many(self, plans: list[Plan], journals: Path, *, at_once: bool) -> float:
        root = Path(str(plans[0].header.scratch_root))
        clear(root)
        stamp = time.monotonic_ns()

        async def one(number: int, plan: Plan) -> None:
            journal = journals / f"k{number}-{stamp}"
            (
                await apply_plan(plan, ApplyOptions(journal=journal, tools=self.tools))
            ).unwrap()

        started = time.perf_counter()
        if at_once:
            await asyncio.gather(*(one(n, p) for n, p in enumerate(plans)))
        else:
            for number, plan in enumerate(plans):
                await one(number, plan)
        seconds = time.perf_counter() - started
        _check_each(root, plans)
        return seconds

    # --- the compiler -----------------------------------------------------------

    def compile_rows(self, rounds: int) -> list[dict[str, Any]]:
        """Compile time of each kernel: the same context again, and fresh ones."""
        rows = []
        for place, name in enumerate(KERNELS):
            doc = document(name, self.tmpfs / "compile" / name)
            ctx = context_from_document(doc).unwrap()
            compile_plan(ctx).unwrap()
            same = repeat(partial(compile_plan, ctx), rounds)
            # Each context is built just before its compile, untimed: hundreds
            # built first would make the collector's passes part of the times.
            fresh = (context_from_document(doc).unwrap() for _ in range(rounds))
            cold = each(compile_plan, fresh)
            first = FIRST_NEW + place * rounds  # each compile a kernel id of its own
            kernels = (
                context_from_document(_kernel(doc, first + number)).unwrap()
                for number in range(rounds)
            )
            new, collector = collected(compile_plan, kernels)
            library = asyncio.run(_plan_kernel_times(doc, rounds))
            split = phases(ctx, rounds)
            rows.append(
                {
                    "kernel": name,
                    "same_context_ms": _ms(statistics.median(same)),
                    "fresh_context_ms": _ms(statistics.median(cold)),
                    "new_kernel_ms": _ms(statistics.median(new)),
                    "new_kernel_collector_ms": _ms(collector / rounds),
                    "plan_kernel_ms": _ms(statistics.median(library)),
                    "phases_ms": {part: _ms(value) for part, value in split.items()},
                }
            )
        return rows

    def compile_scaling(self) -> list[dict[str, Any]]:
        """Compile time per dotfile and per step, from 10 to 10,000 dotfiles."""
        sizes = [(10, 1), (100, 1), (1000, 1), (3000, 1), (10_000, 1)]
        sizes += [(10, 100), (100, 100), (1, 300)]
        if self.quick:
            sizes = [(10, 1), (100, 1), (1000, 1), (10, 100), (1, 300)]
        rows = []
        for count, depth in sizes:
            doc = dotfiles_document(count, depth, self.tmpfs / "scaling" / "root")
            ctx = context_from_document(doc).unwrap()
            bare = context_from_document(_without(doc)).unwrap()
            base = repeat(partial(compile_plan, bare), 10)
            rounds = 3 if count * depth >= BIG else 10
            times = repeat(partial(compile_plan, ctx), rounds)
            steps = len(compile_plan(ctx).unwrap().steps)
            seconds = statistics.median(times) - statistics.median(base)
            rows.append(
                {
                    "dotfiles": count,
                    "depth": depth,
                    "steps": steps,
                    "compile_ms": _ms(statistics.median(times)),
                    "per_dotfile_us": round(seconds / count * 1e6, 1),
                    "per_step_us": round(statistics.median(times) / steps * 1e6, 2),
                }
            )
        return rows

    def plan_command(self) -> list[dict[str, Any]]:
        """``kplan plan`` wall time, as a user runs it (facts gathered, text out)."""
        rows = []
        for count, depth in ((100, 1), (3000, 1), (1, 300)):
            doc = dotfiles_document(count, depth, self.tmpfs / "command" / "root")
            doc.pop("facts")
            (self.tmpfs / "command" / "root").mkdir(parents=True, exist_ok=True)
            context = self.tmpfs / "command" / f"ctx-{count}-{depth}.json"
            context.write_bytes(orjson.dumps(doc))
            seconds = repeat(partial(_plan_command, context), 3)
            rows.append(
                {
                    "dotfiles": count,
                    "depth": depth,
                    "seconds": round(statistics.median(seconds), 3),
                    "per_dotfile_ms": round(
                        statistics.median(seconds) / count * 1e3, 3
                    ),
                }
            )
        return rows

    def commands(self, rounds: int = 5) -> dict[str, Any]:
        """``kplan apply PLAN`` and ``kplan rollback JOURNAL`` as processes, on the
        sample kernel's scratch-only plan (host key cached) on tmpfs, beside an
        interpreter that starts and does nothing: what an operator waits for."""
        place = self.tmpfs / "commands"
        root, journals = place / "root", place / "journals"
        root.mkdir(parents=True)
        journals.mkdir()
        plan_file = place / "plan.json"
        plan_file.write_bytes(encode(kplan_plan(document("sample", root))))
        started, applied, undone = [], [], []
        for number in range(rounds):
            clear(root)
            journal = journals / f"j{number}"
            started.append(_process([sys.executable, "-c", "pass"]))
            applied.append(
                _process(_kplan("apply", str(plan_file), "--journal", str(journal)))
            )
            undone.append(_process(_kplan("rollback", str(journal))))
            assert not any(root.iterdir()), "the rollback left entries"
        apply_s, rollback_s = statistics.median(applied), statistics.median(undone)
        return {
            "python_s": round(statistics.median(started), 3),
            "apply_s": round(apply_s, 3),
            "rollback_s": round(rollback_s, 3),
            "ratio_rollback_apply": round(rollback_s / apply_s, 2),
        }

    def apply_scaling(self) -> list[dict[str, Any]]:
        """Apply time per dotfile, from 10 to 10,000 dotfiles (tmpfs)."""
        counts = [10, 100, 1000] if self.quick else [10, 100, 1000, 10_000]
        rows = []
        for count in counts:
            place = self.tmpfs / "apply-scaling" / str(count)
            journals = place / "journals"
            journals.mkdir(parents=True)
            plan = kplan_plan(dotfiles_document(count, 1, place / "root"))
            rounds = 3 if count >= BIG else 8
            timing, _ = asyncio.run(kplan_times([plan] * rounds, journals, self.tools))
            rows.append(
                {
                    "dotfiles": count,
                    "steps": len(plan.steps),
                    "apply_ms": _ms(timing.median),
                    "per_step_us": round(timing.median / len(plan.steps) * 1e6, 2),
                }
            )
        return rows


def _deepest(plan: Plan) -> int:
    """The step a parallel apply starts last (the end of its longest chain)."""
    depth = [0] * len(plan.steps)
    for before, later in plan.edges:
        depth[later] = max(depth[later], depth[before] + 1)
    return max(range(len(depth)), key=lambda index: (depth[index], index))


def _merged(timings: list[Timing]) -> Timing:
    return Timing(
        seconds=tuple(s for t in timings for s in t.seconds),
        host_key=tuple(k for t in timings for k in t.host_key),
    )


def _without(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without its dotfiles: the base the per-dotfile cost is measured on."""
    copy = orjson.loads(orjson.dumps(doc))
    copy["kernel_config"]["internal_data"]["dotfiles"] = []
    return copy  # type: ignore[no-any-return]


def _kplan(*args: str) -> list[str]:
    return [sys.executable, "-m", "kplan.cli", *args]


def _process(command: list[str]) -> float:
    """Seconds ``command`` took, start to exit; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        msg = f"{command[2:]} exited {done.returncode}: {done.stderr[-2000:]!r}"
        raise RuntimeError(msg)
    return seconds


def _plan_command(context: Path) -> None:
    _process(_kplan("plan", str(context)))


async def _plan_kernel_times(doc: dict[str, Any], rounds: int) -> list[float]:
    """``kplan.plan_kernel`` as the agent calls it, in one event loop: from its own
    inputs, the host's facts gathered each time (Docker not asked: the image
    counts as unknown), the device plugins' answers, free ports and the runner
    package's directory given (looked up once, as an agent knows its own)."""
    facts = doc["facts"]
    runner = legacy_runner_dir()
    seconds = []
    for _ in range(rounds):
        inputs = orjson.loads(orjson.dumps(doc))  # the agent's objects are its own
        started = time.perf_counter()
        planned = await plan_kernel(
            kernel_id=inputs["kernel_id"],
            session_id=inputs["session_id"],
            agent_id=inputs["agent_id"],
            kernel_config=inputs["kernel_config"],
            cluster_info=inputs["cluster_info"],
            local_config=inputs["local_config"],
            allocations=inputs["resource_spec"]["allocations"],
            devices=facts.get("devices"),
            host_ports=facts["host_ports"],
            runner=runner,
            ask_docker=False,
        )
        seconds.append(time.perf_counter() - started)
        planned.unwrap()
    return seconds


def _kernel(doc: dict[str, Any], number: int) -> dict[str, Any]:
    """``doc`` as kernel ``number`` of many on one scratch root."""
    copy = orjson.loads(orjson.dumps(doc))
    kernel = f"5a3c0c1e-7d2b-4e55-9a1f-{number:012d}"
    copy["kernel_id"] = copy["kernel_config"]["kernel_id"] = kernel
    return copy  # type: ignore[no-any-return]


def _check_each(root: Path, plans: list[Plan]) -> None:
    """Every kernel's entries are what its plan's model says, whatever the others."""
    tree = snapshot(root)[0]
    for plan in plans:
        kernel = plan.header.kernel_id
        mine = Tree([(p, n) for p, n in tree.entries if p.parts[0] == kernel])
        expected = project(plan, Tree()).unwrap()
        shape = [(p, n.type, n.mode, n.uid, n.gid, n.sha256) for p, n in mine.entries]
        model = [
            (p, n.type, n.mode, n.uid, n.gid, n.sha256) for p, n in expected.entries
        ]
        if shape != model:
            msg = f"kernel {kernel} is not what its plan says"
            raise AssertionError(msg)


def _copy_tree(source: Path, target: Path) -> None:
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
