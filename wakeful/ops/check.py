"""`wakeful check`: what `wakeful run` checks before it starts, and nothing else.

Loading the config comes first and reports its own one-line errors. Then, in the
order an operator reads them: the token (getMe), the webhook, the brain's program,
its working directory, the Ray cluster (runner = "ray" only), the journal's directory
and the control socket's. Every problem is one line, never a traceback, and no line
carries the bot token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from wakeful import logs
from wakeful.brain.config import RunnerKind
from wakeful.config import Config
from wakeful.control.paths import SocketPlace, socket_place
from wakeful.logs import Redactor
from wakeful.ops.brain_check import check_brain
from wakeful.ops.control_check import check_control
from wakeful.ops.findings import Finding, Outcome
from wakeful.ops.paths_check import check_journal, check_workdir
from wakeful.ops.ray_check import check_ray
from wakeful.ops.telegram_check import Sleep, check_telegram

log = logging.getLogger(__name__)


def findings(config: Config, sleep: Sleep = asyncio.sleep) -> list[Finding]:
    """Every check's result; `sleep` replaces the wait between Telegram retries."""
    found: list[Finding] = []
    if config.token is None:
        found.append(Finding.problem(f"no bot token: set ${config.telegram.token_env} or "
                                     "[telegram] token_file"))
    else:
        found += check_telegram(config.telegram, config.token, sleep)
    found.append(check_brain(config.brain, os.environ, config.telegram.token_env))
    found.append(check_workdir(config.brain))
    if config.brain.runner == RunnerKind.RAY:
        found.append(check_ray(config.brain, environ=os.environ,
                               token_env=config.telegram.token_env))
    journal = check_journal(config.journal.resolved_path())
    found.append(journal)
    control = socket_place(config)
    # By default the socket lives beside the journal: a journal directory that cannot be
    # made is one problem, not two.
    if journal.outcome is not Outcome.PROBLEM or not _beside_journal(config, control):
        found.append(check_control(config))
    # PTB puts the token in request URLs and some error texts: whatever reached a line
    # by a path nobody foresaw is caught here, the last step before printing.
    redact = Redactor([config.token] if config.token is not None else [])
    return [Finding(f.outcome, redact(f.line)) for f in found]


def _beside_journal(config: Config, place: SocketPlace) -> bool:
    journal_dir = os.path.dirname(os.path.abspath(config.journal.resolved_path()))
    return place.default and str(place.directory).startswith(journal_dir)


def preflight(config: Config) -> list[str]:
    """The problems that stop `run`, one line each (the caller prefixes `wakeful: `).

    What passed is logged at DEBUG (`--log-level DEBUG` shows which brain a run found);
    at INFO a failed start prints its problems and nothing else.
    """
    results = findings(config)
    problems = [f.line for f in results if f.outcome is Outcome.PROBLEM]
    if not problems:
        for finding in results:
            log.debug("preflight %s: %s", finding.outcome.value, finding.line)
    return problems


def check_command(config: Config, log_level: str) -> int:
    """Print every finding (problems on stderr) for a loaded config; 2 if any is a problem."""
    logs.configure(log_level, [config.require_token()])
    results = findings(config)
    for finding in results:
        if finding.outcome is Outcome.PROBLEM:
            print(f"wakeful: {finding.line}", file=sys.stderr)
        else:
            print(f"{finding.outcome.value}: {finding.line}")
    return 2 if any(f.outcome is Outcome.PROBLEM for f in results) else 0
