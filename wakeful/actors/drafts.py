"""The live draft of a private chat's answer: what it shows, and when it may change. Pure.

Telegram's sendMessageDraft shows a message being written; wakeful streams Claude's
text into it while a turn runs, plus a line for the tool at work. Calls are throttled
(a draft counts like a message against the chat's limit), and the outbound scheduler
keeps only the newest of those still waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

from wakeful.delivery.render import TELEGRAM_LIMIT, utf16_len

DRAFT_EVERY = 1.0
ELLIPSIS = "…"


@dataclass
class Draft:
    draft_id: int
    text: str = ""
    tool: str | None = None
    shown: str | None = None
    next_at: float = 0.0

    def add_text(self, delta: str) -> None:
        self.text += delta
        self.tool = None  # the model is writing again: the tool is done

    def use_tool(self, line: str) -> None:
        self.tool = line

    def view(self) -> str:
        """What the draft should show now: the latest text (its tail, if long), and the tool."""
        body = self.text.strip()
        shown = f"{body}\n\n{self.tool}" if body and self.tool else (body or self.tool or "")
        while utf16_len(shown) > TELEGRAM_LIMIT:
            shown = ELLIPSIS + shown[len(shown) // 4:]
        return shown

    def due(self, now: float) -> str | None:
        """The text to send now, if it changed and the throttle allows; else None."""
        view = self.view()
        if not view or view == self.shown or now < self.next_at:
            return None
        self.shown = view
        self.next_at = now + DRAFT_EVERY
        return view

    def wait(self, now: float) -> float | None:
        """Seconds until a changed draft may go, if one waits."""
        view = self.view()
        if view and view != self.shown and now < self.next_at:
            return self.next_at - now
        return None
