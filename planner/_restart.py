"""A restart's inputs: what ``restart_kernel`` reads back from the scratch (§15).

``restart_kernel`` unpickles ``config/kconfig.dat`` (the first run's kernel config,
its environ the final one), merges the manager's update over it
(``{**stored, **updating}``), loads ``config/cluster.json`` and calls
``create_kernel`` again with those. kplan does the same from the model tree of the
first run or from the facts' existing scratch (``planner._kconfig`` reads the
pickle safely).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

import attrs
import orjson
from returns.result import Failure, Result, Success

from effects import Tree

from ._context import Context
from ._inputs import ClusterInfo, KernelConfig
from ._kconfig import KconfigError, read_kconfig
from ._layout import config_dir
from ._structure import structure
from .errors import PlanError

__all__ = ["restart_context"]


def _read(
    tree: Tree, contents: Mapping[str, bytes], path: PurePosixPath
) -> bytes | None:
    node = tree.nodes.get(path)
    if node is None or node.type != "file" or node.sha256 is None:
        return None
    return contents.get(node.sha256)


def _fail(path: PurePosixPath, value: str, reason: str) -> Failure[PlanError]:
    return Failure(
        PlanError(
            stage="restart",
            code="crash",
            field=f"facts.scratch.{path}",
            value=value,
            reason=reason,
        )
    )


def restart_context(
    ctx: Context, tree: Tree, contents: Mapping[str, bytes]
) -> Result[Context, PlanError]:
    """``ctx`` with the kernel config and cluster info ``restart_kernel`` uses."""
    kconfig, cluster = config_dir(ctx) / "kconfig.dat", config_dir(ctx) / "cluster.json"
    stored, info = _read(tree, contents, kconfig), _read(tree, contents, cluster)
    if stored is None or info is None:
        missing = kconfig if stored is None else cluster
        node = tree.nodes.get(missing)
        if node is not None and node.type == "file" and node.sha256 is not None:
            # There, but its content is not among the facts: legacy would read
            # it, so this is no crash of legacy's but a context kplan cannot plan.
            return Failure(
                PlanError(
                    stage="restart",
                    code="unsupported",
                    field=f"facts.contents.{node.sha256}",
                    value="missing",
                    reason=f"the content of {missing}, which restart_kernel reads",
                )
            )
        return _fail(missing, "missing", "restart_kernel reads it: FileNotFoundError")
    try:
        old = read_kconfig(stored)
        cluster_info = orjson.loads(info)
    except (KconfigError, orjson.JSONDecodeError) as exc:
        return _fail(kconfig, "content", f"cannot be read back: {exc}")
    if not isinstance(old, dict) or not isinstance(cluster_info, dict):
        return _fail(kconfig, "content", "does not hold a mapping")
    merged = {**old, **orjson.loads(ctx.updating_kernel_config_json)}
    config = structure(merged, KernelConfig, "kernel_config")
    parsed_info = structure(cluster_info, ClusterInfo, "cluster_info")
    match config, parsed_info:
        case Success(kernel_config), Success(cluster_value):
            return Success(
                attrs.evolve(
                    ctx,
                    kernel_config=kernel_config,
                    kernel_config_json=orjson.dumps(merged),
                    cluster=cluster_value,
                    cluster_info_json=info,
                )
            )
        case _:
            problems = [*_errors(config), *_errors(parsed_info)]
            return _fail(kconfig, "content", "; ".join(problems))


def _errors(result: Result[object, tuple[object, ...]]) -> list[str]:
    match result:
        case Failure(errors):
            return [str(error) for error in errors]
        case _:
            return []
