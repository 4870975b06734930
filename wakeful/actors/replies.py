"""What the user sees for a stored answer: its pieces, worded, formatted and split. Pure.

The journal stores an `Answer` (what happened); this turns it into the Telegram
messages that say so, the same way every time, so a delivery interrupted by a crash
resumes at the piece where it stopped. Claude's text is Markdown and is rendered as
Telegram entities; wakeful's own words are plain text.
"""

from __future__ import annotations

from dataclasses import dataclass

from wakeful.delivery.policy import RESENT
from wakeful.delivery.render import TELEGRAM_LIMIT, Part, render_markdown, render_plain, utf16_len
from wakeful.state.records import Answer, AnswerKind

SORRY = "⚠️ Sorry, I could not answer that: "
CANCELLED_REPLY = "⏹ Cancelled: I stopped working on this message."
CONTEXT_LOST = ("ℹ️ I could not find our earlier conversation, so this answer starts "
                "a new one.")
SESSION_RESET = ("ℹ️ Claude did not shut down cleanly after answering, so your next "
                 "message starts a new conversation.")
CANNOT_READ = "I can only read text messages for now."
# Room left in every piece for the "sent again" line a lost response earns it.
PIECE_LIMIT = TELEGRAM_LIMIT - utf16_len(RESENT)


@dataclass(frozen=True)
class Piece:
    part: Part
    reply: bool  # sent as a reply to the user's message (else a plain notice)


def pieces(answer: Answer) -> tuple[Piece, ...]:
    match answer.kind:
        case AnswerKind.NONE:
            return ()
        case AnswerKind.ANSWER:
            body = render_markdown(answer.text, PIECE_LIMIT)
        case AnswerKind.REPLY:
            body = render_plain(answer.text, PIECE_LIMIT)
        case AnswerKind.FAILED:
            body = render_plain(SORRY + (answer.text or "unknown error"), PIECE_LIMIT)
        case AnswerKind.CANCELLED:
            # A message cancelled before it ran says so in its own words (/cancel all).
            body = render_plain(answer.text or CANCELLED_REPLY, PIECE_LIMIT)
    out = [notice(CONTEXT_LOST)] if answer.context_lost else []
    out += [Piece(part, reply=True) for part in body]
    if answer.session_reset and answer.kind is AnswerKind.ANSWER:
        out.append(notice(SESSION_RESET))
    return tuple(out)


def notice(text: str) -> Piece:
    return Piece(render_plain(text)[0], reply=False)


def restarted(count: int) -> str:
    what = "your last message" if count == 1 else f"your last {count} messages"
    return f"🔄 I restarted; picking up {what}."
