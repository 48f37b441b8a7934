"""Error values of the planner (architecture.md §7.1).

``ContextError`` is a context document or mapping that is ill-formed: a missing,
unknown or ill-typed field. ``PlanError`` is a well-formed context that cannot be
planned: a hazard legacy would turn into damage (§16), an input
legacy would crash on, a feature kplan does not plan yet, a conflict between
stages, or a stage plugin that is broken or misplaced (code ``plugin``). Both
name the field; neither is an exception, because both are expected.
"""

from __future__ import annotations

import re
from typing import Literal, final

import attrs

__all__ = ["ContextError", "ErrorCode", "MergeError", "PlanError"]

ErrorCode = Literal["hazard", "crash", "unsupported", "conflict", "model", "plugin"]


@final
@attrs.frozen(kw_only=True)
class ContextError:
    """A context field is missing, unknown or of the wrong type."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@final
@attrs.frozen(kw_only=True)
class PlanError:
    """Why one stage cannot plan this context.

    ``field`` is the context field at fault (a JSON path), ``value`` its offending
    value as text, ``reason`` what legacy would do with it (citing §16 hazards).
    """

    stage: str
    code: ErrorCode
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"[{self.stage}] {self.field}={self.value}: {self.reason}"

    @property
    def raises(self) -> str | None:
        """For a ``crash``: the exception class legacy raises, as the reason names."""
        if self.code != "crash":
            return None
        found = _RAISES.search(self.reason)
        return None if found is None else found.group(1)


_RAISES = re.compile(r"\braises (\w+)")


class MergeError(Exception):
    """Where legacy's merge raises ``TypeError``: a mapping or list meets a scalar.

    Raised by ``merge`` and turned into a ``PlanError`` by the stage that merges.
    """
