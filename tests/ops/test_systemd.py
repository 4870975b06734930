"""systemd hears READY, WATCHDOG only while wakeful is really alive, STATUS and STOPPING.

A datagram socket bound by the test plays systemd's end of $NOTIFY_SOCKET: the same
protocol, read the same way (one datagram of KEY=value lines per notification).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BotApi
from tests.supervision.harness import HANG_GUARD, advance
from tests.test_cli import _descendants, _reap
from tests.test_cli import _start_run as start_run
from wakeful.clock import FakeClock
from wakeful.config import WatchdogConfig
from wakeful.ops.liveness import POLL_MARGIN, Verdict, decide, status_line
from wakeful.ops.systemd import STOP_BEYOND_GRACE, VARIABLES, Notifier, NotifySocket
from wakeful.service import Service

WATCHDOG_USEC = 1_000_000


@dataclass(frozen=True)
class Note:
    at: float  # time.monotonic() when it arrived
    fields: dict[str, str]


class FakeSystemd:
    """systemd's end of the notification socket: collects every datagram with its time."""

    def __init__(self, abstract: bool = False,
                 on_note: Callable[[Note], None] | None = None) -> None:
        self._dir = tempfile.mkdtemp(prefix="wk-notify-")  # short: sun_path is 108 bytes
        self.address = (f"@wakeful-test-{uuid.uuid4().hex}" if abstract
                        else f"{self._dir}/notify.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.address.replace("@", "\0", 1))
        self._on_note = on_note
        self._cond = threading.Condition()
        self.notes: list[Note] = []
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            note = Note(time.monotonic(), fields)
            if self._on_note is not None:
                self._on_note(note)
            with self._cond:
                self.notes.append(note)
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Note]], bool],
                 timeout: float = HANG_GUARD) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.notes), timeout)

    def wait_count(self, count: int, timeout: float = HANG_GUARD) -> list[Note]:
        assert self.wait_for(lambda notes: len(notes) >= count, timeout), self.notes
        with self._cond:
            return self.notes[:count]

    def pings(self, after: float = 0.0, before: float = float("inf")) -> list[Note]:
        with self._cond:
            return [n for n in self.notes if "WATCHDOG" in n.fields and after < n.at < before]

    def statuses(self) -> list[str]:
        with self._cond:
            return [n.fields["STATUS"] for n in self.notes if "STATUS" in n.fields]

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)
        if not self.address.startswith("@"):
            os.unlink(self.address)
        os.rmdir(self._dir)


@pytest.fixture
def systemd() -> Iterator[Callable[..., FakeSystemd]]:
    made: list[FakeSystemd] = []

    def make(**kwargs: Any) -> FakeSystemd:
        made.append(FakeSystemd(**kwargs))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


# --- the decision, table-driven ------------------------------------------------------

POLL_TIMEOUT = 30.0


def _watched(age: float, stale_after: float = 8.0, critical: bool = True) -> dict[str, Any]:
    return {"generation": 1, "critical": critical, "stale_after": stale_after,
            "last_beat_age": age}


def _watchdog(**ages: float) -> dict[str, Any]:
    watched = {"root": _watched(1.0, 60.0), "outbound": _watched(1.0),
               "poller": _watched(1.0), "chat:7": _watched(0.5, critical=False)}
    for name, age in ages.items():
        name = name.replace("_", ":")
        watched[name] = {**watched[name], "last_beat_age": age}
    return {"watched": watched}


def _poller(**fields: Any) -> dict[str, Any]:
    healthy = {"stopped": False, "consecutive_failures": 0, "last_failure_kind": None,
               "failing_for": None, "last_poll_ok_age": 1.0, "last_poll_ended_age": 1.0,
               "age": 500.0,
               "poll_in_flight": True}
    return {**healthy, **fields}


def _failing(kind: str, failing_for: float, last_ok: float,
             last_ended: float = 0.5) -> dict[str, Any]:
    return _poller(consecutive_failures=1, last_failure_kind=kind, failing_for=failing_for,
                   last_poll_ok_age=last_ok, last_poll_ended_age=last_ended,
                   poll_in_flight=False)


CASES: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None, str | None]] = [
    # name, watchdog answer, poller answer, None when live else a part of the reason
    ("fresh", _watchdog(), _poller(), None),
    ("a wedged critical actor", _watchdog(outbound=8.2), _poller(), "outbound silent for 8.2 s"),
    ("the worst of two wedged is named", _watchdog(outbound=9.0, poller=30.0), _poller(),
     "poller silent for 30 s"),
    ("a wedged root supervisor", _watchdog(root=61.0), _poller(), "root silent for 61 s"),
    ("a wedged chat is its supervisor's business", _watchdog(chat_7=300.0), _poller(), None),
    ("a 409 streak, even in its first second", _watchdog(), _failing("conflict", 0.2, 0.3),
     "getUpdates answered 409 Conflict for 0.2 s (another poller, or a webhook)"),
    ("a 409 streak goes on", _watchdog(), _failing("conflict", 40.0, 41.0),
     "409 Conflict for 40 s"),
    ("the token rejected", _watchdog(), _failing("unauthorized", 1.0, 2.0), "401"),
    ("one 5xx", _watchdog(), _failing("transient", 0.5, 3.0), None),
    ("a poll in flight for the whole poll_timeout", _watchdog(),
     _poller(last_poll_ok_age=POLL_TIMEOUT, last_poll_ended_age=POLL_TIMEOUT), None),
    ("a poll in flight past the read margin", _watchdog(),
     _poller(last_poll_ok_age=POLL_TIMEOUT + POLL_MARGIN - 0.1,
             last_poll_ended_age=POLL_TIMEOUT + POLL_MARGIN - 0.1), None),
    ("an outage is waited out: a restart would only kill the turns", _watchdog(),
     _failing("network", 600.0, 601.0, last_ended=20.0), None),
    ("a poll that never ends", _watchdog(),
     _poller(last_poll_ok_age=POLL_TIMEOUT + POLL_MARGIN + 1,
             last_poll_ended_age=POLL_TIMEOUT + POLL_MARGIN + 1),
     "no getUpdates call ended for 76 s (a poll is stuck)"),
    ("a new poller waiting for its first answer", _watchdog(),
     _poller(last_poll_ok_age=None, last_poll_ended_age=None, age=5.0), None),
    ("a new poller whose first poll never ends", _watchdog(),
     _poller(last_poll_ok_age=None, last_poll_ended_age=None, age=80.0),
     "no getUpdates call ended for 80 s"),
    ("polling stopped", _watchdog(), _poller(stopped=True), "polling stopped"),
    ("the watchdog does not answer", None, _poller(), "the watchdog did not answer"),
    ("the poller does not answer", _watchdog(), None, "the poller did not answer"),
]


@pytest.mark.parametrize(("name", "watchdog", "poller", "reason"), CASES,
                         ids=[c[0] for c in CASES])
def test_liveness_is_decided_from_the_snapshots(name: str, watchdog: dict[str, Any] | None,
                                                poller: dict[str, Any] | None,
                                                reason: str | None) -> None:
    verdict = decide(watchdog, poller, POLL_TIMEOUT)
    if reason is None:
        assert verdict == Verdict(True), name
    else:
        assert not verdict.live and reason in verdict.reason, (name, verdict)


def test_the_status_line_says_what_the_bot_does_or_why_it_is_not_live() -> None:
    pool = {"running": [{}, {}], "waiting": [1, 2, 3]}
    watchdog = {"watched": {**_watchdog()["watched"], "chat:8": _watched(1.0, critical=False)}}
    assert (status_line(Verdict(True), watchdog, _poller(last_poll_ok_age=1.2), pool)
            == "serving: 2 turns running, 3 waiting, 2 chats; last getUpdates 1 s ago")
    assert (status_line(Verdict(True), _watchdog(), _poller(last_poll_ok_age=None), None)
            == "serving: 1 chat")
    assert (status_line(Verdict(True), _watchdog(), _failing("network", 75.0, 76.0), None)
            == "serving: 1 chat; Telegram unreachable for 75 s (network), retrying")
    assert (status_line(Verdict(False, "outbound silent for 9.0 s"), None, None, None)
            == "NOT LIVE: outbound silent for 9.0 s")


# --- the environment -----------------------------------------------------------------


def test_systemds_variables_leave_the_environment_and_describe_the_notifier() -> None:
    env = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "60000000",
           "WATCHDOG_PID": "4242", "PATH": "/usr/bin"}
    notifier = Notifier.from_environment(env, pid=4242)
    assert env == {"PATH": "/usr/bin"}, "no child may notify in our name"
    assert notifier.active and notifier.watchdog == 60.0
    assert notifier.interval == 5.0  # STATUS stays fresh even with a long watchdog

    short = Notifier.from_environment({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000"})
    assert short.watchdog == 1.0 and short.interval == 0.5  # twice per period


def test_a_watchdog_meant_for_another_process_or_malformed_is_ignored(
    caplog: pytest.LogCaptureFixture
) -> None:
    other = {"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}
    notifier = Notifier.from_environment(other, pid=4242)
    assert other == {} and notifier.active and notifier.watchdog is None
    bad = {"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "soon"}
    assert Notifier.from_environment(bad).watchdog is None
    assert "ignoring WATCHDOG_USEC='soon'" in caplog.text
    assert not Notifier.from_environment({"NOTIFY_SOCKET": "vsock:2:1"}).active


def test_without_notify_socket_nothing_is_sent_and_nothing_breaks(
    bot_api: BotApi, run_service: Callable[..., Service]
) -> None:
    env = {"WATCHDOG_USEC": "1000000"}
    notifier = Notifier.from_environment(env)
    assert env == {} and not notifier.active
    svc = run_service(bot_api.config([1]))
    notifier.serving(svc)
    assert not any(t.name == "wakeful-notify" for t in threading.enumerate())
    notifier.stopping()


def test_the_abstract_namespace_is_reached_and_a_vanished_systemd_is_logged_once(
    systemd: Callable[..., FakeSystemd], caplog: pytest.LogCaptureFixture
) -> None:
    fake = systemd(abstract=True)
    sink = NotifySocket(fake.address)
    assert sink.send("STATUS=hello", "READY=1")
    assert fake.wait_count(1)[0].fields == {"STATUS": "hello", "READY": "1"}

    gone = NotifySocket("/nonexistent/notify.sock")
    with caplog.at_level(logging.WARNING):
        assert not gone.send("WATCHDOG=1")
        assert not gone.send("WATCHDOG=1")
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1


# --- the real service in-process: a wedged critical actor ----------------------------

STEP = 0.02  # fake seconds per step; the notifier checks once per step


def test_a_wedged_critical_actor_gets_no_watchdog_ping_until_it_is_replaced(
    bot_api: BotApi, service: Callable[..., Any], systemd: Callable[..., FakeSystemd]
) -> None:
    chat = 870_001
    clock = FakeClock()
    config = replace(bot_api.on_fake_time(bot_api.config([chat], brain_delay=0.05)),
                     watchdog=WatchdogConfig(heartbeat_interval=1.0, stale_after=1.5))
    svc, gateway = service(config, clock=clock)
    fake = systemd()
    # A 40 ms watchdog checks every 20 ms of the service's (fake) clock: one per step.
    notifier = Notifier(NotifySocket(fake.address), watchdog=2 * STEP)
    notifier.serving(svc)
    try:
        assert "READY" in fake.wait_count(1)[0].fields
        steps: list[tuple[Note, int | None]] = []

        def step() -> None:
            seen = len(fake.notes)
            advance(clock, svc.directory, STEP, STEP, skip={"outbound"})
            note = fake.wait_count(seen + 1)[seen]
            entry = svc.directory.lookup("outbound")
            steps.append((note, None if entry is None else entry.generation))

        for _ in range(10):
            step()
        assert all("WATCHDOG" in note.fields for note, _ in steps), steps

        # The outbound actor's thread hangs in its next Telegram call: the 👀 for this.
        wedge = gateway.wedge_next("react", chat)
        bot_api.core.inject_text(chat, "hello")
        assert wedge.entered.wait(HANG_GUARD)
        wedged_from = len(steps)
        for _ in range(int(5.0 / STEP)):
            step()
            note, generation = steps[-1]
            if generation not in (None, 1) and "WATCHDOG" in note.fields:
                break
        after = steps[wedged_from:]
        first_silent = next(i for i, (note, _) in enumerate(after)
                            if "WATCHDOG" not in note.fields)
        replaced = next(i for i, (_, generation) in enumerate(after)
                        if generation not in (None, 1))
        assert first_silent < replaced
        # From the moment it is known to be wedged until its replacement is up: no ping.
        assert all("WATCHDOG" not in note.fields for note, _ in after[first_silent:replaced])
        reasons = [note.fields["STATUS"] for note, _ in after[first_silent:replaced]]
        assert any(r.startswith("NOT LIVE: outbound silent for 1.") for r in reasons), reasons
        # The replacement beats, and the pings come back.
        assert "WATCHDOG" in after[-1][0].fields, after[-5:]
        assert after[-1][0].fields["STATUS"].startswith("serving")
    finally:
        notifier.stopping()
    assert fake.wait_for(lambda notes: "STOPPING" in notes[-1].fields)
    gateway.release_all()


# --- `wakeful run` under a (fake) systemd --------------------------------------------


def _start_run(bot_api: BotApi, tmp_path: Path, fake: FakeSystemd, chat: int,
               brain_delay: float, log_format: str = "plain") -> subprocess.Popen[str]:
    return start_run(bot_api, tmp_path, chat, brain_delay,
                     extra_toml=f'\n[service]\nlog_format = "{log_format}"\n',
                     NOTIFY_SOCKET=fake.address, WATCHDOG_USEC=str(WATCHDOG_USEC),
                     WATCHDOG_PID="", JOURNAL_STREAM="")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=60)[0]


def _ready(fake: FakeSystemd) -> Note:
    assert fake.wait_for(lambda notes: any("READY" in n.fields for n in notes), 60), fake.notes
    return next(n for n in fake.notes if "READY" in n.fields)


def test_wakeful_run_is_ready_after_getme_pings_while_serving_and_says_stopping(
    bot_api: BotApi, tmp_path: Path, systemd: Callable[..., FakeSystemd]
) -> None:
    chat = 870_101
    calls_at_ready: list[dict[str, int]] = []
    fake = systemd(on_note=lambda note: "READY" in note.fields and calls_at_ready.append(
        bot_api.core.call_counts()))
    proc = _start_run(bot_api, tmp_path, fake, chat, brain_delay=3.0)
    try:
        ready = _ready(fake)
        assert fake.notes[0] is ready, "nothing comes before READY=1"
        assert calls_at_ready[0].get("getMe", 0) >= 1, "READY=1 only after getMe"
        assert fake.wait_for(lambda notes: len(fake.pings(after=ready.at)) >= 3, 20)
        assert all(s.startswith("serving") for s in fake.statuses()), fake.statuses()

        # A turn runs: the fork server, the turn's child and the brain are all alive now.
        bot_api.core.inject_text(chat, "think for a while", user_id=chat)
        assert bot_api.core.wait_for(lambda c: any(
            r.kind == "chat_action" for r in c.sent(chat)), timeout=60)
        assert fake.wait_for(lambda notes: "1 turn running" in notes[-1].fields["STATUS"], 10)
        descendants = _descendants(proc.pid)
        assert len(descendants) >= 2, descendants
        for pid in descendants:
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue  # already gone
            names = {item.split(b"=", 1)[0].decode() for item in environ if item}
            assert not names & set(VARIABLES), f"pid {pid} could notify systemd"
        bot_api.wait_replies(chat, 1, timeout=60)

        output = _stop(proc)
    finally:
        _reap(proc)
    assert proc.returncode == 0, output
    stopping = [n for n in fake.notes if "STOPPING" in n.fields]
    assert len(stopping) == 1, fake.notes
    assert stopping[0].fields["STATUS"] == "stopping: running turns get 20 s to finish"
    # systemd is asked for the time the configured grace needs, beyond TimeoutStopSec.
    assert int(stopping[0].fields["EXTEND_TIMEOUT_USEC"]) == (20 + STOP_BEYOND_GRACE) * 1e6
    assert fake.pings(after=stopping[0].at) == [], "no ping after STOPPING=1"
    assert fake.notes[-1] is stopping[0]
    assert bot_api.token not in output and "Traceback" not in output


def test_a_409_loop_stops_the_watchdog_pings_until_it_ends(
    bot_api: BotApi, tmp_path: Path, systemd: Callable[..., FakeSystemd]
) -> None:
    outage = 8.0
    fake = systemd()
    proc = _start_run(bot_api, tmp_path, fake, 870_201, brain_delay=0.1, log_format="json")
    try:
        ready = _ready(fake)
        assert fake.wait_for(lambda notes: len(fake.pings(after=ready.at)) >= 2, 20)

        # Someone else takes this bot's updates: every getUpdates answers 409 for a while.
        bot_api.core.outage("getUpdates", 409, seconds=outage, description=(
            "Conflict: terminated by other getUpdates request; make sure that only one bot "
            "instance is running"))
        ends = time.monotonic() + outage
        bot_api.core.interrupt_long_polls()  # the poll in flight ends; the next one meets it
        assert bot_api.core.wait_for(lambda c: c.outage_counts().get("getUpdates", 0) >= 1, 10)
        first_409 = time.monotonic()
        assert fake.wait_for(lambda notes: fake.statuses()[-1].startswith(
            "NOT LIVE: getUpdates answered 409 Conflict for"), 5), fake.statuses()[-5:]
        time.sleep(max(0.0, ends - time.monotonic()))
        assert bot_api.core.outage_counts()["getUpdates"] >= 2, "409s went on all along"
        # Within systemd's window (WATCHDOG_USEC) of the first 409, the pings stopped.
        assert fake.pings(after=first_409 + WATCHDOG_USEC / 1e6, before=ends) == []

        # The 409s are over: the next poll is answered and the pings come back.
        assert fake.wait_for(lambda notes: len(fake.pings(after=ends)) >= 2, 30), \
            fake.statuses()[-5:]
        assert fake.statuses()[-1].startswith("serving")
        output = _stop(proc)
    finally:
        _reap(proc)
    assert proc.returncode == 0, output
    # JSON lines, one per event, each naming the thread (actor) that logged it.
    events = [json.loads(line) for line in output.splitlines()]
    said = {(e["actor"], e["level"], e["message"].split(" (")[0]) for e in events}
    assert ("poller#1", "WARNING", "getUpdates failed") in said
    assert any(e["actor"] == "wakeful-notify" and e["level"] == "WARNING"
               and e["message"].startswith("not live: getUpdates answered 409 Conflict")
               for e in events), events
    assert ("wakeful-notify", "INFO", "live again") in said
    assert bot_api.token not in output
