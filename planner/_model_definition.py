"""An inference session's model definition, inlined by the manager (§2 B12).

``_load_model_definition`` needs a vfolder with usage mode ``model`` and the
definition in ``internal_data.model_definition``; it validates it (pydantic, lax:
``model_path`` may be spelled ``model-path``, a port may be a numeric string, other
fields are kept) and needs at least one model. Each model sets
``BACKEND_MODEL_NAME`` (the first one wins) and ``BACKEND_MODEL_PATH`` (the last
one wins) and, with a service, opens its port as an inference service port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs

from effects import thaw

from ._context import Context

__all__ = ["DefinitionError", "Model", "model_definition"]

FIELD = "kernel_config.internal_data.model_definition"


@final
@attrs.frozen(kw_only=True)
class Model:
    """One model: its name, its path in the container, its service port."""

    name: str
    model_path: str
    port: int | None


@final
@attrs.frozen(kw_only=True)
class DefinitionError:
    """Why legacy refuses the definition: the field at fault and legacy's error."""

    field: str
    reason: str


def model_definition(ctx: Context) -> tuple[Model, ...] | DefinitionError:
    """The models of an inference kernel, or what legacy raises (B12)."""
    if not any(m.usage_mode == "model" for m in ctx.kernel_config.mounts):
        return DefinitionError(
            field="kernel_config.mounts",
            reason="no vfolder with usage_mode 'model': legacy raises "
            "ModelFolderNotSpecifiedError",
        )
    inlined = ctx.internal.model_definition
    if not inlined:
        return DefinitionError(
            field=FIELD,
            reason="not inlined: legacy raises ModelDefinitionNotFoundError",
        )
    models = _models(thaw(inlined))
    if isinstance(models, DefinitionError):
        return models
    if not models:
        return DefinitionError(
            field=f"{FIELD}.models",
            reason="empty: legacy raises ModelDefinitionEmptyError",
        )
    return models


def _models(value: object) -> tuple[Model, ...] | DefinitionError:
    if not isinstance(value, Mapping):
        return _invalid(FIELD, "not an object")
    items = value.get("models", [])
    if not isinstance(items, list):
        return _invalid(f"{FIELD}.models", "not a list")
    models = []
    for index, item in enumerate(items):
        model = _model(item, f"{FIELD}.models[{index}]")
        if isinstance(model, DefinitionError):
            return model
        models.append(model)
    return tuple(models)


def _model(item: object, where: str) -> Model | DefinitionError:
    if not isinstance(item, Mapping):
        return _invalid(where, "not an object")
    name, path = item.get("name"), item.get("model_path", item.get("model-path"))
    if not isinstance(name, str) or not isinstance(path, str):
        return _invalid(where, "name and model_path must be strings")
    service = item.get("service")
    if service is None:
        return Model(name=name, model_path=path, port=None)
    port = service.get("port") if isinstance(service, Mapping) else None
    text = port.strip().lstrip("+") if isinstance(port, str) else ""
    if text.isascii() and text.isdigit():  # not "²", a digit int() refuses
        port = int(text)
    if not isinstance(port, int) or isinstance(port, bool) or port <= 1:
        return _invalid(f"{where}.service.port", "must be an integer greater than 1")
    return Model(name=name, model_path=path, port=port)


def _invalid(where: str, why: str) -> DefinitionError:
    return DefinitionError(
        field=where, reason=f"{why}: legacy raises ModelDefinitionValidationError"
    )
