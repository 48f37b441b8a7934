"""BENCHMARKS.md and BENCHMARKS.json from one run's results."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from .syscall_purposes import PURPOSES

__all__ = ["write_report"]

_HOW = """\
Measured in one run by `make bench` (`python -m bench`). **kplan**:
`executor.apply_plan` of `scratch_only(plan)` with its journal (no fsync unless
`--durable`), timed around the `await` in one long-lived event loop. **legacy**:
the real `backend-ai-agent==26.9.6` `create_kernel`, imported in its own Python 3.13
process as the agent runs it (no sandbox, no snapshot: `bench/legacy_driver.py`),
timed from the entry of `prepare_scratch` to the return of `prepare_container`.
**floor**: the fewest plain syscalls that recreate the same tree (mkdir; open,
write, close; a chmod or chown only where needed). Same inputs on every side (the
benchmark checks both left the same tree), the host key the same cached bytes on
every side (dropbearkey left out), every round from an empty scratch root;
medians, after three rounds of each side dropped on tmpfs
(`bench.measure.WARM_UP`: a process's first applies meet cold caches). *lane*:
where `apply_plan` ran the file work, in the event loop's thread (`loop`: a small
plan of plain file work, nothing to overlap it, `executor.lane_in_loop`) or in its
worker thread (`worker`). Syscalls: every thread's, between two marks, counted
with strace. Undo in-process: an apply failing at the step it starts last, timed
from that failure to the apply's return (its rollback of every step before
it). `kplan rollback`: `rollback_journal` of a completed apply as the command
calls it, its undo in its loop (it reads and validates the
whole journal first; no fsync unless `--durable`, as the apply).
"""


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _ms(value: dict[str, float]) -> str:
    return f"{value['median_ms']:.2f}"


def _apply(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Apply (tmpfs)",
        "",
        _row(
            "kernel",
            "steps",
            "lane",
            "legacy ms",
            "kplan ms",
            "**kplan/legacy**",
            "floor ms",
            "kplan/floor",
            "syscalls legacy / kplan / floor",
            "kplan/floor syscalls",
            "--durable ms",
            "same tree",
        ),
        _row(*["---"] * 12),
    ]
    for row in rows:
        calls = row["syscalls"]
        counts = (
            "strace not installed"
            if calls is None
            else f"{calls['legacy']} / {calls['kplan']} / {calls['floor']}"
        )
        lines.append(
            _row(
                row["kernel"],
                row["steps"],
                row["lane"],
                _ms(row["legacy"]),
                _ms(row["kplan"]),
                f"**{row['ratio_legacy']:.2f}**",
                _ms(row["floor"]),
                f"{row['ratio_floor']:.1f}",
                counts,
                "" if calls is None else f"{calls['ratio_floor']:.2f}",
                _ms(row["durable"]),
                "yes" if row["same_tree"] else "**NO**",
            )
        )
    return lines


def _table(
    heading: str,
    intro: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> list[str]:
    """A section: its heading, what it measures, and its table."""
    return [
        f"## {heading}",
        "",
        intro,
        "",
        _row(*header),
        _row(*["---"] * len(header)),
        *(_row(*cells) for cells in rows),
    ]


_PURPOSES_INTRO = (
    "*tree*: what the floor does too (mkdir, the exclusive create, the content, the "
    "owner, the close); *observe*: a look before acting; *identity*: the `fstat` of "
    "each new entry for its announcement; *staging*: its rename into place; "
    "*descriptors*: a descriptor of each directory worked under, no path walked; "
    "*journal*: the records, the kernel's lock, the private copies; *runtime*: the "
    "worker thread's hand-offs with the event loop (`bench/syscall_purposes.py`)."
)


def _purposes(rows: list[dict[str, Any]]) -> list[str]:
    measured = [row for row in rows if row["syscalls"] is not None]
    if not measured:
        return ["## Where kplan's syscalls go", "", "strace is not installed."]
    counted = measured[0]["syscalls"]["kplan_by_purpose"]
    purposes = [p for p in PURPOSES if p in counted]  # in their order, not the JSON's
    return _table(
        "Where kplan's syscalls go (the apply's window, by what each is for)",
        _PURPOSES_INTRO,
        ("kernel", "floor", "kplan", *purposes),
        (
            (
                row["kernel"],
                row["syscalls"]["floor"],
                row["syscalls"]["kplan"],
                *(row["syscalls"]["kplan_by_purpose"][p] for p in purposes),
            )
            for row in measured
        ),
    )


_RESTART_INTRO = (
    "`create_kernel(restarting=True)` over the scratch the kernel's first run left, "
    "rounds alternating: kplan's apply of the restart's plan (planned from the facts "
    "of that scratch, untimed) against legacy's window from `apply_network` (a "
    "restart skips `prepare_scratch`) to the return of `prepare_container`. A "
    "restart writes over what is there: kplan looks at each entry first, saves the "
    "old content of each file whose bytes differ, and journals it all."
)


def _restart(rows: list[dict[str, Any]]) -> list[str]:
    return _table(
        "Restart (tmpfs)",
        _RESTART_INTRO,
        ("kernel", "steps", "lane", "legacy ms", "kplan ms", "**kplan/legacy**"),
        (
            (
                row["kernel"],
                row["steps"],
                row["lane"],
                _ms(row["legacy"]),
                _ms(row["kplan"]),
                f"**{row['ratio_legacy']:.2f}**",
            )
            for row in rows
        ),
    )


_UNDO_INTRO = (
    "In the applying process both have the plan in memory; `kplan rollback` reads "
    "and validates its journal first, as `kplan apply PLAN` reads and decodes its "
    "plan file (checking its id and every blob's digest): the last column sets the "
    "two commands side by side."
)


def _undo(rows: list[dict[str, Any]]) -> list[str]:
    return _table(
        "Undo against apply (tmpfs)",
        _UNDO_INTRO,
        (
            "kernel",
            "apply ms",
            "undo in-process ms",
            "undo/apply",
            "plan file decode ms",
            "kplan rollback ms",
            "rollback/apply",
            "rollback/(decode + apply)",
        ),
        (
            (
                row["kernel"],
                _ms(row["kplan"]),
                f"{row['undo_in_process_ms']:.2f}",
                f"{row['undo_in_process_ms'] / row['kplan']['median_ms']:.2f}",
                _ms(row["plan_file_decode"]),
                _ms(row["rollback"]),
                f"{row['ratio_rollback_apply']:.2f}",
                f"{row['ratio_rollback_apply_from_file']:.2f}",
            )
            for row in rows
        ),
    )


def _disk(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Apply (disk, a fresh directory per round)",
        "",
        _row(
            "kernel",
            "inode probe µs/file (before, after)",
            "legacy ms",
            "kplan ms",
            "**kplan/legacy**",
            "kplan --durable ms",
        ),
        _row(*["---"] * 6),
    ]
    for row in rows:
        probes = f"{row['inode_probe_us']:.0f}, {row['inode_probe_after_us']:.0f}"
        lines.append(
            _row(
                row["kernel"],
                probes,
                _ms(row["legacy"]),
                _ms(row["kplan"]),
                f"**{row['ratio_legacy']:.2f}**",
                _ms(row["durable"]),
            )
        )
    lines += [
        "",
        (
            "large-dotfiles dirties 5 MB of page cache a round on each side: after a"
            " few rounds the filesystem's writeback of it runs during the rounds (one"
            " side's own times grow threefold then), so its row depends largely on"
            " which rounds the writeback meets (on tmpfs there is none)."
        ),
    ]
    return lines


def _host_key(row: dict[str, Any]) -> list[str]:
    return [
        "## Kernel-ready latency with a real dropbearkey (sample kernel, tmpfs)",
        "",
        (
            f"{row['rounds']} rounds per side, alternating. RSA key generation takes "
            "0.05-0.25 s at random, so each round's time outside its own key "
            "generation is given too: that is what running the key beside the file "
            "work hides. The raw medians differ mostly by the key times their "
            "rounds drew; every side runs the same dropbearkey, so the last row "
            "gives each side's latency at one key time, the median of all rounds' "
            f"({row['median_key_ms']:.0f} ms): that plus its own time beyond the key."
        ),
        "",
        _row("", "legacy (serial)", "kplan, one step at a time", "**kplan parallel**"),
        _row(*["---"] * 4),
        _row(
            "median ms",
            _ms(row["legacy"]),
            _ms(row["one_at_a_time"]),
            f"**{_ms(row['parallel'])}**",
        ),
        _row(
            "beyond the key ms",
            f"{row['legacy_beyond_key_ms']:.2f}",
            f"{row['one_at_a_time_beyond_key_ms']:.2f}",
            f"**{row['parallel_beyond_key_ms']:.2f}**",
        ),
        _row(
            "at the median key time ms",
            f"{row['legacy_at_median_key_ms']:.2f}",
            f"{row['one_at_a_time_at_median_key_ms']:.2f}",
            f"**{row['parallel_at_median_key_ms']:.2f}**",
        ),
        "",
        (
            f"What overlapped (last parallel round): the host key "
            f"({row['host_key_ms']:.0f} ms) ran alongside {row['overlapped_steps']} "
            f"filesystem steps ({row['overlapped_ms']:.1f} ms of their work)."
        ),
    ]


def _concurrent(row: dict[str, Any]) -> list[str]:
    return [
        f"## {row['kernels']} kernels in one process (sample kernel, tmpfs)",
        "",
        _row(
            "one after another ms",
            "all at once ms",
            "speedup",
            "each correct",
            "collector ms (passes), one after another",
            "collector ms (passes), all at once",
        ),
        _row(*["---"] * 6),
        _row(
            f"{row['sequential_ms']:.1f}",
            f"{row['concurrent_ms']:.1f}",
            f"{row['speedup']:.2f}",
            "yes" if row["each_correct"] else "**NO**",
            _collector(row, "sequential"),
            _collector(row, "concurrent"),
        ),
        "",
        (
            f"Medians of {row.get('rounds', 1)} rounds, each side in turn. "
            "Collector: the cyclic garbage collector's time and passes in a round "
            "(means): the applies of kernels at once keep each other's records "
            "alive while they allocate, so it runs more often and over more "
            "objects; the file work itself is the same (one event loop, one "
            "interpreter lock)."
        ),
    ]


def _collector(row: dict[str, Any], side: str) -> str:
    seconds = row.get(f"{side}_collector_ms")
    if seconds is None:  # a report of a run before the column
        return "-"
    return f"{seconds:.1f} ({row[f'{side}_collector_passes']:g})"


def _compile(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Compile",
        "",
        _row(
            "kernel",
            "same context ms",
            "fresh context ms",
            "**new kernel ms**",
            "collector ms, new kernel",
            "plan_kernel ms",
        ),
        _row(*["---"] * 6),
    ]
    lines += [
        _row(
            r["kernel"],
            f"{r['same_context_ms']:.2f}",
            f"{r['fresh_context_ms']:.2f}",
            f"**{r['new_kernel_ms']:.2f}**",
            f"{r['new_kernel_collector_ms']:.2f}",
            f"{r['plan_kernel_ms']:.2f}",
        )
        for r in rows
    ]
    lines += [
        "",
        (
            "Same context: one context compiled again; fresh: equal contexts built"
            " anew; new kernel: each compile another kernel id, as the agent compiles"
            " (the paths the compiler keeps per kernel are of no help there)."
            " plan_kernel: the library call the agent makes, from its own inputs to"
            " the plan, the host's facts gathered in it (Docker not asked), in one"
            " event loop: what planning a kernel costs the agent, compile included."
            " Collector: the cyclic garbage collector's time inside the new-kernel"
            " compiles, per compile (a mean: its passes are rare and long); it meets"
            " the objects of the context built just before, as in the agent."
        ),
        "",
        "## Where a compile's time goes (same context)",
        "",
        _row(
            "kernel",
            "compile ms",
            "stages ms",
            "edges ms",
            "plan id and seal ms",
            "rest ms",
        ),
        _row(*["---"] * 6),
    ]
    lines += [
        _row(
            r["kernel"],
            *(f"{r['phases_ms'][part]:.2f}" for part in _PHASES),
        )
        for r in rows
    ]
    lines += [
        "",
        (
            "Stages: the stage functions, summed over their calls; edges: the"
            " dependency edges (`planner/_edges.py`); plan id and seal: the id's"
            " canonical encoding and hash and the `Plan` (`effects.seal`); rest: the"
            " compile less those three (tagging the steps, the cross-stage checks,"
            " the model's projection, the fold). Medians; the rest is their"
            " difference (`bench/compile_phases.py`)."
        ),
    ]
    return lines


_PHASES = ("compile", "stages", "edges", "seal", "rest")


def _scaling(rows: list[dict[str, Any]], command: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Compiler scaling (library)",
        "",
        _row(
            "dotfiles", "depth", "steps", "compile ms", "µs per dotfile", "µs per step"
        ),
        _row(*["---"] * 6),
    ]
    lines += [
        _row(
            r["dotfiles"],
            r["depth"],
            r["steps"],
            f"{r['compile_ms']:.1f}",
            f"{r['per_dotfile_us']:.0f}",
            f"{r['per_step_us']:.1f}",
        )
        for r in rows
    ]
    lines += [
        "",
        (
            "Steps are those of the plan, after the compiler's last pass folded"
            " legacy's walk of chmods and chowns (100 dotfiles 100 deep: 21,085"
            " effects planned, 1,672 kept); the work is linear in the effects"
            " planned, so per dotfile is the measure."
        ),
        "",
        "`kplan plan` (a process: start-up, facts gathered, the plan printed):",
        "",
        _row("dotfiles", "depth", "seconds", "ms per dotfile"),
        _row(*["---"] * 4),
    ]
    lines += [
        _row(
            r["dotfiles"],
            r["depth"],
            f"{r['seconds']:.2f}",
            f"{r['per_dotfile_ms']:.2f}",
        )
        for r in command
    ]
    return lines


def _apply_scaling(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Apply scaling (tmpfs)",
        "",
        _row("dotfiles", "steps", "apply ms", "µs per step"),
        _row(*["---"] * 4),
    ]
    lines += [
        _row(
            r["dotfiles"], r["steps"], f"{r['apply_ms']:.1f}", f"{r['per_step_us']:.1f}"
        )
        for r in rows
    ]
    return lines


def _commands(row: dict[str, Any]) -> list[str]:
    return [
        "## Commands (processes, sample kernel, tmpfs)",
        "",
        _row(
            "python -c pass s",
            "kplan apply PLAN s",
            "kplan rollback s",
            "rollback/apply",
        ),
        _row(*["---"] * 4),
        _row(
            f"{row['python_s']:.2f}",
            f"{row['apply_s']:.2f}",
            f"{row['rollback_s']:.2f}",
            f"{row['ratio_rollback_apply']:.2f}",
        ),
        "",
        (
            "`kplan apply` of the sample's scratch-only plan file (host key cached)"
            " with its journal, then `kplan rollback` of that journal, each a new"
            " process from start to exit, beside an interpreter that does nothing;"
            " medians of 5. Start-up is most of either: each command imports only"
            " the modules it runs (architecture.md §7.2)."
        ),
    ]


def _cpu_probe(box: dict[str, Any]) -> str:
    start, end = box["cpu_probe_us"]
    return (
        f"CPU probe (`bench.machine.cpu_probe`, a fixed Python loop): {start} µs at"
        f" the start of the run, {end} µs at its end. This VM's speed varies between"
        " runs: compare absolute times of two runs only in proportion to their probes;"
        " the ratios are taken within one run."
    )


def write_report(results: dict[str, Any], out: Path) -> None:
    """Write ``out`` (markdown) and the same results as JSON beside it."""
    box = results["machine"]
    raw = out.with_suffix(".json").name
    lines = [
        "# kplan benchmarks",
        "",
        (
            f"{box['date']}; {box['cpu']} ({box['cpus']} CPUs), Linux {box['kernel']},"
            f" kplan on Python {box['python']}, legacy on Python"
            f" {box['legacy_python']}; tmpfs {box['tmpfs']}, disk {box['disk']}."
        ),
        "",
        _cpu_probe(box),
        "",
        _HOW,
        *_apply(results["apply_tmpfs"]),
        "",
        *_purposes(results["apply_tmpfs"]),
        "",
        *_undo(results["apply_tmpfs"]),
        "",
        *_restart(results["restart"]),
        "",
        *_disk(results["apply_disk"]),
        "",
        *_host_key(results["host_key"]),
        "",
        *_concurrent(results["concurrent"]),
        "",
        *_compile(results["compile"]),
        "",
        *_scaling(results["compile_scaling"], results["plan_command"]),
        "",
        *_commands(results["commands"]),
        "",
        *_apply_scaling(results["apply_scaling"]),
        "",
        f"Raw numbers: [{raw}]({raw}).",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
