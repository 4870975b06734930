"""systemd's notification protocol, spoken directly: READY, WATCHDOG, STATUS, STOPPING.

No libsystemd: the protocol is one datagram of newline-separated `KEY=value` lines sent
to the AF_UNIX socket named by $NOTIFY_SOCKET (a leading `@` names the abstract
namespace). With `Type=notify`, systemd waits for READY=1; with `WatchdogSec=`, it
restarts us when no WATCHDOG=1 arrives in time; STATUS= is the line `systemctl status`
shows. Without $NOTIFY_SOCKET (a terminal, a container) the notifier does nothing.

WATCHDOG=1 is sent only while wakeful is really alive (ops/liveness.py decides, from
the snapshots the watchdog and the poller answer): a wedged critical actor or a 409
loop stops it, and systemd's restart is the last resort after supervision's own.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import socket
import threading
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from wakeful.clock import Clock
from wakeful.ops.liveness import Verdict, decide, status_line

if TYPE_CHECKING:
    from wakeful.service import Service

log = logging.getLogger(__name__)

# Nothing started from here on should talk to systemd as if it were us.
VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
# STATUS= is refreshed this often even when systemd's watchdog is off.
STATUS_EVERY = 5.0
# An actor that takes longer than this to answer a snapshot request counts as silent.
ASK_TIMEOUT = 2.0
# A clean stop takes the shutdown grace plus this: up to 5 s for the poller to confirm,
# 5 s for a killed turn's report and 5 s of wind-down (service.py), ~10 s for the tree
# and the gateway to close. Asked of systemd at STOPPING=1, so a longer configured grace
# is not cut short by TimeoutStopSec.
STOP_BEYOND_GRACE = 25.0


class NotifySocket:
    """The datagram socket to systemd. Send errors are logged once, never raised: a
    service manager that went away must not take the service down with it."""

    def __init__(self, address: str) -> None:
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._complained = False

    def send(self, *assignments: str) -> bool:
        payload = "\n".join(assignments).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    # A receiver that stopped reading must not hold up a stop.
                    self._sock.settimeout(1.0)
                self._sock.sendto(payload, self.address)
            except OSError as exc:
                if not self._complained:
                    self._complained = True
                    log.warning("cannot notify systemd at %s: %s (further failures are not "
                                "logged)", self.address.replace("\0", "@"), exc.strerror or exc)
                return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class Notifier:
    def __init__(self, sink: NotifySocket | None, watchdog: float | None = None,
                 clock: Clock | None = None, status_every: float = STATUS_EVERY) -> None:
        """`watchdog`: systemd's WatchdogSec in seconds (None: off). `clock` drives the
        checks; by default the service's own, so a stuck timer thread (which would
        freeze every actor's timers too) also stops WATCHDOG=1."""
        self._sink = sink
        self.watchdog = watchdog
        self._clock = clock
        # Twice per watchdog period, as sd_watchdog_enabled(3) advises, and often enough
        # that STATUS stays current.
        self.interval = min(status_every, watchdog / 2) if watchdog else status_every
        self._service: Service | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._due: threading.Event | None = None
        self._live: bool | None = None

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] | None = None,
                         pid: int | None = None, clock: Clock | None = None) -> Notifier:
        """Take systemd's variables out of the environment (no child of ours, a brain or
        the fork server, may notify in our name) and build the notifier they describe."""
        env = os.environ if environ is None else environ
        address, usec, watchdog_pid = (env.pop(name, None) for name in VARIABLES)
        if not address:
            return cls(None)
        if address[0] not in "/@":
            log.warning("NOTIFY_SOCKET %r is not a Unix socket path; not notifying systemd",
                        address)
            return cls(None)
        watchdog = _watchdog_seconds(usec, watchdog_pid, os.getpid() if pid is None else pid)
        return cls(NotifySocket(address), watchdog, clock)

    @property
    def active(self) -> bool:
        return self._sink is not None

    # --- what cli calls (main thread) ----------------------------------------------

    def serving(self, service: Service) -> None:
        """The tree is up: READY=1, then keep judging liveness on a thread of our own."""
        if self._sink is None:
            return
        self._service = service
        if self._clock is None:
            self._clock = service.clock
        if self.watchdog and not faulthandler.is_enabled():
            # A watchdog kill is SIGABRT: let it leave every thread's stack in the journal.
            with contextlib.suppress(ValueError, OSError):  # stderr without a descriptor
                faulthandler.enable(all_threads=True)
        verdict, status = self._judge()
        self._sink.send("READY=1", *self._report(verdict, status))
        self._thread = threading.Thread(target=self._run, name="wakeful-notify", daemon=True)
        self._thread.start()
        log.info("systemd notified: ready%s", f"; watchdog every {self.watchdog:g}s"
                 if self.watchdog else "")

    def stopping(self) -> None:
        if self._sink is None:
            return
        with self._lock:
            self._stopped = True
            if self._due is not None:
                self._due.set()
        service = self._service
        notes = ["STOPPING=1"]
        if service is not None and service.gave_up.is_set():
            notes.append(f"STATUS=stopping: {service.give_up_reason or 'supervision gave up'}")
        elif service is not None:
            grace = service.config.service.shutdown_grace
            notes += [f"STATUS=stopping: running turns get {grace:g} s to finish",
                      f"EXTEND_TIMEOUT_USEC={int((grace + STOP_BEYOND_GRACE) * 1_000_000)}"]
        else:
            notes.append("STATUS=stopping")
        self._sink.send(*notes)
        if self._thread is not None:
            # A check in progress sends nothing once stopped (see _send): no need to wait.
            self._thread.join(timeout=0.1)
        self._sink.close()

    # --- the checks ------------------------------------------------------------------

    def check(self) -> Verdict:
        """Judge liveness once and tell systemd (WATCHDOG=1 only when live)."""
        verdict, status = self._judge()
        self._send(*self._report(verdict, status))
        return verdict

    def _run(self) -> None:
        """Executed on the notifier's own thread."""
        due = self._arm()
        while due is not None:
            due.wait()
            # The next one is armed before this check, so checks keep their rhythm (and
            # a test that moves a fake clock one interval gets exactly one check).
            due = self._arm()
            if due is None:
                return
            try:
                self.check()
            except Exception:
                log.exception("liveness check failed")  # a bug; the next check may do better

    def _arm(self) -> threading.Event | None:
        assert self._clock is not None
        with self._lock:
            if self._stopped:
                return None
            due = self._due = threading.Event()
        self._clock.call_later(self.interval, due.set)
        return due

    def _judge(self) -> tuple[Verdict, str]:
        assert self._service is not None
        timeout = min(ASK_TIMEOUT, max(0.5, self.interval))
        watchdog = self._ask("watchdog", timeout)
        poller = self._ask("poller", timeout)
        verdict = decide(watchdog, poller, self._service.config.telegram.poll_timeout)
        pool = self._ask("brain_pool", timeout) if verdict.live else None
        self._log_change(verdict)
        return verdict, status_line(verdict, watchdog, poller, pool)

    def _ask(self, name: str, timeout: float) -> dict[str, Any] | None:
        assert self._service is not None
        try:
            return self._service.ask(name, timeout=timeout)
        except Exception:
            # Not there (a restart pending), dead, or too slow: all mean "did not answer".
            return None

    def _report(self, verdict: Verdict, status: str) -> list[str]:
        ping = ["WATCHDOG=1"] if verdict.live and self.watchdog else []
        return [*ping, f"STATUS={status}"]

    def _send(self, *assignments: str) -> None:
        assert self._sink is not None
        with self._lock:
            if self._stopped:
                return  # STOPPING=1 was the last word; a late "serving" would contradict it
            self._sink.send(*assignments)

    def _log_change(self, verdict: Verdict) -> None:
        if verdict.live == self._live:
            return
        if not verdict.live:
            log.warning("not live: %s%s", verdict.reason,
                        "; systemd's watchdog gets no ping until this clears"
                        if self.watchdog else "")
        elif self._live is not None:
            log.info("live again")
        self._live = verdict.live


def _watchdog_seconds(usec: str | None, watchdog_pid: str | None, pid: int) -> float | None:
    """systemd's watchdog period, if it is meant for this process."""
    if not usec:
        return None
    if watchdog_pid and watchdog_pid.strip() != str(pid):
        return None  # set for another process (we were started by one that was watched)
    with contextlib.suppress(ValueError):
        seconds = int(usec) / 1_000_000
        if seconds > 0:
            return seconds
    log.warning("ignoring WATCHDOG_USEC=%r: not a positive number of microseconds", usec)
    return None
