"""The running service: gateway + supervision tree, started and stopped as one."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pykka
from telegram.request import BaseRequest

from wakeful.bots.gateway import TelegramGateway
from wakeful.clock import Clock, SystemClock
from wakeful.config import Config
from wakeful.messages import StateRequested
from wakeful.state.ledger import Ledger
from wakeful.supervision.abandoned import AbandonedThreads
from wakeful.supervision.context import ChildContext
from wakeful.supervision.directory import Directory
from wakeful.supervision.supervisor import Supervisor
from wakeful.tree import ROOT_SPEC, Parts, root_children

log = logging.getLogger(__name__)


class Service:
    def __init__(
        self,
        config: Config,
        clock: Clock | None = None,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
        gateway: TelegramGateway | None = None,
    ) -> None:
        """`gateway` replaces the one built from config (tests pass one that injects faults)."""
        self.config = config
        self.clock = clock or SystemClock()
        self.directory = Directory()
        self.ledger = Ledger()
        self.abandoned = AbandonedThreads(config.supervision.abandoned_thread_limit)
        self.gateway = gateway or TelegramGateway(
            config.require_token(),
            config.telegram.base_url,
            config.telegram.poll_timeout,
            request=request,
            get_updates_request=get_updates_request,
        )
        self.gave_up = threading.Event()
        self.give_up_reason: str | None = None
        self._root: pykka.ActorRef[Any] | None = None

    def start(self) -> None:
        me = self.gateway.start()
        log.info("connected to Telegram as @%s", me.get("username"))
        ctx = ChildContext(
            child_id="root",
            generation=self.directory.next_generation("root"),
            supervisor=None,
            directory=self.directory,
            clock=self.clock,
            abandoned=self.abandoned,
        )
        parts = Parts(self.config, self.gateway, self.ledger)
        self._root = Supervisor.start(ctx, ROOT_SPEC, root_children(parts), self._on_give_up)
        # on_start (which starts every child) runs before any message, so this answer
        # means the whole tree is up and registered.
        self._root.ask(StateRequested(), timeout=30.0)

    def stop(self, timeout: float = 60.0) -> None:
        if self._root is not None:
            try:
                self._root.stop(block=True, timeout=timeout)
            except pykka.Timeout:
                log.error("the tree did not stop within %.0fs", timeout)
            self._root = None
        self.gateway.stop()
        close = getattr(self.clock, "close", None)
        if close is not None:
            close()

    def state(self, timeout: float = 5.0) -> dict[str, Any]:
        """Ask every live actor for a snapshot; a silent one shows as such."""
        actors: dict[str, Any] = {}
        for entry in sorted(self.directory.entries(), key=lambda e: e.name):
            try:
                actors[entry.name] = entry.ref.ask(StateRequested(), timeout=timeout)
            except (pykka.Timeout, pykka.ActorDeadError) as exc:
                actors[entry.name] = {"unresponsive": type(exc).__name__}
        return {
            "actors": actors,
            "ledger": self.ledger.summary(),
            "undeliverable": self.directory.undeliverable,
            "abandoned_threads": self.abandoned.summary(),
            "gave_up": self.give_up_reason,
        }

    def ask(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        entry = self.directory.lookup(name)
        if entry is None:
            raise KeyError(name)
        snapshot: dict[str, Any] = entry.ref.ask(StateRequested(), block=True, timeout=timeout)
        return snapshot

    def _on_give_up(self, reason: str) -> None:
        """The root died (intensity exceeded, too many abandoned threads, or a bug).

        Executed on the root supervisor's thread; the owner of the process (cli) waits
        on `gave_up` and exits non-zero.
        """
        self.give_up_reason = reason
        self.gave_up.set()
