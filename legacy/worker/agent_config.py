"""Patch 9: a real ``AgentUnifiedConfig`` that does not ``mkdir`` on the host.

Theory of operation
-------------------
``AutoDirectoryPath`` fields ``mkdir -p`` their path while validating
(``common/typed_validators.py``), i.e. write on the host (and fail on the read-only
confined root). So before ``model_validate`` every *absolute* such field other than
``container.scratch_root`` (given or default) is pointed at a dir under ``spare``,
walking nested models; after it, ``model_copy`` (no validation, no mkdir) puts the
original paths back. Relative defaults (``./coredumps`` ...) land in the cwd, ``aux/``.
"""

from __future__ import annotations

import copy
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .legacy_modules import Legacy
from .protocol import as_dict

AttrPath = tuple[str, ...]


@dataclass(frozen=True)
class _Walk:
    """One redirection walk: legacy's types, the spare dir, and what was moved."""

    auto_dir: Any  # legacy's AutoDirectoryPath
    base_model: type  # pydantic.BaseModel
    spare: Path
    redirected: list[tuple[AttrPath, Path]]


def build_agent_config(
    legacy: Legacy, local_config: Mapping[str, Any], scratch_root: Path, spare: Path
) -> Any:
    """A real ``AgentUnifiedConfig`` from the context's local_config (+ the minimum)."""
    from pydantic import BaseModel  # noqa: PLC0415 - legacy dependency, imported lazily

    raw = _with_required_fields(local_config, scratch_root)
    walk = _Walk(legacy.AutoDirectoryPath, BaseModel, spare, redirected=[])
    _redirect_auto_dirs(legacy.AgentUnifiedConfig, raw, (), walk)
    config = legacy.AgentUnifiedConfig.model_validate(raw)
    for attr_path, original in walk.redirected:
        config = _with_nested(config, attr_path, original)
    return config


def _with_required_fields(
    local_config: Mapping[str, Any], scratch_root: Path
) -> dict[str, Any]:
    """A copy with the temp scratch root and the sections validation requires."""
    raw: dict[str, Any] = copy.deepcopy(dict(local_config))
    container = dict(as_dict(raw.get("container")))
    for alias in ("scratch-root", "scratch_root"):
        container.pop(alias, None)
    container["scratch_root"] = str(scratch_root)
    raw["container"] = container
    agent = dict(as_dict(raw.get("agent")))
    agent.setdefault("backend", "docker")
    raw["agent"] = agent
    raw.setdefault("resource", {})
    raw.setdefault("etcd", {})
    return raw


def _redirect_auto_dirs(
    model: Any, data: dict[str, Any], attr_path: AttrPath, walk: _Walk
) -> None:
    """Point absolute ``AutoDirectoryPath`` inputs at ``spare``; remember originals."""
    for name, info in model.model_fields.items():
        present = next((k for k in _field_names(info, name) if k in data), None)
        members = _annotation_members(info.annotation)
        if walk.auto_dir in members:
            _redirect_field(walk, data, (*attr_path, name), present, info)
        else:
            _redirect_nested(walk, data, (*attr_path, name), present, members)


def _redirect_field(
    walk: _Walk, data: dict[str, Any], path: AttrPath, present: str | None, info: Any
) -> None:
    """One ``AutoDirectoryPath`` field: an absolute value moves below ``spare``."""
    if path == ("container", "scratch_root"):
        return
    raw = data[present] if present is not None else info.default
    if raw is None or not Path(str(raw)).expanduser().is_absolute():
        return
    substitute = walk.spare / ".".join(path)
    substitute.mkdir(parents=True, exist_ok=True)
    data[present or path[-1]] = str(substitute)
    original = Path(os.path.normpath(Path(str(raw)).expanduser()))
    walk.redirected.append((path, original))


def _redirect_nested(
    walk: _Walk,
    data: dict[str, Any],
    path: AttrPath,
    present: str | None,
    members: tuple[Any, ...],
) -> None:
    """A field of one sub-model type: walk its data (kept when a default moved)."""
    sub_models = [
        m for m in members if isinstance(m, type) and issubclass(m, walk.base_model)
    ]
    if len(sub_models) != 1:
        return
    sub_data = data.get(present) if present is not None else {}
    if not isinstance(sub_data, dict):
        return
    before = len(walk.redirected)
    _redirect_auto_dirs(sub_models[0], sub_data, path, walk)
    if present is None and len(walk.redirected) > before:
        data[path[-1]] = sub_data


def _field_names(info: Any, name: str) -> set[str]:
    """All keys under which a pydantic field may appear in input data."""
    names = {name}
    alias = getattr(info, "validation_alias", None)
    names.update(
        str(choice)
        for choice in getattr(alias, "choices", [])
        if isinstance(choice, str)
    )
    if isinstance(getattr(info, "alias", None), str):
        names.add(info.alias)
    return names


def _annotation_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _with_nested(model: Any, attr_path: AttrPath, value: Any) -> Any:
    """Copy of ``model`` with ``a.b.c = value`` (``model_copy``: no validation)."""
    head, *rest = attr_path
    new_value = (
        _with_nested(getattr(model, head), tuple(rest), value) if rest else value
    )
    return model.model_copy(update={head: new_value})
