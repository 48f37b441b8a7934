"""Public API through ``__all__`` (architecture.md §7.2)."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["effects", "planner", "executor", "legacy", "kplan"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing


@pytest.mark.parametrize("name", PACKAGES)
def test_public_classes_are_final(name: str) -> None:
    module = importlib.import_module(name)
    for item in module.__all__:
        value = getattr(module, item)
        # exceptions and protocols are there to be subclassed or implemented
        protocol = getattr(value, "_is_protocol", False)
        if inspect.isclass(value) and not issubclass(value, BaseException):
            if protocol:
                continue
            assert getattr(value, "__final__", False), f"{name}.{item} is not @final"
