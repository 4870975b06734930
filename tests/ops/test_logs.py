"""Log lines: the token never reaches one, JSON lines parse, every line names its actor
and, when there is one, its chat."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import BotApi
from tests.supervision.harness import Crash, Journal, Tree, supervisor_spec, worker
from wakeful import logs
from wakeful.config import Secret
from wakeful.log_context import working_for
from wakeful.testing.bot_api import random_token

Configure = Callable[..., io.StringIO]


@pytest.fixture
def configure() -> Iterator[Configure]:
    """logs.configure onto a buffer; the logging setup the test run had comes back after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in logs.NOISY}

    def setup(secrets: list[Secret | str] | None = None, json_lines: bool = False,
              level: str = "INFO") -> io.StringIO:
        out = io.StringIO()
        logs.configure(level, secrets, json_lines=json_lines, stream=out)
        return out

    yield setup
    logging.captureWarnings(False)
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def _every_form(token: str) -> list[str]:
    return [token, quote(token, safe=""), quote(token, safe="").lower(), token.split(":")[1]]


def _leaks(text: str, token: str) -> list[str]:
    return [form for form in _every_form(token) if form in text]


@pytest.mark.parametrize("json_lines", [False, True])
def test_the_token_never_reaches_a_log_line_in_any_form(configure: Configure,
                                                        json_lines: bool) -> None:
    token = random_token()
    out = configure([Secret(token)], json_lines=json_lines)
    url = f"https://api.telegram.org/bot{token}/getUpdates"
    encoded = f"https://api.telegram.org/bot{quote(token, safe='')}/getUpdates"

    # httpx's own line about a failed request, in both URL forms.
    logging.getLogger("httpx").warning('HTTP Request: POST %s "HTTP/1.1 409 Conflict"', url)
    logging.getLogger("httpx").warning("retrying %s", encoded.replace("%3A", "%3a"))
    log = logging.getLogger("wakeful.test")
    # The token in the arguments, in a dict argument, and alone (its secret part).
    log.info("calling %s", url)
    log.info("state: %(url)s", {"url": encoded})
    log.warning("secret part: %s", token.split(":")[1])
    # An exception whose message (and so its traceback) holds the token, with a cause.
    try:
        try:
            raise ConnectionError(f"connect to {encoded} failed")
        except ConnectionError as exc:
            raise RuntimeError(f"getUpdates at {url}") from exc
    except RuntimeError:
        log.exception("poll failed")
    # A record whose arguments do not fit its format: logging's own error report would
    # print them, token and all, to stderr.
    log.error("two: %s %s", url)

    text = out.getvalue()
    assert _leaks(text, token) == []
    assert text.count(logs.REDACTED) >= 7
    assert "getUpdates at https://api.telegram.org/bot***/getUpdates" in text
    assert "Traceback" in text and "ConnectionError" in text
    assert "arguments that do not fit" in text
    lines = text.splitlines()
    if json_lines:
        records = [json.loads(line) for line in lines]
        assert len(records) == 7
        assert "getUpdates at" in records[5]["exc"]


def test_json_lines_parse_and_carry_the_fields(configure: Configure) -> None:
    out = configure(["s3cret-value"], json_lines=True)
    log = logging.getLogger("wakeful.actors.poller")

    def from_an_actor() -> None:
        log.warning("getUpdates failed (%s)", "conflict: s3cret-value")
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            log.error("and then", exc_info=True)

    thread = threading.Thread(target=from_an_actor, name="poller#2")
    thread.start()
    thread.join()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(first) == {"ts", "level", "logger", "actor", "message"}
    assert first["level"] == "WARNING" and first["logger"] == "wakeful.actors.poller"
    assert first["actor"] == "poller#2"
    assert first["message"] == "getUpdates failed (conflict: ***)"
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second["exc"].startswith("Traceback") and "ZeroDivisionError" in second["exc"]


def test_plain_lines_name_the_supervised_actor_that_logged_them(configure: Configure) -> None:
    out = configure()
    journal = Journal()
    tree = Tree(supervisor_spec(), [worker("w1", journal)])
    try:
        tree.tell("w1", Crash())  # the base class logs the failure on the actor's thread
        journal.wait_for("failed", "w1", 1)
    finally:
        tree.stop()
    (line,) = [ln for ln in out.getvalue().splitlines() if "failed: RuntimeError" in ln]
    # time level actor logger: message
    assert " ERROR   w1#1 wakeful.supervision.supervised: w1 (generation 1) failed" in line
    assert line[:4].isdigit() and line[10] == " "


def test_python_warnings_become_redacted_json_events_too(configure: Configure) -> None:
    token = random_token()
    out = configure([token], json_lines=True)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated call with {token}", DeprecationWarning, stacklevel=1)
    (event,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert event["logger"] == "py.warnings" and event["level"] == "WARNING"
    assert "DeprecationWarning: deprecated call with ***" in event["message"]
    assert _leaks(out.getvalue(), token) == []


def test_chatty_libraries_stay_quiet_at_info(configure: Configure) -> None:
    out = configure()
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot1:x/getMe")
    logging.getLogger("telegram.ext").info("chatter")
    logging.getLogger("wakeful").info("ours")
    assert out.getvalue().count("\n") == 1 and "ours" in out.getvalue()


def test_under_journald_every_line_carries_its_syslog_priority(configure: Configure,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    with tempfile.TemporaryFile("w+") as stream:
        st = os.fstat(stream.fileno())
        assert not logs.under_journald(stream, {})
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        logs.configure("INFO", [], stream=stream)  # restored by the configure fixture
        log = logging.getLogger("wakeful.test")
        log.info("fine")
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("broken")
        stream.seek(0)
        lines = stream.read().splitlines()
    configure()  # back to the fixture's own buffer, so teardown restores a known state
    assert lines[0].startswith("<6>") and lines[0].endswith("wakeful.test: fine")
    # journald makes one entry of each line: the traceback's lines are errors too.
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines[1:])


# time level actor [chat=N] logger: message
_PLAIN = re.compile(r"\S+ \S+ (?P<level>[A-Z]+) +(?P<actor>\S+)(?: chat=(?P<chat>-?\d+))? "
                    r"(?P<logger>\S+): (?P<message>.*)")


def _events(text: str, json_lines: bool) -> list[dict[str, Any]]:
    """Each event's fields, from either format (a traceback's lines are skipped)."""
    if json_lines:
        return [json.loads(line) for line in text.splitlines()]
    events = []
    for line in text.splitlines():
        found = _PLAIN.fullmatch(line)
        if found is not None:
            event = {k: v for k, v in found.groupdict().items() if v is not None}
            if "chat" in event:
                event["chat"] = int(event["chat"])
            events.append(event)
    return events


@pytest.mark.parametrize("json_lines", [False, True])
def test_lines_the_pool_and_outbound_log_about_a_chat_name_that_chat(
    configure: Configure, json_lines: bool, bot_api: BotApi, run_service: Any, tmp_path: Path
) -> None:
    out = configure([bot_api.token], json_lines=json_lines)
    crashing, blocked = 810_001, 810_002
    config = bot_api.config([crashing, blocked], brain_delay=0.1,
                            env={"WAKEFUL_STANDIN_ONCE": str(tmp_path / "crashed-once")})
    service = run_service(config)
    # The brain crashes once: the pool logs the retry while it handles the process's end,
    # a message that names an attempt, not a chat.
    bot_api.core.inject_text(crashing, "[[exit-once 3]] hello", user_id=crashing)
    # Telegram refuses everything for this chat: the outbound actor logs it gone while
    # it handles the call's result, a message that names a ticket.
    bot_api.core.block_chat(blocked)
    bot_api.core.inject_text(blocked, "anyone there?", user_id=blocked)
    bot_api.wait_replies(crashing, 1, timeout=30)
    assert bot_api.core.wait_for(lambda c: service.journal.chat_totals(blocked)["gone"],
                                 timeout=30)
    logging.getLogger("wakeful.test").info("between chats")

    events = _events(out.getvalue(), json_lines)
    (retry,) = [e for e in events if "attempt 1 failed" in e["message"]]
    assert (retry["actor"], retry["logger"], retry.get("chat")) == \
        ("brain_pool#1", "wakeful.actors.brain_pool", crashing)
    # Once for each call that was already on its way (the 👀, the answer).
    gone = {(e["actor"], e["logger"], e.get("chat")) for e in events
            if e["message"].startswith(f"chat {blocked} is gone")}
    assert gone == {("outbound#1", "wakeful.actors.outbound", blocked)}
    (outside,) = [e for e in events if e["message"] == "between chats"]
    assert "chat" not in outside
    started = [e for e in events if e["actor"] == "MainThread"]
    assert started and not [e for e in started if "chat" in e], started
    if not json_lines:
        assert f" brain_pool#1 chat={crashing} wakeful.actors.brain_pool: chat {crashing}: " \
            "attempt 1 failed" in out.getvalue()


def test_each_thread_logs_its_own_chat_and_a_named_one_wins(configure: Configure) -> None:
    out = configure(json_lines=True)
    log = logging.getLogger("wakeful.test")
    ready, logged = threading.Barrier(2), threading.Barrier(2)

    def for_chat(chat_id: int) -> None:
        working_for(chat_id)
        ready.wait()  # both chats are set before either logs
        log.info("working")
        logged.wait()

    threads = [threading.Thread(target=for_chat, args=(chat,), name=f"chat:{chat}#1")
               for chat in (-100_42, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.info("about someone else", extra={"chat": 99})
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted((e["actor"], e["chat"]) for e in events[:2]) == \
        [("chat:-10042#1", -10042), ("chat:7#1", 7)]
    assert events[2]["chat"] == 99 and events[2]["actor"] == "MainThread"
