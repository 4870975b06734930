"""The only door to Telegram: one PTB `Bot` owned by one asyncio loop on its own thread.

PTB's Bot is an asyncio object bound to the loop that initialised it; sharing it
across loops or threads corrupts its httpx pools. Actors therefore never await it:
two thread-safe methods schedule a coroutine on the gateway loop
(`asyncio.run_coroutine_threadsafe`) and hand back a `concurrent.futures.Future`:
`get_updates` for the poller, and `call` for the outbound actor, which is the only
one that sends anything (wakeful/actors/outbound.py). The service itself asks for
the webhook (and deletes it) once, at start, before any actor runs.

getUpdates gets its own request object with a pool of one connection and a read
timeout of long-poll + margin, so a long poll can never starve replies of connections
and a dead connection is noticed shortly after the poll should have returned. That pool
is renewed after every poll that was cancelled or failed (wakeful/bots/poll_request.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import warnings
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import httpx
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    ReactionTypeEmoji,
    ReplyParameters,
)
from telegram.constants import ChatAction
from telegram.error import EndPointNotFound, InvalidToken
from telegram.request import BaseRequest, HTTPXRequest
from telegram.warnings import PTBUserWarning

from wakeful.bots import downloads
from wakeful.bots.errors import FileTooBig, FileUnavailable
from wakeful.bots.poll_request import PollRequest
from wakeful.config import Secret
from wakeful.delivery.calls import (
    AnswerCallback,
    Call,
    EditText,
    FetchFile,
    Keyboard,
    React,
    SavedFile,
    SendDraft,
    SendText,
    Typing,
)
from wakeful.delivery.render import Part
from wakeful.files import store

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
        connections: int = 8,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
    ) -> None:
        self.poll_timeout = poll_timeout
        # The outbound actor never has more than `connections` calls in flight, so a
        # call never waits for a pooled connection (PTB's default pool timeout is 1 s).
        self._request = request or HTTPXRequest(
            connection_pool_size=connections, read_timeout=15.0, pool_timeout=15.0
        )
        self._poll_request = get_updates_request or PollRequest(lambda: HTTPXRequest(
            connection_pool_size=1, read_timeout=poll_timeout + POLL_READ_MARGIN
        ))
        # Files stream to disk through a client of our own (PTB reads them whole into
        # memory); with a request of the caller's (the in-process Bot API) there is no
        # HTTP to stream, and PTB downloads them through it.
        self._files_http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) \
            if request is None else None
        self._bot = Bot(
            token.reveal(),
            base_url=base_url,
            base_file_url=file_url(base_url),
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
        kwargs: dict[str, Any] = {"timeout": int(self.poll_timeout),
                                  "allowed_updates": ["message", "edited_message",
                                                      "callback_query"]}
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

    def call(self, call: Call) -> concurrent.futures.Future[int | SavedFile | None]:
        """Make one outbound call; the future gives the new message's id for sends,
        where a fetched file was saved, None for everything else. Only the outbound
        actor calls this."""
        return self._submit(self._call(call))

    # --- the webhook (the service's thread, at start) ---------------------------------

    def webhook_url(self) -> concurrent.futures.Future[str]:
        """The webhook Telegram delivers updates to; "" when there is none."""
        return self._submit(self._webhook_url())

    def set_commands(self, commands: Sequence[tuple[str, str]]) -> concurrent.futures.Future[bool]:
        """The command menu Telegram clients show: (name, description) pairs."""
        return self._submit(self._bot.set_my_commands(
            [BotCommand(name, description) for name, description in commands]))

    def delete_webhook(self) -> concurrent.futures.Future[bool]:
        """Switch Telegram to getUpdates. Pending updates are kept: they are messages
        users sent, and the poller fetches them next."""
        return self._submit(self._bot.delete_webhook(drop_pending_updates=False))

    # --- loop side (executed on the gateway thread) ----------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    async def _initialize(self) -> dict[str, Any]:
        await self._bot.initialize()
        return {"id": self._bot.id, "username": self._bot.username}

    async def _webhook_url(self) -> str:
        info = await self._bot.get_webhook_info()
        return info.url or ""

    async def _shutdown(self) -> None:
        # A long poll (and maybe a reply) is still in flight: end those calls first, so
        # nothing is left pending when the loop stops.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self._bot.shutdown()
        if self._files_http is not None:
            await self._files_http.aclose()

    async def _call(self, call: Call) -> int | SavedFile | None:
        match call:
            case FetchFile():
                return await self._fetch(call)
            case SendText(chat_id=chat, part=part, reply_to=reply_to, keyboard=keyboard):
                reply = ReplyParameters(reply_to, allow_sending_without_reply=True) \
                    if reply_to else None
                message = await self._bot.send_message(chat, part.text, entities=_entities(part),
                                                       reply_parameters=reply,
                                                       reply_markup=_markup(keyboard))
                return int(message.message_id)
            case EditText(chat_id=chat, message_id=message_id, part=part, keyboard=keyboard):
                await self._bot.edit_message_text(part.text, chat_id=chat, message_id=message_id,
                                                  entities=_entities(part),
                                                  reply_markup=_markup(keyboard))
            case AnswerCallback(query_id=query_id, text=text):
                await self._bot.answer_callback_query(query_id, text=text)
            case React(chat_id=chat, message_id=message_id, emoji=emoji):
                await self._bot.set_message_reaction(chat, message_id, [ReactionTypeEmoji(emoji)])
            case Typing(chat_id=chat):
                await self._bot.send_chat_action(chat, ChatAction.TYPING)
            case SendDraft(chat_id=chat, draft_id=draft_id, part=part):
                await self._bot.send_message_draft(chat, draft_id, part.text,
                                                   entities=_entities(part))
        return None

    async def _fetch(self, call: FetchFile) -> SavedFile:
        file = await self._bot.get_file(call.file_id)
        # Telegram states the size with getFile; the download itself is checked too, in
        # case it did not (or a local server sends more than it said).
        if file.file_size is not None and file.file_size > call.max_bytes:
            raise FileTooBig(f"{file.file_size} bytes, over the limit of {call.max_bytes}")
        if self._files_http is not None and file.file_path:
            return await downloads.download(self._files_http, file.file_path, call.directory,
                                            call.name, call.max_bytes)
        try:
            data = await file.download_as_bytearray()
        except (InvalidToken, EndPointNotFound):
            # A 401/404 on the file URL is the file, not the token (getFile just worked).
            raise FileUnavailable("Telegram did not serve the file") from None
        if len(data) > call.max_bytes:
            raise FileTooBig(f"{len(data)} bytes, over the limit of {call.max_bytes}")
        # Small and local (at most max_bytes): written here rather than on another thread.
        return store.save(call.directory, call.name, bytes(data))

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if not self._started:
            coro.close()
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            future.set_exception(RuntimeError("telegram gateway is not running"))
            return future
        return asyncio.run_coroutine_threadsafe(coro, self._loop)


def file_url(base_url: str) -> str:
    """Where files are downloaded from: ".../bot" (the token follows) -> ".../file/bot"."""
    head, sep, _ = base_url.rstrip("/").rpartition("/bot")
    return f"{head}/file/bot" if sep else f"{base_url.rstrip('/')}/file/bot"


def _markup(keyboard: Keyboard) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)
                                  for label, data in row] for row in keyboard])


def _entities(part: Part) -> list[MessageEntity] | None:
    if not part.entities:
        return None
    return [MessageEntity(e.type, e.offset, e.length, url=e.url, language=e.language)
            for e in part.entities]
