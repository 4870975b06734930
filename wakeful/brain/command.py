"""The brain's command line, environment and working directory for one turn.

One code path for the real `claude` and the stand-in: both get the same flags (the
stand-in ignores what it does not know and honours `--resume`). The flags wakeful
manages itself are reserved: `extra_args` may not set them, because a second
`--output-format` or `--resume` would silently break parsing or sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

# Always passed: print mode, machine-readable events, and partial messages so a long
# answer keeps the idle timer fed while it streams; stream-json input keeps stdin open
# for follow-ups and interrupts, and the replay of each user message says when the CLI
# took it (wakeful/brain/session_protocol.py).
FIXED_FLAGS = ("-p", "--input-format", "stream-json", "--output-format", "stream-json",
               "--verbose", "--include-partial-messages", "--replay-user-messages")

RESERVED_FLAGS = frozenset({
    # how wakeful talks to the CLI
    "-p", "--print", "--output-format", "--input-format", "--verbose",
    "--include-partial-messages", "--replay-user-messages",
    # sessions are wakeful's (per chat, in the ledger)
    "-r", "--resume", "-c", "--continue", "--session-id", "--fork-session",
    "--no-session-persistence",
    # have their own config keys (approvals: --permission-prompt-tool)
    "--model", "--allowedTools", "--allowed-tools", "--permission-mode",
    "--permission-prompt-tool",
    # would leave no process for wakeful to supervise, or wait for a human
    "--bg", "--background", "--ide", "--tmux", "--desktop", "--teleport",
    "--remote-control", "-h", "--help", "-v", "--version",
})


class BrainSettings(Protocol):
    """The parts of BrainConfig this module reads (kept apart to avoid an import cycle)."""

    @property
    def command(self) -> tuple[str, ...]: ...
    @property
    def model(self) -> str | None: ...
    @property
    def allowed_tools(self) -> tuple[str, ...]: ...
    @property
    def permission_mode(self) -> str | None: ...
    @property
    def extra_args(self) -> tuple[str, ...]: ...
    @property
    def env(self) -> Mapping[str, str]: ...
    @property
    def env_passthrough(self) -> tuple[str, ...]: ...
    @property
    def workdir(self) -> str | None: ...


def reserved_flag(args: tuple[str, ...]) -> str | None:
    """The first argument that is (or sets, as `--flag=value`) a reserved flag."""
    for arg in args:
        if arg.split("=", 1)[0] in RESERVED_FLAGS:
            return arg
    return None


def argv(config: BrainSettings, session_id: str | None) -> tuple[str, ...]:
    args = [*config.command, *FIXED_FLAGS]
    if session_id:
        args += ["--resume", session_id]
    if config.model:
        args += ["--model", config.model]
    if config.allowed_tools:
        args += ["--allowedTools", ",".join(config.allowed_tools)]
    approvals = bool(getattr(config, "approvals", False))  # older settings objects lack it
    # "dontAsk" denies before the CLI would ask: with approvals on, asking is the point.
    if config.permission_mode and not (approvals and config.permission_mode == "dontAsk"):
        args += ["--permission-mode", config.permission_mode]
    if approvals:
        args += ["--permission-prompt-tool", "stdio"]
    return (*args, *config.extra_args)


def split_session(args: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """A turn's argv without its `--resume SESSION`, and that session (None: a new one)."""
    if "--resume" in args:
        at = args.index("--resume")
        if at + 1 < len(args):
            return (*args[:at], *args[at + 2:]), args[at + 1]
    return args, None


def environment(config: BrainSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """A cleared environment: the allowlisted variables of ours, then the configured ones.

    Nothing else leaks through; in particular not the bot token.
    """
    env = {name: environ[name] for name in config.env_passthrough if name in environ}
    env.update(config.env)
    return env


def workdir(config: BrainSettings, chat_id: int) -> str | None:
    """The turn's cwd; `{chat_id}` gives each chat its own (sessions are stored per cwd)."""
    if config.workdir is None:
        return None
    return config.workdir.replace("{chat_id}", str(chat_id))
