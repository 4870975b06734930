"""The only door to Telegram: one PTB `Bot` owned by one asyncio loop on its own thread.

PTB's Bot is an asyncio object bound to the loop that initialised it; sharing it
across loops or threads corrupts its httpx pools. Actors therefore never await it:
they call the thread-safe methods below, which schedule a coroutine on the gateway
loop (`asyncio.run_coroutine_threadsafe`) and hand back a `concurrent.futures.Future`.

getUpdates gets its own request object with a pool of one connection and a read
timeout of long-poll + margin, so a long poll can never starve replies of connections
and a dead connection is noticed shortly after the poll should have returned.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

from telegram import Bot, ReactionTypeEmoji, ReplyParameters
from telegram.constants import ChatAction
from telegram.request import BaseRequest, HTTPXRequest
from telegram.warnings import PTBUserWarning

from wakeful.config import Secret

log = logging.getLogger(__name__)

T = TypeVar("T")

POLL_READ_MARGIN = 10.0

# We fetch getUpdates through do_api_request on purpose (raw dicts, so one malformed
# update cannot make the whole batch undecodable); PTB warns about that.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)


class TelegramGateway:
    def __init__(
        self,
        token: Secret,
        base_url: str,
        poll_timeout: float,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
    ) -> None:
        self.poll_timeout = poll_timeout
        # Acks for a burst of chats go out at once; waiting for a pooled connection must
        # not fail them (PTB's default pool timeout is 1 s).
        self._request = request or HTTPXRequest(
            connection_pool_size=32, read_timeout=15.0, pool_timeout=15.0
        )
        self._poll_request = get_updates_request or HTTPXRequest(
            connection_pool_size=1, read_timeout=poll_timeout + POLL_READ_MARGIN
        )
        self._bot = Bot(
            token.reveal(),
            base_url=base_url,
            request=self._request,
            get_updates_request=self._poll_request,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="wakeful-gateway", daemon=True)
        self._started = False
        self._poll: concurrent.futures.Future[Any] | None = None

    # --- lifecycle (caller's thread) -------------------------------------------------

    def start(self, timeout: float = 30.0) -> dict[str, Any]:
        """Start the loop thread and check the token with getMe; returns the bot user."""
        self._thread.start()
        self._started = True
        me = self._submit(self._initialize()).result(timeout=timeout)
        return me

    def stop(self, timeout: float = 10.0) -> None:
        if not self._started:
            return
        try:
            self._submit(self._shutdown()).result(timeout=timeout)
        except Exception as exc:
            log.warning("gateway shutdown did not finish cleanly: %r", exc)
        self._started = False
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=timeout)

    # --- the API actors use (any thread) ---------------------------------------------

    def get_updates(self, offset: int | None) -> concurrent.futures.Future[list[dict[str, Any]]]:
        """One long poll. An earlier poll still in flight (a replaced poller's) is cancelled
        first: getUpdates has one connection, and it must go to the newest poller."""
        kwargs: dict[str, Any] = {"timeout": int(self.poll_timeout), "allowed_updates": ["message"]}
        if offset is not None:
            kwargs["offset"] = offset
        if self._poll is not None and not self._poll.done():
            self._poll.cancel()
        self._poll = self._submit(
            self._bot.do_api_request(
                "getUpdates",
                api_kwargs=kwargs,
                read_timeout=self.poll_timeout + POLL_READ_MARGIN,
            )
        )
        return self._poll

    def send_message(
        self, chat_id: int, text: str, reply_to: int | None = None
    ) -> concurrent.futures.Future[int]:
        return self._submit(self._send_message(chat_id, text, reply_to))

    def edit_message(
        self, chat_id: int, message_id: int, text: str
    ) -> concurrent.futures.Future[Any]:
        return self._submit(
            self._bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        )

    def react(self, chat_id: int, message_id: int, emoji: str) -> concurrent.futures.Future[bool]:
        return self._submit(
            self._bot.set_message_reaction(chat_id, message_id, [ReactionTypeEmoji(emoji)])
        )

    def send_typing(self, chat_id: int) -> concurrent.futures.Future[bool]:
        return self._submit(self._bot.send_chat_action(chat_id, ChatAction.TYPING))

    # --- loop side (executed on the gateway thread) ----------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    async def _initialize(self) -> dict[str, Any]:
        await self._bot.initialize()
        return {"id": self._bot.id, "username": self._bot.username}

    async def _shutdown(self) -> None:
        # A long poll (and maybe a reply) is still in flight: end those calls first, so
        # nothing is left pending when the loop stops.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self._bot.shutdown()

    async def _send_message(self, chat_id: int, text: str, reply_to: int | None) -> int:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        message = await self._bot.send_message(chat_id, text, reply_parameters=reply)
        return message.message_id

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if not self._started:
            coro.close()
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            future.set_exception(RuntimeError("telegram gateway is not running"))
            return future
        return asyncio.run_coroutine_threadsafe(coro, self._loop)
