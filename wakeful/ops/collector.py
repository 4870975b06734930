"""Every wakeful_* series, built at scrape time from one state document.

The document is `Service.state()`: each actor's snapshot, asked through its mailbox,
and the journal's summary. Nothing here reads an actor's attributes, and nothing
keeps a second count beside the actors' own: a scrape shows what `wakeful state`
shows. An actor that did not answer in time has its series left out of that scrape
(and is counted in wakeful_actors_unresponsive) rather than holding the scrape up.

Counters live in the actors that count, so they restart from zero with their actor;
Prometheus' rate() and increase() read a drop as a counter reset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

log = logging.getLogger(__name__)

Snapshot = Mapping[str, Any]

# Our call types as the Bot API methods they are: what an operator finds in Telegram's docs.
METHODS = {
    "React": "setMessageReaction",
    "SendText": "sendMessage",
    "EditText": "editMessageText",
    "SendDraft": "sendMessageDraft",
    "Typing": "sendChatAction",
}
CHAT_PREFIX = "chat:"


class StateCollector:
    """A prometheus_client collector over `state()`, which returns Service.state()'s document."""

    def __init__(self, state: Callable[[], Snapshot]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        """Executed on the metrics server's request thread, once per scrape."""
        try:
            document = self._state()
        except Exception as exc:  # the process's own series (process_*) still go out
            log.warning("metrics: cannot read the service's state: %s", exc)
            return
        yield from families(document)


def families(document: Snapshot) -> Iterator[Metric]:
    actors: Mapping[str, Any] = document.get("actors") or {}
    live = {name: s for name, s in actors.items() if isinstance(s, Mapping)
            and "unresponsive" not in s and "snapshot_failed" not in s}
    yield _gauge("wakeful_actors_unresponsive",
                 "Actors that did not answer this scrape in time (their series are left out).",
                 len(actors) - len(live))
    yield _mailboxes(actors)
    for part in (_poller(live.get("poller")), _brain(live.get("brain_pool")),
                 _outbound(live.get("outbound")),
                 _telegram(live.get("outbound"), live.get("poller")), _chats(live),
                 _supervision(live.get("root"), live.get("chats"), live.get("watchdog")),
                 _journal(document.get("journal"))):
        try:
            built = list(part)
        except (KeyError, TypeError) as exc:
            # A snapshot of another shape (a bug, or a version skew): one part missing
            # beats a scrape that fails as a whole.
            log.warning("metrics: a snapshot lacks what a series needs (%r); left out", exc)
            continue
        yield from built


def _mailboxes(actors: Mapping[str, Any]) -> Metric:
    """Read from outside the actor, so a wedged one shows its backlog too."""
    depths = GaugeMetricFamily("wakeful_actor_mailbox_messages",
                               "Messages waiting in actors' mailboxes (all chats as one).",
                               labels=["actor"])
    chats = 0
    for name, snapshot in sorted(actors.items()):
        depth = snapshot.get("mailbox") if isinstance(snapshot, Mapping) else None
        if not isinstance(depth, int):
            continue
        if name.startswith(CHAT_PREFIX):
            chats += depth
        else:
            depths.add_metric([name], depth)
    depths.add_metric(["chat"], chats)
    return depths


def _poller(poller: Snapshot | None) -> Iterator[Metric]:
    if poller is None:
        return
    yield _counter("wakeful_messages_received", "Messages admitted (from allowed users).",
                   poller["admitted"])
    yield _counter("wakeful_messages_refused", "Messages refused: strangers, not admitted.",
                   poller["refused"])
    yield _counter("wakeful_messages_flooded", "Messages refused by the per-user flood limit.",
                   poller.get("flooded", 0))


def _brain(pool: Snapshot | None) -> Iterator[Metric]:
    if pool is None:
        return
    yield _counter("wakeful_messages_failed", "Turns that failed for good; the user was told so.",
                   pool["turns_failed"])
    yield _gauge("wakeful_brain_slots_busy", "Brain processes running now.", len(pool["running"]))
    yield _gauge("wakeful_brain_slots_cap", "Brain processes allowed at once ([brain] "
                 "max_concurrent).", pool["cap"])
    yield _gauge("wakeful_brain_waiting_turns", "Turns waiting for a free brain slot.",
                 len(pool["waiting"]))
    yield _gauge("wakeful_brain_backing_off_turns", "Turns waiting to retry after a failure.",
                 len(pool["backing_off"]))
    turns = HistogramMetricFamily(
        "wakeful_turn_duration_seconds",
        "From a turn's first start in the brain pool to its end, retries included.",
        labels=["outcome"])
    for outcome, view in pool["histograms"]["turn_seconds"].items():
        turns.add_metric([outcome], _buckets(view), view["sum"])
    yield turns


def _outbound(outbound: Snapshot | None) -> Iterator[Metric]:
    if outbound is None:
        return
    yield _counter("wakeful_messages_answered",
                   "Answers Telegram took in full (wakeful's own replies included).",
                   outbound["answered"])
    view = outbound["histograms"]["ack_seconds"]
    yield HistogramMetricFamily(
        "wakeful_ack_latency_seconds",
        "From a message's arrival at the poller to Telegram taking its 👀 reaction.",
        buckets=_buckets(view), sum_value=view["sum"])
    waiting = GaugeMetricFamily("wakeful_outbound_waiting_calls",
                                "Calls waiting to go to Telegram, by priority lane.",
                                labels=["lane"])
    for lane, count in sorted(outbound["waiting"].items()):
        waiting.add_metric([lane], count)
    yield waiting
    yield _gauge("wakeful_outbound_in_flight_calls", "Calls sent to Telegram, not yet answered.",
                 outbound["in_flight"])


def _telegram(outbound: Snapshot | None, poller: Snapshot | None) -> Iterator[Metric]:
    if outbound is None and poller is None:
        return
    calls = CounterMetricFamily("wakeful_telegram_calls",
                                "Bot API calls made, whatever their outcome.", labels=["method"])
    errors = CounterMetricFamily("wakeful_telegram_errors",
                                 "Bot API calls that failed, by how they failed.",
                                 labels=["method", "kind"])
    limited = 0
    if outbound is not None:
        for call, count in sorted(outbound["calls"].items()):
            calls.add_metric([METHODS.get(call, call)], count)
        for call, kinds in sorted(outbound["failed_by_call"].items()):
            for kind, count in sorted(kinds.items()):
                errors.add_metric([METHODS.get(call, call), kind], count)
        limited += outbound["throttled_429"]
    if poller is not None:
        failures: Mapping[str, int] = poller["poll_failures"]
        calls.add_metric(["getUpdates"], poller["polls"] + sum(failures.values()))
        for kind, count in sorted(failures.items()):
            errors.add_metric(["getUpdates", kind], count)
        limited += failures.get("retry_later", 0)
    yield calls
    yield errors
    yield _counter("wakeful_telegram_rate_limited",
                   "Calls Telegram answered 429 Too Many Requests (retried after its wait).",
                   limited)


def _chats(live: Mapping[str, Snapshot]) -> Iterator[Metric]:
    # One series for all chats: a label per chat id would grow without bound.
    chats = [s for name, s in live.items() if name.startswith(CHAT_PREFIX)]
    yield _gauge("wakeful_chats_active", "Chats with an actor now (work, or recently active).",
                 len(chats))
    yield _gauge("wakeful_chat_queued_messages",
                 "Messages waiting in their chat for that chat's turn in progress to end.",
                 sum(s["queued"] for s in chats))


def _supervision(root: Snapshot | None, chats: Snapshot | None,
                 watchdog: Snapshot | None) -> Iterator[Metric]:
    if root is not None or chats is not None:
        restarts = CounterMetricFamily("wakeful_actor_restarts",
                                       "Restarts by the supervisor, by child (all chats as one).",
                                       labels=["child"])
        for child in (root or {}).get("children", []):
            restarts.add_metric([child["id"]], child["restarts"])
        if chats is not None:
            restarts.add_metric(["chat"], chats["restarts_total"])
        yield restarts
    if watchdog is not None:
        yield _counter("wakeful_watchdog_stale_detections",
                       "Actors the watchdog found silent and reported for replacement.",
                       watchdog["stale_reported"])
        yield _gauge("wakeful_watchdog_saturated",
                     "1 while so many actors are overdue at once on a busy process that the "
                     "watchdog replaces none of them (saturation, not wedges).",
                     int(watchdog["saturated"]))
        yield _counter("wakeful_watchdog_saturation_holds",
                       "Watchdog ticks on which overdue actors were held as saturated.",
                       watchdog["saturation_holds"])


def _journal(journal: Snapshot | None) -> Iterator[Metric]:
    if not journal or "bytes" not in journal:
        return  # the journal failed: the service is giving up
    yield _gauge("wakeful_journal_size_bytes", "The journal's size on disk (database and WAL).",
                 journal["bytes"])
    messages = GaugeMetricFamily("wakeful_journal_messages",
                                 "Messages the journal holds, by state.", labels=["state"])
    for state, count in sorted(journal.get("messages", {}).items()):
        messages.add_metric([str(state)], count)
    yield messages


def _buckets(view: Snapshot) -> list[tuple[str, float]]:
    """wakeful.histogram's view as Prometheus buckets, +Inf last."""
    pairs: Iterable[tuple[float, int]] = zip(view["le"], view["buckets"], strict=True)
    return [*((floatToGoString(le), count) for le, count in pairs), ("+Inf", view["count"])]


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
