"""Chats: the dynamic supervisor of ChatActors, and the router that finds (or makes) one.

A chat's actor is created on its first message and addressed as "chat:<id>". A
restarted chats supervisor starts an actor at once for every chat the ledger says is
still owed an answer, so nobody waits for their own next message to be served. Users
not on the allowlist never get an actor, a brain turn or a queue slot: they get one
short refusal (at most one per chat per REFUSAL_EVERY seconds) and nothing else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pykka

from wakeful.actors.brain_pool import chat_address
from wakeful.bots.gateway import TelegramGateway
from wakeful.messages import MessageArrived
from wakeful.state.ledger import Ledger
from wakeful.supervision.context import ChildContext
from wakeful.supervision.spec import ChildSpec, SupervisorSpec
from wakeful.supervision.supervisor import Supervisor

log = logging.getLogger(__name__)

REFUSAL_EVERY = 600.0
REFUSALS_REMEMBERED = 1000


class ChatsSupervisor(Supervisor):
    def __init__(
        self,
        ctx: ChildContext,
        spec: SupervisorSpec,
        chat_spec: Callable[[int], ChildSpec],
        gateway: TelegramGateway,
        ledger: Ledger,
        allowed_user_ids: frozenset[int],
    ) -> None:
        super().__init__(ctx, spec, children=[])
        self._chat_spec = chat_spec
        self._gateway = gateway
        self._ledger = ledger
        self._allowed = allowed_user_ids
        self._refused_at: dict[int, float] = {}
        self.refused = 0

    def started(self) -> None:
        super().started()
        for chat_id in self._ledger.owed_chats():
            self.add_child(self._chat_spec(chat_id))

    def handle(self, message: Any) -> Any:
        match message:
            case MessageArrived(message=incoming):
                if incoming.user_id not in self._allowed:
                    self._refuse(incoming.chat_id, incoming.user_id, incoming.update_id)
                    return None
                ref = self.add_child(self._chat_spec(incoming.chat_id))
                # No ref (restart pending) or a dead one (its failure report is still in
                # our mailbox): either way the replacement reads the message from the ledger.
                if ref is not None:
                    with contextlib.suppress(pykka.ActorDeadError):
                        ref.tell(message)
                return None
            case _:
                return super().handle(message)

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "refused": self.refused}

    def _refuse(self, chat_id: int, user_id: int | None, update_id: int) -> None:
        self.refused += 1
        self._ledger.answered(chat_id, update_id)
        now = self.ctx.clock.monotonic()
        last = self._refused_at.get(chat_id)
        if last is not None and now - last < REFUSAL_EVERY:
            return
        self._refused_at[chat_id] = now
        if len(self._refused_at) > REFUSALS_REMEMBERED:
            # Strangers are unbounded; only refusals still inside their quiet period matter.
            self._refused_at = {c: t for c, t in self._refused_at.items()
                                if now - t < REFUSAL_EVERY}
        log.warning("refused a message from user %s in chat %s (not on the allowlist)",
                    user_id, chat_id)
        self._gateway.send_message(
            chat_id,
            f"⛔ This bot only answers people on its allowlist. Your Telegram user id is "
            f"{user_id}; the owner can add it to [telegram] allowed_user_ids.",
        ).add_done_callback(lambda f: f.cancelled() or f.exception())


__all__ = ["ChatsSupervisor", "chat_address"]
