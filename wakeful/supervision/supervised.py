"""The base of every actor in the tree: it answers pings, reports its own death, obeys its fence.

pykka alone loses failures: an exception in a told message stops the actor with
only a log line, an exception in `on_start` skips `on_failure`, and a BaseException
stops every actor in the process. This base turns each of those into a message to
the supervisor, so no failure is only logged.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import pykka

from wakeful.log_context import working_for
from wakeful.messages import ChildExited, ChildFailed, HeartbeatBeat, PingSent, StateRequested
from wakeful.supervision.context import ChildContext

log = logging.getLogger(__name__)


class ActorCrashed(Exception):
    """A BaseException escaped a hook; re-raised as an Exception so only this actor dies."""


def tell_quietly(ref: pykka.ActorRef[Any], message: Any) -> None:
    """For callbacks on other threads: an actor that died meanwhile needs no answer."""
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)


class SupervisedActor(pykka.ThreadingActor):
    # A wedged actor's thread can only be abandoned; as a daemon it cannot also keep
    # the process from exiting when the tree gives up. Shutdown is the tree's job.
    use_daemon_thread = True

    def __init__(self, ctx: ChildContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._reported = False
        # A message handled is as good a sign of life as a ping answered (see _progressed).
        interval = ctx.heartbeat_interval
        self._beat_every = interval / 2 if interval and ctx.child_id != ctx.watchdog else None
        self._last_beat = ctx.clock.monotonic()

    # --- hooks for subclasses (all executed in the actor's own thread) ------------

    def started(self) -> None:
        """Set up after the thread starts; raising here is a start failure."""

    def stopping(self) -> None:
        """Release resources; runs on a normal stop, after a failure and after a failed start."""

    def handle(self, message: Any) -> Any:
        """Handle one message; unknown messages are a bug worth crashing for."""
        raise TypeError(f"{type(self).__name__} cannot handle {type(message).__name__}")

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view of this actor for state dumps."""
        return {}

    def chat_of(self, message: Any) -> int | None:
        """The chat `message` concerns, named by every log line its handling emits
        (wakeful/logs.py); `message` is None while starting and stopping."""
        return getattr(message, "chat_id", None)

    # --- plumbing ------------------------------------------------------------------

    @property
    def fenced(self) -> bool:
        """True once this instance was retired (a newer one owns the name): stay silent.

        A wedged actor that unwedges is still inside a handler; subclasses check this
        before each external effect, not only when a message arrives.
        """
        return not self.ctx.directory.is_current(self.ctx.child_id, self.ctx.generation)

    def tell_later(self, delay: float, message: Any) -> None:
        """Send myself `message` after `delay` clock seconds, unless I was replaced by then."""
        me, directory = self.actor_ref, self.ctx.directory
        name, generation = self.ctx.child_id, self.ctx.generation

        def due() -> None:
            """Executed on the clock's thread."""
            if directory.is_current(name, generation):
                tell_quietly(me, message)

        self.ctx.clock.call_later(delay, due)

    def beat(self, seq: int | None = None) -> None:
        self._last_beat = self.ctx.clock.monotonic()
        if not self.fenced:
            self.ctx.directory.tell(
                self.ctx.watchdog,
                HeartbeatBeat(self.ctx.child_id, self.ctx.generation, self.ctx.clock.monotonic(),
                              seq),
            )

    def _progressed(self) -> None:
        """Beat on our own when handling messages has kept us from answering a ping.

        The watchdog's ping waits in the mailbox behind everything before it, so an actor
        working through a backlog (10,000 chats arriving at once, each a message to the
        pool) answers it late although it finishes a message every few milliseconds.
        That actor is busy, not wedged: replacing it would throw away its work and start
        a cascade of restarts. A wedged actor never returns from its handler, so it
        never gets here and is still reported.
        """
        if self._beat_every is not None and \
                self.ctx.clock.monotonic() - self._last_beat >= self._beat_every:
            self.beat()

    def on_start(self) -> None:
        # Log lines name their actor by thread (wakeful/logs.py): "chat:42#3", not pykka's
        # "ChatActor-17".
        threading.current_thread().name = f"{self.ctx.child_id}#{self.ctx.generation}"
        working_for(self.chat_of(None))
        if self.ctx.announce is not None:
            self.ctx.announce(self.actor_ref)
        try:
            self.started()
        except BaseException as exc:
            # pykka stops the actor without calling on_failure: report it ourselves.
            self._cleanup_after_failure()
            self._report(ChildFailed(self.ctx.child_id, self.ctx.generation,
                                     f"start failed: {exc!r}", exc))
            raise ActorCrashed(repr(exc)) from exc

    def on_stop(self) -> None:
        working_for(self.chat_of(None))
        try:
            self.stopping()
        except BaseException as exc:
            # Swallowed after reporting: pykka would let a BaseException stop every actor.
            log.exception("%s: stopping failed", self.ctx.child_id)
            self._report(ChildFailed(self.ctx.child_id, self.ctx.generation,
                                     f"stop failed: {exc!r}", exc))
            return
        self._report(ChildExited(self.ctx.child_id, self.ctx.generation))

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        self._cleanup_after_failure()
        self._report(ChildFailed(self.ctx.child_id, self.ctx.generation, repr(exc_value),
                                 exc_value))

    def on_receive(self, message: Any) -> Any:
        # Not undone after the message: if handling it fails, the failure's line (logged
        # by on_failure) names the chat too.
        working_for(self.chat_of(message))
        try:
            match message:
                case StateRequested():
                    return {"id": self.ctx.child_id, "generation": self.ctx.generation,
                            "fenced": self.fenced, **self.snapshot()}
                case _ if self.fenced:
                    return None  # a newer instance owns this name; whatever we'd do is stale
                case PingSent(seq=seq):
                    self.beat(seq)
                    return None
                case _:
                    result = self.handle(message)
                    self._progressed()
                    return result
        except Exception:
            raise
        except BaseException as exc:
            raise ActorCrashed(repr(exc)) from exc

    def _cleanup_after_failure(self) -> None:
        try:
            self.stopping()
        except BaseException:
            log.exception("%s: cleanup after failure failed", self.ctx.child_id)

    def _report(self, message: ChildExited | ChildFailed) -> None:
        if self._reported:
            return
        self._reported = True
        if isinstance(message, ChildFailed):
            log.error("%s (generation %d) failed: %s", self.ctx.child_id, self.ctx.generation,
                      message.error)
        if self.ctx.supervisor is not None:
            self.ctx.directory.tell(self.ctx.supervisor, message)
        else:
            self.orphan_exited(message)

    def orphan_exited(self, message: ChildExited | ChildFailed) -> None:
        """An actor without a supervisor (the root) died; executed in the actor's own thread."""
