"""Command line: `wakeful run`, `check`, `state`, `demo`.

Imports of wakeful's own parts happen inside the commands, not here: multiprocessing
imports the launching script in every child it starts from its fork server (the
`wakeful` console script imports this module), and a brain turn should not pay
for loading Telegram's client to run.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from wakeful.config import Config

log = logging.getLogger("wakeful")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wakeful", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--version", action="version", version=f"wakeful {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve Telegram until SIGTERM/SIGINT")
    run.add_argument("--config", required=True, help="path to the TOML config")

    check = sub.add_parser("check", help="what `run` checks before it starts, and nothing else")
    check.add_argument("--config", required=True, help="path to the TOML config")

    state = sub.add_parser("state", help="the live tree of a running instance")
    where = state.add_mutually_exclusive_group()
    where.add_argument("--config", help="the running instance's config (finds its socket)")
    where.add_argument("--socket", help="the control socket's path")
    state.add_argument("--json", action="store_true", help="one JSON document, for machines")
    state.add_argument("--watch", type=float, nargs="?", const=2.0, default=None,
                       metavar="SECONDS", help="refresh every SECONDS (default 2) until Ctrl-C")
    state.add_argument("--no-previews", action="store_true",
                       help="show no message text at all")

    demo = sub.add_parser("demo", help="the real service against a local server and fake users")
    demo.add_argument("--chats", type=int, default=20)
    demo.add_argument("--messages", type=int, default=3)
    demo.add_argument("--brain-delay", type=float, default=0.5)
    demo.add_argument("--cap", type=int, default=4)
    demo.add_argument("--gap", type=float, default=0.3,
                      help="seconds between rounds of user messages")
    demo.add_argument("--brain", choices=("standin", "claude"), default="standin",
                      help="claude: the real Claude Code CLI against a local fake API")
    demo.add_argument("--ack-p99-max", type=float, default=3.0, metavar="SECONDS",
                      help="fail (exit 1) when the 99th percentile 👀 takes longer "
                           "(default %(default)s)")

    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "check":
        from wakeful.ops.check import check_command

        loaded = _load_config(args)
        return loaded if isinstance(loaded, int) else check_command(loaded, args.log_level)
    if args.command == "state":
        from wakeful.control.client import state_command

        return state_command(args)
    return _demo(args)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wakeful")
    except PackageNotFoundError:
        return "(not installed)"


def _hide_token(token_env: str) -> None:
    """Nothing started from here on inherits the token (the fork server, every turn's
    process), and /proc/<pid>/environ, which still holds it from exec, becomes readable
    by root only: a brain running as the same user cannot read it from its parent."""
    os.environ.pop(token_env, None)
    if sys.platform == "linux":
        import ctypes

        pr_set_dumpable = 4
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
            log.warning("could not make the process non-dumpable: errno %d", ctypes.get_errno())


def _load_config(args: argparse.Namespace) -> Config | int:
    """The config `run` and `check` share, token included; or the exit status 2, with the
    one-line reason printed."""
    from wakeful.config import ConfigError, load

    try:
        config = load(args.config)
        config.require_token()
    except ConfigError as exc:
        print(f"wakeful: config error: {exc}", file=sys.stderr)
        return 2
    return config


def _run(args: argparse.Namespace) -> int:
    from wakeful import logs
    from wakeful.control.errors import ControlError
    from wakeful.control.server import ControlServer
    from wakeful.ops.check import preflight
    from wakeful.ops.metrics import MetricsError, MetricsServer
    from wakeful.ops.systemd import Notifier
    from wakeful.service import Service
    from wakeful.state.journal import JournalError

    # First of all: a service manager may stop us while the checks still run (getMe
    # waits out a flood limit, say), and a stop is to be clean even then.
    stop = _stop_on_signals()
    config = _load_config(args)
    if isinstance(config, int):
        return config
    logs.configure(args.log_level, [config.require_token()],
                   json_lines=config.service.log_format == "json")
    problems = preflight(config)
    if problems:
        for problem in problems:
            print(f"wakeful: {problem}", file=sys.stderr)
        return 2
    if stop.is_set():
        log.info("stopped before serving")
        return 0
    _hide_token(config.telegram.token_env)
    notifier = Notifier.from_environment()
    try:
        service = Service(config)
    except JournalError as exc:
        print(f"wakeful: journal error: {exc}", file=sys.stderr)
        return 1
    try:
        service.start()
    except JournalError as exc:
        service.stop(grace=0)
        print(f"wakeful: journal error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.critical("cannot start: %s", exc)
        service.stop(grace=0)
        return 1
    try:
        control = ControlServer.start(service, config)
    except ControlError as exc:
        # Nothing was promised yet: what the poller took meanwhile is in the journal.
        service.stop(grace=0)
        print(f"wakeful: control: {exc}", file=sys.stderr)
        _leave(2)
    try:
        metrics = MetricsServer.start(service, config)
    except MetricsError as exc:
        # An operator's mistake (port taken, unknown host). Whatever the poller took
        # meanwhile is in the journal: the next run answers it.
        control.stop()
        service.stop(grace=0)
        print(f"wakeful: {exc}", file=sys.stderr)
        _leave(2)
    notifier.serving(service)
    log.info("serving; SIGTERM or Ctrl-C stops (a second one stops at once)")
    while not stop.is_set() and not service.gave_up.is_set():
        stop.wait(0.5)
    notifier.stopping()
    metrics.stop()
    control.stop()
    if service.gave_up.is_set():
        # Non-zero so the service manager (systemd Restart=on-failure) starts a fresh
        # process; abandoned actor threads are daemons and cannot hold the exit up.
        reason = service.give_up_reason or "unknown"
        journal_failed = reason.startswith("journal: ")
        who = "the journal failed" if journal_failed else "supervision gave up"
        log.critical("%s, exiting with status 1: %s", who, reason)
        service.stop(grace=0)
        if journal_failed:
            print(f"wakeful: journal error: {reason.removeprefix('journal: ')}",
                  file=sys.stderr)
        _leave(1)
    log.info("stopping: running turns get %.0fs to finish",
             config.service.shutdown_grace)
    service.stop()
    log.info("stopped")
    _leave(0)


def _leave(code: int) -> NoReturn:
    """End the service's process now that the tree is stopped and the journal closed.

    Not through interpreter finalization: an actor thread abandoned while wedged is a
    daemon, and finalization freezes daemon threads wherever they are, possibly holding
    a lock (logging's, say) that finalization then waits on forever.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _stop_on_signals() -> threading.Event:
    """The first SIGTERM/SIGINT starts a clean stop; a second one exits at once.

    Brains need no cleanup on that path: they die with the service (see brain/child.py).
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            os.write(2, b"wakeful: second signal, exiting now\n")
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    return stop


def _demo(args: argparse.Namespace) -> int:
    from wakeful import logs
    from wakeful.demo.claude import ClaudeNotFound
    from wakeful.demo.run import DemoOptions, print_summary, run_demo

    logs.configure("WARNING" if args.log_level == "INFO" else args.log_level)
    options = DemoOptions(chats=args.chats, messages=args.messages, gap=args.gap,
                          brain_delay=args.brain_delay, cap=args.cap, brain=args.brain,
                          ack_p99_max=args.ack_p99_max)
    try:
        result = run_demo(options)
    except ClaudeNotFound as exc:
        print(f"wakeful: {exc}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0 if result.ok else 1
