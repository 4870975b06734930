"""Photos and documents reach the brain as files in the chat's directory; other media get
a clear reply; edits change a message still waiting, and get a note once it is taken.

Real PTB over real HTTP against the local Bot API server, with the stand-in brain (it
answers "echo: <prompt>" and records each prompt in $WAKEFUL_STANDIN_PROMPTS).
"""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.conftest import BotApi
from wakeful.config import Config
from wakeful.files.settings import FilesConfig
from wakeful.testing.bot_api.media import Document, Photo, Sticker, Voice

CHAT = 5151


def _config(bot_api: BotApi, tmp_path: Path, brain_delay: float = 0.2,
            journal: Path | None = None, **files: Any) -> Config:
    config = bot_api.config([CHAT], brain_delay=brain_delay, journal=journal,
                            workdir=str(tmp_path / "work" / "{chat_id}"),
                            env={"WAKEFUL_STANDIN_PROMPTS": str(tmp_path / "prompts.jsonl")})
    return replace(config, files=FilesConfig(**files))


def _prompts(tmp_path: Path) -> list[str]:
    path = tmp_path / "prompts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines()]


def _files_dir(tmp_path: Path) -> Path:
    return tmp_path / "work" / str(CHAT) / "telegram-files"


def test_a_photo_and_a_document_land_in_the_workdir_and_the_brain_gets_their_paths(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    run_service(_config(bot_api, tmp_path))
    photo = bot_api.core.inject_message(CHAT, Photo(caption="what is in this picture?"))
    document = bot_api.core.inject_message(
        CHAT, Document("../../quarterly report.pdf", "application/pdf", 3000,
                       caption="summarise it"))
    photo_id = photo["message"]["photo"][-1]["file_id"]
    doc_id = document["message"]["document"]["file_id"]
    bot_api.core.set_file_content(doc_id, b"%PDF-1.4 the report")

    replies = bot_api.wait_replies(CHAT, 2)
    files = _files_dir(tmp_path)
    unique = photo["message"]["photo"][-1]["file_unique_id"]
    saved_photo, saved_doc = files / f"photo-{unique}.jpg", files / "quarterly report.pdf"
    assert saved_photo.read_bytes() == bot_api.core.file_bytes(photo_id)
    assert len(saved_photo.read_bytes()) == photo["message"]["photo"][-1]["file_size"]
    assert saved_doc.read_bytes() == b"%PDF-1.4 the report"
    assert stat.S_IMODE(os.stat(saved_doc).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(files).st_mode) == 0o700
    assert not (tmp_path / "work" / "quarterly report.pdf").exists()

    prompts = "\n".join(_prompts(tmp_path))
    assert "what is in this picture?" in prompts
    assert f"[photo saved at {saved_photo} (150 KB)]" in prompts
    assert f'[document "../../quarterly report.pdf" saved at {saved_doc} (19 bytes)]' \
        in prompts
    assert [r.reply_to_message_id for r in replies] == [photo["message"]["message_id"],
                                                        document["message"]["message_id"]]


def test_a_file_over_the_limit_is_refused_in_words_and_never_downloaded(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    run_service(_config(bot_api, tmp_path, max_bytes=1000))
    big = bot_api.core.inject_message(CHAT, Document("big.iso", "application/octet-stream",
                                                     5000, caption="read this"))
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert reply.reply_to_message_id == big["message"]["message_id"]
    assert "too big" in reply.text and "1000 bytes" in reply.text
    assert bot_api.core.call_counts().get("getFile", 0) == 0
    assert _prompts(tmp_path) == []


def test_a_download_bigger_than_telegram_said_is_refused_and_leaves_no_file(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    # getFile understates the size; only the download itself shows it is over the limit.
    sent = bot_api.core.inject_message(CHAT, Document("x.bin", "application/octet-stream",
                                                      500, caption="read this"))
    bot_api.core.set_file_content(sent["message"]["document"]["file_id"], b"z" * 50_000,
                                  declared_size=500)
    run_service(_config(bot_api, tmp_path, max_bytes=1000))  # after: no race with the fetch
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert reply.reply_to_message_id == sent["message"]["message_id"]
    assert reply.text == ('⚠️ document "x.bin" is too big for me: I can download files of '
                          "up to 1000 bytes. Send a smaller one, or a link to it.")
    assert bot_api.core.call_counts()["download"] == 1
    assert _prompts(tmp_path) == [] and not any(_files_dir(tmp_path).glob("*"))
    bot_api.core.inject_text(CHAT, "and now text")
    assert bot_api.wait_replies(CHAT, 2)[1].text == "echo: and now text"


def test_telegrams_own_20_mb_limit_is_a_clear_reply_too(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    # A limit above Telegram's (a local Bot API server would allow it): getFile refuses.
    run_service(_config(bot_api, tmp_path, max_bytes=100 * 1024 * 1024))
    bot_api.core.inject_message(CHAT, Document("huge.bin", "application/octet-stream",
                                               25 * 1024 * 1024))
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert "too big" in reply.text
    assert bot_api.core.call_counts()["getFile"] == 1
    assert bot_api.core.call_counts().get("download", 0) == 0
    assert _prompts(tmp_path) == []


def test_a_file_telegram_will_not_give_gets_a_clear_reply_and_the_chat_goes_on(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    run_service(_config(bot_api, tmp_path))
    bot_api.core.fail_next("getFile", 400, "Bad Request: wrong file_id or the file is "
                                           "temporarily unavailable")
    failed = bot_api.core.inject_message(CHAT, Document("notes.txt", caption="look"))
    first = bot_api.wait_replies(CHAT, 1)[0]
    assert first.reply_to_message_id == failed["message"]["message_id"]
    assert "could not download" in first.text and "temporarily unavailable" in first.text
    bot_api.core.inject_text(CHAT, "and now text")
    replies = bot_api.wait_replies(CHAT, 2)
    assert replies[1].text == "echo: and now text"
    assert _prompts(tmp_path) == ["and now text"]


def test_voice_stickers_and_locations_are_answered_and_never_reach_the_brain(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    run_service(_config(bot_api, tmp_path))
    voice = bot_api.core.inject_message(CHAT, Voice(caption="listen"))
    bot_api.core.inject_message(CHAT, Sticker())
    bot_api.core.inject_message(CHAT, {"location": {"latitude": 52.5, "longitude": 13.4}})
    replies = bot_api.wait_replies(CHAT, 3)
    assert replies[0].reply_to_message_id == voice["message"]["message_id"]
    assert [r.text for r in replies] == [
        "I can read text, photos and documents. Voice messages aren't supported yet.",
        "I can read text, photos and documents. Stickers aren't supported yet.",
        "I can read text, photos and documents. Locations aren't supported yet.",
    ]
    assert bot_api.core.call_counts().get("getFile", 0) == 0
    assert _prompts(tmp_path) == []


def test_an_edited_message_still_waiting_runs_with_its_new_text(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    run_service(_config(bot_api, tmp_path, brain_delay=2.0))
    bot_api.core.inject_text(CHAT, "first, slow")
    assert bot_api.core.wait_for(lambda c: len(_prompts(tmp_path)) == 1, 15)
    second = bot_api.core.inject_text(CHAT, "second, with a typo")
    bot_api.core.inject_edit(CHAT, second["message"]["message_id"], "second, fixed")
    replies = bot_api.wait_replies(CHAT, 2)
    assert "second, fixed" in replies[-1].text
    prompts = "\n".join(_prompts(tmp_path))
    assert "second, fixed" in prompts and "typo" not in prompts


def test_an_edit_of_a_message_already_taken_gets_a_note(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    run_service(_config(bot_api, tmp_path, brain_delay=2.0))
    first = bot_api.core.inject_text(CHAT, "do the thing")
    assert bot_api.core.wait_for(lambda c: len(_prompts(tmp_path)) == 1, 15)
    bot_api.core.inject_edit(CHAT, first["message"]["message_id"], "do the other thing")
    replies = bot_api.wait_replies(CHAT, 2)
    note = next(r for r in replies if not r.text.startswith("echo:"))
    assert note.text == ("I had already started on the original message; send the change "
                         "as a new message.")
    assert note.reply_to_message_id == first["message"]["message_id"]
    assert _prompts(tmp_path) == ["do the thing"]


def test_an_edit_by_a_stranger_is_refused_like_their_messages(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    run_service(_config(bot_api, tmp_path))
    stranger = 6161
    sent = bot_api.core.inject_text(stranger, "hello")
    bot_api.core.wait_for(lambda c: len(c.sent(stranger)) >= 1, 10)
    bot_api.core.inject_edit(stranger, sent["message"]["message_id"], "hello again")
    assert bot_api.core.wait_for(lambda c: not c.pending_update_ids(), 10)
    time.sleep(0.5)  # nothing more may come: one refusal per window, no note, no brain
    assert len(bot_api.core.sent(stranger)) == 1
    assert _prompts(tmp_path) == []


def test_a_photo_waiting_for_its_download_survives_a_restart(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    journal = bot_api.new_journal()
    # getFile answers "wait a minute" (429): the photo is journaled, not yet downloaded.
    bot_api.core.fail_next("getFile", 429, retry_after=60)
    first = run_service(_config(bot_api, tmp_path, journal=journal))
    sent = bot_api.core.inject_message(CHAT, Photo(caption="after the restart"))
    assert bot_api.core.wait_for(lambda c: c.call_counts().get("getFile", 0) == 1, 15)
    first.stop(grace=0)
    assert _prompts(tmp_path) == [] and not _files_dir(tmp_path).exists()

    run_service(_config(bot_api, tmp_path, journal=journal))
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert reply.reply_to_message_id == sent["message"]["message_id"]
    (prompt,) = _prompts(tmp_path)
    unique = sent["message"]["photo"][-1]["file_unique_id"]
    assert prompt.startswith("after the restart\n[photo saved at ")
    assert str(_files_dir(tmp_path) / f"photo-{unique}.jpg") in prompt


def test_a_download_telegram_does_not_serve_gets_a_clear_reply(
    bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    run_service(_config(bot_api, tmp_path))
    bot_api.core.expire_downloads()
    sent = bot_api.core.inject_message(CHAT, Photo(caption="see?"))
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert reply.reply_to_message_id == sent["message"]["message_id"]
    assert reply.text == ("⚠️ I could not download photo from Telegram (Telegram did not "
                          "serve the file), so I have not read your message. Please send "
                          "it again.")
    assert bot_api.core.call_counts()["download"] == 1
    assert _prompts(tmp_path) == [] and not any(_files_dir(tmp_path).glob("*"))
