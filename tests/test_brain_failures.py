"""A brain that crashes costs one clear error message, never the slot or the chat."""

from __future__ import annotations

from tests.conftest import BotApi


def test_brain_exiting_non_zero_gives_a_clear_error_reply_and_frees_its_slot(
    bot_api: BotApi, run_service
) -> None:
    chat = 500_001
    service = run_service(bot_api.config([chat], brain_delay=0.1, cap=1))
    bot_api.core.inject_text(chat, "please crash [[exit 3]]", user_id=chat)
    bot_api.core.inject_text(chat, "and now answer", user_id=chat)

    crashed, answered = bot_api.wait_replies(chat, 2)
    assert crashed.text.startswith("⚠️ Sorry, I could not answer that:")
    assert "exited with status 3" in crashed.text
    assert "scripted crash" in crashed.text, "the brain's own last words help the user"
    assert answered.text == "echo: and now answer", "the only slot was freed for the next turn"
    pool = service.ask("brain_pool")
    assert pool["running"] == [] and pool["turns_failed"] == 1
    # Once answered, nothing about these messages stays in memory for the chat's lifetime.
    assert bot_api.core.wait_for(
        lambda c: service.ask(f"chat:{chat}")["owed"] == 0, timeout=10)
    assert service.journal.owed(chat) == []


def test_brain_that_cannot_be_started_is_reported_not_hung(bot_api: BotApi, run_service) -> None:
    chat = 500_002
    config = bot_api.config([chat], command=("/nonexistent/claude",))
    run_service(config)
    bot_api.core.inject_text(chat, "hello?", user_id=chat)
    (reply,) = bot_api.wait_replies(chat, 1)
    assert "could not be started" in reply.text
