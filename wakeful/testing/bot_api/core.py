"""In-memory state machine of a fake Telegram Bot API, independent of any transport.

The HTTP server and the in-process PTB request both feed `BotApiCore.dispatch`; tests and the
demo's simulated users drive the other side (`inject_text`, `sent`, `wait_for`, `fail_next`).
Errors mirror Telegram's envelopes and descriptions so that PTB raises the same exception
types it would raise against api.telegram.org.
"""

from __future__ import annotations

import copy
import hmac
import json
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from telegram.constants import ReactionEmoji

JSONDict = dict[str, Any]
Envelope = tuple[int, JSONDict]

MAX_TEXT_LENGTH = 4096
MAX_UPDATES_PER_CALL = 100
CONFLICT_DESCRIPTION = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
NOT_MODIFIED_DETAIL = (
    "message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
# Telegram only delivers these when a bot opts in through allowed_updates.
_OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# The Bot API accepts only this fixed palette; "❤️" with a variation selector is rejected,
# which is exactly the kind of bug a bridge should see in tests rather than in production.
_REACTION_EMOJI = frozenset(emoji.value for emoji in ReactionEmoji)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_CHAT_TYPES = frozenset({"private", "group", "supergroup"})


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One accepted bot call that changed what a chat's users see, in arrival order."""

    kind: Literal["message", "edit", "reaction", "chat_action"]
    chat_id: int
    message_id: int | None
    text: str | None
    reaction: tuple[str, ...] | None
    action: str | None
    reply_to_message_id: int | None
    at_monotonic: float
    at_wall: float
    parse_mode: str | None = None


class _ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def envelope(self) -> Envelope:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return self.code, body


@dataclass(slots=True)
class _Fault:
    code: int
    description: str
    retry_after: int | None


def _bad_request(detail: str) -> _ApiError:
    return _ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {detail}")


def _default_fault_description(code: int, retry_after: int | None) -> str:
    if code == HTTPStatus.TOO_MANY_REQUESTS:
        return f"Too Many Requests: retry after {retry_after or 0}"
    if code == HTTPStatus.FORBIDDEN:
        return "Forbidden: bot was blocked by the user"
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def _utf16_length(text: str) -> int:
    # Telegram counts text limits and entity offsets in UTF-16 code units, so an emoji
    # outside the BMP costs two of the 4096.
    return len(text.encode("utf-16-le")) // 2


def _update_type(update: Mapping[str, Any]) -> str | None:
    return next((key for key in update if key != "update_id"), None)


class _Params:
    """Typed access to call parameters that arrive as JSON values or as form strings."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    def present(self, name: str) -> bool:
        return self._raw.get(name) not in (None, "")

    def required_int(self, name: str) -> int:
        value = self.as_int(name)
        if value is None:
            raise _bad_request(f"{name} is empty")
        return value

    def as_int(self, name: str) -> int | None:
        value = self._raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _bad_request(f'field "{name}" must be an Integer')

    def as_float(self, name: str) -> float | None:
        value = self._raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise _bad_request(f'field "{name}" must be a Number')
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _bad_request(f'field "{name}" must be a Number') from None

    def as_bool(self, name: str) -> bool | None:
        value = self._raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
            return value.strip().lower() in ("true", "1")
        raise _bad_request(f'field "{name}" must be a Boolean')

    def as_str(self, name: str) -> str | None:
        value = self._raw.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def as_json(self, name: str) -> Any:
        value = self._raw.get(name)
        if not isinstance(value, str):
            return copy.deepcopy(value)
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise _bad_request(f"can't parse {name} JSON object") from None


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

        self._updates: deque[JSONDict] = deque()
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] = frozenset()
        # Bumped by each getUpdates so an older pending poll knows it lost (409).
        self._poll_generation = 0
        # Bumped by interrupt_long_polls so pending polls return [] at once.
        self._poll_interrupts = 0

        self._chats: dict[int, JSONDict] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._last_message_id: dict[int, int] = {}
        self._sent: dict[int, list[SentRecord]] = {}
        self._calls: Counter[str] = Counter()
        self._faults: dict[str, deque[_Fault]] = {}

        handlers: list[tuple[str, Callable[[_Params], Any]]] = [
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("deleteWebhook", self._return_true),
            ("getWebhookInfo", self._get_webhook_info),
            ("setMyCommands", self._return_true),
            ("deleteMyCommands", self._return_true),
            ("getMyCommands", self._get_my_commands),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("setMessageReaction", self._set_message_reaction),
            ("sendChatAction", self._send_chat_action),
        ]
        # Telegram matches method names case-insensitively.
        self._methods = {name.lower(): (name, handler) for name, handler in handlers}

    # ------------------------------------------------------------------ bot side

    @property
    def bot_user(self) -> JSONDict:
        return dict(self._bot_user)

    def dispatch(self, token: str, method: str, params: Mapping[str, Any]) -> Envelope:
        """Run one Bot API call; returns the HTTP status and Telegram's JSON envelope."""
        if not hmac.compare_digest(token.encode(), self._token):
            return _ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized").envelope()
        entry = self._methods.get(method.lower())
        if entry is None:
            return _ApiError(HTTPStatus.NOT_FOUND, "Not Found").envelope()
        name, handler = entry
        # Holding the lock for the whole call makes counting, fault injection and the
        # poll generation bump one atomic step; only a long poll's wait releases it.
        with self._cond:
            try:
                self._calls[name] += 1
                fault = self._take_fault(name)
                if fault is not None:
                    return _ApiError(fault.code, fault.description, fault.retry_after).envelope()
                result = handler(_Params(params))
            except _ApiError as exc:
                return exc.envelope()
            finally:
                self._cond.notify_all()
        return HTTPStatus.OK, {"ok": True, "result": result}

    def _take_fault(self, name: str) -> _Fault | None:
        queue = self._faults.get(name)
        if not queue:
            return None
        return queue.popleft()

    def _return_true(self, _params: _Params) -> bool:
        return True

    def _get_me(self, _params: _Params) -> JSONDict:
        return dict(self._bot_user)

    def _get_webhook_info(self, _params: _Params) -> JSONDict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _get_my_commands(self, _params: _Params) -> list[JSONDict]:
        return []

    def _get_updates(self, params: _Params) -> list[JSONDict]:
        offset = params.as_int("offset")
        limit = params.as_int("limit") or MAX_UPDATES_PER_CALL
        limit = max(1, min(limit, MAX_UPDATES_PER_CALL))
        timeout = max(0.0, params.as_float("timeout") or 0.0)
        allowed = params.as_json("allowed_updates")
        if allowed is not None and (
            not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed)
        ):
            raise _bad_request("can't parse allowed_updates JSON array")

        self._poll_generation += 1
        generation = self._poll_generation
        interrupts = self._poll_interrupts
        self._cond.notify_all()
        self._confirm(offset)
        if allowed is not None:
            # Like Telegram, the filter sticks for later calls that omit it.
            self._allowed_updates = frozenset(allowed)

        # Long-poll deadlines use real time even when timestamps come from a fake clock:
        # a frozen clock must not turn a poll into a hang.
        deadline = time.monotonic() + timeout
        while True:
            batch = self._select(limit)
            if batch:
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._poll_interrupts != interrupts:
                return []
            self._cond.wait(remaining)
            if self._poll_generation != generation:
                raise _ApiError(HTTPStatus.CONFLICT, CONFLICT_DESCRIPTION)

    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        else:
            # Negative offsets keep only the last -offset updates and forget the rest.
            while len(self._updates) > -offset:
                self._updates.popleft()

    def _select(self, limit: int) -> list[JSONDict]:
        batch: list[JSONDict] = []
        for update in self._updates:
            kind = _update_type(update)
            if self._allowed_updates:
                wanted = kind is None or kind in self._allowed_updates
            else:
                wanted = kind not in _OPT_IN_UPDATE_TYPES
            if wanted:
                batch.append(copy.deepcopy(update))
                if len(batch) >= limit:
                    break
        return batch

    def _send_message(self, params: _Params) -> JSONDict:
        chat = self._require_chat(params)
        text = self._require_text(params, too_long="message is too long")
        reply_to = self._reply_target(params, chat["id"])
        entities = params.as_json("entities")
        markup = self._inline_markup(params)
        message = self._new_message(chat, self._bot_user, text)
        if entities:
            message["entities"] = entities
        if markup is not None:
            message["reply_markup"] = markup
        if reply_to is not None:
            quoted = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
            message["reply_to_message"] = copy.deepcopy(quoted)
        self._record(
            "message",
            chat["id"],
            message["message_id"],
            text=text,
            reply_to_message_id=None if reply_to is None else reply_to["message_id"],
            parse_mode=params.as_str("parse_mode"),
        )
        return copy.deepcopy(message)

    def _edit_message_text(self, params: _Params) -> JSONDict:
        if params.present("inline_message_id"):
            raise _bad_request("inline messages are not supported by the local Bot API")
        chat = self._require_chat(params)
        message_id = params.required_int("message_id")
        text = self._require_text(params, too_long="MESSAGE_TOO_LONG")
        message = self._messages.get((chat["id"], message_id))
        if message is None:
            raise _bad_request("message to edit not found")
        if message["from"]["id"] != self._bot_user["id"]:
            raise _bad_request("message can't be edited")
        markup = self._inline_markup(params)
        entities = params.as_json("entities") or None
        if (
            message.get("text") == text
            and message.get("entities") == entities
            and message.get("reply_markup") == markup
        ):
            raise _bad_request(NOT_MODIFIED_DETAIL)
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

    def _set_message_reaction(self, params: _Params) -> bool:
        chat = self._require_chat(params)
        message_id = params.required_int("message_id")
        params.as_bool("is_big")
        raw = params.as_json("reaction")
        reaction = self._parse_reaction([] if raw is None else raw)
        if (chat["id"], message_id) not in self._messages:
            raise _bad_request("message to react not found")
        self._record("reaction", chat["id"], message_id, reaction=reaction)
        return True

    def _send_chat_action(self, params: _Params) -> bool:
        chat = self._require_chat(params)
        action = params.as_str("action")
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        self._record("chat_action", chat["id"], None, action=action)
        return True

    # ------------------------------------------------------------------ validation

    def _require_chat(self, params: _Params) -> JSONDict:
        if not params.present("chat_id"):
            raise _bad_request("chat_id is empty")
        try:
            chat_id = params.as_int("chat_id")
        except _ApiError:
            # "@username" targets only resolve for public channels, which never exist here.
            raise _bad_request("chat not found") from None
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise _bad_request("chat not found")
        return chat

    @staticmethod
    def _require_text(params: _Params, *, too_long: str) -> str:
        text = params.as_str("text") or ""
        if not text.strip():
            raise _bad_request("message text is empty")
        if _utf16_length(text) > MAX_TEXT_LENGTH:
            raise _bad_request(too_long)
        return text

    def _reply_target(self, params: _Params, chat_id: int) -> JSONDict | None:
        reply = params.as_json("reply_parameters")
        allow_missing = bool(params.as_bool("allow_sending_without_reply"))
        target_chat = chat_id
        if reply is not None:
            if not isinstance(reply, dict):
                raise _bad_request("can't parse reply parameters JSON object")
            reply_params = _Params(reply)
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
            raise _bad_request("message to be replied not found")
        return target

    @staticmethod
    def _inline_markup(params: _Params) -> JSONDict | None:
        # Telegram echoes only inline keyboards back on the message; reply keyboards
        # live on the client and never appear in a Message object.
        markup = params.as_json("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            return markup
        return None

    @staticmethod
    def _parse_reaction(raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, list):
            raise _bad_request("can't parse reaction types JSON object")
        if len(raw) > 1:
            # Bots may set at most one reaction per message.
            raise _bad_request("REACTIONS_TOO_MUCH")
        parsed: list[str] = []
        for item in raw:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "emoji" and item.get("emoji") in _REACTION_EMOJI:
                parsed.append(item["emoji"])
            elif kind == "custom_emoji" and str(item.get("custom_emoji_id", "")).isdigit():
                parsed.append(f"custom:{item['custom_emoji_id']}")
            elif kind == "paid":
                parsed.append("paid")
            else:
                raise _bad_request("REACTION_INVALID")
        return tuple(parsed)

    # ------------------------------------------------------------------ state helpers

    def _new_message(self, chat: JSONDict, sender: JSONDict, text: str) -> JSONDict:
        message_id = self._last_message_id.get(chat["id"], 0) + 1
        self._last_message_id[chat["id"]] = message_id
        message: JSONDict = {
            "message_id": message_id,
            "from": dict(sender),
            "chat": dict(chat),
            "date": int(self._wall()),
            "text": text,
        }
        self._messages[(chat["id"], message_id)] = message
        return message

    def _record(
        self,
        kind: Literal["message", "edit", "reaction", "chat_action"],
        chat_id: int,
        message_id: int | None,
        *,
        text: str | None = None,
        reaction: tuple[str, ...] | None = None,
        action: str | None = None,
        reply_to_message_id: int | None = None,
        parse_mode: str | None = None,
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
        )
        self._sent.setdefault(chat_id, []).append(record)

    def _append_update(self, update: JSONDict) -> None:
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._updates.append(update)
        self._cond.notify_all()

    # ------------------------------------------------------------------ user side

    def inject_text(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        first_name: str = "User",
        chat_type: str = "private",
    ) -> JSONDict:
        """A user writes `text` in `chat_id`; returns (a copy of) the queued Update."""
        if chat_type not in _CHAT_TYPES:
            raise ValueError(f"unsupported chat_type {chat_type!r}")
        if user_id is None:
            user_id = chat_id if chat_type == "private" else abs(chat_id)
        if chat_type == "private" and user_id != chat_id:
            raise ValueError("a private chat's id is the user's id")
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        with self._cond:
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
            message = self._new_message(chat, user, text)
            command = text.split(maxsplit=1)[0] if text.startswith("/") else ""
            if len(command) > 1:
                # Telegram marks a leading /command so that CommandHandler recognises it.
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": _utf16_length(command)}
                ]
            update = {"update_id": self._next_update_id, "message": copy.deepcopy(message)}
            self._append_update(update)
            return copy.deepcopy(update)

    def inject_raw_update(self, payload: Mapping[str, Any]) -> JSONDict:
        """Queue an arbitrary (possibly malformed) update; assigns update_id when missing."""
        with self._cond:
            update = copy.deepcopy(dict(payload))
            if not isinstance(update.get("update_id"), int):
                # Without an integer id the update could never be confirmed by an offset.
                body = {key: value for key, value in update.items() if key != "update_id"}
                update = {"update_id": self._next_update_id, **body}
            self._append_update(update)
            return copy.deepcopy(update)

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
            return [update["update_id"] for update in self._updates]

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
        entry = self._methods.get(method.lower())
        if entry is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        if times < 1:
            raise ValueError("times must be >= 1")
        if not 400 <= error_code <= 599:
            raise ValueError("error_code must be an HTTP error status")
        text = description or _default_fault_description(error_code, retry_after)
        with self._cond:
            queue = self._faults.setdefault(entry[0], deque())
            queue.extend(_Fault(error_code, text, retry_after) for _ in range(times))

    def interrupt_long_polls(self) -> None:
        """Make pending getUpdates calls return [] now (used when a transport shuts down)."""
        with self._cond:
            self._poll_interrupts += 1
            self._cond.notify_all()
