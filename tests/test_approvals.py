"""Tool approvals end to end: real PTB over HTTP, the local Bot API, the stand-in brain.

The stand-in's `[[ask TOOL]]` asks to run TOOL (a `can_use_tool` control request, as
the CLI does with --permission-prompt-tool stdio) and answers "tool allowed" or "tool
denied: <what it was told>". The chat puts the question to its people with buttons.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from tests.approvals_flow import (
    QUESTION,
    WAIT,
    answer_to,
    answers,
    buttons,
    final_text,
    press,
    questions_in,
    wait_answers,
    wait_question,
)
from tests.conftest import BotApi
from wakeful.conversation import approvals, commands
from wakeful.state.journal import Journal

CHAT = 4242
GROUP, OWNER, STRANGER = -100777, 7, 99


def _config(bot_api: BotApi, chat_ids: list[int], **brain: Any) -> Any:
    config = bot_api.config(chat_ids, brain_delay=0.05, approvals=True, **brain)
    return bot_api.on_fake_time(config)


def test_allow_once_runs_the_tool_and_the_question_shows_who_allowed_it(
        bot_api: BotApi, run_service) -> None:
    run_service(_config(bot_api, [CHAT]))
    asked = bot_api.core.inject_text(CHAT, "[[ask Bash]] ls -la", user_id=CHAT)

    question = wait_question(bot_api, CHAT)
    assert question.text == f"{QUESTION}\nBash: [[ask Bash]] ls -la\n\nAllow it?"
    assert question.reply_to_message_id == asked["message"]["message_id"]
    assert list(buttons(bot_api, CHAT, question.message_id)) == [
        "Allow once", "Always in this chat", "Deny"]
    assert answers(bot_api, CHAT) == [], "the turn waits for the answer"

    query = press(bot_api, CHAT, question.message_id, "Allow once")
    assert answer_to(bot_api, query).text == "✅ allowed"
    assert wait_answers(bot_api, CHAT, 1) == ["tool allowed"]
    message = final_text(bot_api, CHAT, question.message_id, "✅ allowed by Ann")
    assert "reply_markup" not in message, "the buttons are gone"

    # A second press on the settled question changes nothing, and is still answered.
    late = bot_api.core.inject_callback_query(CHAT, question.message_id,
                                              approvals.callback_data("zz", approvals.Choice.DENY))
    assert answer_to(bot_api, late["callback_query"]["id"]).text == approvals.STALE_TEXT
    # Allowed once only: the next call asks again.
    bot_api.core.inject_text(CHAT, "[[ask Bash]] again", user_id=CHAT)
    wait_question(bot_api, CHAT, 2)


def test_deny_tells_the_model_and_the_question_says_denied(bot_api: BotApi, run_service) -> None:
    run_service(_config(bot_api, [CHAT]))
    bot_api.core.inject_text(CHAT, "[[ask Write]] /etc/passwd", user_id=CHAT)
    question = wait_question(bot_api, CHAT)

    query = press(bot_api, CHAT, question.message_id, "Deny")
    assert answer_to(bot_api, query).text == "❌ denied"
    assert wait_answers(bot_api, CHAT, 1) == ["tool denied: The user denied this tool call."]
    message = final_text(bot_api, CHAT, question.message_id, "❌ denied by Ann")
    assert "reply_markup" not in message


def test_always_in_this_chat_is_remembered_across_a_restart(
        bot_api: BotApi, run_service) -> None:
    journal = bot_api.new_journal()
    first = run_service(_config(bot_api, [CHAT], journal=journal))
    bot_api.core.inject_text(CHAT, "[[ask Bash]] make", user_id=CHAT)
    question = wait_question(bot_api, CHAT)
    query = press(bot_api, CHAT, question.message_id, "Always in this chat")
    assert answer_to(bot_api, query).text == "✅ always allowed in this chat"
    assert wait_answers(bot_api, CHAT, 1) == ["tool allowed"]
    final_text(bot_api, CHAT, question.message_id, "✅ always allowed in this chat by Ann")
    first.stop()

    run_service(_config(bot_api, [CHAT], journal=journal))
    bot_api.core.inject_text(CHAT, "[[ask Bash]] make again", user_id=CHAT)
    assert wait_answers(bot_api, CHAT, 2)[1] == "tool allowed"
    assert len(questions_in(bot_api, CHAT)) == 1, "Bash is always allowed here: no question"
    # Only that tool, only this chat.
    bot_api.core.inject_text(CHAT, "[[ask Write]] notes.txt", user_id=CHAT)
    wait_question(bot_api, CHAT, 2)


def test_tools_lists_the_always_grant_and_after_revoke_the_tool_is_asked_about_again(
        bot_api: BotApi, run_service) -> None:
    run_service(_config(bot_api, [CHAT]))
    bot_api.core.inject_text(CHAT, "/tools", user_id=CHAT)
    assert wait_answers(bot_api, CHAT, 1)[0] == commands.tools_text((), approvals=True)

    bot_api.core.inject_text(CHAT, "[[ask Bash]] make", user_id=CHAT)
    question = wait_question(bot_api, CHAT)
    press(bot_api, CHAT, question.message_id, "Always in this chat")
    assert wait_answers(bot_api, CHAT, 2)[1] == "tool allowed"

    bot_api.core.inject_text(CHAT, "/tools", user_id=CHAT)
    listed = wait_answers(bot_api, CHAT, 3)[2]
    assert listed == commands.tools_text({"Bash"}, approvals=True)
    assert "• Bash" in listed and "/tools revoke Bash" in listed
    bot_api.core.inject_text(CHAT, "[[ask Bash]] make again", user_id=CHAT)
    assert wait_answers(bot_api, CHAT, 4)[3] == "tool allowed"
    assert len(questions_in(bot_api, CHAT)) == 1, "granted: no question"

    bot_api.core.inject_text(CHAT, "/tools revoke bash", user_id=CHAT)
    assert wait_answers(bot_api, CHAT, 5)[4] == commands.tool_revoked("Bash")
    bot_api.core.inject_text(CHAT, "/tools revoke Bash", user_id=CHAT)
    assert wait_answers(bot_api, CHAT, 6)[5] == commands.tool_not_granted("Bash", ())

    # The next call of the revoked tool is put to the chat again.
    bot_api.core.inject_text(CHAT, "[[ask Bash]] make once more", user_id=CHAT)
    again = wait_question(bot_api, CHAT, 2)
    assert answers(bot_api, CHAT)[6:] == [], "the turn waits for a person again"
    press(bot_api, CHAT, again.message_id, "Deny")
    assert wait_answers(bot_api, CHAT, 7)[6] == "tool denied: The user denied this tool call."


def test_tools_revoke_all_takes_back_every_grant_of_the_chat(
        bot_api: BotApi, run_service) -> None:
    path = bot_api.new_journal()
    seeded = Journal(str(path), "normal")
    for chat, tool in ((CHAT, "Bash"), (CHAT, "Write"), (CHAT + 1, "Bash")):
        seeded.grant_tool(chat, tool, 1.0)
    seeded.close()
    svc = run_service(_config(bot_api, [CHAT], journal=path))
    bot_api.core.inject_text(CHAT, "[[ask Write]] notes.txt", user_id=CHAT)
    assert wait_answers(bot_api, CHAT, 1) == ["tool allowed"]

    bot_api.core.inject_text(CHAT, "/tools revoke all", user_id=CHAT)
    assert wait_answers(bot_api, CHAT, 2)[1] == commands.tools_revoked(2)
    bot_api.core.inject_text(CHAT, "/tools", user_id=CHAT)
    assert wait_answers(bot_api, CHAT, 3)[2] == commands.tools_text((), approvals=True)
    bot_api.core.inject_text(CHAT, "[[ask Write]] notes.txt", user_id=CHAT)
    wait_question(bot_api, CHAT)
    svc.stop()
    after = Journal(str(path), "normal")
    assert after.granted_tools(CHAT) == frozenset()
    assert after.granted_tools(CHAT + 1) == frozenset({"Bash"}), "another chat keeps its own"
    after.close()


def test_the_always_grant_is_in_the_journal_per_chat_and_tool(tmp_path) -> None:
    journal = Journal(str(tmp_path / "j.sqlite3"), "normal")
    journal.grant_tool(CHAT, "Bash", 1.0)
    journal.grant_tool(CHAT, "Bash", 2.0)  # twice is once
    assert journal.granted_tools(CHAT) == frozenset({"Bash"})
    assert journal.granted_tools(CHAT + 1) == frozenset()
    journal.close()
    again = Journal(str(tmp_path / "j.sqlite3"), "normal")
    assert again.granted_tools(CHAT) == frozenset({"Bash"})
    again.close()


def test_revoking_takes_back_one_grant_or_all_of_a_chats_and_nothing_else(tmp_path) -> None:
    journal = Journal(str(tmp_path / "j.sqlite3"), "normal")
    for chat, tool in ((CHAT, "Bash"), (CHAT, "Write"), (CHAT, "Edit"), (CHAT + 1, "Bash")):
        journal.grant_tool(chat, tool, 1.0)
    assert journal.revoke_tool(CHAT, "Bash") is True
    assert journal.revoke_tool(CHAT, "Bash") is False, "already gone"
    assert journal.revoke_tool(CHAT, "write") is False, "names are exact"
    assert journal.granted_tools(CHAT) == frozenset({"Write", "Edit"})
    assert journal.revoke_all_tools(CHAT) == 2
    assert journal.revoke_all_tools(CHAT) == 0
    assert journal.granted_tools(CHAT) == frozenset()
    assert journal.granted_tools(CHAT + 1) == frozenset({"Bash"}), "another chat keeps its own"
    journal.close()
    again = Journal(str(tmp_path / "j.sqlite3"), "normal")
    assert again.granted_tools(CHAT) == frozenset(), "revoked for good"
    again.close()


def test_nobody_answering_denies_the_tool_after_the_timeout(bot_api: BotApi, run_service) -> None:
    run_service(_config(bot_api, [CHAT], approval_timeout=0.5))
    bot_api.core.inject_text(CHAT, "[[ask Bash]] rm -rf build", user_id=CHAT)
    question = wait_question(bot_api, CHAT)

    [answer] = wait_answers(bot_api, CHAT, 1)
    assert answer.startswith("tool denied: The user did not approve this tool call within 0.5 s")
    message = final_text(bot_api, CHAT, question.message_id, "⌛ timed out (denied)")
    assert "reply_markup" not in message
    query = bot_api.core.inject_callback_query(CHAT, question.message_id,
                                               approvals.callback_data("x", approvals.Choice.ONCE))
    assert answer_to(bot_api, query["callback_query"]["id"]).text == approvals.STALE_TEXT


def test_a_stranger_pressing_in_a_group_is_refused_and_the_turn_keeps_waiting(
        bot_api: BotApi, run_service) -> None:
    run_service(_config(bot_api, [OWNER]))
    bot_api.core.inject_text(GROUP, "[[ask Bash]] deploy", user_id=OWNER, chat_type="group")
    question = wait_question(bot_api, GROUP)

    query = press(bot_api, GROUP, question.message_id, "Allow once", user_id=STRANGER)
    assert answer_to(bot_api, query).text == approvals.STRANGER_TEXT
    time.sleep(0.5)  # long enough for a wrongly accepted press to reach the brain
    assert answers(bot_api, GROUP) == [], "the turn still waits"
    assert "reply_markup" in (bot_api.core.message(GROUP, question.message_id) or {})

    query = press(bot_api, GROUP, question.message_id, "Deny", user_id=OWNER)
    assert answer_to(bot_api, query).text == "❌ denied"
    assert wait_answers(bot_api, GROUP, 1) == ["tool denied: The user denied this tool call."]


def test_malformed_presses_are_answered_and_change_nothing(bot_api: BotApi, run_service) -> None:
    svc = run_service(_config(bot_api, [CHAT]))
    bot_api.core.inject_text(CHAT, "[[ask Bash]] ls", user_id=CHAT)
    question = wait_question(bot_api, CHAT)

    for data in ("hello", "ap:nope:o", "ap:x:zz"):
        update = bot_api.core.inject_callback_query(CHAT, question.message_id, data)
        text = answer_to(bot_api, update["callback_query"]["id"]).text
        assert text in (approvals.MALFORMED_TEXT, approvals.STALE_TEXT), (data, text)
    # A callback_query Telegram could not even have sent is skipped like any bad update.
    bot_api.core.inject_raw_update({"callback_query": {"data": "ap:x:o"}})
    assert bot_api.core.wait_for(lambda c: svc.ask("poller")["malformed_updates"] == 1, WAIT)
    assert answers(bot_api, CHAT) == []

    query = press(bot_api, CHAT, question.message_id, "Allow once")
    assert answer_to(bot_api, query).text == "✅ allowed"
    assert wait_answers(bot_api, CHAT, 1) == ["tool allowed"]


def test_the_question_never_shows_the_bot_token(bot_api: BotApi, run_service) -> None:
    run_service(_config(bot_api, [CHAT]))
    bot_api.core.inject_text(CHAT, f"[[ask Bash]] curl bot{bot_api.token}/getMe", user_id=CHAT)
    question = wait_question(bot_api, CHAT)
    assert bot_api.token not in question.text
    assert bot_api.token.split(":")[1] not in question.text
    assert "curl bot***/getMe" in question.text


def test_with_approvals_off_the_tool_is_denied_without_a_question(
        bot_api: BotApi, run_service) -> None:
    config = bot_api.config([CHAT], brain_delay=0.05)
    run_service(replace(config, brain=replace(config.brain, approvals=False)))
    bot_api.core.inject_text(CHAT, "[[ask Bash]] ls", user_id=CHAT)
    [answer] = wait_answers(bot_api, CHAT, 1)
    assert answer.startswith("tool denied: This tool is not allowed in this chat")
    assert questions_in(bot_api, CHAT) == []


def test_a_person_thinking_longer_than_the_idle_timeout_does_not_end_the_turn(
        bot_api: BotApi, run_service) -> None:
    run_service(_config(bot_api, [CHAT], idle_timeout=0.5, first_event_timeout=0.5))
    bot_api.core.inject_text(CHAT, "[[ask Bash]] slow decision", user_id=CHAT)
    question = wait_question(bot_api, CHAT)
    time.sleep(1.5)  # three idle timeouts: only the wait for a person, so not counted
    assert answers(bot_api, CHAT) == []
    press(bot_api, CHAT, question.message_id, "Allow once")
    assert wait_answers(bot_api, CHAT, 1) == ["tool allowed"]


def test_a_replaced_chat_asks_again_and_its_answer_reaches_the_waiting_brain(
        bot_api: BotApi, service) -> None:
    svc, _gateway = service(_config(bot_api, [CHAT]))
    bot_api.core.inject_text(CHAT, "[[ask Bash]] make", user_id=CHAT)
    wait_question(bot_api, CHAT)

    # The chat actor crashes while the brain waits; its successor knows nothing of the
    # question, so the pool (which holds the turn) asks it again.
    svc.directory.tell(f"chat:{CHAT}", object())
    again = wait_question(bot_api, CHAT, 2)
    query = press(bot_api, CHAT, again.message_id, "Allow once")
    assert answer_to(bot_api, query).text == "✅ allowed"
    assert wait_answers(bot_api, CHAT, 1) == ["tool allowed"]
