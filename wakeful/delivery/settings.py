"""[delivery]: how wakeful talks to Telegram (docs/delivery.md explains each key)."""

from __future__ import annotations

from dataclasses import dataclass

from wakeful.delivery.limits import LimitSettings


@dataclass(frozen=True)
class DeliveryConfig:
    # Calls in flight at once. Enough to keep a few round trips busy; few enough that
    # the HTTP pool never thrashes (getUpdates has its own connection).
    max_in_flight: int = 8
    # Of those, the last ones are only for 👀 and answers, never progress or typing.
    urgent_slots: int = 2
    per_bot_per_second: int = 30
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    # A 429's retry_after holds the whole bot ("bot", Telegram's usual meaning) or only
    # the chat it came from ("chat").
    flood_scope: str = "bot"
    # Attempts for a status edit or a refusal before it is given up; answers are never
    # given up while their chat exists, and a 👀 not while its answer is still to come.
    progress_attempts: int = 3
    max_backoff: float = 60.0
    # After an answer is delivered, the 👀 on the user's message may become this
    # reaction (empty: the 👀 stays). It is one more call per message.
    done_reaction: str = ""

    def limits(self) -> LimitSettings:
        return LimitSettings(self.per_bot_per_second, self.per_chat_per_second,
                             self.per_group_per_minute)
