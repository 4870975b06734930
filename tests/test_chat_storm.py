"""Fifty chats write at once over real HTTP: nobody goes unheard or is answered out of turn."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BotApi
from wakeful.demo.report import measure, peak_concurrency
from wakeful.demo.users import SimulatedUsers


def test_fifty_chats_three_messages_each_are_all_acked_first_and_answered_in_order(
    bot_api: BotApi, run_service, tmp_path: Path
) -> None:
    chats = [200_000 + i for i in range(50)]
    brain_log = tmp_path / "brains.log"
    service = run_service(bot_api.config(chats, brain_delay=1.0, cap=4, brain_log=brain_log))

    users = SimulatedUsers(bot_api.core, chats, per_chat=3, gap=0.2).start()
    users.join(timeout=30)
    assert bot_api.core.wait_for(
        lambda c: sum(len(bot_api.replies(chat)) for chat in chats) >= 150, timeout=180
    ), f"only {sum(len(bot_api.replies(chat)) for chat in chats)} of 150 answered"

    report = measure(bot_api.core, users.sent())
    assert report.messages == 150
    assert report.answered == 150, report.problems
    assert report.acked == 150
    assert report.acked_before_answer == 150, "a 👀 arrived after its answer"
    assert report.in_order
    assert not report.problems
    # Measured where it matters: by the brains themselves, not by the pool's bookkeeping.
    assert peak_concurrency(brain_log) <= 4
    assert peak_concurrency(brain_log) == 4, "the cap was never reached: no real concurrency"
    assert service.ask("brain_pool")["peak_running"] <= 4
