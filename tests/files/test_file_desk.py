"""The chat's file desk on its own: each file asked for once, a message held back until
its files are in, and a message whose file failed answered instead of run."""

from __future__ import annotations

from typing import Any

from wakeful.actors import attachments
from wakeful.actors.attachments import Downloads, FileTag
from wakeful.actors.file_desk import FileDesk, default_downloads
from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.delivery.calls import FetchFile, SavedFile
from wakeful.files.settings import TELEGRAM_DOWNLOAD_LIMIT
from wakeful.messages import Attachment, Delivered, DeliveryFailed, IncomingMessage
from wakeful.state.records import Answer, AnswerKind

CHAT = 5


def _message(update_id: int, *files: Attachment, text: str | None = "look",
             unsupported: str | None = None) -> IncomingMessage:
    return IncomingMessage(update_id, CHAT, 100 + update_id, CHAT, text, 0.0, files,
                           unsupported=unsupported)


class _World:
    def __init__(self, max_bytes: int = 1000) -> None:
        self.said: list[tuple[Any, Any]] = []
        self.replies: list[tuple[IncomingMessage, Answer]] = []
        self.waiting: dict[int, IncomingMessage] = {}  # the conversation's line, by update_id
        self.desk = FileDesk(Downloads(CHAT, "/w", max_bytes),
                             lambda call, tag: self.said.append((call, tag)),
                             lambda message, answer: self.replies.append((message, answer)),
                             lambda update_id: self.waiting.pop(update_id, None))

    def admit(self, message: IncomingMessage) -> bool:
        admitted = self.desk.admit(message)
        if admitted:
            self.waiting[message.update_id] = message
        return admitted


def test_a_message_with_files_asks_for_each_once_and_is_ready_when_all_are_saved() -> None:
    world = _World()
    message = _message(1, Attachment("photo", "p", "up", size=500),
                       Attachment("document", "d", "ud", "r.pdf", 20))
    assert world.admit(message)
    assert [(c.file_id, t) for c, t in world.said] == [("p", FileTag(1, 0)), ("d", FileTag(1, 1))]
    assert world.said[0][0] == FetchFile(CHAT, "p", "/w", "photo-up.jpg", 1000)
    assert world.desk.admit(message) and len(world.said) == 2, "asked for once"
    assert not world.desk.ready(message)

    for (call, tag), path in zip(world.said, ("/w/a.jpg", "/w/r.pdf"), strict=True):
        world.desk.on_result(Delivered(call, tag=tag, saved=SavedFile(path, 20)))
    assert world.desk.ready(message) and world.replies == []
    assert world.desk.prompt(message).splitlines()[1:] == [
        "[photo saved at /w/a.jpg (20 bytes)]", '[document "r.pdf" saved at /w/r.pdf (20 bytes)]']
    assert world.waiting == {1: message}, "it stays in line: the conversation runs it"


def test_a_message_without_files_is_ready_at_once_and_asks_for_nothing() -> None:
    world = _World()
    message = _message(1, text="hello")
    assert world.admit(message) and world.desk.ready(message)
    assert world.said == [] and world.desk.prompt(message) == "hello"


def test_unsupported_content_and_a_file_declared_too_big_are_answered_not_fetched() -> None:
    world = _World()
    voice = _message(1, text=None, unsupported="voice")
    big = _message(2, Attachment("document", "d", "u", "big.iso", 5000))
    assert not world.admit(voice) and not world.admit(big)
    assert world.said == [] and world.waiting == {}
    assert [(m.update_id, a) for m, a in world.replies] == [
        (1, Answer(AnswerKind.REPLY, attachments.unsupported_text("voice"))),
        (2, Answer(AnswerKind.REPLY, attachments.too_big_text(big.attachments[0], 5000, 1000)))]


def test_a_failed_file_takes_its_message_out_of_line_and_answers_it_with_why() -> None:
    world = _World()
    message = _message(1, Attachment("document", "a", "ua", "a.txt", 10),
                       Attachment("document", "b", "ub", "b.txt", 10))
    world.admit(message)
    (first, first_tag), (second, second_tag) = world.said
    world.desk.on_result(DeliveryFailed(first, TelegramFailure(
        FailureKind.BAD_REQUEST, "Bad Request: invalid file_id"), first_tag))
    [(answered, answer)] = world.replies
    assert answered == message and world.waiting == {}
    assert answer.kind is AnswerKind.REPLY and "invalid file_id" in answer.text
    assert answer.text.startswith('⚠️ I could not download document "a.txt"')
    # Its sibling's outcome comes later and concerns nothing any more.
    world.desk.on_result(Delivered(second, tag=second_tag, saved=SavedFile("/w/b.txt", 10)))
    world.desk.on_result(DeliveryFailed(second, TelegramFailure(FailureKind.UNKNOWN, "x"),
                                        second_tag))
    assert len(world.replies) == 1, "one answer per message"


def test_a_file_over_the_limit_at_the_edge_is_answered_as_too_big() -> None:
    world = _World()
    message = _message(1, Attachment("document", "d", "u", "x.bin"))  # size not declared
    world.admit(message)
    [(call, tag)] = world.said
    world.desk.on_result(DeliveryFailed(call, TelegramFailure(FailureKind.FILE_TOO_BIG, "big"),
                                        tag))
    [(_, answer)] = world.replies
    assert answer.text == attachments.too_big_text(message.attachments[0], None, 1000)


def test_a_failure_for_a_message_no_longer_waiting_answers_nothing() -> None:
    world = _World()
    message = _message(1, Attachment("document", "d", "u", "x.txt", 10))
    world.admit(message)
    [(call, tag)] = world.said
    world.waiting.clear()  # e.g. /cancel all answered it meanwhile
    world.desk.on_result(DeliveryFailed(call, TelegramFailure(FailureKind.UNKNOWN, "x"), tag))
    assert world.replies == []


def test_taken_and_cleared_messages_are_forgotten() -> None:
    world = _World()
    one = _message(1, Attachment("document", "a", "ua", "a.txt", 10))
    two = _message(2, Attachment("document", "b", "ub", "b.txt", 10))
    world.admit(one)
    world.admit(two)
    (call_one, tag_one), (call_two, tag_two) = world.said
    world.desk.on_result(Delivered(call_one, tag=tag_one, saved=SavedFile("/w/a.txt", 10)))
    world.desk.taken([1])
    assert not world.desk.ready(one), "forgotten once a brain has it"
    world.desk.clear()
    world.desk.on_result(DeliveryFailed(call_two, TelegramFailure(FailureKind.UNKNOWN, "x"),
                                        tag_two))
    assert world.replies == [] and 2 in world.waiting


def test_without_a_config_files_go_beside_the_journal_within_telegrams_limit(tmp_path) -> None:
    downloads = default_downloads(CHAT, str(tmp_path / "journal.sqlite3"))
    message = _message(1, Attachment("document", "d", "u", "x.txt", 10))
    [(call, _)] = downloads.fetch(message)
    assert call.directory == str(tmp_path / "files" / str(CHAT))
    assert call.max_bytes == TELEGRAM_DOWNLOAD_LIMIT
