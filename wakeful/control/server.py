"""The control socket of a running instance: owner-only, one question per connection.

A daemon thread accepts connections on a Unix socket in a private directory (see
paths.py); each connection gets a short-lived thread that checks the peer's uid with
SO_PEERCRED (the service's own uid, or root), reads one request line and answers one
JSON line (protocol.py). Nothing a client sends can stop the server: a bad request is
answered with an error line. The state itself comes from `Service.state()`, which asks
every actor through its mailbox; this module never looks inside an actor.

SIGUSR1 writes the same document to the log. The signal handler only writes a byte to
a pipe; a thread of its own builds and logs the dump.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

from wakeful import __version__, pidlock
from wakeful.config import Config
from wakeful.control import protocol
from wakeful.control.document import build
from wakeful.control.errors import ControlError
from wakeful.control.paths import SocketPlace, prepare_directory, socket_place
from wakeful.control.peer import may_connect, peer_of
from wakeful.control.protocol import BadRequest, Op, Request
from wakeful.control.render import render_text
from wakeful.logs import Redactor

log = logging.getLogger("wakeful.control")

# Connections served at once; more are answered "busy" at once (a loop of clients must
# not grow threads without bound).
MAX_CONNECTIONS = 8
WRITE_TIMEOUT = 10.0
# The actors get this long to answer a state request (mailbox latency included).
STATE_TIMEOUT = 5.0
JOIN_TIMEOUT = 5.0


class ControlServer:
    def __init__(self, service: Any, config: Config, place: SocketPlace,
                 listener: socket.socket, lock_fd: int) -> None:
        self._service = service
        self._place = place
        self._listener = listener
        self._lock_fd = lock_fd
        self._inode = os.stat(place.path).st_ino
        self._uid = os.geteuid()
        self._previews = config.control.previews
        self._json_log = config.service.log_format == "json"
        # Belt and braces: no snapshot holds the token, but a failure reason might quote
        # an error that did; nothing leaves this process with it (in any of its forms).
        self._redact = Redactor([config.token] if config.token is not None else [])
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._stop_r, self._stop_w = os.pipe()
        self._dump_r, self._dump_w = os.pipe()
        os.set_blocking(self._dump_w, False)
        self._previous_usr1: Any = None
        self._stopped = False
        self._serving = threading.Thread(target=self._serve, name="wakeful-control",
                                         daemon=True)
        self._dumping = threading.Thread(target=self._dump_on_signal,
                                         name="wakeful-control-dump", daemon=True)

    @property
    def path(self) -> Path:
        return self._place.path

    @classmethod
    def start(cls, service: Any, config: Config) -> ControlServer:
        """Bind the socket and serve; raises ControlError (one line) when it cannot.

        Called on the main thread, which is the only one that may install the SIGUSR1
        handler (elsewhere, as in some tests, the dump is simply not available).
        """
        place = socket_place(config)
        prepare_directory(place)
        lock_fd = _lock(place.path)
        try:
            _clear_stale(place.path)
            listener = _bind(place.path)
        except BaseException:
            os.close(lock_fd)
            raise
        server = cls(service, config, place, listener, lock_fd)
        server._serving.start()
        server._dumping.start()
        if threading.current_thread() is threading.main_thread():
            server._previous_usr1 = signal.signal(signal.SIGUSR1, server._on_usr1)
        log.info("control socket at %s (wakeful state --socket %s)", place.path, place.path)
        return server

    def stop(self) -> None:
        """Close the listener, remove the socket file, wait for the threads."""
        if self._stopped:
            return
        self._stopped = True
        if self._previous_usr1 is not None:
            # SIG_DFL would make a late `kill -USR1` end the process mid-stop.
            previous = self._previous_usr1
            signal.signal(signal.SIGUSR1, signal.SIG_IGN if previous == signal.SIG_DFL
                          else previous)
        os.write(self._stop_w, b"x")
        self._serving.join(JOIN_TIMEOUT)
        self._listener.close()
        with contextlib.suppress(OSError):
            if os.stat(self._place.path).st_ino == self._inode:  # still ours, not a successor's
                os.unlink(self._place.path)
        os.close(self._dump_w)  # the dump thread reads EOF and leaves
        self._dumping.join(JOIN_TIMEOUT)
        # A thread still running (a dump waiting on a wedged actor) keeps its fd: closed,
        # its number could be reused by a file another thread opens next.
        if not self._serving.is_alive():
            os.close(self._stop_r)
            os.close(self._stop_w)
        if not self._dumping.is_alive():
            os.close(self._dump_r)
        os.close(self._lock_fd)

    def document(self, previews: bool = True) -> dict[str, Any]:
        """The state document; previews only if both the config and the caller want them."""
        return build(self._service.state(timeout=STATE_TIMEOUT), previews and self._previews)

    # --- accepting (the serving thread) ----------------------------------------------

    def _serve(self) -> None:
        """Executed on the serving thread until stop()."""
        while True:
            ready, _, _ = select.select([self._listener.fileno(), self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                conn, _ = self._listener.accept()
            except OSError as exc:
                log.warning("control: accept failed: %s", exc)
                time.sleep(0.1)  # out of file descriptors, say: no busy loop meanwhile
                continue
            if not self._slots.acquire(blocking=False):
                self._reply(conn, protocol.error("busy: too many control connections at once"))
                conn.close()
                continue
            threading.Thread(target=self._connection, args=(conn,), daemon=True,
                             name="wakeful-control-conn").start()

    def _connection(self, conn: socket.socket) -> None:
        """Executed on one connection's own thread."""
        try:
            with conn:
                self._reply(conn, self._answer(conn))
        finally:
            self._slots.release()

    def _answer(self, conn: socket.socket) -> bytes:
        try:
            peer = peer_of(conn)
        except OSError as exc:
            log.warning("control: cannot tell who connected (%s); refused", exc)
            return protocol.error("refused: cannot check your credentials")
        if not may_connect(peer.uid, self._uid):
            log.warning("control: refused a connection from uid %d (pid %d): only uid %d "
                        "and root may read this wakeful", peer.uid, peer.pid, self._uid)
            return protocol.error(f"refused: uid {peer.uid} may not read this wakeful "
                                  f"(only uid {self._uid} and root may)")
        try:
            request = protocol.parse_request(
                protocol.read_line(conn, protocol.MAX_REQUEST, protocol.READ_TIMEOUT))
        except BadRequest as exc:
            return protocol.error(str(exc))
        except TimeoutError:
            return protocol.error(f"no request line within {protocol.READ_TIMEOUT:g}s")
        except OSError as exc:
            return protocol.error(f"cannot read the request: {exc}")
        try:
            return self._respond(request)
        except Exception as exc:  # whatever went wrong, the server keeps serving
            log.exception("control: cannot answer a %s request", request.op.value)
            return protocol.error(f"cannot answer: {exc!r}")

    def _respond(self, request: Request) -> bytes:
        match request.op:
            case Op.PING:
                return protocol.answer(version=__version__, pid=os.getpid())
            case Op.STATE:
                return protocol.answer(state=self.document(request.previews))

    def _reply(self, conn: socket.socket, line: bytes) -> None:
        line = self._redact(line.decode()).encode()
        try:
            conn.settimeout(WRITE_TIMEOUT)
            conn.sendall(line)
        except OSError:
            pass  # the client left; nothing to tell it

    # --- SIGUSR1 ---------------------------------------------------------------------

    def _on_usr1(self, signum: int, frame: object) -> None:
        """Executed in the signal handler: only a byte to the dump thread."""
        with contextlib.suppress(OSError):  # full pipe: a dump is already on its way
            os.write(self._dump_w, b"d")

    def _dump_on_signal(self) -> None:
        """Executed on the dump thread: one dump per SIGUSR1 (bunched ones: one)."""
        while True:
            try:
                if not os.read(self._dump_r, 512):
                    return
            except OSError:
                return
            if self._stopped:
                continue
            try:
                self._dump()
            except Exception:
                log.exception("control: cannot write the state dump")

    def _dump(self) -> None:
        doc = self.document()
        if self._json_log:
            text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        else:
            text = "\n" + render_text(doc).rstrip()
        text = self._redact(text)
        log.info("state (SIGUSR1): %s", text)


# --- the socket file -----------------------------------------------------------------


def _lock(path: Path) -> int:
    """Hold `<socket>.lock` for the life of the server: of two instances starting at the
    same moment, one serves and the other is told so, without a race on the file."""
    lock_path = f"{path}.lock"
    try:
        return pidlock.hold(lock_path)
    except pidlock.LockHeld as held:
        who = f" (pid {held.holder})" if held.holder else ""
        raise ControlError(f"another wakeful{who} serves at {path}; stop it first, or give "
                           "this one its own [control] socket") from None
    except OSError as exc:
        raise ControlError(f"cannot create the socket lock {lock_path}: {exc.strerror}") \
            from None


def _clear_stale(path: Path) -> None:
    """A socket file left by a killed instance is removed; a live one is not ours to take."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ControlError(f"{path} exists and is not a socket; remove it or choose another "
                           "[control] socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        os.unlink(path)
        log.info("control: replaced the socket left at %s by an instance that is gone", path)
        return
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ControlError(f"cannot check the socket {path}: {exc.strerror or exc}") from None
    finally:
        probe.close()
    raise ControlError(f"another process serves at {path}; stop it first, or give this "
                       "wakeful its own [control] socket")


def _bind(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Not through the umask: it is the whole process's, and a chat's workdir created in
    # the same instant would lose its x bit. The directory is 0700 (paths.py), so nobody
    # else can reach the socket between bind and chmod.
    try:
        listener.bind(str(path))
        os.chmod(path, 0o600)
    except OSError as exc:
        listener.close()
        raise ControlError(f"cannot bind the control socket {path}: {exc.strerror}") from None
    listener.listen(16)
    return listener
