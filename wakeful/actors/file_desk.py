"""The chat's side of the files users send: each message's files asked for once, the
message held back until they are all in, and answered instead of run if one fails.

Owned by the ChatActor and run on its thread, like the approval desk; it talks to the
world only through the callables the actor gives it (say, reply, withdraw). What is
asked for, what is in and every word said are wakeful/actors/attachments.py's (pure);
the downloads themselves happen at the edge (the gateway's FetchFile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wakeful.actors.attachments import Downloads, FileTag
from wakeful.files.settings import FilesConfig, files_directory
from wakeful.messages import Delivered, DeliveryFailed, IncomingMessage
from wakeful.state.records import Answer, AnswerKind


def default_downloads(chat_id: int, journal_path: str) -> Downloads:
    """A chat's files without a config (tests, tools): the [files] defaults."""
    config = FilesConfig()
    return Downloads(chat_id, files_directory(config, None, journal_path, chat_id),
                     config.max_bytes)


class FileDesk:
    def __init__(self, downloads: Downloads, say: Callable[[Any, Any], None],
                 reply: Callable[[IncomingMessage, Answer], None],
                 withdraw: Callable[[int], IncomingMessage | None]) -> None:
        """`say(call, tag)`: to the outbound actor; `reply`: store and deliver an answer;
        `withdraw(update_id)`: take a waiting message out of the chat's line (None: it
        is not waiting there)."""
        self._downloads = downloads
        self._say = say
        self._reply = reply
        self._withdraw = withdraw

    # --- what the conversation reads -------------------------------------------------

    def ready(self, message: IncomingMessage) -> bool:
        """Every file of the message is saved (true for a message without files)."""
        return self._downloads.ready(message)

    def prompt(self, message: IncomingMessage) -> str:
        """What the brain reads for it: the text, then where each file was saved."""
        return self._downloads.prompt(message)

    # --- events ----------------------------------------------------------------------

    def admit(self, message: IncomingMessage) -> bool:
        """A message the chat has not seen: answered now if it cannot run at all
        (content wakeful cannot read, a file declared too big), else its files are asked
        for. True: it goes on to the conversation (and runs once its files are in)."""
        refusal = self._downloads.refusal(message)
        if refusal is not None:
            self._reply(message, Answer(AnswerKind.REPLY, refusal))
            return False
        for fetch, tag in self._downloads.fetch(message):
            self._say(fetch, tag)
        return True

    def on_result(self, result: Delivered | DeliveryFailed) -> None:
        """A FetchFile's outcome: one file more is in, or the message it belongs to
        leaves the line and is answered with why (it never runs)."""
        assert isinstance(result.tag, FileTag)
        settled = self._downloads.settle(result)
        if settled is None:
            return  # about a message no longer waiting
        update_id, text = settled
        if text is None:
            return  # saved
        message = self._withdraw(update_id)
        if message is not None:
            self._reply(message, Answer(AnswerKind.REPLY, text))

    def taken(self, update_ids: Iterable[int]) -> None:
        """These messages went to a brain: their files need no more bookkeeping."""
        for update_id in update_ids:
            self._downloads.forget(update_id)

    def clear(self) -> None:
        """The chat is gone: whatever is still downloading concerns nobody."""
        self._downloads.clear()
