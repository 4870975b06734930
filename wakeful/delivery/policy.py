"""What a failed call leads to, by lane and by failure kind. Pure.

The rules (docs/delivery.md):
- an answer is never given up while its chat exists: transient failures are retried
  with backoff, entity errors fall back to plain text, any other refusal becomes a
  plain notice saying so, and a send whose response was lost goes again, marked;
- a 👀 is retried while the message still waits for its answer;
- status edits and refusals get a few attempts; typing gets one;
- "not modified" is success; a chat that is gone ends all of its calls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.delivery.calls import Call, EditText, Lane, React, SendDraft, SendText
from wakeful.delivery.render import Part, render_plain
from wakeful.retry import backoff

REFUSED = "⚠️ I had an answer but Telegram refused it: "
RESENT = "↩️ Sent again (Telegram did not confirm the first try; you may see it twice):\n"


@dataclass(frozen=True)
class Succeeded:
    """Count it as done (Telegram already shows it)."""


@dataclass(frozen=True)
class Retry:
    delay: float
    call: Call | None = None  # a different call to make instead (plain text, a notice)


@dataclass(frozen=True)
class GiveUp:
    pass


@dataclass(frozen=True)
class ChatIsGone:
    pass


Decision = Succeeded | Retry | GiveUp | ChatIsGone


class Policy:
    def __init__(self, progress_attempts: int = 3, max_backoff: float = 60.0) -> None:
        self._attempts = progress_attempts
        self._wait = backoff(initial=0.5, maximum=max_backoff)

    def decide(self, call: Call, failure: TelegramFailure, attempts: int,
               still_wanted: bool = True) -> Decision:
        """`attempts`: how many times the call went out; `still_wanted`: for a 👀, its
        message still waits for an answer."""
        kind = failure.kind
        if kind is FailureKind.NOT_MODIFIED:
            return Succeeded()
        if kind is FailureKind.CHAT_GONE:
            return ChatIsGone()
        if kind is FailureKind.ENTITIES and _has_entities(call):
            return Retry(0.0, _as_plain(call))
        delay = failure.retry_after if failure.retry_after is not None else self._wait(attempts)
        if call.lane is Lane.ANSWER and isinstance(call, SendText):
            return self._answer(call, failure, delay)
        if call.lane is Lane.TYPING or not failure.retryable:
            return GiveUp()
        if isinstance(call, React):
            return Retry(delay) if still_wanted else GiveUp()
        return Retry(delay) if attempts < self._attempts else GiveUp()

    def _answer(self, call: SendText, failure: TelegramFailure, delay: float) -> Decision:
        match failure.kind:
            case FailureKind.AMBIGUOUS if not call.part.text.startswith(RESENT):
                # It may be there already: send it again, saying so, rather than risk it
                # being lost (Telegram has no idempotent send to ask with).
                return Retry(delay, replace(call, part=_prefixed(RESENT, call.part)))
            case FailureKind.BAD_REQUEST | FailureKind.TOO_LONG | FailureKind.ENTITIES:
                if call.part.text.startswith(REFUSED):
                    return GiveUp()  # even the notice was refused: nothing more to say
                notice = render_plain(REFUSED + failure.description[:200])[0]
                return Retry(0.0, replace(call, part=notice, reply_to=None))
            case _:
                return Retry(delay)


def _has_entities(call: Call) -> bool:
    return isinstance(call, SendText | EditText | SendDraft) and bool(call.part.entities)


def _as_plain(call: Call) -> Call:
    assert isinstance(call, SendText | EditText | SendDraft)
    return replace(call, part=call.part.plain())


def _prefixed(prefix: str, part: Part) -> Part:
    # Entities shift by the prefix's length, in UTF-16 code units like every offset.
    shift = len(prefix.encode("utf-16-le")) // 2
    return Part(prefix + part.text,
                tuple(replace(e, offset=e.offset + shift) for e in part.entities))
