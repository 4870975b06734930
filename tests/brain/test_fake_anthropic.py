"""Fast tests of the fake Messages API over raw HTTP (no CLI involved)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.brain.turns import wait_until
from wakeful.testing.fake_anthropic import (
    OVERLOADED_BODY,
    Answer,
    EchoPrompt,
    ErrorStatus,
    FakeAnthropicApi,
    HangBeforeHeaders,
    HangMidStream,
    MalformedSse,
    Overloaded,
    Script,
    claude_env,
    last_user_text,
)

pytestmark = pytest.mark.timeout(30)

MODEL = "claude-opus-5-5"


@pytest.fixture
def api() -> Iterator[FakeAnthropicApi]:
    with FakeAnthropicApi() as server:
        yield server


def cli_shaped_body(prompt: str, *, stream: bool = True) -> dict[str, Any]:
    """A request body laid out like the CLI's (reminder block first, then a system message)."""
    return {
        "model": MODEL,
        "max_tokens": 128000,
        "stream": stream,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "<system-reminder>\nattribution\n</system-reminder>\n",
                    },
                    {"type": "text", "text": prompt},
                ],
            },
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
        ],
    }


def connect(api: FakeAnthropicApi, timeout: float = 10.0) -> http.client.HTTPConnection:
    port = int(api.base_url.rsplit(":", 1)[1])
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def post(
    conn: http.client.HTTPConnection, body: dict[str, Any], path: str = "/v1/messages?beta=true"
) -> http.client.HTTPResponse:
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    return conn.getresponse()


def read_sse(resp: http.client.HTTPResponse) -> list[tuple[str, str]]:
    """(event name, raw data) pairs of a whole event stream."""
    events: list[tuple[str, str]] = []
    for block in resp.read().decode("utf-8", errors="replace").split("\n\n"):
        name = data = ""
        for row in block.splitlines():
            if row.startswith("event: "):
                name = row[len("event: ") :]
            elif row.startswith("data: "):
                data = row[len("data: ") :]
        if name or data:
            events.append((name, data))
    return events


def test_answer_streams_events_in_api_order(api: FakeAnthropicApi) -> None:
    api.script.push(Answer("Hello there, scripted world!", chunk_size=5))
    resp = post(connect(api), cli_shaped_body("hi"))
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    events = read_sse(resp)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [json.loads(data) for name, data in events if name == "content_block_delta"]
    assert len(deltas) == len(names) - 6 == 6
    assert all(d["delta"]["type"] == "text_delta" for d in deltas)
    assert deltas[0]["delta"]["text"] == "Hello"
    assert "".join(d["delta"]["text"] for d in deltas) == "Hello there, scripted world!"
    start = json.loads(events[0][1])
    assert start["message"]["model"] == MODEL
    assert json.loads(events[-2][1])["delta"]["stop_reason"] == "end_turn"
    for name, data in events:
        assert json.loads(data)["type"] == name


def test_keep_alive_connection_serves_consecutive_streams(api: FakeAnthropicApi) -> None:
    api.script.push(Answer("one"), Answer("two"))
    conn = connect(api)
    texts = []
    for _ in range(2):
        events = read_sse(post(conn, cli_shaped_body("hi")))
        deltas = [json.loads(d) for n, d in events if n == "content_block_delta"]
        texts.append("".join(d["delta"]["text"] for d in deltas))
    assert texts == ["one", "two"]


def test_non_streaming_request_gets_a_json_message(api: FakeAnthropicApi) -> None:
    api.script.push(Answer("plain"))
    resp = post(connect(api), cli_shaped_body("hi", stream=False))
    assert resp.status == 200
    msg = json.loads(resp.read())
    assert msg["type"] == "message"
    assert msg["role"] == "assistant"
    assert msg["content"] == [{"type": "text", "text": "plain"}]
    assert msg["stop_reason"] == "end_turn"


def test_overloaded_answers_529_then_falls_through_to_the_queue(api: FakeAnthropicApi) -> None:
    api.script = Script([Overloaded(times=2), Answer("finally")], default=Answer("default"))
    conn = connect(api)
    for _ in range(2):
        resp = post(conn, cli_shaped_body("hi"))
        assert resp.status == 529
        assert json.loads(resp.read()) == OVERLOADED_BODY
    assert OVERLOADED_BODY == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert "finally" in "".join(d for _, d in read_sse(post(conn, cli_shaped_body("hi"))))
    assert "default" in "".join(d for _, d in read_sse(post(conn, cli_shaped_body("hi"))))
    assert [r.step for r in api.message_requests] == [
        "Overloaded",
        "Overloaded",
        "Answer",
        "Answer",
    ]


@pytest.mark.parametrize(
    ("status", "error_type"), [(400, "invalid_request_error"), (500, "api_error")]
)
def test_error_status_sends_the_api_error_shape(
    api: FakeAnthropicApi, status: int, error_type: str
) -> None:
    api.script.push(ErrorStatus(status, error_type, "scripted failure"))
    resp = post(connect(api), cli_shaped_body("hi"))
    assert resp.status == status
    assert json.loads(resp.read()) == {
        "type": "error",
        "error": {"type": error_type, "message": "scripted failure"},
    }


def test_malformed_sse_has_undecodable_events(api: FakeAnthropicApi) -> None:
    api.script.push(MalformedSse())
    resp = post(connect(api), cli_shaped_body("hi"))
    assert resp.status == 200
    events = read_sse(resp)
    assert events[0][0] == "message_start"
    bad = 0
    for _, data in events:
        try:
            json.loads(data)
        except ValueError:
            bad += 1
    assert bad >= 2


def test_echo_prompt_answers_with_the_user_text(api: FakeAnthropicApi) -> None:
    api.script.push(EchoPrompt(prefix="you said: "))
    events = read_sse(post(connect(api), cli_shaped_body("ping 42")))
    text = "".join(json.loads(d)["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "you said: ping 42"


def test_last_user_text_skips_reminders_and_system_messages() -> None:
    assert last_user_text(cli_shaped_body("the prompt")) == "the prompt"
    assert last_user_text({"messages": [{"role": "user", "content": "plain"}]}) == "plain"
    earlier = {"role": "user", "content": "old"}
    reply = {"role": "assistant", "content": "answer"}
    body = {
        "messages": [earlier, reply, {"role": "user", "content": [{"type": "text", "text": "new"}]}]
    }
    assert last_user_text(body) == "new"
    assert last_user_text({"messages": "nope"}) is None
    assert last_user_text({}) is None


def test_requests_are_recorded(api: FakeAnthropicApi) -> None:
    conn = connect(api)
    read_sse(post(conn, cli_shaped_body("first")))
    post(conn, cli_shaped_body("second", stream=False)).read()
    [a, b] = api.requests
    assert (a.method, a.path, a.model, a.user_text, a.stream) == (
        "POST",
        "/v1/messages?beta=true",
        MODEL,
        "first",
        True,
    )
    assert (b.user_text, b.stream) == ("second", False)
    assert a.time <= b.time
    assert a.headers["Content-Type"] == "application/json"


def test_side_paths(api: FakeAnthropicApi) -> None:
    conn = connect(api)
    resp = post(conn, cli_shaped_body("x"), path="/v1/messages/count_tokens?beta=true")
    assert resp.status == 200
    assert json.loads(resp.read())["input_tokens"] > 0
    conn.request("HEAD", "/api/hello")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200
    for method in ("GET", "POST"):
        conn.request(method, "/v1/nowhere", body=b"{}" if method == "POST" else None)
        resp = conn.getresponse()
        assert resp.status == 404
        assert json.loads(resp.read())["error"]["type"] == "not_found_error"
    # Side paths never consume script steps.
    assert api.message_requests == []
    assert len(api.requests) == 4


def test_invalid_json_body_is_a_400(api: FakeAnthropicApi) -> None:
    conn = connect(api)
    conn.request("POST", "/v1/messages", body=b"{nope")
    resp = conn.getresponse()
    assert resp.status == 400
    assert json.loads(resp.read())["error"]["type"] == "invalid_request_error"


def test_slow_stream_spaces_its_chunks(api: FakeAnthropicApi) -> None:
    api.script.push(Answer("abcdef", chunk_size=2, delay_between_chunks=0.1))
    started = time.monotonic()
    events = read_sse(post(connect(api), cli_shaped_body("hi")))
    assert time.monotonic() - started >= 0.2
    assert sum(1 for n, _ in events if n == "content_block_delta") == 3


def _stop_in_background(api: FakeAnthropicApi) -> tuple[threading.Thread, list[float]]:
    took: list[float] = []

    def run() -> None:
        t = time.monotonic()
        api.stop()
        took.append(time.monotonic() - t)

    return threading.Thread(target=run), took


def test_hang_before_headers_ends_promptly_on_stop() -> None:
    api = FakeAnthropicApi(Script([HangBeforeHeaders(seconds=600)])).start()
    port = int(api.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        body = json.dumps(cli_shaped_body("hi")).encode()
        head = f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing is sent while hanging
        sock.settimeout(10)
        stopper, took = _stop_in_background(api)
        stopper.start()
        assert sock.recv(1) == b""  # the connection is dropped without a byte
        stopper.join(10)
    assert took and took[0] < 3.0


def test_hang_mid_stream_sends_a_prefix_then_stalls_until_stop() -> None:
    api = FakeAnthropicApi(Script([HangMidStream(text_before="partial", seconds=600)])).start()
    resp = post(connect(api), cli_shaped_body("hi"))
    assert resp.status == 200
    seen = b""
    while b"partial" not in seen:
        seen += resp.read1(4096)
    stopper, took = _stop_in_background(api)
    stopper.start()
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        while resp.read1(4096):
            pass  # the stream never finishes properly
    stopper.join(10)
    assert took and took[0] < 3.0
    assert b"message_stop" not in seen


def test_hang_mid_stream_ends_by_itself_with_a_dropped_connection() -> None:
    with FakeAnthropicApi(Script([HangMidStream(text_before="x", seconds=0.2)])) as api:
        resp = post(connect(api), cli_shaped_body("hi"))
        with pytest.raises(http.client.IncompleteRead):
            resp.read()


def test_accepted_sockets_have_tcp_nodelay() -> None:
    with FakeAnthropicApi(Script([HangBeforeHeaders(seconds=600)])) as api:
        conn = connect(api)
        conn.request("POST", "/v1/messages", body=json.dumps(cli_shaped_body("hi")))
        deadline = time.monotonic() + 5
        while not api.message_requests and time.monotonic() < deadline:
            time.sleep(0.01)
        server = api._server
        assert server is not None
        [sock] = server.live_sockets
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "8.8.8.8", "localhost", "::1", ""])
def test_non_loopback_bind_is_refused(host: str) -> None:
    with pytest.raises(ValueError):
        FakeAnthropicApi(host=host)


def test_binds_loopback_on_an_ephemeral_port() -> None:
    with FakeAnthropicApi() as a, FakeAnthropicApi() as b:
        assert a.base_url.startswith("http://127.0.0.1:")
        assert a.base_url != b.base_url


def test_lifecycle_errors() -> None:
    api = FakeAnthropicApi()
    with pytest.raises(RuntimeError):
        _ = api.base_url
    api.start()
    with pytest.raises(RuntimeError):
        api.start()
    api.stop()
    api.stop()  # idempotent


def test_claude_env_is_minimal_and_offline(tmp_path: Any) -> None:
    env = claude_env("http://127.0.0.1:1234", str(tmp_path))
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:1234"
    assert env["HOME"] == str(tmp_path)
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert env["ANTHROPIC_API_KEY"]
    assert env["PATH"]
    assert env["TMPDIR"].startswith(str(tmp_path))
    assert not any(k.endswith("_PROXY") and k != "NO_PROXY" for k in env)


def test_requests_in_flight_are_counted_with_their_peak(api: FakeAnthropicApi) -> None:
    api.script = Script(default=EchoPrompt(delay=0.5))
    done = threading.Barrier(4)

    def ask() -> None:
        read_sse(post(connect(api), cli_shaped_body("hi")))
        done.wait(timeout=10)

    workers = [threading.Thread(target=ask) for _ in range(3)]
    for worker in workers:
        worker.start()
    assert api.in_flight <= 3
    done.wait(timeout=10)
    for worker in workers:
        worker.join(timeout=10)
    assert api.peak_in_flight == 3
    # The client may have read the last byte before the server's handler has returned.
    wait_until(lambda: api.in_flight == 0, "every request to be counted out", timeout=10)


def test_echo_prompt_can_think_before_answering(api: FakeAnthropicApi) -> None:
    api.script.push(EchoPrompt(delay=0.3))
    started = time.monotonic()
    events = read_sse(post(connect(api), cli_shaped_body("slow")))
    assert time.monotonic() - started >= 0.3
    deltas = [json.loads(d) for n, d in events if n == "content_block_delta"]
    assert "".join(d["delta"]["text"] for d in deltas) == "echo: slow"
