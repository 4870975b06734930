"""A scripted, loopback-only fake of the Anthropic Messages API for driving the real CLI.

Each `POST /v1/messages` consumes one step of a `Script`; the step decides how
that request is answered (normal stream, 529, error status, hang, garbage).
Every wait is on the server's stop Event, so `stop()` ends all stalls at once
and a failing test can never hang on the fake.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

OVERLOADED_BODY: dict[str, Any] = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
}
MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
SYSTEM_REMINDER_PREFIX = "<system-reminder>"
# How the CLI (2.1.x) hands the model a user message that arrived while a turn ran:
# a system-role message after the next tool result.
MID_TURN_PREFIX = "The user sent a new message while you were working:\n"
MID_TURN_SUFFIX = "\n\nThis is how Claude Code surfaces messages"
_JOIN_TIMEOUT_S = 5.0


# --- script steps ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A normal answer; `delay_between_chunks > 0` makes it a slow stream."""

    text: str
    chunk_size: int = 16
    delay_between_chunks: float = 0.0


@dataclass(frozen=True)
class EchoPrompt:
    """Answers `prefix + <the user text of the request>`, so tests see which prompt arrived;
    messages the CLI slipped into the running turn follow, ` + `-joined (`echo: a + b`).

    `delay` seconds pass before the answer starts, like a model thinking.
    """

    prefix: str = "echo: "
    delay: float = 0.0


@dataclass(frozen=True)
class Overloaded:
    """529 with the real overloaded body, for the next `times` requests."""

    times: int = 1


@dataclass(frozen=True)
class ErrorStatus:
    """Any other API error, e.g. (400, "invalid_request_error", ...) or (500, "api_error", ...)."""

    status: int
    error_type: str
    message: str


@dataclass(frozen=True)
class HangBeforeHeaders:
    """Read the request, send nothing for `seconds`, then drop the connection."""

    seconds: float = 60.0


@dataclass(frozen=True)
class HangMidStream:
    """Send headers and the start of a stream, stall for `seconds`, then drop the connection."""

    text_before: str = "Thinking about it"
    seconds: float = 60.0


@dataclass(frozen=True)
class MalformedSse:
    """A 200 event stream whose content events are not valid JSON."""


@dataclass(frozen=True)
class UseTool:
    """The model asks for a tool: a `tool_use` block (input streamed as JSON deltas, like
    the real API) with stop_reason `tool_use`, so the CLI runs it and sends the result
    in its next request. `text` (if any) comes first, as a text block."""

    name: str
    input: dict[str, Any]
    text: str = ""


Step = (
    Answer
    | EchoPrompt
    | UseTool
    | Overloaded
    | ErrorStatus
    | HangBeforeHeaders
    | HangMidStream
    | MalformedSse
)


class Script:
    """Steps consumed one per `/v1/messages` request, then `default` forever.

    Steps pushed `for_prompt` go first to the requests whose prompt contains that text,
    so brains asking at once, in any order, each meet their own faults.
    """

    def __init__(self, steps: Iterable[Step] = (), default: Step | None = None) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Step] = deque(steps)
        self._for_prompt: dict[str, deque[Step]] = {}
        self.default: Step = default if default is not None else Answer("ok")

    def push(self, *steps: Step) -> None:
        with self._lock:
            self._queue.extend(steps)

    def push_for_prompt(self, contains: str, *steps: Step) -> None:
        with self._lock:
            self._for_prompt.setdefault(contains, deque()).extend(steps)

    @property
    def pending(self) -> list[Step]:
        with self._lock:
            return list(self._queue)

    def next_step(self, prompt: str | None = None) -> Step:
        with self._lock:
            if prompt is not None:
                for contains, queue in self._for_prompt.items():
                    if contains in prompt and (step := _take(queue)) is not None:
                        return step
            step = _take(self._queue)
            return step if step is not None else self.default


def _take(queue: deque[Step]) -> Step | None:
    """The next step of `queue`, if any; an overload with `times` left stays at its head."""
    while queue:
        step = queue.popleft()
        if isinstance(step, Overloaded):
            if step.times <= 0:
                continue
            if step.times > 1:
                queue.appendleft(Overloaded(step.times - 1))
        return step
    return None


# --- request log -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it; `time` is `time.monotonic()` at arrival."""

    method: str
    path: str
    model: str | None
    user_text: str | None
    stream: bool
    time: float
    step: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    body: dict[str, Any] | None = field(default=None, repr=False, compare=False)


def last_user_text(body: dict[str, Any]) -> str | None:
    """The prompt text of the last user message.

    The CLI puts `<system-reminder>` text blocks before the actual prompt in the
    same user message (and adds `system`-role messages after it), so those are
    skipped to recover what was typed.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if not isinstance(content, list):
            return None
        if content and all(isinstance(b, dict) and b.get("type") == "tool_result"
                           for b in content):
            continue  # the CLI answering a tool call: the prompt is further up
        texts = [
            b["text"]
            for b in content
            if isinstance(b, dict)
            and b.get("type") == "text"
            and isinstance(b.get("text"), str)
            and not b["text"].lstrip().startswith(SYSTEM_REMINDER_PREFIX)
        ]
        return "\n".join(texts) if texts else None
    return None


def mid_turn_texts(body: dict[str, Any]) -> list[str]:
    """The user messages the CLI slipped into a running turn, in order (see
    MID_TURN_PREFIX), after the last plain user prompt."""
    messages = body.get("messages")
    found: list[str] = []
    if not isinstance(messages, list):
        return found
    last_prompt = max((i for i, m in enumerate(messages) if isinstance(m, dict)
                       and m.get("role") == "user" and last_user_text({"messages": [m]})),
                      default=0)
    for message in messages[last_prompt:]:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            text = block.get("text") if isinstance(block, dict) else None
            if isinstance(text, str) and text.startswith(MID_TURN_PREFIX):
                found.append(text[len(MID_TURN_PREFIX):].split(MID_TURN_SUFFIX, 1)[0])
    return found


# --- HTTP plumbing -----------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # Handler threads are joined by FakeAnthropicApi.stop() with a timeout instead,
    # so a misbehaving client can never block the test process at exit.
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, api: FakeAnthropicApi, host: str) -> None:
        self.api = api
        self.live_sockets: set[socket.socket] = set()
        self.live_threads: set[threading.Thread] = set()
        self.live_lock = threading.Lock()
        super().__init__((host, 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # SSE events are small writes; Nagle would batch them and distort timing tests.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def verify_request(self, request: Any, client_address: Any) -> bool:
        try:
            return ipaddress.ip_address(client_address[0]).is_loopback
        except (ValueError, IndexError, TypeError):
            return False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients (the CLI) hang up mid-stream all the time; that's not a test failure.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.live_lock:
            self.server.live_sockets.add(self.connection)
            self.server.live_threads.add(threading.current_thread())

    def finish(self) -> None:
        with self.server.live_lock:
            self.server.live_sockets.discard(self.connection)
            self.server.live_threads.discard(threading.current_thread())
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def _api(self) -> FakeAnthropicApi:
        return self.server.api

    # -- verbs --

    def do_HEAD(self) -> None:
        # The CLI pings the base URL with HEAD as a connectivity check when
        # non-essential traffic is allowed.
        self._api._record(self._recorded(None, "HEAD"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._api._record(self._recorded(None, None))
        self._send_error_json(404, "not_found_error", f"Not found: {self.path}")

    def do_POST(self) -> None:
        raw = self._read_body()
        path = urlsplit(self.path).path
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._api._record(self._recorded(None, None))
            self._send_error_json(400, "invalid_request_error", "Request body is not a JSON object")
            return
        if path == COUNT_TOKENS_PATH:
            self._api._record(self._recorded(body, "count_tokens"))
            self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
            return
        if path != MESSAGES_PATH:
            self._api._record(self._recorded(body, None))
            self._send_error_json(404, "not_found_error", f"Not found: {path}")
            return
        step = self._api.script.next_step(last_user_text(body))
        self._api._record(self._recorded(body, type(step).__name__))
        self._api._entered()
        try:
            self._run_step(step, body)
        finally:
            self._api._left()

    # -- steps --

    def _run_step(self, step: Step, body: dict[str, Any]) -> None:
        stream = body.get("stream") is True
        requested = body.get("model")
        model = requested if isinstance(requested, str) else "claude-fake"
        match step:
            case Answer(text=text, chunk_size=size, delay_between_chunks=delay):
                self._answer(stream, model, text, size, delay)
            case EchoPrompt(prefix=prefix, delay=delay):
                if delay > 0 and self._api._stopping.wait(delay):
                    self.close_connection = True
                    return
                said = [last_user_text(body) or "", *mid_turn_texts(body)]
                self._answer(stream, model, prefix + " + ".join(said), 16, 0.0)
            case Overloaded():
                self._send_json(529, OVERLOADED_BODY)
            case ErrorStatus(status=status, error_type=error_type, message=message):
                self._send_error_json(status, error_type, message)
            case HangBeforeHeaders(seconds=seconds):
                self._api._stopping.wait(seconds)
                self.close_connection = True
            case HangMidStream(text_before=text, seconds=seconds):
                self._hang_mid_stream(stream, model, text, seconds)
            case MalformedSse():
                self._malformed(stream, model)
            case UseTool(name=name, input=tool_input, text=text):
                self._use_tool(stream, model, name, tool_input, text)

    def _answer(self, stream: bool, model: str, text: str, size: int, delay: float) -> None:
        if not stream:
            self._send_json(200, _message(model, text, "end_turn"))
            return
        self._start_sse()
        self._sse_prelude(model)
        size = max(1, size)
        for i in range(0, len(text), size):
            if i and delay > 0 and self._api._stopping.wait(delay):
                self.close_connection = True
                return
            self._sse(_text_delta(text[i : i + size]))
        self._sse_epilogue(len(text))
        self._end_sse()

    def _use_tool(self, stream: bool, model: str, name: str, tool_input: dict[str, Any],
                  text: str) -> None:
        tool_id = f"toolu_fake_{uuid.uuid4().hex[:20]}"
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}
        if not stream:
            message = _message(model, text, "tool_use")
            message["content"] = ([{"type": "text", "text": text}] if text else []) + [block]
            self._send_json(200, message)
            return
        self._start_sse()
        start = _message(model, "", None)
        start["content"] = []
        self._sse({"type": "message_start", "message": start})
        index = 0
        if text:
            self._sse({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}})
            self._sse(_text_delta(text))
            self._sse({"type": "content_block_stop", "index": 0})
            index = 1
        self._sse({"type": "content_block_start", "index": index,
                   "content_block": {**block, "input": {}}})
        raw = json.dumps(tool_input)
        half = len(raw) // 2
        for part in (raw[:half], raw[half:]):
            self._sse({"type": "content_block_delta", "index": index,
                       "delta": {"type": "input_json_delta", "partial_json": part}})
        self._sse({"type": "content_block_stop", "index": index})
        self._sse({"type": "message_delta",
                   "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                   "usage": {"output_tokens": _tokens(len(raw) + len(text))}})
        self._sse({"type": "message_stop"})
        self._end_sse()

    def _hang_mid_stream(self, stream: bool, model: str, text: str, seconds: float) -> None:
        if not stream:
            # A JSON body can't be half-sent usefully; stalling before it is the same fault.
            self._api._stopping.wait(seconds)
            self.close_connection = True
            return
        self._start_sse()
        self._sse_prelude(model)
        if text:
            self._sse(_text_delta(text))
        self._api._stopping.wait(seconds)
        # No terminating chunk: the client sees a truncated stream, as on a dropped link.
        self.close_connection = True

    def _malformed(self, stream: bool, model: str) -> None:
        if not stream:
            self._send_raw(200, "application/json", b'{"id": "msg_broken", "content": [')
            return
        self._start_sse()
        self._sse_prelude(model)
        self._chunk(b"event: content_block_delta\ndata: {this is not json\n\n")
        self._chunk(b"\x00\xff garbage without any event framing\n\n")
        self._chunk(b"event: message_delta\ndata: [1, 2\n\n")
        self._end_sse()

    # -- wire helpers --

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            with contextlib.suppress(OSError, EOFError):
                raw = gzip.decompress(raw)
        return raw

    def _recorded(self, body: dict[str, Any] | None, step: str | None) -> RecordedRequest:
        body = body or {}
        model = body.get("model")
        return RecordedRequest(
            method=self.command,
            path=self.path,
            model=model if isinstance(model, str) else None,
            user_text=last_user_text(body),
            stream=body.get("stream") is True,
            time=time.monotonic(),
            step=step,
            headers=dict(self.headers.items()),
            body=body or None,
        )

    def _common_headers(self) -> None:
        self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:24]}")

    def _send_raw(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self._common_headers()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send_raw(status, "application/json", json.dumps(payload).encode())

    def _send_error_json(self, status: int, error_type: str, message: str) -> None:
        payload = {"type": "error", "error": {"type": error_type, "message": message}}
        self._send_json(status, payload)

    def _start_sse(self) -> None:
        # Chunked like the real API, so the connection can stay alive between turns.
        self.send_response(200)
        self._common_headers()
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_sse(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _sse(self, payload: dict[str, Any]) -> None:
        self._chunk(f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode())

    def _sse_prelude(self, model: str) -> None:
        start = _message(model, "", None)
        start["content"] = []
        self._sse({"type": "message_start", "message": start})
        self._sse({"type": "ping"})
        self._sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        )

    def _sse_epilogue(self, text_len: int) -> None:
        self._sse({"type": "content_block_stop", "index": 0})
        self._sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": _tokens(text_len)},
            }
        )
        self._sse({"type": "message_stop"})


def _tokens(chars: int) -> int:
    return max(1, chars // 4)


def _text_delta(text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }


def _message(model: str, text: str, stop_reason: str | None) -> dict[str, Any]:
    return {
        "id": f"msg_fake_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": _tokens(len(text))},
    }


# --- the server --------------------------------------------------------------------------


class FakeAnthropicApi:
    """Threaded fake Messages API on 127.0.0.1 with an ephemeral port."""

    def __init__(self, script: Script | None = None, host: str = "127.0.0.1") -> None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"FakeAnthropicApi binds only to a loopback IP, got {host!r}"
            ) from None
        if address.version != 4 or not address.is_loopback:
            raise ValueError(f"FakeAnthropicApi binds only to 127.0.0.0/8, got {host!r}")
        self._host = host
        self.script = script if script is not None else Script()
        self._stopping = threading.Event()
        self._log_lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self.peak_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeAnthropicApi is not started")
        return f"http://{self._host}:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._log_lock:
            return list(self._requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """Only the scripted `/v1/messages` calls (no HEAD, count_tokens, 404s)."""
        return [r for r in self.requests if urlsplit(r.path).path == MESSAGES_PATH]

    @property
    def in_flight(self) -> int:
        """`/v1/messages` requests being answered right now (one per brain waiting on us)."""
        with self._log_lock:
            return self._in_flight

    def _record(self, request: RecordedRequest) -> None:
        with self._log_lock:
            self._requests.append(request)

    def _entered(self) -> None:
        with self._log_lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    def _left(self) -> None:
        with self._log_lock:
            self._in_flight -= 1

    def start(self) -> FakeAnthropicApi:
        if self._server is not None:
            raise RuntimeError("FakeAnthropicApi already started")
        self._stopping.clear()
        self._server = _Server(self, self._host)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-anthropic",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with server.live_lock:
            sockets = list(server.live_sockets)
            threads = list(server.live_threads)
        # Unblocks handlers parked in a keep-alive read or a write to a stalled client.
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        server.server_close()
        if thread is not None:
            thread.join(_JOIN_TIMEOUT_S)
        self._server = self._thread = None

    def __enter__(self) -> FakeAnthropicApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def claude_env(base_url: str, home: str) -> dict[str, str]:
    """The whole environment for an offline CLI run against `base_url`.

    Deliberately not inherited from os.environ: a stray proxy, API key or config
    dir from the developer's shell would make tests talk to the real service.
    """
    tmp = os.path.join(home, "tmp")
    os.makedirs(tmp, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH") or os.defpath,
        "HOME": home,
        # The CLI leaves probe dirs in $TMPDIR/claude-<uid>; keep them in the throwaway home.
        "TMPDIR": tmp,
        "CLAUDE_CODE_TMPDIR": tmp,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-ant-offline-fake-key",
        # Drops the HEAD connectivity probe and telemetry, leaving one POST per turn.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    }
