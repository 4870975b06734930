"""The chat's side of tool approvals: one message with buttons per question, one
answer to the brain per question, whatever happens (a press, the timeout, a failed
send, the turn ending first).

Owned by the ChatActor and run on its thread; it talks to the world only through the
three callables the actor gives it (say, tell_pool, tell_later). The decisions and the
words are wakeful/conversation/approvals.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wakeful.conversation import approvals, commands
from wakeful.conversation.approvals import Decision, Outcome
from wakeful.delivery.calls import AnswerCallback, EditText, Lane, SendText
from wakeful.delivery.render import render_plain
from wakeful.logs import Redactor
from wakeful.messages import (
    ApprovalAnswered,
    ApprovalRequested,
    ApprovalTimedOut,
    ButtonPressed,
    Delivered,
    DeliveryFailed,
)
from wakeful.state.journal import Journal

log = logging.getLogger(__name__)

OFF_MESSAGE = "This tool is not allowed in this chat (it is not in allowed_tools)."
UNASKED_MESSAGE = "The user could not be asked (Telegram did not take the question), so " \
                  "this tool call was denied."


@dataclass(frozen=True)
class ApprovalSettings:
    """What one chat's approvals follow (its policy, resolved at start)."""

    enabled: bool = False
    allowed_tools: tuple[str, ...] = ()
    timeout: float = 300.0
    redact: Redactor = field(default_factory=lambda: Redactor(()))


@dataclass(frozen=True)
class ApprovalTag:
    """Tags the calls about one approval, so their results come back to the desk."""

    approval_id: str
    what: str  # "ask" | "outcome"


@dataclass
class _Pending:
    turn_id: str
    request_id: str
    tool: str
    shown: str
    message_id: int | None = None  # once Telegram took the question
    outcome: str | None = None  # the final line, once decided


class ApprovalDesk:
    def __init__(self, chat_id: int, settings: ApprovalSettings, journal: Journal,
                 say: Callable[[Any, Any], None], tell_pool: Callable[[Any], None],
                 tell_later: Callable[[float, Any], None],
                 wall: Callable[[], float]) -> None:
        self.chat_id = chat_id
        self._settings = settings
        self._journal = journal
        self._say = say
        self._tell_pool = tell_pool
        self._tell_later = tell_later
        self._wall = wall
        self._pending: dict[str, _Pending] = {}

    @property
    def waiting(self) -> int:
        """Questions nobody answered yet (for /status and state dumps)."""
        return sum(1 for p in self._pending.values() if p.outcome is None)

    def grants_text(self) -> str:
        """The answer to /tools: what this chat allowed "always"."""
        return commands.tools_text(self._journal.granted_tools(self.chat_id),
                                   self._settings.enabled)

    def revoke(self, tool: str | None) -> str:
        """/tools revoke <tool> (None: all): gone from the journal, which `requested`
        reads on every call, so the tool's next use is asked about again. The answer."""
        if tool is None:
            return commands.tools_revoked(self._journal.revoke_all_tools(self.chat_id))
        granted = self._journal.granted_tools(self.chat_id)
        name = commands.find_tool(tool, granted)
        if name is not None and self._journal.revoke_tool(self.chat_id, name):
            return commands.tool_revoked(name)
        return commands.tool_not_granted(tool, granted)

    def requested(self, request: ApprovalRequested, reply_to: int | None) -> None:
        settings = self._settings
        decision = approvals.decide(request.tool, approvals=settings.enabled,
                                    allowed_tools=settings.allowed_tools,
                                    always=self._journal.granted_tools(self.chat_id))
        if decision is not Decision.ASK:
            allow = decision is Decision.ALLOW
            self._tell_pool(ApprovalAnswered(self.chat_id, request.turn_id, request.request_id,
                                             allow, "" if allow else OFF_MESSAGE))
            return
        approval_id = approvals.new_approval_id()
        shown = approvals.preview(request.tool, request.tool_input, settings.redact)
        self._pending[approval_id] = _Pending(request.turn_id, request.request_id,
                                              request.tool, shown)
        self._say(SendText(self.chat_id, render_plain(approvals.request_text(shown))[0],
                           reply_to=reply_to, lane=Lane.ACK,
                           keyboard=approvals.buttons(approval_id)),
                  ApprovalTag(approval_id, "ask"))
        self._tell_later(settings.timeout, ApprovalTimedOut(approval_id))

    def pressed(self, press: ButtonPressed) -> None:
        parsed = approvals.parse_callback(press.data)
        pending = self._pending.get(parsed.approval_id) if parsed is not None else None
        if parsed is None:
            self._answer(press, approvals.MALFORMED_TEXT)
        elif pending is None or pending.outcome is not None or \
                pending.message_id not in (None, press.message_id):
            self._answer(press, approvals.STALE_TEXT)
        else:
            outcome = approvals.outcome_of(parsed.choice)
            if outcome is Outcome.ALWAYS:
                self._journal.grant_tool(self.chat_id, pending.tool, self._wall())
            self._answer(press, outcome.value)
            self._decide(parsed.approval_id, outcome, press.user_name)

    def timed_out(self, timeout: ApprovalTimedOut) -> None:
        pending = self._pending.get(timeout.approval_id)
        if pending is not None and pending.outcome is None:
            self._decide(timeout.approval_id, Outcome.TIMED_OUT, None)

    def turn_over(self, turn_id: str) -> None:
        """The turn ended (answered, cancelled, failed): its questions need no answer."""
        for approval_id, pending in list(self._pending.items()):
            if pending.turn_id == turn_id and pending.outcome is None:
                self._close(approval_id, pending, approvals.moot_text(pending.shown))

    def on_result(self, result: Delivered | DeliveryFailed) -> None:
        tag = result.tag
        assert isinstance(tag, ApprovalTag)
        pending = self._pending.get(tag.approval_id)
        if pending is None:
            return
        if tag.what == "outcome":
            self._pending.pop(tag.approval_id, None)  # shown (or beyond showing): done
            return
        if isinstance(result, DeliveryFailed):
            log.warning("chat %s: could not ask for a tool approval: %s", self.chat_id,
                        result.failure.description)
            if pending.outcome is None:
                self._tell_pool(ApprovalAnswered(self.chat_id, pending.turn_id,
                                                 pending.request_id, False, UNASKED_MESSAGE))
            self._pending.pop(tag.approval_id, None)
            return
        pending.message_id = result.message_id
        if pending.outcome is not None:  # decided before the question was shown
            self._show_outcome(tag.approval_id, pending)

    # --- inside ----------------------------------------------------------------------

    def _decide(self, approval_id: str, outcome: Outcome, who: str | None) -> None:
        pending = self._pending[approval_id]
        allow = approvals.allows(outcome)
        message = "" if allow else approvals.deny_message(outcome, self._settings.timeout)
        self._tell_pool(ApprovalAnswered(self.chat_id, pending.turn_id, pending.request_id,
                                         allow, message))
        self._close(approval_id, pending, approvals.outcome_text(pending.shown, outcome, who))

    def _close(self, approval_id: str, pending: _Pending, text: str) -> None:
        pending.outcome = text
        if pending.message_id is not None:
            self._show_outcome(approval_id, pending)

    def _show_outcome(self, approval_id: str, pending: _Pending) -> None:
        assert pending.message_id is not None and pending.outcome is not None
        # No keyboard: the edit removes the buttons, so nobody presses twice.
        self._say(EditText(self.chat_id, pending.message_id,
                           render_plain(pending.outcome)[0], lane=Lane.ACK),
                  ApprovalTag(approval_id, "outcome"))

    def _answer(self, press: ButtonPressed, text: str | None) -> None:
        self._say(AnswerCallback(self.chat_id, press.query_id, text), None)
