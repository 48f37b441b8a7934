"""Stubs 6 and 7: the agent process's own limits and randomness are the facts'.

* ``get_safe_ulimit`` (``ai.backend.agent.utils``) reads ``resource.getrlimit``; that
  module's ``resource`` global becomes ``FactsRlimits``, which answers
  ``facts.rlimits`` for ``nofile``/``memlock`` (``-1`` is ``RLIM_INFINITY``) and the
  worker's own limits for anything else (and for a limit the facts omit), so the real
  capping decides the container's ``Ulimits`` (§14.2).
* ``get_intrinsic_mounts`` names each domain-socket proxy
  ``secrets.token_hex(12)``; ``ai.backend.agent.docker.agent``'s ``secrets`` global
  becomes ``FactsTokens``, which hands out ``facts.socket_proxy_tokens`` in order
  (§5 row 11). The worker refuses a context with fewer tokens than proxies.
"""

from __future__ import annotations

import resource
from collections.abc import Mapping, Sequence
from typing import Any

from .legacy_modules import Legacy

RLIMIT_FACTS = {"nofile": resource.RLIMIT_NOFILE, "memlock": resource.RLIMIT_MEMLOCK}


class FactsRlimits:
    """A ``resource`` module whose ``getrlimit`` answers the facts (stub 6)."""

    def __init__(self, rlimits: Mapping[str, Sequence[int]]) -> None:
        self._limits = {
            RLIMIT_FACTS[name]: (int(value[0]), int(value[1]))
            for name, value in rlimits.items()
            if name in RLIMIT_FACTS
        }

    def getrlimit(self, which: int) -> tuple[int, int]:
        """The facts' (soft, hard) for nofile/memlock; the real ones otherwise."""
        found = self._limits.get(which)
        return found if found is not None else resource.getrlimit(which)

    def __getattr__(self, name: str) -> Any:
        return getattr(resource, name)  # RLIMIT_* and RLIM_INFINITY (-1 on Linux)


class FactsTokens:
    """A ``secrets`` module whose ``token_hex`` hands out the facts' names (stub 7)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = list(tokens)

    def token_hex(self, nbytes: int | None = None) -> str:
        """The next ``facts.socket_proxy_tokens`` entry."""
        del nbytes
        if not self._tokens:
            msg = "kplan worker: facts.socket_proxy_tokens ran out"
            raise RuntimeError(msg)
        return self._tokens.pop(0)

    def __getattr__(self, name: str) -> Any:
        msg = f"kplan worker: secrets.{name} is not available (randomness is a fact)"
        raise NotImplementedError(msg)


def install_host_answers(legacy: Legacy, facts: Mapping[str, Any]) -> None:
    """Stubs 6 and 7 (runner process only)."""
    rlimits = facts.get("rlimits") or {}
    legacy.utils_module.resource = FactsRlimits(rlimits)
    tokens = [str(t) for t in facts.get("socket_proxy_tokens") or []]
    legacy.docker_agent_module.secrets = FactsTokens(tokens)
