"""A stand-in brain: speaks Claude Code's `-p --output-format stream-json` on stdout.

    python -m wakeful.brain.standin [--delay SECONDS] [--resume SESSION_ID]
        [--input-format stream-json] [--replay-user-messages] [ignored...]

With `--input-format stream-json` (as wakeful runs it) it reads one JSON object per
stdin line, like the CLI: each user message starts a turn (`--replay-user-messages`:
echoed when taken), a user message that arrives while a turn is working (its delay,
or around a `[[tool CMD]]`) is taken into that turn (`echo: first + second`), one that
arrives while the answer streams (`[[stream]]`) waits and runs as the next turn, an
interrupt control_request ends the running turn with an error result (the process
stays), EOF on stdin ends the process (0) once its work is done, and a line that is
not JSON kills it (exit 1), all as the real CLI does. Without it the whole of stdin is
the prompt of one turn.

Each turn answers `echo: <prompt>` after `--delay` seconds (default
$WAKEFUL_STANDIN_DELAY or 0.5). `--version` prints one line and exits 0, like the real
CLI (`wakeful check` asks it). Directives in a turn's first message script failure
modes for tests and the demo:

    [[exit N]]        print to stderr and exit N without a result
    [[hang]]          never answer (until killed or interrupted)
    [[linger]]        answer, then never exit
    [[empty]]         a successful result with empty text
    [[empty-once]]    an empty result the first time only (a run that finds no file at
                      $WAKEFUL_STANDIN_ONCE creates it): a failure the pool retries
    [[exit-once N]]   [[exit N]] the first time only (same file): a brain process that
                      crashes in the middle of a session, once
    [[garbage]]       non-JSON lines mixed into the stream
    [[retry N]]       N api_retry events (overloaded) before answering
    [[error]]         a result with is_error true
    [[spawn-child]]   start a grandchild that sleeps (for process-group tests)
    [[spawn-stray]]   start a grandchild that leaves the process group (setsid) and sleeps
    [[stream]]        stream the answer word by word (the CLI's partial messages)
    [[tool CMD]]      report a Bash tool call running CMD halfway through
    [[cost X]]        report X USD as the turn's total_cost_usd (default 0)
    [[ask TOOL]]      ask to run TOOL (input: the prompt as a command), as the CLI does
                      with --permission-prompt-tool stdio: a can_use_tool control_request,
                      then wait for its control_response; the answer is "tool allowed" or
                      "tool denied: <message>"

With $WAKEFUL_STANDIN_LOG set, each turn appends "start|end <monotonic> <pid>" lines
there (a process kept warm runs several), so tests can measure how many brains really
ran at once. With $WAKEFUL_STANDIN_CHILDREN set, the pid of each grandchild is appended there. With
$WAKEFUL_STANDIN_PROMPTS set, each message the brain takes appends one JSON line
{"pid", "resume", "prompt", "turn", "uuid", "during", "argv"}: exactly what the brain
was given (argv: its command-line arguments), in which turn of the process (1, 2,
...), and whether it came in while that turn was already working.

Sessions: without $WAKEFUL_STANDIN_SESSIONS, `--resume ID` resumes any ID. With it set
to a directory, the stand-in keeps its sessions there as the CLI keeps them under
~/.claude/projects (a file per session, per working directory), and a `--resume` of a
session not there fails as the CLI's does: an `error_during_execution` result "No
conversation found with session ID: ID", no init, exit 1 (measured on the real CLI in
tests/brain/test_real_cli_offline.py). Deleting the directory plays the loss of the
disk that held them.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from wakeful.brain.command import FIXED_FLAGS


def command(delay: float) -> tuple[str, ...]:
    """The argv that runs this stand-in with the given answer delay (the [brain] command)."""
    return (sys.executable, "-m", "wakeful.brain.standin", "--delay", str(delay))


def turn_argv(delay: float) -> tuple[str, ...]:
    """The whole argv of one turn, as the pool makes it: for a TurnSpec made by hand."""
    return (*command(delay), *FIXED_FLAGS)


def _emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _log(kind: str) -> None:
    path = os.environ.get("WAKEFUL_STANDIN_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{kind} {time.monotonic():.6f} {os.getpid()}\n")


def _record_prompt(prompt: str, resume: str | None, turn: int = 1,
                   message_uuid: str | None = None, during: bool = False) -> None:
    path = os.environ.get("WAKEFUL_STANDIN_PROMPTS")
    if path:
        line = json.dumps({"pid": os.getpid(), "resume": resume, "prompt": prompt,
                           "turn": turn, "uuid": message_uuid, "during": during,
                           "argv": sys.argv[1:]}) + "\n"
        # One write(2) on an O_APPEND file: concurrent brains never interleave a line.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def _session_file(session_id: str) -> str | None:
    """Where this session lives in $WAKEFUL_STANDIN_SESSIONS (None: no store, any resumes)."""
    store = os.environ.get("WAKEFUL_STANDIN_SESSIONS")
    if not store:
        return None
    return os.path.join(store, os.getcwd().strip("/").replace("/", "-"), session_id)


def _session_missing(session_id: str) -> int:
    """The CLI's answer to a `--resume` of a session it cannot find, and its exit code."""
    _emit({"type": "result", "subtype": "error_during_execution", "is_error": True,
           "errors": [f"No conversation found with session ID: {session_id}"],
           "session_id": str(uuid.uuid4()), "total_cost_usd": 0.0, "num_turns": 0})
    return 1


def _cost(prompt: str) -> float:
    match = re.search(r"\[\[cost ([0-9.]+)\]\]", prompt)
    return float(match.group(1)) if match else 0.0


def _note_child(pid: int) -> None:
    path = os.environ.get("WAKEFUL_STANDIN_CHILDREN")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{pid}\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{version('wakeful')} (wakeful stand-in brain)"
    except PackageNotFoundError:
        return "(not installed) (wakeful stand-in brain)"


@dataclass
class _Message:
    text: str
    uuid: str | None


class _Inbox:
    """stdin, read on a thread of its own, so a turn at work still hears what comes in."""

    def __init__(self) -> None:
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.held: deque[_Message] = deque()  # arrived while an answer streamed: next turns
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in sys.stdin.buffer:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                # As the CLI does: one unreadable line ends the process.
                print(f"stand-in: stdin line is not JSON: {raw[:80]!r}", file=sys.stderr,
                      flush=True)
                os._exit(1)
            if isinstance(obj, dict):
                self._queue.put(obj)
        self._queue.put(None)

    def get(self, timeout: float | None) -> dict[str, Any] | None:
        """The next object; None at EOF or when `timeout` passes first."""
        if self.eof:
            if timeout:
                time.sleep(timeout)
            return None
        try:
            obj = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if obj is None:
            self.eof = True
        return obj


def _user_text(obj: dict[str, Any]) -> str:
    message = obj.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content
                         if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _is_interrupt(obj: dict[str, Any]) -> bool:
    request = obj.get("request")
    return obj.get("type") == "control_request" and isinstance(request, dict) \
        and request.get("subtype") == "interrupt"


class _Interrupted(Exception):
    """An interrupt control_request arrived while the turn was at work."""


class _Brain:
    def __init__(self, session_id: str, resume: str | None, delay: float, replay: bool,
                 inbox: _Inbox | None) -> None:
        self.session_id = session_id
        self.resume = resume
        self.delay = delay
        self.replay = replay
        self.inbox = inbox
        self.turn = 0
        self.texts: list[str] = []  # this turn's messages
        self.uuids: list[str] = []

    # --- the conversation ------------------------------------------------------------

    def converse(self) -> int:
        assert self.inbox is not None
        while (message := self._next_message()) is not None:
            code = self.answer(message)
            if code is not None:
                return code
        return 0

    def _next_message(self) -> _Message | None:
        """Wait for the next turn's message; None once stdin is at EOF."""
        assert self.inbox is not None
        if self.inbox.held:
            return self.inbox.held.popleft()
        while (obj := self.inbox.get(None)) is not None:
            if _is_interrupt(obj):
                self._control_response(obj)  # nothing is running: nothing to stop
            elif obj.get("type") == "user":
                return _Message(_user_text(obj), obj.get("uuid"))
        return None

    def _control_response(self, obj: dict[str, Any]) -> None:
        _emit({"type": "control_response", "response": {
            "subtype": "success", "request_id": obj.get("request_id"),
            "response": {"still_queued": []}}})

    def _take(self, message: _Message, during: bool) -> None:
        self.texts.append(message.text)
        if message.uuid:
            self.uuids.append(message.uuid)
        _record_prompt(message.text, self.resume, self.turn, message.uuid, during)
        if self.replay:
            _emit({"type": "user", "message": {"role": "user", "content": message.text},
                   "session_id": self.session_id, "parent_tool_use_id": None,
                   "uuid": message.uuid, "isReplay": True})

    def _work(self, seconds: float, take: bool = True) -> None:
        """Work for `seconds`; messages that come in meanwhile are taken into this turn
        (`take`) or held for the next; an interrupt ends the turn."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.inbox is None:
                time.sleep(left)
                return
            obj = self.inbox.get(left)
            if obj is None:
                continue
            if _is_interrupt(obj):
                self._control_response(obj)
                raise _Interrupted
            if obj.get("type") == "user":
                message = _Message(_user_text(obj), obj.get("uuid"))
                if take:
                    self._take(message, during=True)
                else:
                    self.inbox.held.append(message)

    # --- one turn ----------------------------------------------------------------------

    def answer(self, message: _Message) -> int | None:
        """One turn; an exit code if the process must end with it."""
        self.turn += 1
        self.texts, self.uuids = [], []
        _log("start")
        try:
            return self._turn(message)
        finally:
            _log("end")

    def _turn(self, message: _Message) -> int | None:
        _emit({"type": "system", "subtype": "init", "session_id": self.session_id,
               "model": "stand-in"})
        self._take(message, during=False)
        try:
            return self._answer(message.text)
        except _Interrupted:
            _emit({"type": "result", "subtype": "error_during_execution", "is_error": True,
                   "errors": ["[Request interrupted by user]"],
                   "terminal_reason": "aborted_tools", "session_id": self.session_id,
                   "total_cost_usd": 0.0, "num_turns": 1, "user_message_uuids": self.uuids})
            return None

    def _answer(self, prompt: str) -> int | None:
        for directive, escape in (("[[spawn-child]]", False), ("[[spawn-stray]]", True)):
            if directive in prompt:
                child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"],
                                         start_new_session=escape)
                _note_child(child.pid)
        if match := re.search(r"\[\[exit (\d+)\]\]", prompt):
            print("stand-in: scripted crash", file=sys.stderr, flush=True)
            return int(match.group(1))
        if (match := re.search(r"\[\[exit-once (\d+)\]\]", prompt)) and self._once():
            print("stand-in: scripted crash, once", file=sys.stderr, flush=True)
            return int(match.group(1))
        if match := re.search(r"\[\[retry (\d+)\]\]", prompt):
            retries = int(match.group(1))
            for attempt in range(1, retries + 1):
                _emit({"type": "system", "subtype": "api_retry", "attempt": attempt,
                       "max_retries": max(10, retries), "retry_delay_ms": 100,
                       "error_status": 529, "error": "overloaded"})
                self._work(0.1)
        if "[[hang]]" in prompt:
            self._work(3600)
        if "[[garbage]]" in prompt:
            sys.stdout.write("this is not json\n{broken\n")
            sys.stdout.flush()
        delay = self.delay
        if match := re.search(r"\[\[tool ([^\]]+)\]\]", prompt):
            # A tool call, as the CLI reports it, in the middle of the turn.
            delay /= 2
            self._work(delay)
            _emit({"type": "assistant", "session_id": self.session_id, "message": {
                "role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                                  "name": "Bash",
                                                  "input": {"command": match.group(1)}}]}})
        asked = None
        if match := re.search(r"\[\[ask ([^\]\s]+)\]\]", prompt):
            asked = self._ask(match.group(1), prompt)
        streaming = "[[stream]]" in prompt and "[[empty]]" not in prompt
        if not streaming:
            self._work(delay)
        text = "" if "[[empty]]" in prompt or self._empty_once(prompt) else \
            "echo: " + " + ".join(t.strip() for t in self.texts)
        text = asked if asked is not None else text
        if streaming:
            self._stream(text, delay)
        if text:
            _emit({"type": "assistant", "session_id": self.session_id,
                   "message": {"role": "assistant", "content": [{"type": "text",
                                                                 "text": text}]}})
        is_error = "[[error]]" in prompt
        _emit({"type": "result", "subtype": "success", "is_error": is_error,
               "result": "API Error: 500 scripted" if is_error else text,
               "session_id": self.session_id, "total_cost_usd": _cost(prompt),
               "duration_ms": int(delay * 1000), "num_turns": 1,
               "user_message_uuids": self.uuids})
        if "[[linger]]" in prompt:
            time.sleep(3600)
        return None

    def _ask(self, tool: str, prompt: str) -> str:
        """May `tool` run? Asked as the CLI asks (a tool_use, then a can_use_tool
        control_request); waits for the control_response like the CLI, without a timeout."""
        request_id = str(uuid.uuid4())
        tool_input = {"command": prompt}
        _emit({"type": "assistant", "session_id": self.session_id, "message": {
            "role": "assistant", "content": [{"type": "tool_use", "id": "toolu_ask",
                                              "name": tool, "input": tool_input}]}})
        _emit({"type": "control_request", "request_id": request_id, "request": {
            "subtype": "can_use_tool", "tool_name": tool, "display_name": tool,
            "input": tool_input, "permission_suggestions": [], "tool_use_id": "toolu_ask"}})
        while self.inbox is not None and (obj := self.inbox.get(None)) is not None:
            if _is_interrupt(obj):
                self._control_response(obj)
                raise _Interrupted
            response = obj.get("response")
            if obj.get("type") == "control_response" and isinstance(response, dict) \
                    and response.get("request_id") == request_id:
                body = response.get("response")
                body = body if isinstance(body, dict) else {}
                if body.get("behavior") == "allow":
                    return "tool allowed"
                return f"tool denied: {body.get('message', '')}"
            if obj.get("type") == "user":
                self._take(_Message(_user_text(obj), obj.get("uuid")), during=True)
        return "tool denied: no answer (stdin closed)"

    @classmethod
    def _empty_once(cls, prompt: str) -> bool:
        return "[[empty-once]]" in prompt and cls._once()

    @staticmethod
    def _once() -> bool:
        """True the first time over all runs (a file at $WAKEFUL_STANDIN_ONCE is made)."""
        path = os.environ.get("WAKEFUL_STANDIN_ONCE")
        if not path:
            return False
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return False
        return True

    def _stream(self, text: str, delay: float) -> None:
        """The answer word by word over `delay`, as the CLI's partial messages; what comes
        in meanwhile is the next turn's, as with the CLI."""
        words = re.findall(r"\S+\s*", text)
        for word in words:
            self._work(delay / max(1, len(words)), take=False)
            _emit({"type": "stream_event", "session_id": self.session_id, "event": {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": word}}})


def main(argv: list[str] | None = None) -> int:
    # Unknown flags (the real CLI's) are ignored, never prefix-matched to ours.
    parser = argparse.ArgumentParser(prog="standin", allow_abbrev=False)
    parser.add_argument("--delay", type=float,
                        default=float(os.environ.get("WAKEFUL_STANDIN_DELAY", "0.5")))
    parser.add_argument("--resume", default=None)
    parser.add_argument("--input-format", default="text")
    parser.add_argument("--replay-user-messages", action="store_true")
    parser.add_argument("--version", action="version", version=_version())
    args, _unknown = parser.parse_known_args(argv)
    session_id = args.resume or str(uuid.uuid4())
    if (stored := _session_file(session_id)) is not None:
        if args.resume and not os.path.exists(stored):
            return _session_missing(args.resume)
        os.makedirs(os.path.dirname(stored), exist_ok=True)
        open(stored, "a").close()
    streaming = args.input_format == "stream-json"
    brain = _Brain(session_id, args.resume, args.delay, args.replay_user_messages,
                   _Inbox() if streaming else None)
    if streaming:
        return brain.converse()
    return brain.answer(_Message(sys.stdin.read(), None)) or 0


def _exit(code: int) -> None:
    """Exit without the interpreter's shutdown: the stdin thread may sit in a read, and
    finalizing a buffered stdin under it aborts the process (SIGABRT)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
