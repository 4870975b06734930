"""What the poller makes of photos, documents, other media and edits."""

from __future__ import annotations

import sqlite3
from collections import deque
from pathlib import Path

import pytest

from wakeful.actors import attachments
from wakeful.actors.attachments import Downloads, FileTag
from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.bots.updates import MalformedUpdate, parse_update
from wakeful.delivery.calls import FetchFile, SavedFile
from wakeful.messages import Attachment, Delivered, DeliveryFailed, IncomingMessage, MessageEdited
from wakeful.state.journal import Journal
from wakeful.testing.bot_api import BotApiCore
from wakeful.testing.bot_api.media import Document, Photo, Sticker, Voice


def _update(content: object, **kwargs: object) -> dict:
    core = BotApiCore("1:x")
    return core.inject_message(5, content, **kwargs)  # type: ignore[arg-type]


def test_a_photo_is_its_largest_size_with_the_caption_as_text() -> None:
    raw = _update(Photo(caption="what is this?", width=1280, height=960))
    message = parse_update(raw, 0).message  # type: ignore[union-attr]
    assert message.text == "what is this?"
    (photo,) = message.attachments
    largest = raw["message"]["photo"][-1]
    assert photo == Attachment("photo", largest["file_id"], largest["file_unique_id"],
                               size=largest["file_size"])
    assert message.unsupported is None


def test_a_document_keeps_its_name_type_and_size() -> None:
    raw = _update(Document("report.pdf", "application/pdf", 12345))
    message = parse_update(raw, 0).message  # type: ignore[union-attr]
    assert message.text is None
    (doc,) = message.attachments
    assert (doc.kind, doc.name, doc.mime, doc.size) == ("document", "report.pdf",
                                                        "application/pdf", 12345)


@pytest.mark.parametrize(("content", "kind"), [
    (Voice(), "voice"), (Sticker(), "sticker"),
    ({"location": {"latitude": 1.0, "longitude": 2.0}}, "location"),
    ({"venue": {"location": {"latitude": 1.0, "longitude": 2.0}, "title": "x",
                "address": "y"}, "location": {"latitude": 1.0, "longitude": 2.0}}, "venue"),
    ({"contact": {"phone_number": "1", "first_name": "A"}}, "contact"),
    ({"poll": {"id": "1", "question": "?", "options": []}}, "poll"),
    ({"video_note": {"file_id": "v", "file_unique_id": "u", "length": 1, "duration": 1}},
     "video_note"),
    ({"animation": {"file_id": "a", "file_unique_id": "u", "width": 1, "height": 1,
                    "duration": 1},
      "document": {"file_id": "a", "file_unique_id": "u"}}, "animation"),
])
def test_other_media_say_what_they_are_and_carry_no_files(content: object, kind: str) -> None:
    message = parse_update(_update(content), 0).message  # type: ignore[union-attr]
    assert message.unsupported == kind
    assert message.attachments == ()
    assert attachments.unsupported_text(kind).endswith("aren't supported yet.")


def test_an_edit_is_parsed_as_an_edit_with_its_new_text() -> None:
    core = BotApiCore("1:x")
    sent = core.inject_text(5, "first")
    edit = core.inject_edit(5, sent["message"]["message_id"], "second")
    parsed = parse_update(edit, 0)
    assert parsed is not None and parsed.edited
    assert parsed.message.text == "second"
    assert parsed.message.message_id == sent["message"]["message_id"]


def test_broken_files_are_malformed_updates() -> None:
    for message in ({"photo": "no"}, {"photo": [{"width": 1}]}, {"document": "no"},
                    {"document": {"file_name": "x"}}):
        with pytest.raises(MalformedUpdate):
            parse_update({"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1},
                                                      **message}}, 0)


def test_attachments_are_journaled_and_replayed() -> None:
    journal = Journal()
    files = (Attachment("photo", "f1", "u1", size=10),
             Attachment("document", "f2", "u2", "a b.txt", 20, "text/plain"))
    message = IncomingMessage(7, 5, 3, 5, "caption", 0.0, files)
    voice = IncomingMessage(8, 5, 4, 5, None, 0.0, unsupported="voice")
    journal.accept_batch([message, voice], 9)
    work = journal.open_work(5, 0.0)
    assert [m.message for m in work.messages] == [message, voice]
    assert journal.edit_text(7, "new caption")
    assert journal.open_work(5, 0.0).messages[0].message.text == "new caption"
    assert journal.has_message(5, 3) and not journal.has_message(5, 99)


def _message(*files: Attachment, text: str | None = "look") -> IncomingMessage:
    return IncomingMessage(1, 5, 9, 5, text, 0.0, files)


def test_a_message_waits_for_every_file_then_the_prompt_names_their_paths() -> None:
    downloads = Downloads(5, "/w/telegram-files", 1000)
    message = _message(Attachment("photo", "p", "up", size=500),
                       Attachment("document", "d", "ud", "r.pdf", 2048))
    asked = downloads.fetch(message)
    assert [call.file_id for call, _ in asked] == ["p", "d"]
    assert asked[0][0] == FetchFile(5, "p", "/w/telegram-files", "photo-up.jpg", 1000)
    assert downloads.fetch(message) == []  # asked once
    assert not downloads.ready(message)
    downloads.settle(Delivered(asked[0][0], tag=asked[0][1], saved=SavedFile("/w/a.jpg", 500)))
    assert not downloads.ready(message)
    downloads.settle(Delivered(asked[1][0], tag=asked[1][1],
                               saved=SavedFile("/w/r.pdf", 2048)))
    assert downloads.ready(message)
    assert downloads.prompt(message) == ("look\n[photo saved at /w/a.jpg (500 bytes)]\n"
                                         '[document "r.pdf" saved at /w/r.pdf (2 KB)]')


def test_too_big_and_failed_files_are_answered_in_words() -> None:
    downloads = Downloads(5, "/w", 1000)
    big = _message(Attachment("document", "d", "u", "big.iso", 5000))
    assert "too big" in (downloads.refusal(big) or "")
    message = _message(Attachment("document", "d", "u", "x.txt", 10))
    (call, tag), = downloads.fetch(message)
    settled = downloads.settle(DeliveryFailed(call, TelegramFailure(
        FailureKind.BAD_REQUEST, "Bad Request: invalid file_id"), tag))
    assert settled is not None and settled[0] == 1
    assert "could not download" in (settled[1] or "") and "invalid file_id" in (settled[1] or "")
    assert downloads.settle(DeliveryFailed(call, TelegramFailure(
        FailureKind.UNKNOWN, "late"), FileTag(1, 0))) is None  # already answered


def test_an_edit_replaces_the_text_of_a_queued_message_only() -> None:
    queue = deque([_message(text="old")])
    edited = attachments.apply_edit(queue, MessageEdited(5, 9, "new", 2))
    assert edited is not None and queue[0].text == "new"
    assert attachments.apply_edit(queue, MessageEdited(5, 10, "x", 3)) is None


def test_a_journal_written_before_attachments_opens_and_keeps_its_messages(
        tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    # The messages table as schema 1 had it: no media column.
    old.executescript("""
        CREATE TABLE messages (update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL, user_id INTEGER, text TEXT, state TEXT NOT NULL,
            run INTEGER NOT NULL, accepted_at REAL NOT NULL, acked_at REAL, turn_at REAL,
            done_at REAL, owner_run INTEGER, owner_gen INTEGER, brain_pid INTEGER,
            brain_start INTEGER);
        INSERT INTO messages (update_id, chat_id, message_id, user_id, text, state, run,
            accepted_at) VALUES (1, 5, 1, 5, 'from before', 'accepted', 1, 0);
        PRAGMA user_version = 1;
    """)
    old.close()
    journal = Journal(str(path))
    photo = IncomingMessage(2, 5, 2, 5, None, 0.0, (Attachment("photo", "f", "u", size=1),))
    journal.accept_batch([photo], 3)
    assert [m.message for m in journal.open_work(5, 0.0).messages] == [
        IncomingMessage(1, 5, 1, 5, "from before", 0.0), photo]
    journal.close()
