"""Preflight: the brain's program is there, may be run, and answers `--version`.

Without this a missing `claude` shows only on the first message ("cannot start
claude"), and nothing is said at start. The program is looked up the way a turn
starts it: on the PATH in the brain's own environment ([brain] env_passthrough and
env), relative paths against the directory it runs in.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Mapping

from wakeful.brain import command as brain_command
from wakeful.config import BrainConfig
from wakeful.ops.findings import Finding

VERSION_TIMEOUT = 10.0
_INSTALL_HINTS = {"claude": "install @anthropic-ai/claude-code, or set [brain] command to its path"}


def check_brain(brain: BrainConfig, environ: Mapping[str, str], token_env: str,
                timeout: float = VERSION_TIMEOUT) -> Finding:
    """`environ` is the service's environment; the brain gets its allowlisted part."""
    # The service drops the token from its environment before any brain starts.
    env = brain_command.environment(brain, {k: v for k, v in environ.items() if k != token_env})
    program = brain.command[0]
    found = _locate(program, env, brain.workdir)
    if isinstance(found, Finding):
        return found
    argv = [found, *brain.command[1:], "--version"]
    shown = shlex.join([*brain.command, "--version"])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
    except OSError as exc:
        return Finding.problem(f"[brain] cannot run {shown}: {exc.strerror or exc}")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Its own process group: whatever it started goes too, and frees the pipes.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Finding.problem(f"[brain] {shown} did not answer within {timeout:.0f} s")
    if proc.returncode != 0:
        said = _first_line(err) or _first_line(out)
        return Finding.problem(f"[brain] {shown} failed with {_status(proc.returncode)}"
                               + (f": {said}" if said else ""))
    version = _first_line(out) or _first_line(err) or "no version printed"
    return Finding.ok(f"brain: {found} ({version})")


def _locate(program: str, env: Mapping[str, str], workdir: str | None) -> str | Finding:
    """The path a turn would execute, or the problem that stops it."""
    if os.sep in program:
        path = program
        if not os.path.isabs(program) and workdir is not None:
            if "{chat_id}" in workdir:
                return Finding.problem(f'[brain] command "{program}" is relative but [brain] '
                                       "workdir differs per chat: give its absolute path")
            path = os.path.join(workdir, program)
        return _runnable(program, os.path.abspath(path))
    search = env.get("PATH", os.defpath)
    not_runnable: str | None = None
    for directory in search.split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return os.path.abspath(candidate)
            not_runnable = not_runnable or candidate
    if not_runnable is not None:
        return _runnable(program, not_runnable)
    hint = _INSTALL_HINTS.get(program, "set [brain] command to its path")
    where = "PATH" if "PATH" in env else \
        f"the default PATH {os.defpath}, since PATH is not in [brain] env_passthrough"
    return Finding.problem(f'[brain] command "{program}" not found on {where} ({hint})')


def _runnable(program: str, path: str) -> str | Finding:
    if not os.path.exists(path):
        return Finding.problem(f'[brain] command "{program}" does not exist ({path})')
    if os.path.isdir(path):
        return Finding.problem(f'[brain] command "{program}" is a directory, not a program')
    if not os.access(path, os.X_OK):
        return Finding.problem(f'[brain] command "{program}" is not executable ({path}): '
                               "chmod +x it, or fix [brain] command")
    return path


def _first_line(output: bytes) -> str:
    for line in output.decode(errors="replace").splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def _status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"
