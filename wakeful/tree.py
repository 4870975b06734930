"""The whole supervision tree in one screen.

    root (rest_for_one, 5 restarts / 60 s)   gives up -> the process exits 1
    ├── brain_pool    cap, FIFO, one child process per turn; owns turns in the journal
    ├── outbound      the one path out to Telegram: priorities, limits, delivery
    ├── chats         dynamic supervisor (one_for_one, 50 restarts / 60 s)
    │   └── chat:<id> one ChatActor per chat with work; idle ones are stopped
    ├── poller        long-polls Telegram, admits, commits; feeds chats, which must exist
    ├── retention     deletes what the journal no longer needs
    └── watchdog      pings everyone, reports the silent to their supervisor

rest_for_one because each child depends on those above it: a restarted brain_pool
has forgotten every turn in flight, so the chats (rebuilt from the journal) ask again.
The watchdog depends on nobody but is last so that it stops first: no actor is
reported stale while the tree shuts down. Restarting it loses nothing, because it
re-reads what to watch from the directory. Children start top to bottom and stop
bottom to top. docs/supervision.md explains each number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

from wakeful.actors.approval_desk import ApprovalSettings
from wakeful.actors.attachments import Downloads
from wakeful.actors.brain_pool import BrainPool
from wakeful.actors.chat import ChatActor
from wakeful.actors.chats import ChatsSupervisor
from wakeful.actors.names import chat_address
from wakeful.actors.outbound import Outbound
from wakeful.actors.poller import Poller
from wakeful.actors.retention import Retention
from wakeful.actors.watchdog import Watchdog
from wakeful.bots.gateway import TelegramGateway
from wakeful.brain.command import workdir
from wakeful.config import Config
from wakeful.conversation import approvals
from wakeful.files.settings import files_directory
from wakeful.ingest.admission import AccessPolicy, BotIdentity, GroupMessages
from wakeful.ingest.flood import FloodLimit
from wakeful.logs import Redactor
from wakeful.state.journal import Journal
from wakeful.supervision.spec import (
    Backoff,
    ChildSpec,
    Intensity,
    Restart,
    Strategy,
    SupervisorSpec,
)

# Backoff 0.1, 0.2, 0.4, 0.8, 1.6 s: five restarts fit in ~3 s, so a child that can
# never work makes the root give up within seconds and systemd takes over.
ROOT_SPEC = SupervisorSpec(
    strategy=Strategy.REST_FOR_ONE,
    intensity=Intensity(max_restarts=5, period=60.0),
    backoff=Backoff(min_delay=0.1, max_delay=10.0, random_factor=0.2, reset_after=60.0),
)
# Chats fail for their own reasons (one user's odd input); a burst across many chats
# should not take the whole tree down, so this supervisor tolerates more.
CHATS_SPEC = SupervisorSpec(
    strategy=Strategy.ONE_FOR_ONE,
    intensity=Intensity(max_restarts=50, period=60.0),
    backoff=Backoff(min_delay=0.05, max_delay=5.0, random_factor=0.2, reset_after=30.0),
)


@dataclass(frozen=True)
class Parts:
    """The edges the actors talk through (I/O lives in these, not in the actors)."""

    config: Config
    gateway: TelegramGateway
    journal: Journal
    bot: BotIdentity


def access_policy(config: Config) -> AccessPolicy:
    telegram = config.telegram
    return AccessPolicy(frozenset(telegram.allowed_user_ids), frozenset(telegram.allowed_chat_ids),
                        GroupMessages(telegram.group_messages))


def watchdog_tick(heartbeat_interval: float) -> float:
    """How often the watchdog looks: a tenth of the interval, within [50 ms, 1 s].

    A stale actor is reported at most stale_after + tick after its last heartbeat.
    """
    return max(0.05, min(1.0, heartbeat_interval / 10))


def chat_files(cfg: Config, journal: Journal, chat_id: int) -> Downloads:
    """Where a chat's files go: its brain's workdir if it has one (docs/chat.md)."""
    directory = files_directory(cfg.files, workdir(cfg.chat_policy(chat_id).brain, chat_id),
                                journal.path, chat_id)
    return Downloads(chat_id, directory, cfg.files.max_bytes)


def chat_approvals(cfg: Config, chat_id: int, redact: Redactor) -> ApprovalSettings:
    brain = cfg.chat_policy(chat_id).brain
    return ApprovalSettings(brain.approvals, brain.allowed_tools, brain.approval_timeout,
                            redact)


def root_children(parts: Parts) -> list[ChildSpec]:
    cfg = parts.config
    # Tool previews never show a secret of ours: the bot token, and every variable named
    # like a secret that wakeful or its brains hold (ANTHROPIC_API_KEY, ...).
    redact = approvals.redactor({**os.environ, **cfg.brain.env},
                                [cfg.token.reveal()] if cfg.token is not None else [])
    hb = cfg.watchdog
    # A poll in flight does not delay pings (the poll runs on the gateway loop), so the
    # poller gets the same thresholds as everyone else.
    spec = partial(ChildSpec, heartbeat_interval=hb.heartbeat_interval,
                   stale_after=hb.stale_after)

    def chat_spec(chat_id: int) -> ChildSpec:
        return spec(
            id=chat_address(chat_id),
            start=lambda ctx: ChatActor.start(
                ctx, chat_id, parts.journal, idle_after=cfg.chats.idle_after,
                daily_budget_usd=cfg.chat_policy(chat_id).daily_budget_usd,
                files=chat_files(cfg, parts.journal, chat_id),
                mode=cfg.chat_policy(chat_id).mode or cfg.chats.mode,
                approvals=chat_approvals(cfg, chat_id, redact)),
            restart=Restart.TRANSIENT,
            critical=False,
        )

    return [
        spec(id="brain_pool", start=lambda ctx: BrainPool.start(
            ctx, cfg.brain, parts.journal, brain_for=lambda chat: cfg.chat_policy(chat).brain)),
        spec(id="outbound", start=lambda ctx: Outbound.start(ctx, parts.gateway, parts.journal,
                                                             cfg.delivery)),
        spec(
            id="chats",
            start=lambda ctx: ChatsSupervisor.start(ctx, CHATS_SPEC, chat_spec, parts.journal),
            shutdown_timeout=30.0,
        ),
        spec(id="poller", start=lambda ctx: Poller.start(
            ctx, parts.gateway, parts.journal, access_policy(cfg), parts.bot,
            cfg.telegram.refusal_every,
            flood=FloodLimit(cfg.telegram.flood_messages, cfg.telegram.flood_window))),
        spec(id="retention", start=lambda ctx: Retention.start(
            ctx, parts.journal, cfg.journal.retain_days, cfg.telegram.refusal_every)),
        spec(
            id="watchdog",
            start=lambda ctx: Watchdog.start(ctx, tick=watchdog_tick(hb.heartbeat_interval)),
        ),
    ]
