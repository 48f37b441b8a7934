"""The runner process: takes the facts' identity, runs legacy, reports.

It is forked by the supervisor inside the private namespace and never returns: its
last act is ``report_and_exit`` (the run's result plus legacy's log records).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .context_facts import parse_umask, runner_identity
from .legacy_modules import Legacy
from .legacy_run import LegacyRun
from .libc import set_pdeathsig
from .protocol import JSONObject, as_dict, error_json, report_and_exit
from .run_dirs import RunPaths


class LogCapture(logging.Handler):
    """Collects every record >= WARNING from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[JSONObject] = []
        self._formatter = logging.Formatter("%(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record as a protocol log entry."""
        try:
            message = self._formatter.format(record)
        except Exception as exc:  # noqa: BLE001 - a broken record must not kill the run
            message = f"<unformattable log record {record.msg!r}: {exc!r}>"
        self.records.append(
            {"level": record.levelname, "logger": record.name, "message": message}
        )

    def install(self) -> None:
        """Attach to the root logger and to every logger that does not propagate."""
        root = logging.getLogger()
        root.addHandler(self)
        if root.level > logging.WARNING or root.level == logging.NOTSET:
            root.setLevel(logging.WARNING)
        for candidate in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(candidate, logging.Logger) and not candidate.propagate:
                candidate.addHandler(self)


def drop_privileges(uid: int, gid: int) -> None:
    """Become uid:gid with no supplementary groups (real, effective and saved)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def runner_main(
    legacy: Legacy, context: Mapping[str, Any], paths: RunPaths, result_fd: int
) -> None:
    """Runner process body: identity, run legacy, report; never returns."""
    capture = LogCapture()
    try:
        _become_runner(context, paths)
        capture.install()
        run = LegacyRun(legacy, context, Path(paths.scratch), paths.spare)
        result = asyncio.run(run.run())
    except BaseException as exc:  # noqa: BLE001 - report anything, including SystemExit
        error = error_json(exc, "runner_setup")
        result = {"error": error}
    result["logs"] = list(result.get("logs", [])) + capture.records
    report_and_exit(result_fd, result)


def _become_runner(context: Mapping[str, Any], paths: RunPaths) -> None:
    """Die with the supervisor; cwd ``aux/``, HOME ``aux/home``; umask and identity.

    The cwd and the home dir are two of the places legacy looks for
    ``agent-docker-container-opts.json`` (§14.4 step 7; substitution 4).
    """
    set_pdeathsig()
    facts = as_dict(context.get("facts"))
    os.chdir(paths.aux)
    os.environ["HOME"] = paths.home
    os.umask(parse_umask(facts.get("umask")))
    identity = runner_identity(facts)
    if identity is not None:
        drop_privileges(*identity)
