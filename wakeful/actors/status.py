"""The per-turn status message: what it says, and when Telegram may be asked to change it.

A turn gets one status message only if the user would otherwise wait in silence (a
queue, API retries, a retry of ours), and that message is then edited in place, never
re-sent. Telegram throttles edits and answers 400 "message is not modified" to an edit
with the same text, so calls are spaced out (one per EDIT_EVERY per chat, one in flight
at a time) and identical text is never sent. Pure: the chat actor makes the calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from wakeful.brain.events import ApiRetry
from wakeful.brain.outcome import api_trouble
from wakeful.messages import TurnRetryScheduled
from wakeful.state.records import Answer, AnswerKind

FIRST_AFTER = 2.0  # a wait over within two seconds is not worth a message
EDIT_EVERY = 1.5

WORKING = "🧠 Working on it…"
ANSWERED = "✅ Answered."
FAILED = "⚠️ Could not answer, see below."
CANCELLED = "⏹ Cancelled."
PAUSED = "⏸ Paused: wakeful is restarting; I will pick this up when it is back."


STARTED = "▶️ Started after"


def started(waited: float) -> str:
    """Said when a wait ends: true for good, so the line needs no closing edit."""
    seconds = round(waited)
    took = f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"
    return f"{STARTED} {took} in line."


def queued(position: int) -> str:
    return f"⏳ Waiting for a free brain: you are #{position} in line."


def working(attempt: int) -> str:
    return WORKING if attempt <= 1 else f"🧠 Working on it (attempt {attempt})…"


def api_retrying(event: ApiRetry) -> str:
    of = f"/{event.max_retries}" if event.max_retries else ""
    return f"⏳ Claude API {api_trouble(event.error_status, event.error)}, " \
           f"retry {event.attempt}{of}"


def tool(name: str, detail: str | None) -> str:
    """A tool at work, in a word or two: "🔧 Bash: pytest -q"."""
    return f"🔧 {name}: {detail}" if detail else f"🔧 {name}"


def retry_scheduled(retry: TurnRetryScheduled) -> str:
    reason = retry.reason[:1].upper() + retry.reason[1:]
    delay = f"{retry.delay:.0f}" if retry.delay >= 10 else f"{retry.delay:.1f}"
    return (f"🔁 {reason}; trying again in {delay} s "
            f"(attempt {retry.attempt}/{retry.max_attempts}).")


def final(answer: Answer) -> str:
    match answer.kind:
        case AnswerKind.CANCELLED:
            return CANCELLED
        case AnswerKind.FAILED:
            return FAILED
        case _:
            return ANSWERED


@dataclass(frozen=True)
class Send:
    turn_id: str
    text: str


@dataclass(frozen=True)
class Edit:
    turn_id: str
    message_id: int
    text: str


@dataclass
class _Line:
    opened_at: float
    wanted: str | None = None
    shown: str | None = None
    message_id: int | None = None
    closed: bool = False
    settled: bool = False  # `wanted` stays true after the turn: no closing edit needed
    dead: bool = False  # the message could not be created; stay quiet for this turn


class StatusBoard:
    """The status lines of one chat (normally one; two while a finished one's last edit waits)."""

    def __init__(self, first_after: float = FIRST_AFTER, every: float = EDIT_EVERY) -> None:
        self._first_after = first_after
        self._every = every
        self._lines: dict[str, _Line] = {}
        self._in_flight: str | None = None  # turn whose call Telegram has not answered yet
        self._sending: Send | Edit | None = None  # and that call
        self._ready_at = 0.0

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing left to show."""
        return self._in_flight is None and all(
            line.dead or line.wanted is None or line.wanted == line.shown
            for line in self._lines.values())

    def open(self, turn_id: str, now: float) -> None:
        self._lines[turn_id] = _Line(now)

    def want(self, turn_id: str, text: str | None, settled: bool = False) -> None:
        """What the status should say now; None: nothing worth a new message.

        `settled`: the text stays true once the turn is over ("started after 40 s in
        line"), so closing the turn costs no edit; anything else is replaced by the
        outcome at `close`.
        """
        line = self._lines.get(turn_id)
        if line is None or line.closed:
            return
        if text is None and self.visible(turn_id):
            return  # a message that exists keeps saying something until there is news
        line.wanted = text
        line.settled = settled

    def age(self, turn_id: str, now: float) -> float:
        """Seconds since the turn's line was opened (the turn was asked for)."""
        line = self._lines.get(turn_id)
        return now - line.opened_at if line is not None else 0.0

    def visible(self, turn_id: str) -> bool:
        """True once the message exists or is being created."""
        line = self._lines.get(turn_id)
        return line is not None and (line.message_id is not None or self._in_flight == turn_id)

    def close(self, turn_id: str, final_text: str, force: bool = False) -> Send | None:
        """The turn is over: an existing message gets `final_text` (unless what it says is
        settled and not `force`d); none is created for it.

        Returns the Send still creating this turn's message, if any: the caller should
        withdraw it, since a status line that appears after the answer only confuses.
        """
        line = self._lines.get(turn_id)
        if line is None:
            return None
        if not self.visible(turn_id):
            line.wanted = None
        elif force or not line.settled:
            line.wanted = final_text
        line.closed = True
        self._prune()
        sending = self._sending
        return sending if isinstance(sending, Send) and sending.turn_id == turn_id else None

    def next_call(self, now: float) -> Send | Edit | float | None:
        """A call to make now, else when to look again, else None (nothing to do)."""
        if self._in_flight is not None:
            return None  # its answer comes back through shown()
        wake: float | None = None
        for turn_id, line in self._lines.items():
            if line.dead or line.wanted is None or line.wanted == line.shown:
                continue
            ready = self._ready_at
            if line.message_id is None:
                ready = max(ready, line.opened_at + self._first_after)
            if ready > now:
                wake = ready if wake is None else min(wake, ready)
                continue
            self._in_flight = turn_id
            self._ready_at = now + self._every
            if line.message_id is None:
                self._sending = Send(turn_id, line.wanted)
            else:
                self._sending = Edit(turn_id, line.message_id, line.wanted)
            return self._sending
        return wake

    def shown(self, turn_id: str, text: str, message_id: int | None, ok: bool, now: float,
              retry_after: float | None = None) -> None:
        """Telegram answered the call for `turn_id`."""
        if self._in_flight == turn_id:
            self._in_flight = None
            self._sending = None
        if retry_after is not None:
            self._ready_at = max(self._ready_at, now + retry_after)
        line = self._lines.get(turn_id)
        if line is None:
            return
        if message_id is not None:
            line.message_id = message_id
        if ok or line.message_id is not None:
            # A failed edit is not retried with the same text; the next change tries again.
            line.shown = text
        else:
            line.dead = True
        self._prune()

    def _prune(self) -> None:
        for turn_id in [t for t, line in self._lines.items() if line.closed
                        and self._in_flight != t
                        and (line.dead or line.wanted is None or line.wanted == line.shown)]:
            del self._lines[turn_id]
