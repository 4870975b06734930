"""In-memory state machine of a fake Telegram Bot API, independent of any transport.

The HTTP server and the in-process PTB request both feed `BotApiCore.serve`; tests and the
demo's simulated users drive the other side. Errors mirror Telegram's envelopes and
descriptions so that PTB raises the same exception types it would against api.telegram.org.

User-side controls, each simulating one thing that happens on the real service:
- `inject_text`: a user writes a message (a reply to another when `reply_to_message_id`);
  /commands and @mentions get their entities.
- `inject_message`: a user sends a photo, document, sticker or voice note (see `media`).
- `inject_raw_update`: Telegram delivers an arbitrary, possibly malformed, update.
- `inject_edit`: a user edits a message they sent (an edited_message update).
- `inject_callback_query`: a user presses an inline button of a bot message (a
  callback_query update); `callback_answers` lists what answerCallbackQuery said.
- `expire_downloads`: file downloads answer 404, as expired links do.
- `set_file_content`: what downloading a sent file gives (default: deterministic bytes of
  its declared size, `file_bytes`); getFile and `download` serve them (see `files`).
- `fail_next`: the next calls of a method fail with a given Telegram error.
- `outage`: a method fails with an error for some seconds of the core's clock.
- `block_chat` / `unblock_chat`: a user blocks the bot (or a group removes it), and back.
- `set_limits`: Telegram's flood limits answer 429 with `retry_after` (see `limits`).
- `lose_next_response`: a call takes effect but its answer never reaches the bot.
- `interrupt_long_polls`: pending getUpdates calls return at once (transport shutdown).
- `set_webhook`: someone set a webhook for the bot (another deployment, another tool);
  until deleteWebhook, getUpdates answers 409 as Telegram does.
"""

from __future__ import annotations

import copy
import hmac
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, Literal

from telegram.constants import ChatAction

from wakeful.testing.bot_api.entities import detect_entities
from wakeful.testing.bot_api.errors import (
    ApiError,
    Envelope,
    JSONDict,
    bad_request,
    too_many_requests,
)
from wakeful.testing.bot_api.faults import (
    LOSS_MODES,
    Failure,
    FaultPlan,
    LossMode,
    default_description,
)
from wakeful.testing.bot_api.files import FileStore
from wakeful.testing.bot_api.formatting import format_text
from wakeful.testing.bot_api.limits import FloodControl, RateLimits, Throttled
from wakeful.testing.bot_api.markup import Formatted
from wakeful.testing.bot_api.media import Attachment
from wakeful.testing.bot_api.params import Params
from wakeful.testing.bot_api.reactions import parse_reaction
from wakeful.testing.bot_api.updates import UpdateQueue
from wakeful.testing.bot_api.utf16 import utf16_length

__all__ = ["BotApiCore", "CallbackAnswer", "Envelope", "JSONDict", "Reply", "SentRecord",
           "random_token"]

MAX_TEXT_LENGTH = 4096
NOT_MODIFIED_DETAIL = (
    "message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_CHAT_ACTIONS = frozenset(action.value for action in ChatAction)
_CHAT_TYPES = frozenset({"private", "group", "supergroup"})
_GROUP_TYPES = frozenset({"group", "supergroup"})
_BLOCKED_DESCRIPTIONS = {
    "private": "Forbidden: bot was blocked by the user",
    "group": "Forbidden: bot was kicked from the group chat",
    "supergroup": "Forbidden: bot was kicked from the supergroup chat",
}

SentKind = Literal["message", "edit", "reaction", "chat_action", "draft"]


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One accepted bot call that changed what a chat's users see, in arrival order."""

    kind: SentKind
    chat_id: int
    message_id: int | None
    text: str | None
    reaction: tuple[str, ...] | None
    action: str | None
    reply_to_message_id: int | None
    at_monotonic: float
    at_wall: float
    parse_mode: str | None = None
    draft_id: int | None = None


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """One answerCallbackQuery: the query it answered and what the user was shown."""

    callback_query_id: str
    chat_id: int | None
    message_id: int | None
    user_id: int
    data: str | None
    text: str | None
    show_alert: bool


@dataclass(frozen=True, slots=True)
class Reply:
    """One answered call as a transport must deliver it, or, when `lost` says so, must not."""

    status: int
    body: JSONDict
    lost: LossMode | None = None


def _check_error_code(code: int) -> None:
    if not 400 <= code <= 599:
        raise ValueError("error_code must be an HTTP error status")


def _quoted(message: JSONDict) -> JSONDict:
    # Telegram quotes one level deep: the quoted message loses its own reply_to_message.
    return copy.deepcopy({k: v for k, v in message.items() if k != "reply_to_message"})


def random_token() -> str:
    """A fresh token in Telegram's "<bot id>:<secret>" shape, for one local server's life."""
    return f"{secrets.randbelow(10**9) + 10**9}:{secrets.token_urlsafe(24)}"


class BotApiCore:
    """Thread-safe fake of one bot's view of the Telegram Bot API.

    One re-entrant lock guards all state and doubles as the condition that long polls and
    `wait_for` sleep on, so every state change can wake every waiter.
    """

    def __init__(
        self,
        token: str,
        bot_user_id: int | None = None,
        bot_username: str = "wakeful_test_bot",
        *,
        bot_first_name: str = "Wakeful Test Bot",
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        self._token = token.encode()
        if bot_user_id is None:
            # Real bot ids are the numeric prefix of the token; keep that invariant when
            # the test token follows the usual "<id>:<secret>" shape.
            prefix = token.split(":", 1)[0]
            bot_user_id = int(prefix) if prefix.isdigit() else 7_000_000_001
        self._bot_user: JSONDict = {
            "id": bot_user_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._monotonic = monotonic
        self._wall = wall
        self._cond = threading.Condition(threading.RLock())

        self._updates = UpdateQueue(self._cond)

        self._chats: dict[int, JSONDict] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._last_message_id: dict[int, int] = {}
        self._sent: dict[int, list[SentRecord]] = {}
        self._calls: Counter[str] = Counter()
        self._faults = FaultPlan()
        self._flood = FloodControl()
        self._file_keys = 0
        self._files = FileStore()
        self._webhook_url = ""
        self._my_commands: list[JSONDict] = []
        self._callback_queries: dict[str, JSONDict] = {}  # id -> the query, until answered
        self._callback_answers: list[CallbackAnswer] = []

        handlers: list[tuple[str, Callable[[Params], Any]]] = [
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("setWebhook", self._set_webhook),
            ("deleteWebhook", self._delete_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("setMyCommands", self._set_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("answerCallbackQuery", self._answer_callback_query),
            ("sendMessageDraft", self._send_message_draft),
            ("setMessageReaction", self._set_message_reaction),
            ("sendChatAction", self._send_chat_action),
            ("getFile", self._get_file),
        ]
        # Telegram matches method names case-insensitively.
        self._methods = {name.lower(): (name, handler) for name, handler in handlers}

    # ------------------------------------------------------------------ bot side

    @property
    def bot_user(self) -> JSONDict:
        return dict(self._bot_user)

    def dispatch(self, token: str, method: str, params: Mapping[str, Any]) -> Envelope:
        """Run one Bot API call; returns the HTTP status and Telegram's JSON envelope.

        A direct caller has no connection to lose, so `lose_next_response` ignores it.
        """
        reply = self._call(token, method, params, may_lose=False)
        return reply.status, reply.body

    def serve(self, token: str, method: str, params: Mapping[str, Any]) -> Reply:
        """What a transport calls: like `dispatch`, but the answer may have to be lost."""
        return self._call(token, method, params, may_lose=True)

    def _call(self, token: str, method: str, params: Mapping[str, Any], *, may_lose: bool) -> Reply:
        if not hmac.compare_digest(token.encode(), self._token):
            return Reply(*ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized").envelope())
        entry = self._methods.get(method.lower())
        if entry is None:
            return Reply(*ApiError(HTTPStatus.NOT_FOUND, "Not Found").envelope())
        name, handler = entry
        # Holding the lock for the whole call makes counting, fault injection, flood
        # accounting and the poll generation bump one atomic step; only a long poll's wait
        # releases it.
        with self._cond:
            try:
                self._calls[name] += 1
                status, body = self._run(name, handler, Params(params))
            finally:
                self._cond.notify_all()
            lost = self._faults.take_loss(name) if may_lose else None
        return Reply(status, body, lost)

    def _run(self, name: str, handler: Callable[[Params], Any], params: Params) -> Envelope:
        try:
            refusal = self._faults.refusal(name, self._monotonic())
            if refusal is not None:
                raise refusal
            counted = self._admit(name, params)
            result = handler(params)
        except ApiError as exc:
            return exc.envelope()
        if counted is not None:
            # Only calls that went through use up the limit; a refused one changes nothing.
            self._flood.record(*counted, self._monotonic())
        return HTTPStatus.OK, {"ok": True, "result": result}

    def _admit(self, name: str, params: Params) -> tuple[int, bool] | None:
        """Raise 429 if this call breaks a flood limit; returns what to count it against."""
        if not self._flood.counts(name):
            return None
        try:
            chat_id = params.as_int("chat_id")
        except ApiError:
            chat_id = None
        chat = None if chat_id is None else self._chats.get(chat_id)
        if chat is None:
            return None  # the handler answers "chat not found"
        key = chat["id"], chat["type"] in _GROUP_TYPES
        retry_after = self._flood.throttle(name, *key, self._monotonic())
        if retry_after is not None:
            raise too_many_requests(retry_after)
        return key

    def _get_me(self, _params: Params) -> JSONDict:
        return dict(self._bot_user)

    def _get_updates(self, params: Params) -> list[JSONDict]:
        if self._webhook_url:
            raise ApiError(HTTPStatus.CONFLICT, WEBHOOK_CONFLICT)
        return self._updates.poll(params)

    def _set_webhook(self, params: Params) -> bool:
        url = params.as_str("url") or ""
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if params.as_bool("drop_pending_updates"):
            self._updates.discard_pending()
        # An empty URL is how Telegram's clients remove a webhook with setWebhook.
        self._webhook_url = url
        return True

    def _delete_webhook(self, params: Params) -> bool:
        if params.as_bool("drop_pending_updates"):
            self._updates.discard_pending()
        self._webhook_url = ""
        return True

    def _get_webhook_info(self, _params: Params) -> JSONDict:
        return {"url": self._webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._updates.pending_ids())}

    def _set_my_commands(self, params: Params) -> bool:
        raw = params.as_json("commands")
        if not isinstance(raw, list) or len(raw) > 100:
            raise bad_request("can't parse commands JSON object")
        commands: list[JSONDict] = []
        for item in raw:
            command = item.get("command") if isinstance(item, dict) else None
            description = item.get("description") if isinstance(item, dict) else None
            # Telegram's rules: 1-32 lower-case letters, digits and underscores; 1-256
            # characters of description.
            if not isinstance(command, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", command):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            commands.append({"command": command, "description": description})
        self._my_commands = commands
        return True

    def _delete_my_commands(self, _params: Params) -> bool:
        self._my_commands = []
        return True

    def _get_my_commands(self, _params: Params) -> list[JSONDict]:
        return [dict(command) for command in self._my_commands]

    @property
    def my_commands(self) -> list[JSONDict]:
        """What setMyCommands registered last (the menu users see)."""
        with self._cond:
            return [dict(command) for command in self._my_commands]

    def _send_message(self, params: Params) -> JSONDict:
        chat = self._require_chat(params)
        formatted = self._message_text(params, too_long="message is too long")
        reply_to = self._reply_target(params, chat["id"])
        markup = self._inline_markup(params)
        message = self._new_message(chat, self._bot_user, {"text": formatted.text})
        entities = formatted.entity_list()
        if entities:
            message["entities"] = entities
        if markup is not None:
            message["reply_markup"] = markup
        if reply_to is not None:
            message["reply_to_message"] = _quoted(reply_to)
        self._record(
            "message",
            chat["id"],
            message["message_id"],
            text=formatted.text,
            reply_to_message_id=None if reply_to is None else reply_to["message_id"],
            parse_mode=params.as_str("parse_mode"),
        )
        return copy.deepcopy(message)

    def _edit_message_text(self, params: Params) -> JSONDict:
        if params.present("inline_message_id"):
            raise bad_request("inline messages are not supported by the local Bot API")
        chat = self._require_chat(params)
        message_id = params.required_int("message_id")
        formatted = self._message_text(params, too_long="MESSAGE_TOO_LONG")
        text = formatted.text
        message = self._messages.get((chat["id"], message_id))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self._bot_user["id"]:
            raise bad_request("message can't be edited")
        markup = self._inline_markup(params)
        entities = formatted.entity_list()
        if (
            message.get("text") == text
            and message.get("entities") == entities
            and message.get("reply_markup") == markup
        ):
            raise bad_request(NOT_MODIFIED_DETAIL)
        message["text"] = text
        message["edit_date"] = int(self._wall())
        for key, value in (("entities", entities), ("reply_markup", markup)):
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        self._record(
            "edit", chat["id"], message_id, text=text, parse_mode=params.as_str("parse_mode")
        )
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, params: Params) -> JSONDict:
        if params.present("inline_message_id"):
            raise bad_request("inline messages are not supported by the local Bot API")
        chat = self._require_chat(params)
        message_id = params.required_int("message_id")
        message = self._messages.get((chat["id"], message_id))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self._bot_user["id"]:
            raise bad_request("message can't be edited")
        markup = self._inline_markup(params)
        if message.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED_DETAIL)
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(self._wall())
        self._record("edit", chat["id"], message_id, text=message.get("text"))
        return copy.deepcopy(message)

    def _answer_callback_query(self, params: Params) -> bool:
        query_id = params.as_str("callback_query_id")
        query = self._callback_queries.pop(query_id or "", None)
        if query is None:
            # Telegram forgets a query once answered, and after about 15 s.
            raise bad_request("query is too old and response timeout expired or query ID "
                              "is invalid")
        text = params.as_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        message = query.get("message") or {}
        self._callback_answers.append(CallbackAnswer(
            callback_query_id=query["id"],
            chat_id=(message.get("chat") or {}).get("id"),
            message_id=message.get("message_id"),
            user_id=query["from"]["id"],
            data=query.get("data"),
            text=text,
            show_alert=bool(params.as_bool("show_alert")),
        ))
        return True

    def _send_message_draft(self, params: Params) -> bool:
        chat = self._require_chat(params)
        if chat["type"] != "private":
            raise bad_request("TEXTDRAFT_PEER_INVALID")
        draft_id = params.required_int("draft_id")
        if draft_id == 0:
            raise bad_request("draft_id must be non-zero")
        # Since Bot API 10.0 an empty draft is allowed: the user sees "Thinking…".
        formatted = self._message_text(params, too_long="message is too long", allow_empty=True)
        self._record(
            "draft",
            chat["id"],
            None,
            text=formatted.text,
            parse_mode=params.as_str("parse_mode"),
            draft_id=draft_id,
        )
        return True

    def _set_message_reaction(self, params: Params) -> bool:
        chat = self._require_chat(params)
        message_id = params.required_int("message_id")
        params.as_bool("is_big")
        raw = params.as_json("reaction")
        reaction = parse_reaction([] if raw is None else raw)
        if (chat["id"], message_id) not in self._messages:
            raise bad_request("message to react not found")
        self._record("reaction", chat["id"], message_id, reaction=reaction)
        return True

    def _send_chat_action(self, params: Params) -> bool:
        chat = self._require_chat(params)
        action = params.as_str("action")
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._record("chat_action", chat["id"], None, action=action)
        return True

    # ------------------------------------------------------------------ validation

    def _get_file(self, params: Params) -> JSONDict:
        return self._files.get_file(params.as_str("file_id"))

    def download(self, token: str, file_path: str) -> bytes | None:
        """GET /file/bot<token>/<file_path>: the file's bytes; None answers 404."""
        if not hmac.compare_digest(token.encode(), self._token):
            return None
        with self._cond:
            self._calls["download"] += 1
            return self._files.download(file_path)

    def _require_chat(self, params: Params) -> JSONDict:
        if not params.present("chat_id"):
            raise bad_request("chat_id is empty")
        try:
            chat_id = params.as_int("chat_id")
        except ApiError:
            # "@username" targets only resolve for public channels, which never exist here.
            raise bad_request("chat not found") from None
        blocked = self._faults.blocked(chat_id) if chat_id is not None else None
        if blocked is not None:
            raise blocked
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    @staticmethod
    def _message_text(params: Params, *, too_long: str, allow_empty: bool = False) -> Formatted:
        """The text users will see: markup parsed, then Telegram's limits on the result."""
        raw = params.as_str("text") or ""
        if not raw.strip() and not allow_empty:
            raise bad_request("message text is empty")
        formatted = format_text(raw, params.as_str("parse_mode"), params.as_json("entities"))
        if not formatted.text.strip() and not allow_empty:
            raise bad_request("message text is empty")
        if utf16_length(formatted.text) > MAX_TEXT_LENGTH:
            raise bad_request(too_long)
        return formatted

    def _reply_target(self, params: Params, chat_id: int) -> JSONDict | None:
        reply = params.as_json("reply_parameters")
        allow_missing = bool(params.as_bool("allow_sending_without_reply"))
        target_chat = chat_id
        if reply is not None:
            if not isinstance(reply, dict):
                raise bad_request("can't parse reply parameters JSON object")
            reply_params = Params(reply)
            message_id: int | None = reply_params.required_int("message_id")
            allow_missing = allow_missing or bool(
                reply_params.as_bool("allow_sending_without_reply")
            )
            other_chat = reply_params.as_int("chat_id")
            target_chat = chat_id if other_chat is None else other_chat
        else:
            message_id = params.as_int("reply_to_message_id")
        if message_id is None:
            return None
        target = self._messages.get((target_chat, message_id))
        if target is None and not allow_missing:
            raise bad_request("message to be replied not found")
        return target

    @staticmethod
    def _inline_markup(params: Params) -> JSONDict | None:
        # Telegram echoes only inline keyboards back on the message; reply keyboards
        # live on the client and never appear in a Message object.
        markup = params.as_json("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            return markup
        return None

    # ------------------------------------------------------------------ state helpers

    def _new_message(self, chat: JSONDict, sender: JSONDict, content: JSONDict) -> JSONDict:
        message_id = self._last_message_id.get(chat["id"], 0) + 1
        self._last_message_id[chat["id"]] = message_id
        message: JSONDict = {
            "message_id": message_id,
            "from": dict(sender),
            "chat": dict(chat),
            "date": int(self._wall()),
            **content,
        }
        self._messages[(chat["id"], message_id)] = message
        return message

    def _record(
        self,
        kind: SentKind,
        chat_id: int,
        message_id: int | None,
        *,
        text: str | None = None,
        reaction: tuple[str, ...] | None = None,
        action: str | None = None,
        reply_to_message_id: int | None = None,
        parse_mode: str | None = None,
        draft_id: int | None = None,
    ) -> None:
        record = SentRecord(
            kind=kind,
            chat_id=chat_id,
            message_id=message_id,
            text=text,
            reaction=reaction,
            action=action,
            reply_to_message_id=reply_to_message_id,
            at_monotonic=self._monotonic(),
            at_wall=self._wall(),
            parse_mode=parse_mode,
            draft_id=draft_id,
        )
        self._sent.setdefault(chat_id, []).append(record)

    # ------------------------------------------------------------------ user side

    def inject_text(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        first_name: str = "User",
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
    ) -> JSONDict:
        """A user writes `text` in `chat_id`; returns (a copy of) the queued Update."""
        return self.inject_message(
            chat_id, {"text": text}, user_id, first_name, chat_type,
            reply_to_message_id=reply_to_message_id,
        )  # fmt: skip

    def inject_message(
        self,
        chat_id: int,
        content: Attachment | Mapping[str, Any],
        user_id: int | None = None,
        first_name: str = "User",
        chat_type: str = "private",
        *,
        reply_to_message_id: int | None = None,
    ) -> JSONDict:
        """A user sends `content` (an attachment from `media`, or raw message fields).

        Like Telegram, the message carries entities for the /commands and @mentions in its
        text or caption, and quotes the message it replies to (the bot's own included).
        """
        if chat_type not in _CHAT_TYPES:
            raise ValueError(f"unsupported chat_type {chat_type!r}")
        if user_id is None:
            user_id = chat_id if chat_type == "private" else abs(chat_id)
        if chat_type == "private" and user_id != chat_id:
            raise ValueError("a private chat's id is the user's id")
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        with self._cond:
            quoted = None
            if reply_to_message_id is not None:
                quoted = self._messages.get((chat_id, reply_to_message_id))
                if quoted is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            chat = self._user_chat(chat_id, chat_type, first_name)
            message = self._new_message(chat, user, self._content_fields(content))
            if quoted is not None:
                message["reply_to_message"] = _quoted(quoted)
            return self._updates.push({"message": message})

    def _user_chat(self, chat_id: int, chat_type: str, first_name: str) -> JSONDict:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = first_name
            else:
                chat["title"] = f"Test {chat_type} {chat_id}"
            self._chats[chat_id] = chat
        elif chat["type"] != chat_type:
            raise ValueError(f"chat {chat_id} is a {chat['type']} chat")
        return chat

    def _content_fields(self, content: Attachment | Mapping[str, Any]) -> JSONDict:
        if isinstance(content, Mapping):
            fields = copy.deepcopy(dict(content))
        else:
            self._file_keys += 1
            fields = content.fields(str(self._file_keys))
        for text_key, entities_key in (("text", "entities"), ("caption", "caption_entities")):
            text = fields.get(text_key)
            if isinstance(text, str) and entities_key not in fields:
                found = detect_entities(text)
                if found:
                    fields[entities_key] = found
        self._files.register(fields)
        return fields

    def inject_edit(self, chat_id: int, message_id: int, text: str) -> JSONDict:
        """The user edits their message `message_id` (its text, or its caption); returns
        (a copy of) the queued edited_message update."""
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            key = "text" if "text" in message else "caption"
            message[key] = text
            message.pop("entities" if key == "text" else "caption_entities", None)
            found = detect_entities(text)
            if found:
                message["entities" if key == "text" else "caption_entities"] = found
            message["edit_date"] = int(self._wall())
            return self._updates.push({"edited_message": copy.deepcopy(message)})

    def inject_callback_query(self, chat_id: int, message_id: int, data: str,
                              user_id: int | None = None, first_name: str = "User") -> JSONDict:
        """A user presses a button (callback_data `data`) of the bot's message
        `message_id`; returns (a copy of) the queued callback_query update. `user_id`
        defaults like inject_text's: the private chat's user, or the group's "member"."""
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            if user_id is None:
                user_id = chat_id if message["chat"]["type"] == "private" else abs(chat_id)
            self._file_keys += 1
            query: JSONDict = {
                "id": f"{user_id}{self._file_keys:08d}{secrets.token_hex(4)}",
                "from": {"id": user_id, "is_bot": False, "first_name": first_name},
                "message": copy.deepcopy(message),
                "chat_instance": str(abs(chat_id)),
                "data": data,
            }
            self._callback_queries[query["id"]] = query
            return self._updates.push({"callback_query": query})

    def callback_answers(self) -> list[CallbackAnswer]:
        """Every answerCallbackQuery so far, in order."""
        with self._cond:
            return list(self._callback_answers)

    def set_file_content(self, file_id: str, content: bytes,
                         declared_size: int | None = None) -> None:
        """Downloading `file_id` (a file a user sent) gives exactly `content`; getFile
        states its size, or `declared_size` (a server that understates it)."""
        with self._cond:
            self._files.set_content(file_id, content, declared_size)

    def expire_downloads(self, expired: bool = True) -> None:
        """Every file download answers 404 (Telegram's links last an hour) until undone."""
        with self._cond:
            self._files.expired = expired

    def file_bytes(self, file_id: str) -> bytes:
        """What downloading `file_id` gives."""
        with self._cond:
            return self._files.content(file_id)

    def inject_raw_update(self, payload: Mapping[str, Any]) -> JSONDict:
        """Queue an arbitrary (possibly malformed) update; assigns update_id when missing."""
        with self._cond:
            update = copy.deepcopy(dict(payload))
            if isinstance(update.get("update_id"), int):
                return self._updates.append(update)
            # Without an integer id the update could never be confirmed by an offset.
            return self._updates.push({k: v for k, v in update.items() if k != "update_id"})

    def sent(self, chat_id: int) -> list[SentRecord]:
        with self._cond:
            return list(self._sent.get(chat_id, ()))

    def chats(self) -> list[int]:
        with self._cond:
            return list(self._chats)

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """Current state of a message (after edits), or None."""
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            return None if message is None else copy.deepcopy(message)

    def pending_update_ids(self) -> list[int]:
        """Updates not yet confirmed by an offset, whether or not already delivered."""
        with self._cond:
            return self._updates.pending_ids()

    def call_counts(self) -> dict[str, int]:
        with self._cond:
            return dict(self._calls)

    def wait_for(self, predicate: Callable[[BotApiCore], bool], timeout: float) -> bool:
        """Block until `predicate(self)` holds (re-checked on every state change)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail with this Telegram error."""
        name = self._method_name(method)
        if times < 1:
            raise ValueError("times must be >= 1")
        _check_error_code(error_code)
        text = description or default_description(error_code, retry_after)
        with self._cond:
            self._faults.queue(name, Failure(error_code, text, retry_after), times)

    def outage(
        self, method: str, error_code: int, seconds: float, description: str | None = None
    ) -> None:
        """Fail every call of `method` until the core's clock has advanced `seconds`.

        A 429 outage answers `retry_after` with the seconds left, as a flood wait would.
        A new outage of the same method replaces the old one; `seconds=0` ends it.
        """
        name = self._method_name(method)
        _check_error_code(error_code)
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._cond:
            until = self._monotonic() + seconds
            self._faults.start_outage(name, error_code, description, until)

    def outage_counts(self) -> dict[str, int]:
        """Calls refused by an outage, per method."""
        with self._cond:
            return dict(self._faults.outage_hits)

    def block_chat(self, chat_id: int, description: str | None = None) -> None:
        """Every bot call aimed at `chat_id` answers 403 until `unblock_chat`.

        The default description is Telegram's for the chat's type: blocked by the user in
        a private chat, kicked from a group or supergroup.
        """
        with self._cond:
            chat = self._chats.get(chat_id)
            chat_type = "private" if chat is None else chat["type"]
            self._faults.block(chat_id, description or _BLOCKED_DESCRIPTIONS[chat_type])

    def unblock_chat(self, chat_id: int) -> None:
        with self._cond:
            self._faults.unblock(chat_id)

    def set_limits(self, limits: RateLimits | None) -> None:
        """Enforce Telegram's flood limits from now on (None: no limits, the default)."""
        if limits is not None:
            names = frozenset(self._method_name(method) for method in limits.methods)
            limits = replace(limits, methods=names)
        with self._cond:
            self._flood.configure(limits)

    def throttled(self) -> Throttled:
        """Calls the flood limits refused with 429, per method and per chat."""
        with self._cond:
            return self._flood.throttled()

    def lose_next_response(
        self, method: str, times: int = 1, mode: LossMode = "disconnect"
    ) -> None:
        """The answers to the next `times` calls of `method` never reach the bot.

        Each call still runs: a sendMessage really creates the message. "disconnect" closes
        the connection without an answer; "hang" holds it until the client's read timeout
        (or the server stops). Calls through `dispatch` have no connection and are exempt.
        """
        name = self._method_name(method)
        if times < 1:
            raise ValueError("times must be >= 1")
        if mode not in LOSS_MODES:
            raise ValueError(f"mode must be one of {sorted(LOSS_MODES)}")
        with self._cond:
            self._faults.lose(name, mode, times)

    def lost_responses(self) -> dict[str, int]:
        """Answers lost so far, per method."""
        with self._cond:
            return dict(self._faults.lost)

    def _method_name(self, method: str) -> str:
        entry = self._methods.get(method.lower())
        if entry is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        return entry[0]

    def set_webhook(self, url: str) -> None:
        """A webhook is set for the bot, as if by another tool: getUpdates answers 409
        until the bot calls deleteWebhook (any URL is taken; "" removes it)."""
        with self._cond:
            self._webhook_url = url
            self._cond.notify_all()

    def webhook_url(self) -> str:
        with self._cond:
            return self._webhook_url

    def interrupt_long_polls(self) -> None:
        """Make pending getUpdates calls return [] now (used when a transport shuts down)."""
        with self._cond:
            self._updates.interrupt()
