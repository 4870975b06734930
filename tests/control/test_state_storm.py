"""A state request with a thousand chats holding work: complete, bounded on screen, no
secret. What it costs is measured by `benchmarks/ingest.py` (about 0.3 s on two cores),
not asserted here."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from tests.conftest import BotApi
from wakeful.config import Config
from wakeful.control.document import build
from wakeful.control.render import render_text
from wakeful.service import Service

CHATS = 1000
GUARD = 30.0


def test_one_state_request_over_a_thousand_chats_shows_them_all_and_no_secret(
    bot_api: BotApi, run_service: Callable[[Config], Service]
) -> None:
    chats = [900_000 + i for i in range(CHATS)]
    service = run_service(bot_api.config(chats, brain_delay=60, cap=4))
    for chat in chats:
        bot_api.core.inject_text(chat, f"storm message for {chat}", user_id=chat)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(service.ask("brain_pool")["waiting"]) == CHATS - 4:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the storm never filled the line")

    started = time.perf_counter()
    doc = build(service.state())
    line = json.dumps({"ok": True, "state": doc})
    text = render_text(doc)
    took = time.perf_counter() - started

    assert len(doc["chats"]) == CHATS
    assert sum(1 for a in doc["actors"] if a["name"].startswith("chat:")) == CHATS
    assert all(a["status"] == "alive" for a in doc["actors"])
    assert "… 950 more chat actors" in text
    assert bot_api.token not in line and bot_api.token not in text
    # Only a guard against a request that hangs on some actor (about 0.3 s measured).
    assert took < GUARD, f"a state request over {CHATS} chats took {took:.2f}s"
