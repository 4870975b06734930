"""The local Bot API serves the files users sent: getFile, then the download URL, over
HTTP and in-process alike, with Telegram's refusals."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram.error import BadRequest
from telegram.request import HTTPXRequest

from tests.bots.harness import TOKEN, USER, WAIT, run
from wakeful.bots.gateway import file_url
from wakeful.testing.bot_api import BotApiCore, InProcessRequest, LocalBotApiServer
from wakeful.testing.bot_api.media import Document, Photo


@pytest.fixture(params=["http", "inproc"])
def bot(request: pytest.FixtureRequest, core: BotApiCore) -> Bot:
    if request.param == "http":
        server: LocalBotApiServer = request.getfixturevalue("server")
        return Bot(TOKEN, base_url=server.base_url, base_file_url=file_url(server.base_url),
                   request=HTTPXRequest(read_timeout=WAIT))
    shared = InProcessRequest(core, read_timeout=WAIT)
    return Bot(TOKEN, request=shared, get_updates_request=shared)


def test_a_sent_photo_downloads_as_bytes_of_its_declared_size(bot: Bot,
                                                              core: BotApiCore) -> None:
    sent = core.inject_message(USER, Photo())
    largest = sent["message"]["photo"][-1]

    async def scenario() -> bytes:
        async with bot:
            file = await bot.get_file(largest["file_id"])
            assert file.file_size == largest["file_size"]
            assert file.file_path is not None and "photos/" in file.file_path
            return bytes(await file.download_as_bytearray())

    data = run(scenario)
    assert len(data) == largest["file_size"]
    assert data == core.file_bytes(largest["file_id"])
    assert core.call_counts()["download"] == 1


def test_registered_content_is_what_downloads(bot: Bot, core: BotApiCore) -> None:
    sent = core.inject_message(USER, Document("a.txt", "text/plain", 10))
    file_id = sent["message"]["document"]["file_id"]
    core.set_file_content(file_id, b"exact bytes\x00\xff")

    async def scenario() -> bytes:
        async with bot:
            return bytes(await (await bot.get_file(file_id)).download_as_bytearray())

    assert run(scenario) == b"exact bytes\x00\xff"


def test_unknown_and_too_big_files_are_refused_like_telegram(bot: Bot,
                                                             core: BotApiCore) -> None:
    big = core.inject_message(USER, Document("big.iso", file_size=20 * 1024 * 1024 + 1))
    big_id = big["message"]["document"]["file_id"]

    async def scenario() -> list[str]:
        errors = []
        async with bot:
            for file_id in ("no-such-file", big_id):
                with pytest.raises(BadRequest) as caught:
                    await bot.get_file(file_id)
                errors.append(caught.value.message)
        return errors

    assert run(scenario) == ["Invalid file_id", "File is too big"]


def test_a_download_needs_the_right_token_and_a_path_getfile_gave(core: BotApiCore) -> None:
    sent = core.inject_message(USER, Document())
    file_id = sent["message"]["document"]["file_id"]
    path = core.dispatch(TOKEN, "getFile", {"file_id": file_id})[1]["result"]["file_path"]
    assert core.download(TOKEN, path) == core.file_bytes(file_id)
    assert core.download("1:wrong", path) is None
    assert core.download(TOKEN, "documents/file_99.txt") is None


def test_an_edit_arrives_as_an_edited_message_with_the_new_caption(core: BotApiCore) -> None:
    sent = core.inject_message(USER, Photo(caption="old"))
    update = core.inject_edit(USER, sent["message"]["message_id"], "new @someone")
    edited = update["edited_message"]
    assert edited["caption"] == "new @someone" and "text" not in edited
    assert edited["caption_entities"][0]["type"] == "mention"
    assert "edit_date" in edited
    with pytest.raises(ValueError):
        core.inject_edit(USER, 999, "x")
