"""A real loopback HTTP front end for `BotApiCore`, speaking the Bot API wire format.

Besides `/bot<token>/<method>` (and file downloads, `/file/bot<token>/<file_path>`, the
URL PTB builds from getFile's file_path) it serves a token-less user-side API under
`/_user/` so that
a process without access to the core object (a demo client, a shell with curl) can play
the users of the bot.

A lost response (`BotApiCore.lose_next_response`) is lost on the wire: "disconnect" closes
the connection without an answer, "hang" holds it open until the client gives up or the
server stops.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import select
import socket
import socketserver
import threading
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from wakeful.testing.bot_api.core import BotApiCore, Envelope, Reply

log = logging.getLogger(__name__)

_USER_PREFIX = "/_user/"
_FILE_PREFIX = "/file/bot"  # downloads: /file/bot<token>/<file_path>


def _error(code: int, description: str) -> Envelope:
    return code, {"ok": False, "error_code": code, "description": description}


class _BadBody(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Tests start and stop many servers; a lingering TIME_WAIT must not block a rebind.
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when a client opens its connection
    # pool in a burst; the kernel then drops SYNs and the client retries a second later,
    # which shows up as a 1 s 👀 (or a pool timeout) that real Telegram would not cause.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], core: BotApiCore, family: int) -> None:
        self.address_family = family
        self.core = core
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # Set by LocalBotApiServer.stop; releases handlers holding a "hung" response.
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a reverse DNS lookup that can
        # stall for seconds in sandboxes; nothing here needs server_name to be a real name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # Headers and body go out in separate writes; with Nagle on, the second one waits
        # for the client's delayed ACK and every call costs ~40 ms.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        # Keep-alive handler threads outlive serve_forever(); cutting their sockets is
        # what actually stops a stopped server from answering pooled client connections.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a client hanging up mid long-poll is
        # routine here, and nothing derived from the request (which holds the token) may
        # reach the logs anyway.
        log.debug("connection closed with an error")


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive: PTB's httpx pool reuses connections, which is most of the speed.
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        split = urlsplit(self.path)
        try:
            # Read the body before routing: an unread body would corrupt the next request
            # on this keep-alive connection.
            raw = self._read_body()
        except _BadBody as exc:
            self.close_connection = True
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(exc)}, "unreadable body")
            return
        if split.path.startswith(_USER_PREFIX):
            self._handle_user(split.path.removeprefix(_USER_PREFIX), split.query, raw)
            return
        if split.path.startswith(_FILE_PREFIX):
            self._handle_download(split.path.removeprefix(_FILE_PREFIX))
            return
        label = "unroutable"
        try:
            token, method = self._route(split.path)
            label = method
            params = self._parse_params(split.query, raw)
            reply = self.server.core.serve(token, method, params)
        except LookupError:
            reply = Reply(*_error(HTTPStatus.NOT_FOUND, "Not Found"))
        except _BadBody as exc:
            reply = Reply(*_error(HTTPStatus.BAD_REQUEST, f"Bad Request: {exc}"))
        except Exception:
            log.exception("local Bot API failed on %s", label)
            reply = Reply(*_error(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error"))
        if reply.lost is None:
            self._reply(reply.status, reply.body, label)
            return
        if reply.lost == "hang":
            self._hang_until_abandoned()
        # Closing without writing a byte is what a dropped answer looks like to a client.
        self.close_connection = True
        log.debug("%s -> lost (%s)", label, reply.lost)

    def _handle_download(self, rest: str) -> None:
        # PTB percent-encodes the whole path, the token's ":" included.
        token, _, file_path = unquote(rest).partition("/")
        data = self.server.core.download(token, file_path)
        if data is None:
            self._reply(*_error(HTTPStatus.NOT_FOUND, "Not Found"), "download")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _hang_until_abandoned(self) -> None:
        """Hold the connection until the client closes it or the server stops."""
        while not self.server.stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if not readable:
                continue
            try:
                if not self.connection.recv(1, socket.MSG_PEEK):
                    return  # the client gave up (its read timeout) and hung up
            except OSError:
                return
            # Bytes from a client that should be waiting: don't spin on them.
            self.server.stopping.wait(0.05)

    @staticmethod
    def _route(path: str) -> tuple[str, str]:
        head, _, method = path.rpartition("/")
        token_part = head.rpartition("/")[2]
        if not method or not token_part.startswith("bot") or len(token_part) <= len("bot"):
            raise LookupError(path)
        return token_part.removeprefix("bot"), method

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise _BadBody("chunked request bodies are not supported")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _BadBody("invalid Content-Length") from None
        return self.rfile.read(length) if length > 0 else b""

    def _parse_params(self, query: str, body: bytes) -> dict[str, Any]:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = self.headers.get_content_type()
        if not body:
            return params
        if content_type == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError:
                raise _BadBody("can't parse JSON body") from None
            if not isinstance(decoded, dict):
                raise _BadBody("JSON body must be an object")
            params.update(decoded)
        elif content_type == "application/x-www-form-urlencoded":
            try:
                text = body.decode()
            except UnicodeDecodeError:
                raise _BadBody("form body is not UTF-8") from None
            params.update(parse_qsl(text, keep_blank_values=True))
        elif content_type == "multipart/form-data":
            # PTB switches to multipart only to upload files, which this fake never stores.
            raise _BadBody("file uploads are not supported by the local Bot API")
        else:
            raise _BadBody(f"unsupported Content-Type {content_type}")
        return params

    def _handle_user(self, action: str, query: str, body: bytes) -> None:
        core = self.server.core
        label = f"_user/{action}"
        try:
            if action == "sendMessage" and self.command == "POST":
                request = json.loads(body or b"{}")
                update = core.inject_text(
                    int(request["chat_id"]),
                    str(request["text"]),
                    user_id=None if request.get("user_id") is None else int(request["user_id"]),
                    first_name=str(request.get("first_name", "User")),
                    chat_type=str(request.get("chat_type", "private")),
                    reply_to_message_id=(
                        None
                        if request.get("reply_to_message_id") is None
                        else int(request["reply_to_message_id"])
                    ),
                )
                self._reply(HTTPStatus.OK, update, label)
            elif action == "sent" and self.command == "GET":
                chat_id = int(dict(parse_qsl(query))["chat_id"])
                records = [asdict(record) for record in core.sent(chat_id)]
                self._reply(HTTPStatus.OK, records, label)
            else:
                self._reply(HTTPStatus.NOT_FOUND, {"error": "unknown user endpoint"}, label)
        except (LookupError, TypeError, ValueError) as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(exc)}, label)

    def _reply(self, status: int, body: Any, label: str) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        log.debug("%s -> %d", label, status)

    # The stock implementations log the request line, and the request line carries the
    # bot token; these keep the log to what _reply already records.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("http protocol error: %s", format)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: %s", format)


def _loopback_family(host: str) -> tuple[str, int]:
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be a loopback IP address, got {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"refusing to expose the fake Bot API on non-loopback {host!r}")
    return host, socket.AF_INET6 if address.version == 6 else socket.AF_INET


class LocalBotApiServer:
    """Serves a `BotApiCore` over HTTP on loopback; bound on construction, so `port` is known."""

    def __init__(self, core: BotApiCore, host: str = "127.0.0.1", port: int = 0) -> None:
        bind_host, family = _loopback_family(host)
        self.core = core
        self._server = _Server((bind_host, port), core, family)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What PTB's `Bot(base_url=...)` expects; PTB appends the token itself."""
        return f"{self.url}/bot"

    def start(self) -> LocalBotApiServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"local-bot-api:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        # Pending long polls would otherwise hold their handler threads for `timeout`.
        self.core.interrupt_long_polls()
        self._server.drop_connections()
        self._server.server_close()

    def __enter__(self) -> LocalBotApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
