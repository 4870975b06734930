"""The running service: journal + gateway + supervision tree, started and stopped as one.

A clean stop (SIGTERM, Ctrl-C, `stop()`) loses nothing and tells nobody anything
false: polling stops first (what was fetched is committed), running turns get the
shutdown grace to finish, the rest are killed and go back to the journal to run after
the restart, chats deliver what they hold and correct their status messages, and
only then does the tree stop, in reverse start order.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

import pykka
from telegram.request import BaseRequest

from wakeful import __version__
from wakeful.bots.gateway import TelegramGateway
from wakeful.bots.webhook import webhook_origin
from wakeful.clock import Clock, SystemClock
from wakeful.config import Config
from wakeful.conversation.commands import MENU
from wakeful.ingest.admission import BotIdentity
from wakeful.messages import (
    DrainRequested,
    FlushRequested,
    PollingStopRequested,
    StateRequested,
    WindDownRequested,
)
from wakeful.state.journal import Journal, JournalError
from wakeful.supervision.abandoned import AbandonedThreads
from wakeful.supervision.context import ChildContext
from wakeful.supervision.directory import Directory, Entry
from wakeful.supervision.latch import Latch
from wakeful.supervision.supervisor import Supervisor
from wakeful.tree import ROOT_SPEC, Parts, root_children

log = logging.getLogger(__name__)

# After the brains: how long chats and the outbound actor get to deliver what they hold
# and fix status messages. Telegram being down must not hold a stop up for longer.
WIND_DOWN = 5.0
# Beyond the grace: the time a killed turn's process needs to be reported gone.
DRAIN_SLACK = 5.0


class Service:
    def __init__(
        self,
        config: Config,
        clock: Clock | None = None,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
        gateway: TelegramGateway | None = None,
        journal: Journal | None = None,
    ) -> None:
        """`gateway` and `journal` replace the ones built from config (tests inject faults).

        Opening the journal can raise JournalError (locked, read-only, corrupt): the
        caller reports its one line and exits non-zero.
        """
        self.config = config
        self.clock = clock or SystemClock()
        self.directory = Directory()
        self.gave_up = threading.Event()
        self.give_up_reason: str | None = None
        self.abandoned = AbandonedThreads(config.supervision.abandoned_thread_limit,
                                          config.supervision.abandoned_grace)
        self.gateway = gateway or TelegramGateway(
            config.require_token(),
            config.telegram.base_url,
            config.telegram.poll_timeout,
            connections=config.delivery.max_in_flight,
            request=request,
            get_updates_request=get_updates_request,
        )
        self.journal = journal or Journal(
            config.journal.resolved_path(), config.journal.synchronous, wall=self.clock.wall)
        self.journal.set_failure_handler(lambda reason: self._on_give_up(f"journal: {reason}"))
        self._root: pykka.ActorRef[Any] | None = None
        self._stopped = False
        # (wall, monotonic) when start() began; for state dumps only.
        self.started_at: tuple[float, float] | None = None

    def start(self) -> None:
        self.started_at = (self.clock.wall(), self.clock.monotonic())
        me = self.gateway.start()
        log.info("connected to Telegram as @%s", me.get("username"))
        self._leave_webhook()
        self.journal.bind_bot(int(me["id"]), str(me.get("username") or ""))
        self._register_commands()
        ctx = ChildContext(
            child_id="root",
            generation=self.directory.next_generation("root"),
            supervisor=None,
            directory=self.directory,
            clock=self.clock,
            abandoned=self.abandoned,
        )
        parts = Parts(self.config, self.gateway, self.journal,
                      BotIdentity(int(me["id"]), str(me.get("username") or "")))
        self._root = Supervisor.start(ctx, ROOT_SPEC, root_children(parts), self._on_give_up)
        # on_start (which starts every child) runs before any message, so this answer
        # means the whole tree is up and registered.
        self._root.ask(StateRequested(), timeout=30.0)

    def _leave_webhook(self) -> None:
        """Telegram gives updates to a webhook or to getUpdates, never both: a webhook
        left set (by an earlier deployment, another tool) would make every poll a 409."""
        url = self.gateway.webhook_url().result(timeout=30.0)
        if url:
            log.warning("a webhook is set (%s): deleting it so wakeful can poll; updates "
                        "waiting for it are kept", webhook_origin(url))
            self.gateway.delete_webhook().result(timeout=30.0)

    def _register_commands(self) -> None:
        """The command menu users see when they type "/"; without it the commands still
        work, so a failure is only logged."""
        try:
            self.gateway.set_commands([(command.value, description)
                                       for command, description in MENU]).result(timeout=30.0)
        except Exception as exc:
            log.warning("could not register the command menu (setMyCommands): %s", exc)

    def stop(self, grace: float | None = None, timeout: float = 60.0) -> None:
        """Stop cleanly (see the module docstring); `grace` overrides the configured one."""
        if self._stopped:
            return
        self._stopped = True
        if self._root is not None:
            if self.journal.failure is None and not self.gave_up.is_set():
                self._wind_down(self.config.service.shutdown_grace if grace is None else grace)
            try:
                self._root.stop(block=True, timeout=timeout)
            except pykka.Timeout:
                log.error("the tree did not stop within %.0fs", timeout)
            self._root = None
        self.gateway.stop()
        self.journal.close()
        close = getattr(self.clock, "close", None)
        if close is not None:
            close()

    def _wind_down(self, grace: float) -> None:
        # The pool first: the same signal may be killing brains right now (systemd signals
        # the whole cgroup), and their turns must read as "run again", never as failures.
        drained = Latch()
        draining = self.directory.tell("brain_pool", DrainRequested(grace, drained))
        poller = self.directory.lookup("poller")
        if poller is not None:
            try:
                poller.ref.ask(PollingStopRequested(), timeout=5.0)
            except (pykka.Timeout, pykka.ActorDeadError):
                log.warning("the poller did not confirm it stopped polling")
        if draining:
            late = drained.wait(grace + DRAIN_SLACK)
            if late:
                log.warning("brain pool did not drain in time: %s", sorted(late))
        deadline = time.monotonic() + WIND_DOWN
        settled = Latch()
        if self.directory.tell("chats", WindDownRequested(settled)):
            late = settled.wait(WIND_DOWN)
            if late:
                log.warning("%d chats could not fix their status messages before the stop",
                            len(late))
        flushed = Latch()
        if self.directory.tell("outbound", FlushRequested(flushed)) and \
                flushed.wait(max(0.5, deadline - time.monotonic())):
            log.warning("Telegram did not take everything before the stop; the journal "
                        "keeps the answers for the next run")

    def state(self, timeout: float = 5.0) -> dict[str, Any]:
        """Every live actor's snapshot, asked through its mailbox; a silent one shows as such.

        Executed on the caller's thread (the control socket's, a test's). Every actor is
        asked at once and the answers gathered against one deadline, so a thousand chats
        cost one round of mailbox latency, not a thousand. The mailbox depth is read
        from outside (an observation of the queue, not of the actor), before the
        question itself joins it.
        """
        asked: list[tuple[Entry, int | None, pykka.Future[Any] | None]] = []
        for entry in self.directory.entries():
            inbox = entry.ref.actor_inbox
            depth = inbox.qsize() if isinstance(inbox, queue.Queue) else None
            try:
                future: pykka.Future[Any] | None = entry.ref.ask(StateRequested(), block=False)
            except pykka.ActorDeadError:
                future = None
            asked.append((entry, depth, future))
        deadline = time.monotonic() + timeout
        actors: dict[str, Any] = {}
        for entry, depth, future in sorted(asked, key=lambda a: a[0].name):
            snapshot: dict[str, Any]
            try:
                if future is None:
                    raise pykka.ActorDeadError(entry.name)
                snapshot = dict(future.get(timeout=max(0.0, deadline - time.monotonic())))
            except (pykka.Timeout, pykka.ActorDeadError) as exc:
                snapshot = {"unresponsive": type(exc).__name__}
            except Exception as exc:  # a snapshot that fails must not fail the whole dump
                snapshot = {"snapshot_failed": repr(exc)}
            actors[entry.name] = {**snapshot, "supervisor": entry.supervisor, "mailbox": depth}
        started = self.started_at
        return {
            "service": {
                "version": __version__,
                "pid": os.getpid(),
                "started_at": started[0] if started else None,
                "uptime_s": round(self.clock.monotonic() - started[1], 1) if started else None,
            },
            "actors": actors,
            "journal": self._journal_summary(),
            "undeliverable": self.directory.undeliverable,
            "abandoned_threads": self.abandoned.summary(),
            "gave_up": self.give_up_reason,
        }

    def _journal_summary(self) -> dict[str, Any]:
        try:
            return self.journal.summary()
        except JournalError as exc:  # a failed journal is worth showing, not hiding the rest
            return {"path": self.journal.path, "error": str(exc)}

    def ask(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        entry = self.directory.lookup(name)
        if entry is None:
            raise KeyError(name)
        snapshot: dict[str, Any] = entry.ref.ask(StateRequested(), block=True, timeout=timeout)
        return snapshot

    def _on_give_up(self, reason: str) -> None:
        """The root died (intensity exceeded, too many abandoned threads, or a bug), or the
        journal failed.

        Executed on the root supervisor's thread, or on whichever actor's thread met the
        journal failure; the owner of the process (cli) waits on `gave_up` and exits
        non-zero.
        """
        if self.give_up_reason is None:
            self.give_up_reason = reason
        self.gave_up.set()
