"""[brain]: how turns run, owned by the brain (the top-level config only assembles it).

The timer defaults live once, in `TimerLimits`; this section's timer keys default to
them, and `limits()` turns the section back into the child's `TimerLimits`.
docs/brain.md explains every key, docs/scale-out.md the runner keys; times are seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from wakeful.brain.timers import TimerLimits

_TIMERS = TimerLimits()


class RunnerKind(StrEnum):
    LOCAL = "local"  # a child process per turn on this machine (the fork server)
    RAY = "ray"  # a child process per turn on a node of a Ray cluster


@dataclass(frozen=True)
class BrainConfig:
    # The stand-in by default so a fresh checkout works with no account; production
    # configs point this at `claude` (see config.example.toml).
    command: tuple[str, ...] = (sys.executable, "-m", "wakeful.brain.standin")
    model: str | None = None
    allowed_tools: tuple[str, ...] = ()
    permission_mode: str | None = None
    extra_args: tuple[str, ...] = ()
    # The brain starts with an empty environment plus these (never the bot token).
    env: Mapping[str, str] = field(default_factory=dict)
    env_passthrough: tuple[str, ...] = (
        "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER",
        "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR",
    )
    workdir: str | None = None  # may contain {chat_id}
    max_concurrent: int = 4
    # A chat's brain process waits this long after a turn for the chat's next message,
    # which then skips the CLI's start (0: every turn starts its own process)...
    keep_warm: float = 120.0
    # ...and at most this many wait at once (each holds a CLI's memory; running turns
    # are counted by max_concurrent, not here). Local runner only.
    max_warm: int = 4
    first_event_timeout: float = _TIMERS.first_event
    idle_timeout: float = _TIMERS.idle
    turn_budget: float = _TIMERS.budget
    result_grace: float = _TIMERS.result_grace
    kill_grace: float = 2.0
    max_attempts: int = 3
    retry_budget: float = 120.0
    retry_initial_delay: float = 2.0
    retry_max_delay: float = 30.0
    # Where turns run: "local" or "ray" (docs/scale-out.md).
    runner: str = RunnerKind.LOCAL.value
    # runner = "ray": the cluster to join ("auto": the one this machine belongs to).
    ray_address: str = "auto"
    # runner = "ray": true when every node sees the same workdir root (NFS...), so a
    # chat may run anywhere; false pins each chat to one node, where its session lives.
    shared_workdir: bool = False
    # Tool approvals over Telegram (docs/chat.md, "Approvals"): the CLI asks before any
    # tool not in allowed_tools (--permission-prompt-tool stdio) and the chat puts it to
    # its users; nobody answering within approval_timeout seconds denies it.
    approvals: bool = False
    approval_timeout: float = 300.0

    def limits(self) -> TimerLimits:
        return TimerLimits(first_event=self.first_event_timeout, idle=self.idle_timeout,
                           budget=self.turn_budget, result_grace=self.result_grace)
