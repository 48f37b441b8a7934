"""Whether a stream may be a terminal, decided without importing rich.

rich takes about a tenth of a second to import, and most of kplan's output goes to
pipes and files (the agent's, a script's, ``-o``). Its own test of a terminal is
the stream's ``isatty`` unless ``TTY_COMPATIBLE=1`` or ``FORCE_COLOR`` says
otherwise; ``may_be_terminal`` answers False exactly when that test would, so a
caller imports rich only when it may matter, and rich still has the last word.
"""

from __future__ import annotations

import os
from typing import TextIO

__all__ = ["may_be_terminal"]


def may_be_terminal(stream: TextIO) -> bool:
    """False when rich would find ``stream`` no terminal (see the module docstring)."""
    environ = os.environ
    forced = environ.get("TTY_COMPATIBLE") == "1" or bool(environ.get("FORCE_COLOR"))
    try:
        return forced or stream.isatty()
    except ValueError:  # a closed stream: no terminal, as rich decides
        return False
