"""The real Claude Code CLI, offline: a fake Messages API and a throwaway HOME.

Used by `wakeful demo --brain claude` and by the real-CLI tests. The CLI gets the
environment from `claude_env()` and nothing else, so neither the developer's
credentials nor their ~/.claude can leak into (or be changed by) a run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from wakeful.config import BrainConfig
from wakeful.testing.fake_anthropic import EchoPrompt, FakeAnthropicApi, Script, claude_env

CLAUDE_CODE_VERSION = "2.1.328"
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALLED = (REPO_ROOT / ".tools" / f"claude-code-{CLAUDE_CODE_VERSION}" / "node_modules"
             / ".bin" / "claude")


class ClaudeNotFound(Exception):
    """No Claude Code CLI binary to run."""


def find_claude() -> str:
    """$WAKEFUL_CLAUDE_BIN, else the copy scripts/dev.py installs, else `claude` on PATH."""
    configured = os.environ.get("WAKEFUL_CLAUDE_BIN")
    for candidate in (configured, str(INSTALLED), shutil.which("claude")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ClaudeNotFound(
        f"Claude Code CLI not found (looked at $WAKEFUL_CLAUDE_BIN, {INSTALLED}, PATH); "
        "`python3 scripts/dev.py setup` installs it"
    )


def offline_brain(base: BrainConfig, binary: str, api_url: str, home: Path) -> BrainConfig:
    """`base` with the real CLI pointed at `api_url`, HOME and every cwd under `home`."""
    home.mkdir(parents=True, exist_ok=True)
    return replace(
        base,
        command=(binary,),
        env=claude_env(api_url, str(home)),
        env_passthrough=(),
        # One directory per chat: sessions live per cwd, so resumes find theirs.
        workdir=str(home / "chats" / "{chat_id}"),
    )


@contextmanager
def fake_api(answer_delay: float = 0.0) -> Iterator[FakeAnthropicApi]:
    """A fake Messages API that echoes every prompt (the demo's users expect echoes)."""
    with FakeAnthropicApi(Script(default=EchoPrompt(delay=answer_delay))) as api:
        yield api
