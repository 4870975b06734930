"""Chats: the dynamic supervisor of ChatActors, and the router that finds (or makes) one.

A chat's actor is created when work arrives for it and addressed as "chat:<id>". Only
admitted messages ever get here (admission happens at the door, in the poller), so
this supervisor decides nothing about who may talk. A chat actor idle for a while
asks to be stopped; it is, unless the journal says work for it is already on its
way, and the next message starts a fresh instance from the journal. So threads
follow the chats with work, not every chat ever seen.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pykka

from wakeful.actors.names import chat_address
from wakeful.messages import (
    ButtonPressed,
    ChatIdle,
    MessageArrived,
    MessageEdited,
    WindDownRequested,
    WorkWaiting,
)
from wakeful.state.journal import Journal
from wakeful.supervision.context import ChildContext
from wakeful.supervision.spec import ChildSpec, SupervisorSpec
from wakeful.supervision.supervisor import Supervisor

log = logging.getLogger(__name__)


class ChatsSupervisor(Supervisor):
    stop_children_together = True

    def __init__(
        self,
        ctx: ChildContext,
        spec: SupervisorSpec,
        chat_spec: Callable[[int], ChildSpec],
        journal: Journal,
    ) -> None:
        super().__init__(ctx, spec, children=[])
        self._chat_spec = chat_spec
        self._journal = journal
        self.passivated = 0

    def handle(self, message: Any) -> Any:
        match message:
            case MessageArrived(message=incoming):
                self._route(incoming.chat_id, message)
            case WorkWaiting(chat_id=chat_id) | MessageEdited(chat_id=chat_id) | \
                    ButtonPressed(chat_id=chat_id):
                self._route(chat_id, message)
            case ChatIdle(chat_id=chat_id, generation=generation):
                # Anything routed to it before this was committed to the journal first,
                # so the journal's answer covers every message already in its mailbox.
                if not self._journal.has_open_work(chat_id) and \
                        self.retire_child(chat_address(chat_id), generation):
                    self.passivated += 1
            case WindDownRequested(latch=latch):
                for child_id, ref in self.running_children():
                    latch.expect(child_id)
                    with contextlib.suppress(pykka.ActorDeadError):
                        ref.tell(message)
                latch.close()
            case _:
                return super().handle(message)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "passivated": self.passivated}

    def _route(self, chat_id: int, message: Any) -> None:
        ref = self.add_child(self._chat_spec(chat_id))
        # No ref (restart pending) or a dead one (its failure report is still in our
        # mailbox): either way the replacement reads the message from the journal.
        if ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(message)


__all__ = ["ChatsSupervisor", "chat_address"]
