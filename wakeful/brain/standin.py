"""A stand-in brain: speaks Claude Code's `-p --output-format stream-json` on stdout.

    python -m wakeful.brain.standin [--delay SECONDS] [--resume SESSION_ID] [ignored...]

It reads the prompt from stdin (as wakeful passes it) and answers `echo: <prompt>`
after `--delay` seconds (default $WAKEFUL_STANDIN_DELAY or 0.5). `--version` prints one
line and exits 0, like the real CLI (`wakeful check` asks it). Directives in the
prompt script failure modes for tests and the demo:

    [[exit N]]        print to stderr and exit N without a result
    [[hang]]          never answer (until killed)
    [[linger]]        answer, then never exit
    [[empty]]         a successful result with empty text
    [[garbage]]       non-JSON lines mixed into the stream
    [[retry N]]       N api_retry events (overloaded) before answering
    [[error]]         a result with is_error true
    [[spawn-child]]   start a grandchild that sleeps (for process-group tests)
    [[spawn-stray]]   start a grandchild that leaves the process group (setsid) and sleeps
    [[stream]]        stream the answer word by word (the CLI's partial messages)
    [[tool CMD]]      report a Bash tool call running CMD halfway through

With $WAKEFUL_STANDIN_LOG set, each run appends "start|end <monotonic> <pid>" lines
there, so tests can measure how many brains really ran at once. With
$WAKEFUL_STANDIN_CHILDREN set, the pid of each grandchild is appended there. With
$WAKEFUL_STANDIN_PROMPTS set, each run appends one JSON line {"pid", "resume",
"prompt"}: exactly what the brain was given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid


def command(delay: float) -> tuple[str, ...]:
    """The argv that runs this stand-in with the given answer delay."""
    return (sys.executable, "-m", "wakeful.brain.standin", "--delay", str(delay))


def _emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _log(kind: str) -> None:
    path = os.environ.get("WAKEFUL_STANDIN_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{kind} {time.monotonic():.6f} {os.getpid()}\n")


def _record_prompt(prompt: str, resume: str | None) -> None:
    path = os.environ.get("WAKEFUL_STANDIN_PROMPTS")
    if path:
        line = json.dumps({"pid": os.getpid(), "resume": resume, "prompt": prompt}) + "\n"
        # One write(2) on an O_APPEND file: concurrent brains never interleave a line.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def _note_child(pid: int) -> None:
    path = os.environ.get("WAKEFUL_STANDIN_CHILDREN")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{pid}\n")


def _stream(text: str, delay: float, session_id: str) -> None:
    """The answer word by word over `delay`, as the CLI's partial messages."""
    words = re.findall(r"\S+\s*", text)
    for word in words:
        time.sleep(delay / max(1, len(words)))
        _emit({"type": "stream_event", "session_id": session_id, "event": {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": word}}})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{version('wakeful')} (wakeful stand-in brain)"
    except PackageNotFoundError:
        return "(not installed) (wakeful stand-in brain)"


def main(argv: list[str] | None = None) -> int:
    # Unknown flags (the real CLI's) are ignored, never prefix-matched to ours.
    parser = argparse.ArgumentParser(prog="standin", allow_abbrev=False)
    parser.add_argument("--delay", type=float,
                        default=float(os.environ.get("WAKEFUL_STANDIN_DELAY", "0.5")))
    parser.add_argument("--resume", default=None)
    parser.add_argument("--version", action="version", version=_version())
    args, _unknown = parser.parse_known_args(argv)
    prompt = sys.stdin.read()
    session_id = args.resume or str(uuid.uuid4())
    _record_prompt(prompt, args.resume)
    _log("start")
    try:
        return _answer(prompt, session_id, args.delay)
    finally:
        _log("end")


def _answer(prompt: str, session_id: str, delay: float) -> int:
    _emit({"type": "system", "subtype": "init", "session_id": session_id, "model": "stand-in"})
    for directive, escape in (("[[spawn-child]]", False), ("[[spawn-stray]]", True)):
        if directive in prompt:
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"],
                                     start_new_session=escape)
            _note_child(child.pid)
    if match := re.search(r"\[\[exit (\d+)\]\]", prompt):
        print("stand-in: scripted crash", file=sys.stderr, flush=True)
        return int(match.group(1))
    if match := re.search(r"\[\[retry (\d+)\]\]", prompt):
        retries = int(match.group(1))
        for attempt in range(1, retries + 1):
            _emit({"type": "system", "subtype": "api_retry", "attempt": attempt,
                   "max_retries": max(10, retries), "retry_delay_ms": 100,
                   "error_status": 529, "error": "overloaded"})
            time.sleep(0.1)
    if "[[hang]]" in prompt:
        time.sleep(3600)
    if "[[garbage]]" in prompt:
        sys.stdout.write("this is not json\n{broken\n")
        sys.stdout.flush()
    text = "" if "[[empty]]" in prompt else f"echo: {prompt.strip()}"
    if match := re.search(r"\[\[tool ([^\]]+)\]\]", prompt):
        # A tool call, as the CLI reports it, in the middle of the turn.
        delay /= 2
        time.sleep(delay)
        _emit({"type": "assistant", "session_id": session_id, "message": {
            "role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                              "name": "Bash",
                                              "input": {"command": match.group(1)}}]}})
    if "[[stream]]" in prompt and text:
        _stream(text, delay, session_id)
    else:
        time.sleep(delay)
    if text:
        _emit({"type": "assistant", "session_id": session_id,
               "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})
    is_error = "[[error]]" in prompt
    _emit({"type": "result", "subtype": "success", "is_error": is_error,
           "result": "API Error: 500 scripted" if is_error else text,
           "session_id": session_id, "total_cost_usd": 0.0,
           "duration_ms": int(delay * 1000), "num_turns": 1})
    if "[[linger]]" in prompt:
        time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
