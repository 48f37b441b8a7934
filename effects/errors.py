"""Error values and the one exception of the ``effects`` package."""

from __future__ import annotations

from typing import final

import attrs

__all__ = ["DecodeError", "EffectError"]


@final
@attrs.frozen(kw_only=True)
class EffectError:
    """An effect cannot be applied to the tree it meets (the model's failure value).

    ``index`` is the step's position in the plan, ``effect`` its one-line rendering,
    ``path`` the scratch-relative path involved and ``reason`` what is wrong.
    """

    index: int
    stage: str
    effect: str
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"step {self.index} ({self.stage}: {self.effect})"
        return f"{where}: {self.path}: {self.reason}"


@final
@attrs.frozen(kw_only=True)
class DecodeError:
    """A plan or tree document is invalid; ``field`` is a JSON path (``steps[3]``)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"
