"""The whole service with its brains on a loopback Ray cluster (head + 2 worker nodes).

Real parts throughout: the tree, the local Bot API over HTTP, the stand-in brain in
child processes started by each node's runner actor. Where a turn ran is read from
the pool's state (`wakeful state` shows the same), how many brains ran at once from
the brains' own start/end log.

Two things stand in for what one machine cannot do: the nodes share this machine's
disk, so a node's loss takes its Claude sessions with it only because the test
deletes them (the stand-in keeps them, as the CLI does, in $WAKEFUL_STANDIN_SESSIONS);
and the head is never really killed (that would end this process's Ray driver),
its loss is played at the one call the runner's watcher makes to it, `ray.nodes()`.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests import approvals_flow
from tests.brain.turns import wait_until
from tests.conftest import BotApi
from wakeful.actors.replies import CONTEXT_LOST
from wakeful.brain import ray_runner
from wakeful.brain.config import BrainConfig
from wakeful.demo.report import measure, peak_concurrency
from wakeful.demo.users import SimulatedUsers
from wakeful.ops.ray_check import check_ray

pytestmark = pytest.mark.ray

GUARD = 60.0


def ray_config(bot_api: BotApi, cluster: Any, chats: list[int], **brain: Any) -> Any:
    return bot_api.config(chats, runner="ray", ray_address=cluster.address, **brain)


def nodes_by_chat(pool: dict[str, Any]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for attempt in pool["recent"]:
        found[attempt["chat"]].add(attempt["node"])
    return found


def test_twenty_chats_on_two_nodes_are_answered_in_order_under_one_cap(
    bot_api: BotApi, run_service, ray_cluster: Any, tmp_path: Path
) -> None:
    chats = [300_000 + i for i in range(20)]
    brain_log = tmp_path / "brains.log"
    service = run_service(ray_config(bot_api, ray_cluster, chats, brain_delay=0.5, cap=3,
                                     brain_log=brain_log))
    wait_until(lambda: len(service.ask("brain_pool")["nodes"]) == 2, "both nodes to join",
               timeout=GUARD)

    users = SimulatedUsers(bot_api.core, chats, per_chat=3, gap=0.2).start()
    users.join(timeout=30)
    assert bot_api.core.wait_for(
        lambda c: sum(len(bot_api.replies(chat)) for chat in chats) >= 60, timeout=GUARD
    ), f"only {sum(len(bot_api.replies(chat)) for chat in chats)} of 60 answered"

    report = measure(bot_api.core, users.sent())
    assert report.answered == 60, report.problems
    assert report.in_order
    assert not report.problems
    # The cap is the pool's, over the whole cluster: 3 at once, though the nodes have 4 slots.
    assert peak_concurrency(brain_log) == 3
    pool = service.ask("brain_pool")
    assert pool["runner"] == "ray" and pool["runner_state"] == "ready"
    placed = nodes_by_chat(pool)
    assert set(placed) == set(chats)
    assert all(len(nodes) == 1 for nodes in placed.values()), f"a chat moved: {placed}"
    assert set().union(*placed.values()) == set(ray_cluster.worker_ids()), \
        "the chats did not spread over both nodes"


def test_a_worker_node_lost_mid_turn_retries_its_turn_on_the_other_node(
    bot_api: BotApi, run_service, ray_cluster: Any, tmp_path: Path
) -> None:
    chats = [310_000 + i for i in range(6)]
    service = run_service(ray_config(bot_api, ray_cluster, chats, brain_delay=4.0, cap=4))
    wait_until(lambda: len(service.ask("brain_pool")["nodes"]) == 2, "both nodes to join",
               timeout=GUARD)
    for chat in chats:
        bot_api.core.inject_text(chat, f"question of {chat}")

    def victim() -> dict[str, Any] | None:
        running = service.ask("brain_pool")["running"]
        return next((r for r in running if r["pid"] is not None), None)

    doomed = wait_until(victim, "a turn with its brain running", timeout=GUARD)
    lost_node, lost_chat = doomed["node"], doomed["chat"]
    ray_cluster.remove_worker(lost_node)
    try:
        for chat in chats:
            replies = bot_api.wait_replies(chat, 1, timeout=GUARD)
            assert len(replies) == 1, f"chat {chat}: {replies}"
            assert replies[0].text == f"echo: question of {chat}"
        attempts = [a for a in service.ask("brain_pool")["recent"] if a["chat"] == lost_chat]
        assert [a["reason"] for a in attempts] == ["node_lost", "exited"], attempts
        assert attempts[0]["node"] == lost_node
        assert attempts[1]["node"] != lost_node
        assert service.ask("brain_pool")["turns_failed"] == 0
    finally:
        ray_cluster.add_worker()  # the next test gets two workers again


def test_wakeful_check_finds_the_cluster_and_counts_its_brain_slots(ray_cluster: Any) -> None:
    finding = check_ray(BrainConfig(runner="ray", ray_address=ray_cluster.address))
    assert finding.line == f"ray cluster at {ray_cluster.address}: 2 nodes, 4 brain slots"


def test_with_no_node_to_run_brains_messages_wait_in_line_and_run_when_one_joins(
    bot_api: BotApi, run_service, ray_cluster: Any
) -> None:
    chats = [320_001, 320_002]
    for node_id in ray_cluster.worker_ids():
        ray_cluster.remove_worker(node_id)
    try:
        service = run_service(ray_config(bot_api, ray_cluster, chats, brain_delay=0.2))
        wait_until(lambda: service.ask("brain_pool")["runner_state"] == "no nodes",
                   "the runner to find no node", timeout=GUARD)
        for chat in chats:
            bot_api.core.inject_text(chat, f"hello from {chat}")
        # Ingest goes on: each message is acknowledged, and its user told it waits.
        for chat in chats:
            assert bot_api.core.wait_for(lambda c, chat=chat: any(
                r.text and "Waiting for a free brain" in r.text for r in c.sent(chat)),
                timeout=GUARD), (bot_api.core.sent(chat), service.ask("brain_pool"))
            assert any(r.kind == "reaction" for r in bot_api.core.sent(chat))
        pool = service.ask("brain_pool")
        assert sorted(pool["waiting"]) == chats and pool["busy"] == 0
        assert not bot_api.replies(chats[0])
    finally:
        ray_cluster.add_worker()
        ray_cluster.add_worker()
    for chat in chats:
        assert bot_api.wait_replies(chat, 1, timeout=GUARD)[0].text == f"echo: hello from {chat}"


def test_a_tool_question_from_a_brain_on_a_node_is_answered_from_telegram(
    bot_api: BotApi, run_service, ray_cluster: Any
) -> None:
    chat = 325_001
    service = run_service(ray_config(bot_api, ray_cluster, [chat], brain_delay=0.1,
                                     approvals=True))
    wait_until(lambda: len(service.ask("brain_pool")["nodes"]) == 2, "both nodes to join",
               timeout=GUARD)
    bot_api.core.inject_text(chat, "[[ask Bash]] make", user_id=chat)
    question = approvals_flow.wait_question(bot_api, chat)
    [running] = service.ask("brain_pool")["running"]
    assert running["node"] in ray_cluster.worker_ids(), "the turn waits on a node"
    approvals_flow.press(bot_api, chat, question.message_id, "Allow once")
    assert approvals_flow.wait_answers(bot_api, chat, 1) == ["tool allowed"]
    bot_api.core.inject_text(chat, "[[ask Write]] notes.txt", user_id=chat)
    approvals_flow.press(bot_api, chat, approvals_flow.wait_question(bot_api, chat, 2).message_id,
                         "Deny")
    assert approvals_flow.wait_answers(bot_api, chat, 2)[1] == \
        "tool denied: The user denied this tool call."


def notices(bot_api: BotApi, chat: int) -> list[str]:
    """wakeful's own notices to the chat (ℹ️ ...), as first sent."""
    return [r.text for r in bot_api.core.sent(chat) if r.kind == "message"
            and r.reply_to_message_id is None and r.text and r.text.startswith("ℹ️")]


def test_a_chat_whose_node_is_gone_is_answered_on_another_and_told_once_it_starts_anew(
    bot_api: BotApi, run_service, ray_cluster: Any, tmp_path: Path
) -> None:
    chat = 330_001
    sessions = tmp_path / "sessions"  # the disk of the node a chat runs on
    service = run_service(ray_config(
        bot_api, ray_cluster, [chat], brain_delay=0.1,
        workdir=str(tmp_path / "chats" / "{chat_id}"),
        env={"WAKEFUL_STANDIN_SESSIONS": str(sessions)}))
    wait_until(lambda: len(service.ask("brain_pool")["nodes"]) == 2, "both nodes to join",
               timeout=GUARD)
    bot_api.core.inject_text(chat, "hello")
    assert bot_api.wait_replies(chat, 1, timeout=GUARD)[0].text == "echo: hello"
    first_session = service.journal.session(chat)
    assert first_session is not None, "the session was not recorded"
    [first] = nodes_by_chat(service.ask("brain_pool"))[chat]

    ray_cluster.remove_worker(first)
    shutil.rmtree(sessions)  # its disk, and the session on it, went with the node
    try:
        wait_until(lambda: [n["node"] for n in service.ask("brain_pool")["nodes"]] != [] and
                   first not in [n["node"] for n in service.ask("brain_pool")["nodes"]],
                   "the runner to drop the lost node", timeout=GUARD)
        bot_api.core.inject_text(chat, "still there?")
        assert bot_api.wait_replies(chat, 2, timeout=GUARD)[1].text == "echo: still there?"
        bot_api.core.inject_text(chat, "and now?")
        assert bot_api.wait_replies(chat, 3, timeout=GUARD)[2].text == "echo: and now?"

        # Told once, before the answer that starts the new conversation; not again after.
        assert notices(bot_api, chat) == [CONTEXT_LOST]
        moved = next(r for r in bot_api.core.sent(chat) if r.text == CONTEXT_LOST)
        answered = next(r for r in bot_api.replies(chat) if r.text == "echo: still there?")
        assert moved.at_monotonic <= answered.at_monotonic
        attempts = [a for a in service.ask("brain_pool")["recent"] if a["chat"] == chat]
        assert [(a["reason"], a["failure"]) for a in attempts] == [
            ("exited", None), ("exited", "session_missing"), ("exited", None),
            ("exited", None)], attempts
        assert attempts[0]["node"] == first
        assert len({a["node"] for a in attempts[1:]}) == 1 and attempts[1]["node"] != first
        new_session = service.journal.session(chat)
        assert new_session not in (None, first_session)
        assert service.ask("brain_pool")["turns_failed"] == 0
    finally:
        ray_cluster.add_worker()


def test_while_the_head_is_unreachable_messages_get_eyes_and_wait_then_run_when_it_is_back(
    bot_api: BotApi, run_service, ray_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = [340_001, 340_002]
    service = run_service(ray_config(bot_api, ray_cluster, chats, brain_delay=0.2))
    wait_until(lambda: len(service.ask("brain_pool")["nodes"]) == 2, "both nodes to join",
               timeout=GUARD)

    def head_gone() -> list[dict[str, Any]]:
        raise ray_runner.ray.exceptions.RpcError(
            f"failed to connect to GCS at {ray_cluster.address}")

    monkeypatch.setattr(ray_runner.ray, "nodes", head_gone)
    wait_until(lambda: service.ask("brain_pool")["runner_state"].startswith("unreachable"),
               "the runner to find the head unreachable", timeout=GUARD)
    pool = service.ask("brain_pool")
    assert pool["nodes"] == [] and "failed to connect to GCS" in pool["runner_state"]
    for chat in chats:
        bot_api.core.inject_text(chat, f"hello from {chat}")
    for chat in chats:
        assert bot_api.core.wait_for(lambda c, chat=chat: any(
            r.kind == "reaction" and r.reaction == ("👀",) for r in c.sent(chat)),
            timeout=GUARD)
        assert bot_api.core.wait_for(lambda c, chat=chat: any(
            r.text and r.text.startswith("⏳ Waiting for a free brain") for r in c.sent(chat)),
            timeout=GUARD), (bot_api.core.sent(chat), service.ask("brain_pool"))

    # The poller stays live: it beats and keeps polling while no brain can run.
    polls = service.ask("poller")["polls"]
    ages = []
    for _ in range(8):
        ages.append(service.ask("watchdog")["watched"]["poller"]["last_beat_age"])
        time.sleep(0.25)
    assert max(ages) < 2.5, ages
    # An idle long poll lasts poll_timeout (2 s): the next one ends within a few of them.
    wait_until(lambda: service.ask("poller")["polls"] > polls, "the poller to poll on",
               timeout=GUARD)
    assert service.ask("watchdog")["live"]
    pool = service.ask("brain_pool")
    assert sorted(pool["waiting"]) == chats and pool["busy"] == 0
    assert not any(bot_api.replies(chat) for chat in chats)

    monkeypatch.undo()  # the head answers again
    for chat in chats:
        assert bot_api.wait_replies(chat, 1, timeout=GUARD)[0].text == f"echo: hello from {chat}"
    pool = service.ask("brain_pool")
    assert pool["runner_state"] == "ready" and len(pool["nodes"]) == 2
    assert pool["turns_failed"] == 0


def test_a_brain_pool_crashing_mid_storm_on_ray_loses_nothing_and_leaves_no_brain_or_actor(
    bot_api: BotApi, run_service, ray_cluster: Any, tmp_path: Path, storm_random: random.Random
) -> None:
    """12 chats x 3 on two nodes; at a seeded moment, with turns running on the nodes,
    the brain pool crashes (a bug). Its runner closes: its node actors go, and with them
    the brains they ran; the restarted pool starts a runner with actors of its own, and
    the restarted chats ask it again for everything they are owed."""
    import ray

    from tests.storms import invariants
    from tests.storms.process import alive
    from wakeful.brain.ray_node import ACTOR_PREFIX

    def node_actors() -> set[str]:
        return {n for n in ray.util.list_named_actors() if n.startswith(ACTOR_PREFIX)}

    chats = [330_000 + i for i in range(12)]
    cap = 4
    brain_log = tmp_path / "brains.log"
    service = run_service(ray_config(bot_api, ray_cluster, chats, brain_delay=0.8, cap=cap,
                                     brain_log=brain_log))
    wait_until(lambda: len(service.ask("brain_pool")["nodes"]) == 2, "both nodes to join",
               timeout=GUARD)
    before = wait_until(lambda: len(node_actors()) == 2 and node_actors(), "two node actors",
                        timeout=GUARD)
    users = SimulatedUsers(bot_api.core, chats, per_chat=3, gap=0.3).start()
    wait_until(lambda: sum(1 for r in service.ask("brain_pool")["running"]
                           if r["pid"] is not None) >= storm_random.randint(1, cap),
               "turns running on the nodes", timeout=GUARD)
    running = {r["chat"] for r in service.ask("brain_pool")["running"]}
    service.directory.lookup("brain_pool").ref.tell(object())  # a bug: the pool crashes
    users.join(timeout=30)
    sent = users.sent()
    assert bot_api.core.wait_for(lambda c: all(
        invariants.deliveries(c, [m])[m].answers for m in sent), timeout=GUARD * 2), \
        [m.text for m in sent if not invariants.deliveries(bot_api.core, [m])[m].answers]

    # A turn that was running when the pool crashed may have answered just before it
    # died and run again: only those may be answered twice.
    may_repeat = {(m.chat_id, m.message_id) for m in sent if m.chat_id in running}
    assert invariants.every_message_acked_and_answered_once(bot_api.core, sent,
                                                            may_repeat) == []
    assert invariants.answers_in_message_order(bot_api.core, sent) == []
    root = {c["id"]: c for c in service.ask("root")["children"]}
    assert root["brain_pool"]["restarts"] == 1
    pool = service.ask("brain_pool")
    assert pool["runner_state"] == "ready" and pool["turns_failed"] == 0
    assert set().union(*nodes_by_chat(pool).values()) <= set(ray_cluster.worker_ids())
    after = wait_until(lambda: not (node_actors() & before) and len(node_actors()) == 2
                       and node_actors(), "the old runner's actors to go", timeout=GUARD)
    assert len(after) == 2, "one actor per node, the new runner's own"
    started = [int(line.split()[2]) for line in brain_log.read_text().splitlines()
               if line.startswith("start ")]
    wait_until(lambda: not any(alive(pid) for pid in started), "every brain to end",
               timeout=GUARD)
    assert invariants.peak_brains(brain_log) <= cap
