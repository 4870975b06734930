"""What a contender is: a name, and how to start it against a given local Bot API server.

A contender writes whatever config it needs into a directory of its own and returns the
command that starts it. The harness never looks inside: it measures at the server and in
/proc. Two kinds: wakeful at a source tree, and an alternative (a standalone bot script
in benchmarks/alternatives/, the way people build this without wakeful).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BASELINE_REF = "983c5f2"  # today's delivery path, before the outbound scheduler


@dataclass(frozen=True)
class Setup:
    """What every contender of a storm is given."""

    base_url: str  # what PTB's Bot(base_url=...) takes: ".../bot"
    token: str
    user_ids: tuple[int, ...]  # the storm's users (private chats), all allowed
    brain_delay: float  # seconds the stand-in brain takes per turn
    cap: int  # brains at once
    standin_log: Path  # each stand-in run appends "start|end <monotonic> <pid>" here


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path


@dataclass(frozen=True)
class Contender:
    name: str
    prepare: Callable[[Path, Setup], Launch]  # (its own empty directory, setup) -> how to start


def _toml(value: object) -> str:
    """A TOML value for strings, numbers and lists of them (JSON spells them the same)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False)


def wakeful_at(name: str, tree: Path) -> Contender:
    """`python -m wakeful run` with the wakeful package of `tree` (PYTHONPATH and cwd).

    Versions differ in which config keys they know, and an unknown key in the file is an
    error. So the file holds only [telegram] and [brain] keys every version has; newer
    settings go through WAKEFUL_<SECTION>_<KEY> variables, which older versions ignore.
    """

    def prepare(directory: Path, setup: Setup) -> Launch:
        brain = [sys.executable, "-m", "wakeful.brain.standin", "--delay", str(setup.brain_delay)]
        # The brain starts with an empty environment plus [brain] env: the stand-in needs
        # to find this tree's wakeful, and to know where to log its runs.
        brain_env = {"PYTHONPATH": str(tree), "WAKEFUL_STANDIN_LOG": str(setup.standin_log)}
        config = directory / "wakeful.toml"
        config.write_text(
            "[telegram]\n"
            f"base_url = {_toml(setup.base_url)}\n"
            "poll_timeout = 2\n"
            f"allowed_user_ids = {_toml(list(setup.user_ids))}\n\n"
            "[brain]\n"
            f"command = {_toml(brain)}\n"
            f"max_concurrent = {setup.cap}\n"
            f"env = {_toml(brain_env)}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_")}
        env.update({
            "PYTHONPATH": str(tree),
            "WAKEFUL_TELEGRAM_TOKEN": setup.token,
            "WAKEFUL_JOURNAL_PATH": str(directory / "journal.sqlite3"),
        })
        if (tree / "wakeful" / "conversation").is_dir():
            # One answer per message, like every alternative (steer, the default since
            # queue modes exist, folds a follow-up into the running turn). Versions
            # without modes reject the unknown variable, so it is set only where known.
            env["WAKEFUL_CHATS_MODE"] = "queue"
        argv = (sys.executable, "-m", "wakeful", "--log-level", "WARNING", "run",
                "--config", str(config))
        return Launch(argv, env, tree)

    return Contender(name, prepare)


ALTERNATIVES_DIR = REPO / "benchmarks" / "alternatives"
# name -> script in ALTERNATIVES_DIR; each is what people write instead of wakeful.
ALTERNATIVES: dict[str, str] = {
    "one-loop": "one_loop.py",  # the seeds' "before": the brain called inside the loop
    "one-queue": "one_queue.py",  # one worker queue for every chat (Kōan-style)
    "proc-lock": "proc_lock.py",  # a child per update, a per-chat file lock, cap 4 (forge)
    "ptb-concurrent": "ptb_concurrent.py",  # PTB Application, concurrent_updates=True
    "ptb-per-chat": "ptb_per_chat.py",  # PTB with a per-chat, capped update processor
}


def alternative(name: str) -> Contender:
    """A standalone bot script. Its whole contract is the environment it is started with:

    ALT_BASE_URL    what PTB's Bot(base_url=...) takes (".../bot"); ALT_TOKEN the token
    ALT_USER_IDS    comma-separated allowed user ids (private chats)
    ALT_BRAIN       JSON argv of the brain: the prompt goes to its stdin, and it prints
                    Claude Code's stream-json (`claude -p --output-format stream-json`);
                    the answer is the "result" field of the line of type "result"
    ALT_BRAIN_ENV   JSON object: the environment the brain runs with
    ALT_CAP         brains at once (where the design has a cap at all)
    """
    script = ALTERNATIVES_DIR / ALTERNATIVES[name]

    def prepare(directory: Path, setup: Setup) -> Launch:
        brain = [sys.executable, "-m", "wakeful.brain.standin", "--delay", str(setup.brain_delay)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WAKEFUL_", "ALT_"))}
        env.update({
            "ALT_BASE_URL": setup.base_url,
            "ALT_TOKEN": setup.token,
            "ALT_USER_IDS": ",".join(str(u) for u in setup.user_ids),
            "ALT_BRAIN": json.dumps(brain),
            "ALT_BRAIN_ENV": json.dumps({"PYTHONPATH": str(REPO),
                                         "WAKEFUL_STANDIN_LOG": str(setup.standin_log)}),
            "ALT_CAP": str(setup.cap),
        })
        return Launch((sys.executable, str(script)), env, directory)

    return Contender(name, prepare)


@contextlib.contextmanager
def git_worktree(ref: str, repo: Path = REPO) -> Iterator[Path]:
    """`ref` checked out (detached) in a temporary worktree; removed again afterwards.

    `git worktree add` leaves this checkout's index and files alone.
    """
    parent = Path(tempfile.mkdtemp(prefix="wakeful-storms-"))
    tree = parent / "tree"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet",
                    str(tree), ref], check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                       check=False)
        shutil.rmtree(parent, ignore_errors=True)


def short_commit(ref: str, repo: Path = REPO) -> str:
    found = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", ref],
                           capture_output=True, text=True, check=False)
    return found.stdout.strip() or ref
