"""The Prometheus endpoint: what an operator's Prometheus sees, scraped over real HTTP."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BotApi
from tests.test_cli import REPO, _env, _reap, _stop
from wakeful.config import load
from wakeful.histogram import Histogram, LabelledHistograms
from wakeful.ops.collector import StateCollector

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

CHATS = [710_001 + i for i in range(8)]
STRANGER = 719_999
CAP = 3


# --- helpers ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(bot_api: BotApi, tmp_path: Path, metrics: str) -> Path:
    config = tmp_path / "wakeful.toml"
    config.write_text(
        f'[telegram]\nbase_url = "{bot_api.server.base_url}"\npoll_timeout = 2\n'
        f"allowed_user_ids = {CHATS}\n\n"
        f'[brain]\ncommand = ["{sys.executable}", "-m", "wakeful.brain.standin", '
        f'"--delay", "0.05"]\nmax_concurrent = {CAP}\n\n'
        f'[journal]\npath = "{tmp_path / "journal.sqlite3"}"\n\n'
        # One answer per message: the storm counts them (steer would fold some in).
        '[chats]\nmode = "queue"\n\n'
        f"[metrics]\n{metrics}\n"
    )
    return config


@contextlib.contextmanager
def _running(bot_api: BotApi, config: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wakeful", "run", "--config", str(config)],
        cwd=REPO, env=_env(WAKEFUL_TELEGRAM_TOKEN=bot_api.token),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield proc
    finally:
        _reap(proc)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} not scraped; have {sorted(n for n, _ in samples)}"
    return samples[key]


def _sum(samples: Samples, name: str, **labels: str) -> float:
    """Over every series of `name` whose labels include `labels`."""
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= ls]
    assert found, f"no {name}{labels} scraped"
    return sum(found)


def _listening_addresses(port: int) -> list[str]:
    """Local addresses of LISTEN sockets on `port`, from the kernel's own table."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if int(hex_port, 16) == port and state == "0A":
                    found.append(address)
    return found


# --- the endpoint, end to end -----------------------------------------------------------


def test_a_storm_shows_in_every_series_and_the_endpoint_is_loopback_only(
    bot_api: BotApi, tmp_path: Path
) -> None:
    port = _free_port()
    config = _config(bot_api, tmp_path, f"enabled = true\nport = {port}")
    with _running(bot_api, config) as proc:
        assert bot_api.core.wait_for(lambda c: _listening_addresses(port) != [], 60), \
            "the endpoint never listened"
        for chat in CHATS:
            for n in (1, 2):
                bot_api.core.inject_text(chat, f"message {n}", user_id=chat)
        bot_api.core.inject_text(STRANGER, "let me in", user_id=STRANGER)
        for chat in CHATS:
            bot_api.wait_replies(chat, 2, timeout=60)

        # Telegram has the answers a moment before the outbound actor hears so.
        deadline = time.monotonic() + 30
        while True:
            body = _scrape(port)
            samples = _samples(body)
            settled = (samples.get(("wakeful_messages_answered_total", frozenset())) == 16
                       and samples.get(("wakeful_messages_refused_total", frozenset())) == 1
                       and samples.get(("wakeful_ack_latency_seconds_count", frozenset())) == 16)
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        listening = _listening_addresses(port)
        output = _stop(proc)

    assert _value(samples, "wakeful_messages_received_total") == 16
    assert _value(samples, "wakeful_messages_answered_total") == 16
    assert _value(samples, "wakeful_messages_refused_total") == 1
    assert _value(samples, "wakeful_messages_failed_total") == 0
    assert _value(samples, "wakeful_ack_latency_seconds_count") == 16
    assert 0 < _value(samples, "wakeful_ack_latency_seconds_sum") < 16 * 30
    assert _value(samples, "wakeful_ack_latency_seconds_bucket", le="+Inf") == 16
    assert _sum(samples, "wakeful_turn_duration_seconds_count") >= 16
    assert _value(samples, "wakeful_turn_duration_seconds_count", outcome="ok") >= 16
    assert _value(samples, "wakeful_turn_duration_seconds_sum", outcome="ok") > 0
    assert _value(samples, "wakeful_turn_duration_seconds_count", outcome="failed") == 0
    assert _value(samples, "wakeful_brain_slots_cap") == CAP
    assert _value(samples, "wakeful_brain_slots_busy") == 0
    assert _value(samples, "wakeful_brain_waiting_turns") == 0
    assert _value(samples, "wakeful_chat_queued_messages") == 0
    assert _value(samples, "wakeful_outbound_waiting_calls", lane="ack") == 0
    assert _value(samples, "wakeful_telegram_rate_limited_total") == 0
    assert _value(samples, "wakeful_telegram_calls_total", method="sendMessage") >= 16 + 1
    assert _value(samples, "wakeful_telegram_calls_total", method="setMessageReaction") >= 16
    assert _value(samples, "wakeful_telegram_calls_total", method="getUpdates") >= 1
    assert _value(samples, "wakeful_journal_size_bytes") > 0
    assert _value(samples, "wakeful_watchdog_stale_detections_total") == 0
    assert _value(samples, "wakeful_watchdog_saturated") == 0
    assert _value(samples, "wakeful_watchdog_saturation_holds_total") == 0
    assert _value(samples, "wakeful_actors_unresponsive") == 0
    for child in ("brain_pool", "outbound", "chats", "poller", "retention", "watchdog", "chat"):
        assert _value(samples, "wakeful_actor_restarts_total", child=child) == 0
    # One series for all chats, never one per chat id.
    assert not any(str(chat) in body for chat in [*CHATS, STRANGER])
    assert "process_resident_memory_bytes" in body
    assert bot_api.token not in body and bot_api.token.split(":", 1)[1] not in body
    assert listening == ["0100007F"], "only 127.0.0.1 listens"
    assert proc.returncode == 0, output
    assert "Traceback" not in output


def test_metrics_are_off_unless_enabled(bot_api: BotApi, tmp_path: Path) -> None:
    assert load(None, environ={}).metrics.enabled is False
    port = _free_port()
    config = _config(bot_api, tmp_path, f"port = {port}")  # a port, but not enabled
    with _running(bot_api, config) as proc:
        chat = CHATS[0]
        bot_api.core.inject_text(chat, "are you there", user_id=chat)
        bot_api.wait_replies(chat, 1, timeout=60)  # up and serving
        assert _listening_addresses(port) == []
        with pytest.raises(urllib.error.URLError):
            _scrape(port)
        output = _stop(proc)
    assert proc.returncode == 0, output


def test_a_port_in_use_is_one_clear_line_and_exit_2(bot_api: BotApi, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(bot_api, tmp_path, f"enabled = true\nport = {port}")
        done = subprocess.run(
            [sys.executable, "-m", "wakeful", "run", "--config", str(config)],
            cwd=REPO, env=_env(WAKEFUL_TELEGRAM_TOKEN=bot_api.token), capture_output=True,
            text=True, timeout=60,
        )
    assert done.returncode == 2, done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith("wakeful: ")]
    assert ours == [f"wakeful: metrics: cannot listen on 127.0.0.1:{port}: "
                    "Address already in use"]
    assert "Traceback" not in done.stderr
    assert bot_api.token not in done.stdout + done.stderr


# --- the collector, in process ------------------------------------------------------------


def _document(**overrides: Any) -> dict[str, Any]:
    """Service.state()'s shape, with what the collector reads."""
    histogram = Histogram((0.1, 1.0))
    for seconds in (0.05, 0.5, 3.0):
        histogram.observe(seconds)
    turns = LabelledHistograms((1.0, 10.0))
    turns.observe("ok", 2.0)
    turns.observe("failed", 20.0)
    actors: dict[str, Any] = {
        "root": {"mailbox": 0, "children": [
            {"id": "brain_pool", "restarts": 2}, {"id": "outbound", "restarts": 0}]},
        "chats": {"mailbox": 1, "restarts_total": 7, "children": [{"id": "chat:5", "restarts": 1}]},
        "poller": {"mailbox": 0, "admitted": 10, "refused": 3, "flooded": 4, "polls": 40,
                   "poll_failures": {"retry_later": 1, "transient": 2}},
        "outbound": {"mailbox": 4, "answered": 9, "calls": {"SendText": 12, "React": 10},
                     "failed_by_call": {"SendText": {"retry_later": 2}}, "throttled_429": 2,
                     "waiting": {"ack": 1, "answer": 0}, "in_flight": 2,
                     "histograms": {"ack_seconds": histogram.view()}},
        "brain_pool": {"mailbox": 0, "cap": 4, "running": [{}, {}], "waiting": [5, 6, 7],
                       "backing_off": [], "turns_failed": 1,
                       "histograms": {"turn_seconds": turns.view()}},
        "watchdog": {"mailbox": 0, "stale_reported": 1, "saturated": True,
                     "saturation_holds": 3},
        "chat:5": {"mailbox": 2, "queued": 3},
        "chat:6": {"mailbox": 1, "queued": 1},
        "retention": {"unresponsive": "Timeout", "mailbox": 9},
    }
    actors.update(overrides)
    return {"actors": actors, "journal": {"bytes": 4096, "messages": {"open": 2}}}


def _collect(state: Any) -> Samples:
    registry = CollectorRegistry()
    registry.register(StateCollector(state))
    return _samples(generate_latest(registry).decode())


def test_the_collector_turns_one_state_document_into_every_series() -> None:
    samples = _collect(_document)
    assert _value(samples, "wakeful_messages_received_total") == 10
    assert _value(samples, "wakeful_messages_refused_total") == 3
    assert _value(samples, "wakeful_messages_flooded_total") == 4
    assert _value(samples, "wakeful_messages_answered_total") == 9
    assert _value(samples, "wakeful_messages_failed_total") == 1
    assert _value(samples, "wakeful_ack_latency_seconds_bucket", le="0.1") == 1
    assert _value(samples, "wakeful_ack_latency_seconds_bucket", le="1.0") == 2
    assert _value(samples, "wakeful_ack_latency_seconds_bucket", le="+Inf") == 3
    assert _value(samples, "wakeful_ack_latency_seconds_sum") == pytest.approx(3.55)
    assert _value(samples, "wakeful_turn_duration_seconds_count", outcome="ok") == 1
    assert _value(samples, "wakeful_turn_duration_seconds_bucket", outcome="failed",
                  le="10.0") == 0
    assert _value(samples, "wakeful_brain_slots_busy") == 2
    assert _value(samples, "wakeful_brain_slots_cap") == 4
    assert _value(samples, "wakeful_brain_waiting_turns") == 3
    assert _value(samples, "wakeful_outbound_waiting_calls", lane="ack") == 1
    assert _value(samples, "wakeful_chat_queued_messages") == 4
    assert _value(samples, "wakeful_chats_active") == 2
    assert _value(samples, "wakeful_telegram_calls_total", method="sendMessage") == 12
    assert _value(samples, "wakeful_telegram_calls_total", method="getUpdates") == 43
    assert _value(samples, "wakeful_telegram_errors_total", method="sendMessage",
                  kind="retry_later") == 2
    assert _value(samples, "wakeful_telegram_errors_total", method="getUpdates",
                  kind="transient") == 2
    assert _value(samples, "wakeful_telegram_rate_limited_total") == 3
    assert _value(samples, "wakeful_actor_restarts_total", child="brain_pool") == 2
    assert _value(samples, "wakeful_actor_restarts_total", child="chat") == 7
    assert _value(samples, "wakeful_watchdog_stale_detections_total") == 1
    assert _value(samples, "wakeful_watchdog_saturated") == 1
    assert _value(samples, "wakeful_watchdog_saturation_holds_total") == 3
    assert _value(samples, "wakeful_journal_size_bytes") == 4096
    assert _value(samples, "wakeful_journal_messages", state="open") == 2
    assert _value(samples, "wakeful_actor_mailbox_messages", actor="chat") == 3
    assert _value(samples, "wakeful_actor_mailbox_messages", actor="retention") == 9


def test_an_actor_that_does_not_answer_leaves_out_its_series_not_the_scrape() -> None:
    samples = _collect(lambda: _document(outbound={"unresponsive": "Timeout", "mailbox": 50}))
    assert _value(samples, "wakeful_actors_unresponsive") == 2  # outbound and retention
    names = {name for name, _ in samples}
    assert "wakeful_messages_answered_total" not in names
    assert "wakeful_ack_latency_seconds_count" not in names
    assert "wakeful_outbound_in_flight_calls" not in names
    assert _value(samples, "wakeful_messages_received_total") == 10  # the others still show
    # getUpdates is the poller's: still counted, while the outbound's calls are left out.
    assert _value(samples, "wakeful_telegram_calls_total", method="getUpdates") == 43
    assert ("wakeful_telegram_calls_total", frozenset({("method", "sendMessage")})) \
        not in samples
    assert _value(samples, "wakeful_actor_mailbox_messages", actor="outbound") == 50


def test_a_snapshot_of_another_shape_or_a_failed_state_costs_only_its_own_series(
    caplog: pytest.LogCaptureFixture,
) -> None:
    samples = _collect(lambda: _document(brain_pool={"mailbox": 0, "cap": 4}))
    names = {name for name, _ in samples}
    assert "wakeful_brain_slots_busy" not in names
    assert _value(samples, "wakeful_messages_received_total") == 10
    assert "lacks what a series needs" in caplog.text

    def broken() -> dict[str, Any]:
        raise RuntimeError("journal is gone")

    assert not any(name.startswith("wakeful_") for name, _ in _collect(broken))
    assert "cannot read the service's state: journal is gone" in caplog.text


# --- the histogram helper ---------------------------------------------------------------


def test_a_histogram_counts_at_or_below_each_bound_cumulatively() -> None:
    histogram = Histogram((0.1, 0.5, 1.0))
    for value in (0.1, 0.2, 0.5, 0.7, 5.0):
        histogram.observe(value)
    assert histogram.view() == {"le": [0.1, 0.5, 1.0], "buckets": [1, 3, 4], "count": 5,
                                "sum": pytest.approx(6.5)}
    assert Histogram((1.0,)).view() == {"le": [1.0], "buckets": [0], "count": 0, "sum": 0.0}


def test_histogram_bounds_must_increase() -> None:
    for bad in ((), (1.0, 0.5), (1.0, 1.0)):
        with pytest.raises(ValueError, match="increasing"):
            Histogram(bad)
    with pytest.raises(ValueError):
        LabelledHistograms((2.0, 1.0))


def test_labelled_histograms_keep_one_histogram_per_label_the_declared_ones_from_zero() -> None:
    turns = LabelledHistograms((1.0, 10.0), labels=("ok", "cancelled"))
    turns.observe("ok", 0.5)
    turns.observe("ok", 5.0)
    turns.observe("failed", 50.0)
    assert turns.view() == {
        "cancelled": {"le": [1.0, 10.0], "buckets": [0, 0], "count": 0, "sum": 0.0},
        "failed": {"le": [1.0, 10.0], "buckets": [0, 0], "count": 1, "sum": 50.0},
        "ok": {"le": [1.0, 10.0], "buckets": [1, 2], "count": 2, "sum": 5.5},
    }
