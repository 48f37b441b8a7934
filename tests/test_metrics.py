"""Prometheus metrics: stages timed as they plan, steps and stages as they apply.

Counts are read back from the registry (``get_sample_value``), the way Prometheus
would scrape them; ``kplan apply --metrics`` writes the same in the text format.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from returns.result import Failure

from executor import ApplyOptions, apply_plan
from kplan import KernelMetrics
from planner import STAGES, compile_plan, stage_names

from .commands import kplan
from .contexts import context
from .executing import context_file, fail_at, needs_root, plan_at, tools


def _count(metrics: KernelMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_every_stage_is_timed_with_its_outcome() -> None:
    metrics = KernelMetrics()
    compile_plan(context(), stages=metrics.timed(STAGES)).unwrap()
    metrics.plan_done(planned=True)
    for name in stage_names(STAGES):
        count = _count(
            metrics, "kplan_plan_stage_seconds_count", stage=name, outcome="ok"
        )
        assert count == 1.0, name
    assert _count(metrics, "kplan_plans_total", outcome="planned") == 1.0


def test_a_refusing_stage_is_counted_as_refused() -> None:
    metrics = KernelMetrics()
    bad = [{"path": "/etc/shadow", "perm": "644", "data": ""}]
    ctx = context(**{"kernel_config.internal_data.dotfiles": bad})
    assert isinstance(compile_plan(ctx, stages=metrics.timed(STAGES)), Failure)
    labels = {"stage": "dotfiles", "outcome": "refused"}
    assert _count(metrics, "kplan_plan_stage_seconds_count", **labels) == 1.0


def test_the_agents_registry_holds_the_metrics() -> None:
    registry = CollectorRegistry()
    metrics = KernelMetrics(registry)
    metrics.plan_done(planned=False)
    assert b'kplan_plans_total{outcome="refused"} 1.0' in generate_latest(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        KernelMetrics(registry)  # one KernelMetrics per registry


@needs_root
def test_a_failed_apply_counts_the_failed_step_and_the_rolled_back_ones(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root)
    metrics = KernelMetrics()
    clock = metrics.step_hook(fail_at(5))
    options = ApplyOptions(journal=tmp_path / "journal", tools=tools(), on_step=clock)
    result = asyncio.run(apply_plan(plan, options))
    assert isinstance(result, Failure)
    metrics.apply_done(plan, result, clock)
    assert _count(metrics, "kplan_applies_total", outcome="failed") == 1.0
    effect = {"failed": 0.0, "rolled-back": 0.0}
    (collected,) = list(metrics.effect_seconds.collect())
    for sample in collected.samples:
        if sample.name.endswith("_count"):
            effect[sample.labels["outcome"]] += sample.value
    assert effect == {"failed": 1.0, "rolled-back": 5.0}
    stage = plan.steps[5].stage
    assert _count(
        metrics, "kplan_apply_stage_seconds_count", stage=stage, outcome="failed"
    )


@needs_root
def test_kplan_apply_metrics_file_holds_planning_and_applying(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    context_path = context_file(root, tmp_path / "ctx.json")
    metrics = tmp_path / "kplan.prom"
    journal = tmp_path / "journal"
    done = kplan(
        "apply",
        str(context_path),
        "--scratch-only",
        "--journal",
        str(journal),
        "--metrics",
        str(metrics),
    )
    assert done.returncode == 0, done.stderr
    text = metrics.read_text()
    assert "# TYPE kplan_plan_stage_seconds histogram" in text
    assert 'kplan_plan_stage_seconds_count{outcome="ok",stage="environ"} 1.0' in text
    assert 'kplan_applies_total{outcome="applied"} 1.0' in text
    assert (
        'kplan_apply_stage_seconds_count{outcome="applied",stage="scratch"} 1.0' in text
    )
    assert 'kplan_effect_seconds_count{effect="mkdir",outcome="applied"}' in text
    undo = tmp_path / "undo.prom"
    assert kplan("rollback", str(journal), "--metrics", str(undo)).returncode == 0
    assert 'kplan_rollbacks_total{outcome="complete"} 1.0' in undo.read_text()


def test_a_metrics_file_that_cannot_be_written_is_refused_first(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    context_path = context_file(root, tmp_path / "ctx.json")
    target = tmp_path / "no-such-dir" / "kplan.prom"
    done = kplan("apply", str(context_path), "--dry-run", "--metrics", str(target))
    assert done.returncode == 1
    assert done.stderr == (
        f"kplan: --metrics {target}: {target.parent} is not a writable dir; "
        "nothing was done\n"
    )


def test_a_dry_run_is_counted_as_modelled(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    context_path = context_file(root, tmp_path / "ctx.json")
    metrics = tmp_path / "kplan.prom"
    done = kplan("apply", str(context_path), "--dry-run", "--metrics", str(metrics))
    assert done.returncode == 0, done.stderr
    text = metrics.read_text()
    assert 'kplan_applies_total{outcome="modelled"} 1.0' in text
    assert 'kplan_effect_seconds_count{effect="mkdir",outcome="modelled"}' in text
