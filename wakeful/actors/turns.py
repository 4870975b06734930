"""A chat's request as the brain pool holds it, across attempts, and the answer it ends with."""

from __future__ import annotations

from dataclasses import dataclass, field

from wakeful.brain.outcome import Outcome
from wakeful.messages import TurnRequested
from wakeful.state.records import Answer, AnswerKind


@dataclass
class Turn:
    request: TurnRequested  # replaced when a new chat actor asks for the same message
    session_id: str | None  # what the next attempt resumes
    attempts: int = 0
    retries: int = 0  # attempts re-run by the retry policy (not the session fallback)
    first_started_at: float | None = None
    context_lost: bool = False
    cancelled: bool = False
    api_retries: int = 0
    cost_usd: float = 0.0
    told_position: int | None = None
    # Follow-ups the brain took into this turn: (update_id, text), in order. A retry's
    # prompt carries them, and the answer answers them too.
    taken: list[tuple[int, str]] = field(default_factory=list)

    @property
    def prompt(self) -> str:
        """What an attempt is given: the request, then every follow-up taken so far."""
        return "\n\n".join([self.request.prompt, *(text for _, text in self.taken)])

    @property
    def also(self) -> tuple[int, ...]:
        """Every message this turn answers besides its own."""
        return (*self.request.also, *(update_id for update_id, _ in self.taken))

    @property
    def chat_id(self) -> int:
        return self.request.chat_id

    @property
    def turn_id(self) -> str:
        return self.request.turn_id

    @property
    def update_id(self) -> int:
        return self.request.update_id


def answer_for(turn: Turn, outcome: Outcome) -> Answer:
    """What the user is owed for this turn, as the journal stores it."""
    # After the fallback the old session is gone whatever happened; after a kill that
    # followed the result, the new one may be poisoned.
    session_reset = outcome.session_unsafe or (turn.context_lost and not outcome.session_id)
    if turn.cancelled and not outcome.ok:
        return Answer(AnswerKind.CANCELLED, session_reset=session_reset)
    if outcome.ok:
        return Answer(AnswerKind.ANSWER, outcome.text, turn.context_lost, session_reset)
    return Answer(AnswerKind.FAILED, outcome.error or "unknown error", turn.context_lost,
                  session_reset)
