"""A package's public names, imported from their modules on first use (PEP 562).

``kplan plan`` needs the facts and the planner, not the apply machinery, the
journal, Prometheus or aiodocker; a package that imported every module it exports
made each command pay for all of them at start-up (half a second). A package
names where each export lives and installs ``lazy_exports`` as its ``__getattr__``;
it imports the same names under ``TYPE_CHECKING`` for the type checker.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``where[name]`` is the module
    (relative to ``package``) defining ``name``, or ``module:attribute`` for a
    name exported under another one.

    The first access imports the module and keeps the value in the package's
    namespace, so later ones are plain lookups; an unknown name raises
    ``AttributeError`` as a module does.
    """

    def exported(name: str) -> object:
        module = where.get(name)
        if module is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        module, _, attribute = module.partition(":")
        value = getattr(importlib.import_module(module, package), attribute or name)
        setattr(sys.modules[package], name, value)
        return value

    return exported
