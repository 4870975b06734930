"""`wakeful state`: ask a running instance over its control socket, and show the answer.

The socket is found the way the service finds it (`--socket`, else the config's
`[control] socket`, else the default rule), so `wakeful state --config X` reaches the
instance that `wakeful run --config X` started. Reading the config needs no token.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from wakeful.config import ConfigError, load
from wakeful.control import protocol
from wakeful.control.errors import ControlError
from wakeful.control.paths import socket_place
from wakeful.control.protocol import Op, Request
from wakeful.control.render import render

# The server gives the actors 5 s to answer; this leaves it time to say so.
ANSWER_TIMEOUT = 15.0


class NotRunning(ControlError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"no wakeful is running at {path} (start it with wakeful run, or "
                         "pass --config/--socket)")


def state_command(args: argparse.Namespace) -> int:
    if args.watch is not None and args.watch <= 0:
        print("wakeful: --watch needs a positive number of seconds", file=sys.stderr)
        return 2
    try:
        path = _socket_path(args)
    except ConfigError as exc:
        print(f"wakeful: config error: {exc}", file=sys.stderr)
        return 2
    request = Request(Op.STATE, previews=not args.no_previews)
    console = _console()
    try:
        if args.watch is None:
            _show(console, ask(path, request)["state"], args.json)
            return 0
        return _watch(console, path, request, args.watch, args.json)
    except NotRunning as exc:
        print(f"wakeful: {exc}", file=sys.stderr)
        return 1
    except ControlError as exc:
        print(f"wakeful: control: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def ask(path: Path, request: Request, timeout: float = ANSWER_TIMEOUT) -> dict[str, Any]:
    """One request, one answer; raises NotRunning or ControlError (one line each)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        try:
            conn.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise NotRunning(path) from None
        except PermissionError:
            raise ControlError(f"cannot reach {path}: permission denied (run wakeful state "
                               "as the user wakeful runs as, or as root)") from None
        except OSError as exc:
            raise ControlError(f"cannot connect to {path}: {exc.strerror or exc}") from None
        try:
            conn.sendall(protocol.encode_request(request))
            line = protocol.read_line(conn, protocol.MAX_RESPONSE, timeout)
        except TimeoutError:
            raise ControlError(f"{path} did not answer within {timeout:g}s") from None
        except protocol.BadRequest:
            raise ControlError(f"{path} answered with more than anyone should") from None
        except OSError as exc:
            raise ControlError(f"lost the connection to {path}: {exc.strerror or exc}") \
                from None
    finally:
        conn.close()
    try:
        response = json.loads(line)
    except ValueError:
        raise ControlError(f"{path} did not answer like wakeful does") from None
    if not isinstance(response, dict):
        raise ControlError(f"{path} did not answer like wakeful does")
    if not response.get("ok"):
        raise ControlError(str(response.get("error") or "the server refused without a reason"))
    return response


def _socket_path(args: argparse.Namespace) -> Path:
    if args.socket:
        return Path(os.path.expanduser(args.socket)).absolute()
    return socket_place(load(args.config)).path


def _console() -> Console:
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped: plain text, wide enough that a line is an actor, not half of one.
        console = Console(width=120)
    return console


def _show(console: Console, doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(doc, indent=2, ensure_ascii=False), flush=True)
    else:
        console.print(render(doc))
        console.file.flush()


def _watch(console: Console, path: Path, request: Request, every: float,
           as_json: bool) -> int:
    """Until Ctrl-C; an instance that goes away (a restart) is waited for, not fatal."""
    try:
        if as_json or not console.is_terminal:
            while True:
                _watch_once_plain(console, path, request, as_json)
                time.sleep(every)
        with Live(console=console, auto_refresh=False) as live:
            while True:
                try:
                    live.update(render(ask(path, request)["state"]), refresh=True)
                except NotRunning as exc:
                    live.update(Text(f"wakeful: {exc}; retrying every {every:g}s"),
                                refresh=True)
                time.sleep(every)
    except KeyboardInterrupt:
        return 0


def _watch_once_plain(console: Console, path: Path, request: Request, as_json: bool) -> None:
    try:
        doc = ask(path, request)["state"]
    except NotRunning as exc:
        print(f"wakeful: {exc}", file=sys.stderr, flush=True)
        return
    if as_json:
        print(json.dumps(doc, separators=(",", ":"), ensure_ascii=False), flush=True)
    else:
        console.print(render(doc))
        console.print()
        console.file.flush()
