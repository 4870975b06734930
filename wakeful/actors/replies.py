"""What the user sees for a stored answer: its parts, worded and split. Pure.

The journal stores an `Answer` (what happened); this turns it into the Telegram
messages that say so, the same way every time, so a delivery interrupted by a crash
resumes at the part where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from wakeful.state.records import Answer, AnswerKind

TELEGRAM_LIMIT = 4096
SORRY = "⚠️ Sorry, I could not answer that: "
CANCELLED_REPLY = "⏹ Cancelled: I stopped working on this message."
CONTEXT_LOST = ("ℹ️ I could not find our earlier conversation, so this answer starts "
                "a new one.")
SESSION_RESET = ("ℹ️ Claude did not shut down cleanly after answering, so your next "
                 "message starts a new conversation.")
EMPTY = "(empty answer)"
REFUSED = "⚠️ I had an answer but Telegram refused it: "
CANNOT_READ = "I can only read text messages for now."


@dataclass(frozen=True)
class Part:
    text: str
    reply: bool  # sent as a reply to the user's message (else a plain notice)


def parts(answer: Answer) -> list[Part]:
    match answer.kind:
        case AnswerKind.NONE:
            return []
        case AnswerKind.ANSWER | AnswerKind.REPLY:
            body = answer.text or EMPTY
        case AnswerKind.FAILED:
            body = SORRY + (answer.text or "unknown error")
        case AnswerKind.CANCELLED:
            body = CANCELLED_REPLY
    out = [Part(CONTEXT_LOST, reply=False)] if answer.context_lost else []
    out += [Part(chunk, reply=True) for chunk in split(body)]
    if answer.session_reset and answer.kind is AnswerKind.ANSWER:
        out.append(Part(SESSION_RESET, reply=False))
    return out


def split(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    return [text[i:i + limit] for i in range(0, len(text), limit)] or [EMPTY]


def restarted(count: int) -> str:
    what = "your last message" if count == 1 else f"your last {count} messages"
    return f"🔄 I restarted; picking up {what}."
