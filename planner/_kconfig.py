"""``config/kconfig.dat``: the kernel config legacy pickles for restarts (§2 B14).

Written with ``pickle.dumps`` of the manager's mapping, its environ replaced by the
final one; read back by ``restart_kernel`` (§15) and by ``kplan diff``, which
compares it by value because pickle's bytes depend on object identity. kplan reads
it with an unpickler that builds nothing but JSON's types: a ``kconfig.dat``
holding anything else is refused, never executed.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping

__all__ = ["KconfigError", "kernel_config_pickle", "read_kconfig"]


class KconfigError(ValueError):
    """The bytes are not a pickle of JSON values."""


class _JsonOnly(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers, booleans and None only."""

    def find_class(self, module: str, name: str) -> type:
        msg = f"refers to {module}.{name}: only JSON values are read"
        raise pickle.UnpicklingError(msg)


def kernel_config_pickle(
    config: Mapping[str, object], environ: tuple[tuple[str, str], ...]
) -> bytes:
    """``pickle.dumps(kernel_config)`` after ``kernel_config["environ"] = environ``
    (``config`` as the manager sent it, keys in its order; it is not changed)."""
    return pickle.dumps({**config, "environ": dict(environ)})


def read_kconfig(data: bytes) -> object:
    """The value pickled in ``data``; raises ``KconfigError`` for anything else."""
    try:
        return _JsonOnly(io.BytesIO(data)).load()
    # Corrupt bytes make the unpickler raise nearly anything (TypeError,
    # AttributeError, even SystemError): each says they are no such pickle.
    except Exception as exc:
        raise KconfigError(f"{type(exc).__name__}: {exc}") from exc
