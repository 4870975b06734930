"""BrainPool: the one place that decides brain concurrency, retries and fallbacks.

A turn runs as one or more attempts, each in its own child process, started by the
turn runner (wakeful/brain/runner.py: on this machine, or on a Ray cluster's nodes;
the pool only talks to the protocol). This actor admits attempts under the cap, in FIFO order
and at most one turn per chat; tells waiting chats their place in line; decides from
each attempt's outcome whether to answer, retry later (tenacity's strategies, timed by
`tell_later`, never by sleeping) or fall back to a fresh session.

One owner per turn: before an attempt runs, the pool claims its message in the
journal under its own generation, and it stores the answer there before telling the
chat. A replacement pool first takes back what older owners held and kills their
brains; a fenced pool's late result is discarded. The same message never runs in two
brains at once, even when a replaced chat actor asks for it again.

Stopping: on `DrainRequested` nothing new starts; running turns may finish within the
grace, then the rest are killed and their messages given back to the journal to run
after the restart, never reported to the user as failures.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wakeful.actors.names import chat_address
from wakeful.actors.turns import Turn, answer_for
from wakeful.brain import command, session_protocol
from wakeful.brain.child import (
    ApprovalDecision,
    ChildReport,
    FollowUp,
    FollowUpDropped,
    Spawned,
    TurnSpec,
)
from wakeful.brain.events import (
    ApiRetry,
    ApprovalNeeded,
    BrainEvent,
    MessageTaken,
    SessionStarted,
    TextDelta,
    ToolUse,
)
from wakeful.brain.leftovers import kill_leftover_group
from wakeful.brain.outcome import Failure, Outcome, summarize
from wakeful.brain.retry_policy import RetryPolicy
from wakeful.brain.runner import RunnerUnavailable, TurnHandle, TurnRunner
from wakeful.brain.runners import make_runner
from wakeful.config import BrainConfig
from wakeful.histogram import TURN_SECONDS, LabelledHistograms
from wakeful.log_context import current_chat, working_for
from wakeful.messages import (
    ApprovalAnswered,
    ApprovalRequested,
    BrainOutput,
    BrainProcessEnded,
    DrainDeadlinePassed,
    DrainRequested,
    FollowUpRefused,
    FollowUpTaken,
    PositionsDue,
    RunnerChanged,
    TurnAbandoned,
    TurnCancelRequested,
    TurnDeadlinePassed,
    TurnFinished,
    TurnFollowUp,
    TurnProgressed,
    TurnQueued,
    TurnRequested,
    TurnRetryDue,
    TurnRetryScheduled,
    TurnStarted,
)
from wakeful.state.journal import Journal
from wakeful.supervision.context import ChildContext
from wakeful.supervision.latch import Latch
from wakeful.supervision.supervised import SupervisedActor, tell_quietly

log = logging.getLogger(__name__)

RECENT_ATTEMPTS = 200
# A long line moves on every admission; telling every waiter every move would cost one
# Telegram edit per waiter per admission (and a pass over the line), so waiters hear
# their new place in rounds, this far apart (a minute: in a storm most waits end sooner,
# and each new place is a counted Telegram edit per waiter).
POSITION_EVERY = 60.0


def worth_telling(told: int | None, position: int) -> bool:
    """A new place is a counted Telegram edit per waiter: say it when it means something
    (the wait is at least halved, or the turn is close to the front), not at every step."""
    if told is None:
        return True
    return position < told and (position <= told // 2 or position <= 3)


@dataclass
class _Attempt:
    turn: Turn
    process: TurnHandle
    started_at: float
    events: list[BrainEvent] = field(default_factory=list)
    report: ChildReport | None = None
    brain_pid: int | None = None
    last_event: tuple[str, float] | None = None  # (kind, monotonic), for state dumps
    # Follow-ups handed to the child and not yet taken or dropped, by message uuid.
    follow_ups: dict[str, TurnFollowUp] = field(default_factory=dict)
    # Tool questions the chat has not answered yet, by request id: a replaced chat
    # actor asks for its turn again and must be asked them again (the brain waits).
    questions: dict[str, ApprovalNeeded] = field(default_factory=dict)


class BrainPool(SupervisedActor):
    def __init__(self, ctx: ChildContext, config: BrainConfig, journal: Journal,
                 brain_for: Callable[[int], BrainConfig] | None = None) -> None:
        super().__init__(ctx)
        self.config = config
        # A chat's own [chats.overrides] (model, tools, permission mode, workdir).
        self._brain_for = brain_for or (lambda _chat_id: config)
        self._journal = journal
        self._limits = config.limits()
        self._runner: TurnRunner | None = None  # made in started(): it may start threads
        self._policy = RetryPolicy(config.max_attempts, config.retry_budget,
                                   config.retry_initial_delay, config.retry_max_delay)
        self._waiting: deque[Turn] = deque()
        self._running: dict[str, _Attempt] = {}
        self._backing_off: dict[str, Turn] = {}
        self._turns: dict[int, Turn] = {}  # by update_id: every turn this pool holds
        self._seq = itertools.count(1)
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_ATTEMPTS)
        self._draining: Latch | None = None
        self._positions_due = False  # a PositionsDue timer is pending
        self.peak_running = 0
        self.turns_started = 0
        self.attempts_started = 0
        self.turns_failed = 0
        self.leftovers_killed = 0
        self.turn_seconds = LabelledHistograms(TURN_SECONDS, ("ok", "failed", "cancelled"))

    # --- lifecycle -------------------------------------------------------------------

    def started(self) -> None:
        # Whatever an older owner (a replaced pool, or the last run of the service) still
        # holds comes back to the journal, and its brain dies first: one owner per turn.
        for leftover in self._journal.reclaim_turns(self.ctx.generation):
            killed = kill_leftover_group(leftover.pid, leftover.start_time)
            if killed:
                self.leftovers_killed += killed
                log.warning("killed %d processes of a brain left running by an earlier "
                            "owner (pid %d)", killed, leftover.pid)
        pool = self.actor_ref
        self._runner = make_runner(self.config, lambda: tell_quietly(pool, RunnerChanged()))
        self._runner.warm_up()

    @property
    def runner(self) -> TurnRunner:
        assert self._runner is not None, "the runner is made when the pool starts"
        return self._runner

    def stopping(self) -> None:
        for attempt in self._running.values():
            attempt.process.kill()
        if self._runner is not None:
            self._runner.close()

    def snapshot(self) -> dict[str, Any]:
        now = self.ctx.clock.monotonic()
        status = self.runner.status()
        return {
            "cap": self.config.max_concurrent,
            "runner": status.kind,
            "runner_state": status.state,
            "nodes": list(status.nodes),
            "warm": list(status.warm),
            **status.counters,
            "running": [
                {"turn": a.turn.turn_id, "attempt_id": key, "chat": a.turn.chat_id,
                 "update_id": a.turn.update_id, "attempt": a.turn.attempts,
                 "node": a.process.node,
                 "pid": a.brain_pid, "seconds": round(now - a.started_at, 1),
                 "session_id": _session(a),
                 "last_event": a.last_event[0] if a.last_event else None,
                 "last_event_age": round(now - a.last_event[1], 1) if a.last_event else None}
                for key, a in self._running.items()
            ],
            "busy": len(self._running),
            "waiting": [t.chat_id for t in self._waiting],
            "backing_off": [t.chat_id for t in self._backing_off.values()],
            "draining": self._draining is not None,
            "peak_running": self.peak_running,
            "turns_started": self.turns_started,
            "attempts_started": self.attempts_started,
            "turns_failed": self.turns_failed,
            "leftovers_killed": self.leftovers_killed,
            "histograms": {"turn_seconds": self.turn_seconds.view()},
            "recent": list(self._recent),
        }

    # --- messages --------------------------------------------------------------------

    def chat_of(self, message: Any) -> int | None:
        # A running attempt's news names the attempt, a retry its turn: their chat's.
        match message:
            case BrainOutput(turn_id=key) | BrainProcessEnded(turn_id=key) | \
                    TurnDeadlinePassed(turn_id=key):
                attempt = self._running.get(key)
                return None if attempt is None else attempt.turn.chat_id
            case TurnRetryDue(turn_id=turn_id):
                turn = self._backing_off.get(turn_id)
                return None if turn is None else turn.chat_id
        return super().chat_of(message)

    def handle(self, message: Any) -> Any:
        match message:
            case TurnRequested():
                self._on_requested(message)
            case BrainOutput():
                self._on_output(message)
            case BrainProcessEnded():
                self._on_ended(message)
            case TurnRetryDue(turn_id=turn_id):
                self._on_retry_due(turn_id)
            case TurnDeadlinePassed(turn_id=attempt_id):
                self._on_deadline(attempt_id)
            case TurnCancelRequested():
                self._on_cancel(message)
            case TurnFollowUp():
                self._on_follow_up(message)
            case ApprovalAnswered():
                self._on_approval_answered(message)
            case DrainRequested():
                self._on_drain(message)
            case DrainDeadlinePassed():
                self._on_drain_deadline()
            case PositionsDue():
                self._tell_positions()
            case RunnerChanged():
                self._admit()
            case _:
                return super().handle(message)
        return None

    def _on_requested(self, request: TurnRequested) -> None:
        held = self._turns.get(request.update_id)
        if held is not None:
            # A replaced chat actor asks again for a message we already hold: keep the one
            # turn, answer the new asker (chats are addressed by name, not by instance).
            held.request = request
            running = next((a for a in self._running.values() if a.turn is held), None)
            if running is not None:
                self._tell_chat(held, TurnStarted(held.chat_id, held.turn_id, held.attempts))
                for question in running.questions.values():
                    self._ask_chat(running, question)
            elif held in self._waiting:
                self._tell_position(held, self._waiting.index(held) + 1)
            return
        turn = Turn(request, request.session_id)
        self._turns[request.update_id] = turn
        if self._draining is not None:
            self._abandon(turn)
            return
        self._waiting.append(turn)
        self._admit()
        if self._waiting and self._waiting[-1] is turn:
            self._tell_position(turn, len(self._waiting))

    # --- admission -------------------------------------------------------------------

    def _admit(self) -> None:
        """Start what the free slots allow, oldest first: work in proportion to the slots,
        not to the length of the line (thousands of chats may be waiting)."""
        if self._draining is not None:
            return
        busy_chats = {a.turn.chat_id for a in self._running.values()}
        free = min(self.config.max_concurrent - len(self._running), self.runner.capacity())
        started = False
        asked_for = current_chat()
        while free > 0:
            # One turn per chat (it keeps its place), and only where the runner has room:
            # a chat pinned to a full node waits while others go past it.
            turn = next((t for t in self._waiting if t.chat_id not in busy_chats
                         and self.runner.accepts(t.chat_id)), None)
            if turn is None:
                break
            busy_chats.add(turn.chat_id)
            self._waiting.remove(turn)  # near the head: cheap
            free -= 1
            working_for(turn.chat_id)  # whichever message let it in, starting it is its chat's
            if self._claim(turn) and not self._start_attempt(turn):
                break  # the runner turned it away (back at the head): it says when to retry
            started = True
        working_for(asked_for)
        if started and self._waiting and not self._positions_due:
            # Everyone behind moved up; they hear it on the next round, not each time.
            self._positions_due = True
            self.tell_later(POSITION_EVERY, PositionsDue())

    def _claim(self, turn: Turn) -> bool:
        claim = self._journal.begin_turn(turn.update_id, self.ctx.generation)
        if claim.granted:
            return True
        self._turns.pop(turn.update_id, None)
        if claim.answer is not None:
            # Answered while its chat was being replaced: hand over the stored answer.
            self._tell_chat(turn, TurnFinished(turn.chat_id, turn.turn_id, turn.update_id,
                                               claim.answer))
        else:
            log.warning("turn %s: message %d is not ours to run; dropped", turn.turn_id,
                        turn.update_id)
        return False

    def _tell_positions(self) -> None:
        """One pass over the line: each waiter whose place changed hears its new place."""
        self._positions_due = False
        for position, turn in enumerate(self._waiting, start=1):
            if worth_telling(turn.told_position, position):
                self._tell_position(turn, position)
        if self._waiting and self._running:
            self._positions_due = True
            self.tell_later(POSITION_EVERY, PositionsDue())

    def _tell_position(self, turn: Turn, position: int) -> None:
        turn.told_position = position
        self._tell_chat(turn, TurnQueued(turn.chat_id, turn.turn_id, position))

    def _start_attempt(self, turn: Turn) -> bool:
        """False if the runner could not take it now; the turn is back at the head."""
        attempt_id = f"t{next(self._seq)}"
        now = self.ctx.clock.monotonic()
        settings = self._brain_for(turn.chat_id)
        spec = TurnSpec(
            turn_id=attempt_id,
            argv=command.argv(settings, turn.session_id),
            prompt=turn.prompt,
            env=command.environment(settings, os.environ),
            cwd=command.workdir(settings, turn.chat_id),
            limits=self._limits,
            kill_grace=self.config.kill_grace,
            keep_warm=self.config.keep_warm,
        )
        pool = self.actor_ref
        try:
            brain = self.runner.start(
                spec, turn.chat_id,
                on_item=lambda item: tell_quietly(pool, BrainOutput(attempt_id, item)),
                on_exit=lambda code: tell_quietly(pool, BrainProcessEnded(attempt_id, code)),
            )
        except RunnerUnavailable as exc:
            # Its slot went away between `accepts` and `start` (a node left): first in line.
            log.info("turn %s waits: %s", turn.turn_id, exc)
            self._waiting.appendleft(turn)
            if worth_telling(turn.told_position, 1):
                self._tell_position(turn, 1)
            return False
        except Exception as exc:  # a turn that cannot start fails alone, not the pool
            log.error("cannot start a brain process: %s", exc)
            turn.attempts += 1
            self.attempts_started += 1
            if turn.first_started_at is None:
                turn.first_started_at = now
                self.turns_started += 1
            # Retried, not answered: e.g. under systemd's KillMode=control-group the stop
            # signal reaches the fork server before we hear of the stop, and the drain
            # then gives the turn back for after the restart.
            self._decide(turn, Outcome(False, "", Failure.NOT_STARTED,
                                       f"cannot start a brain process: {exc}"), now)
            return True
        self._running[attempt_id] = _Attempt(turn, brain, now)
        turn.attempts += 1
        turn.told_position = None
        if turn.first_started_at is None:
            turn.first_started_at = now
            self.turns_started += 1
        self.attempts_started += 1
        self.peak_running = max(self.peak_running, len(self._running))
        # Backstop in case the child itself wedges: it enforces the budget, we enforce it on it.
        self.tell_later(self.config.turn_budget + 2 * self.config.kill_grace + 5.0,
                        TurnDeadlinePassed(attempt_id))
        self._tell_chat(turn, TurnStarted(turn.chat_id, turn.turn_id, turn.attempts))
        return True

    # --- what a running attempt reports ----------------------------------------------

    def _on_output(self, output: BrainOutput) -> None:
        attempt = self._running.get(output.turn_id)
        if attempt is None:
            return
        item = output.item
        if isinstance(item, ChildReport):
            attempt.report = item
        elif isinstance(item, MessageTaken | FollowUpDropped):
            self._follow_up_settled(attempt, item)
        elif isinstance(item, Spawned):
            attempt.brain_pid = item.pid
            # Recorded so that whoever comes after us (a replacement pool, the next run)
            # can kill this brain if we cannot; a pid on another node means nothing here.
            if attempt.process.local:
                self._journal.brain_started(attempt.turn.update_id, self.ctx.generation,
                                            item.pid, item.start_time)
        else:
            attempt.last_event = (_kind(item), self.ctx.clock.monotonic())
            if not isinstance(item, TextDelta):  # the full text comes again, assembled
                attempt.events.append(item)
            if isinstance(item, ApiRetry):
                attempt.turn.api_retries += 1
            if isinstance(item, ApiRetry | ToolUse | TextDelta):
                self._tell_chat(attempt.turn, TurnProgressed(
                    attempt.turn.chat_id, attempt.turn.turn_id, item))
            elif isinstance(item, ApprovalNeeded):
                attempt.questions[item.request_id] = item
                self._ask_chat(attempt, item)

    def _ask_chat(self, attempt: _Attempt, question: ApprovalNeeded) -> None:
        self._tell_chat(attempt.turn, ApprovalRequested(
            attempt.turn.chat_id, attempt.turn.turn_id, question.request_id,
            question.tool_name, question.tool_input))

    def _on_ended(self, ended: BrainProcessEnded) -> None:
        attempt = self._running.pop(ended.turn_id, None)
        if attempt is None:
            return
        for follow_up in attempt.follow_ups.values():
            # Never taken: the chat queues it as an ordinary next message.
            self._tell_chat(attempt.turn, FollowUpRefused(
                follow_up.chat_id, follow_up.turn_id, follow_up.update_id))
        attempt.follow_ups.clear()
        now = self.ctx.clock.monotonic()
        outcome = summarize(attempt.events, attempt.report, ended.exitcode, self._limits)
        self._record(ended.turn_id, attempt, outcome, now)
        if self._draining is not None and not outcome.ok and not attempt.turn.cancelled:
            # Most likely ended by the same stop signal that is stopping us: not a
            # failure to report, a turn to run again after the restart.
            self._abandon(attempt.turn)
        else:
            self._decide(attempt.turn, outcome, now)
        self._admit()
        self._maybe_drained()

    def _decide(self, turn: Turn, outcome: Outcome, now: float) -> None:
        """Answer, retry later, or try once more without the session."""
        if turn.cancelled and not outcome.ok:
            self._finish(turn, outcome, now)
            return
        if (outcome.failure is Failure.SESSION_MISSING and turn.session_id is not None
                and not turn.context_lost):
            log.warning("chat %s: session %s is gone; starting a fresh one", turn.chat_id,
                        turn.session_id)
            turn.session_id = None
            turn.context_lost = True
            self._waiting.appendleft(turn)
            return
        assert turn.first_started_at is not None
        delay = self._policy.delay(outcome, turn.retries + 1, now - turn.first_started_at)
        if delay is None:
            self._finish(turn, outcome, now)
            return
        turn.retries += 1
        log.info("chat %s: attempt %d failed (%s); retrying in %.1fs", turn.chat_id,
                 turn.attempts, outcome.reason, delay)
        self._backing_off[turn.turn_id] = turn
        self.tell_later(delay, TurnRetryDue(turn.turn_id))
        self._tell_chat(turn, TurnRetryScheduled(
            turn.chat_id, turn.turn_id, turn.retries + 1, self._policy.max_attempts, delay,
            outcome.reason))

    def _on_retry_due(self, turn_id: str) -> None:
        turn = self._backing_off.pop(turn_id, None)
        if turn is None:
            return  # cancelled meanwhile
        # It already waited its turn once; the backoff should not cost it its place.
        self._waiting.appendleft(turn)
        self._admit()

    def _on_deadline(self, attempt_id: str) -> None:
        attempt = self._running.get(attempt_id)
        if attempt is not None:
            log.error("attempt %s: worker did not end after its budget; killing it", attempt_id)
            attempt.process.kill()

    def _on_cancel(self, cancel: TurnCancelRequested) -> None:
        for attempt_id, attempt in self._running.items():
            if attempt.turn.turn_id == cancel.turn_id:
                attempt.turn.cancelled = True
                attempt.process.cancel()
                # If the child cannot act on it, the deadline kills it from here.
                self.tell_later(2 * self.config.kill_grace + 2.0, TurnDeadlinePassed(attempt_id))
                return
        now = self.ctx.clock.monotonic()
        turn = self._backing_off.pop(cancel.turn_id, None)
        if turn is None:
            turn = next((t for t in self._waiting if t.turn_id == cancel.turn_id), None)
            if turn is None:
                return
            self._waiting.remove(turn)
            # Never claimed: claim it now, so the answer below can be stored as ours.
            if not self._claim(turn):
                return
        turn.cancelled = True
        self._finish(turn, Outcome(False, "", Failure.CANCELLED, "cancelled"), now)

    # --- follow-ups ------------------------------------------------------------------

    def _on_follow_up(self, follow_up: TurnFollowUp) -> None:
        """Into the running brain's session if there is one; else the chat queues it."""
        attempt = next((a for a in self._running.values()
                        if a.turn.turn_id == follow_up.turn_id
                        and a.turn.chat_id == follow_up.chat_id), None)
        if attempt is not None:
            turn = attempt.turn
            if follow_up.update_id in turn.also:
                # Asked again (a replaced chat actor): it is already in.
                self._tell_chat(turn, FollowUpTaken(follow_up.chat_id, follow_up.turn_id,
                                                    follow_up.update_id))
                return
            if any(f.update_id == follow_up.update_id for f in attempt.follow_ups.values()):
                return  # on its way; the child answers for it
        if (attempt is None or attempt.report is not None or attempt.turn.cancelled
                or self._draining is not None):
            self._tell_chat_id(follow_up.chat_id, FollowUpRefused(
                follow_up.chat_id, follow_up.turn_id, follow_up.update_id))
            return
        message_uuid = session_protocol.new_uuid()
        attempt.follow_ups[message_uuid] = follow_up
        if not attempt.process.send(FollowUp(message_uuid, follow_up.text,
                                             follow_up.interrupt)):
            del attempt.follow_ups[message_uuid]
            self._tell_chat_id(follow_up.chat_id, FollowUpRefused(
                follow_up.chat_id, follow_up.turn_id, follow_up.update_id))

    def _on_approval_answered(self, answer: ApprovalAnswered) -> None:
        """The chat's answer to a tool question, to the attempt that asked; an attempt
        that is over (or another's request id) makes it moot."""
        attempt = next((a for a in self._running.values()
                        if a.turn.turn_id == answer.turn_id
                        and a.turn.chat_id == answer.chat_id), None)
        if attempt is not None and attempt.report is None \
                and attempt.questions.pop(answer.request_id, None) is not None:
            attempt.process.send(ApprovalDecision(answer.request_id, answer.allow,
                                                  answer.message))

    def _follow_up_settled(self, attempt: _Attempt,
                           item: MessageTaken | FollowUpDropped) -> None:
        follow_up = attempt.follow_ups.pop(item.uuid, None)
        if follow_up is None:
            return  # the turn's own prompt (taken at the start), or not ours
        turn = attempt.turn
        if isinstance(item, FollowUpDropped):
            self._tell_chat(turn, FollowUpRefused(turn.chat_id, turn.turn_id,
                                                  follow_up.update_id))
            return
        # From now on a retry carries its text, and the answer answers it too.
        turn.taken.append((follow_up.update_id, follow_up.text))
        self._tell_chat(turn, FollowUpTaken(turn.chat_id, turn.turn_id, follow_up.update_id))

    # --- stopping --------------------------------------------------------------------

    def _on_drain(self, drain: DrainRequested) -> None:
        self._draining = drain.latch
        drain.latch.expect(self.ctx.child_id)
        drain.latch.close()
        for turn in [*self._waiting, *self._backing_off.values()]:
            self._abandon(turn)
        self._waiting.clear()
        self._backing_off.clear()
        if self._running:
            log.info("stopping: waiting up to %.0fs for %d running turns", drain.grace,
                     len(self._running))
            self.tell_later(drain.grace, DrainDeadlinePassed())
        self._maybe_drained()

    def _on_drain_deadline(self) -> None:
        if self._running:
            log.warning("stopping: %d turns did not finish within the grace; they run "
                        "again after the restart", len(self._running))
        for attempt in list(self._running.values()):
            attempt.process.kill()
            self._abandon(attempt.turn)
        self._running.clear()
        self._maybe_drained()

    def _abandon(self, turn: Turn) -> None:
        """Give the message back to the journal unanswered: it runs after the restart."""
        self._turns.pop(turn.update_id, None)
        self._journal.release_turn(turn.update_id, self.ctx.generation)
        self._tell_chat(turn, TurnAbandoned(turn.chat_id, turn.turn_id))

    def _maybe_drained(self) -> None:
        if self._draining is not None and not self._running:
            self._draining.done(self.ctx.child_id)

    # --- the end of a turn -----------------------------------------------------------

    def _finish(self, turn: Turn, outcome: Outcome, now: float) -> None:
        self._turns.pop(turn.update_id, None)
        answer = answer_for(turn, outcome)
        if not outcome.ok and not turn.cancelled:
            self.turns_failed += 1
            log.warning("turn %s failed after %d attempt(s): %s", turn.turn_id, turn.attempts,
                        outcome.error)
        # Stored before anyone is told: from here the answer survives any crash.
        stored = self._journal.finish_turn(
            turn.update_id, self.ctx.generation, answer,
            session_id=None if answer.session_reset else outcome.session_id,
            cost_usd=turn.cost_usd or outcome.cost_usd, also=turn.also)
        if not stored:
            log.warning("turn %s: message %d has another owner now; result discarded",
                        turn.turn_id, turn.update_id)
            return
        wall = now - turn.first_started_at if turn.first_started_at is not None else 0.0
        if turn.first_started_at is not None:  # else cancelled while it waited: never ran
            outcome_label = "ok" if outcome.ok else "cancelled" if turn.cancelled else "failed"
            self.turn_seconds.observe(outcome_label, wall)
        self._tell_chat(turn, TurnFinished(
            turn.chat_id, turn.turn_id, turn.update_id, answer,
            cost_usd=turn.cost_usd or outcome.cost_usd, duration_s=round(wall, 3),
            attempts=turn.attempts, api_retries=turn.api_retries, also=turn.also,
        ))

    def _record(self, attempt_id: str, attempt: _Attempt, outcome: Outcome, now: float) -> None:
        turn = attempt.turn
        if outcome.cost_usd:
            turn.cost_usd += outcome.cost_usd
        report = attempt.report
        if outcome.garbage_lines:
            log.warning("attempt %s: %d unreadable stdout lines, last: %r", attempt_id,
                        outcome.garbage_lines, report.last_garbage if report else None)
        if report is not None and report.strays_killed:
            log.warning("attempt %s: killed %d processes that had left the brain's group",
                        attempt_id, report.strays_killed)
        self._recent.append({
            "attempt_id": attempt_id, "turn": turn.turn_id, "chat": turn.chat_id,
            "attempt": turn.attempts, "pgid": attempt.brain_pid, "node": attempt.process.node,
            "reason": report.reason if report else "worker_died",
            "exit_code": report.exit_code if report else None,
            "kept_warm": bool(report and report.warm),
            "failure": outcome.failure.value if outcome.failure else None,
            "seconds": round(now - attempt.started_at, 3),
            "garbage_lines": outcome.garbage_lines,
        })

    def _tell_chat(self, turn: Turn, message: Any) -> None:
        self._tell_chat_id(turn.chat_id, message)

    def _tell_chat_id(self, chat_id: int, message: Any) -> None:
        if not self.fenced:
            self.ctx.directory.tell(chat_address(chat_id), message)


def _kind(event: Any) -> str:
    """"ToolUse" -> "tool_use": how a state dump names what a brain said last."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in type(event).__name__)[1:]


def _session(attempt: _Attempt) -> str | None:
    """The session this attempt runs in: the one it announced, else the one it resumes."""
    for event in reversed(attempt.events):
        if isinstance(event, SessionStarted):
            return event.session_id
    return attempt.turn.session_id
