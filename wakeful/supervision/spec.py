"""Children and supervisors described as data, as in OTP's child specs and sup flags."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pykka

    from wakeful.supervision.context import ChildContext


class Restart(enum.Enum):
    """When a child is restarted (OTP semantics)."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after a failure, not after a normal stop
    TEMPORARY = "temporary"  # never


class Strategy(enum.Enum):
    """Which siblings go down with a failed child."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


StartFn = Callable[["ChildContext"], "pykka.ActorRef[Any]"]


@dataclass(frozen=True)
class ChildSpec:
    id: str
    start: StartFn
    restart: Restart = Restart.PERMANENT
    shutdown_timeout: float = 5.0
    # A critical child's staleness means the service is not live (for systemd/health).
    critical: bool = True
    heartbeat_interval: float = 5.0
    stale_after: float = 30.0


@dataclass(frozen=True)
class Intensity:
    """At most `max_restarts` restarts within `period` seconds, else give up and escalate.

    OTP's default is 1 in 5 s, tuned for crash-fast Erlang processes. Our actors hold
    threads and subprocesses and crash for external reasons (Telegram, the CLI), so the
    root allows a few more: 5 in 60 s.
    """

    max_restarts: int = 5
    period: float = 60.0


@dataclass(frozen=True)
class Backoff:
    """Delay before a restart: min * 2**n, capped at max, +/- random_factor jitter.

    n resets to 0 when the child has run `reset_after` seconds without failing
    (Akka's BackoffSupervisor / restartWithBackoff).
    """

    min_delay: float = 0.1
    max_delay: float = 30.0
    random_factor: float = 0.2
    reset_after: float = 60.0


@dataclass(frozen=True)
class SupervisorSpec:
    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: Intensity = Intensity()
    backoff: Backoff = Backoff()
