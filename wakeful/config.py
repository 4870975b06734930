"""Configuration: one TOML file, then `WAKEFUL_<SECTION>_<KEY>` environment overrides.

Every problem is reported as a single `ConfigError` line naming the key, never a traceback.
The bot token is never read from the TOML file or the command line (both leak: into
backups and into `ps`); it comes from an environment variable or a file.
"""

from __future__ import annotations

import difflib
import os
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from telegram.constants import ReactionEmoji

from wakeful.brain.command import reserved_flag
from wakeful.brain.config import BrainConfig, RunnerKind
from wakeful.chat_policy import QUEUE_MODES, ChatOverride, ChatPolicy, resolve
from wakeful.delivery.settings import DeliveryConfig
from wakeful.files.settings import FilesConfig
from wakeful.ingest.admission import GroupMessages
from wakeful.state.database import SYNCHRONOUS
from wakeful.state.journal import JournalConfig

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
# Telegram accepts only this fixed palette as a bot's reaction.
_REACTIONS = frozenset(e.value for e in ReactionEmoji)


class ConfigError(Exception):
    """A configuration problem, worded for the operator in one line."""


class Secret:
    """A string that refuses to be printed: repr, str and format all mask it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class TelegramConfig:
    base_url: str = DEFAULT_BASE_URL
    token_env: str = "WAKEFUL_TELEGRAM_TOKEN"
    token_file: str | None = None
    poll_timeout: float = 30.0
    # Default deny: an empty allowlist answers nobody.
    allowed_user_ids: tuple[int, ...] = ()
    # Chats (groups) whose every member is answered there.
    allowed_chat_ids: tuple[int, ...] = ()
    # "all": every group message Telegram delivers (its privacy mode already limits
    # that); "addressed": only mentions of the bot, replies to it and commands.
    group_messages: str = GroupMessages.ALL.value
    # A stranger hears "not on the allowlist" at most once per chat per this many seconds.
    refusal_every: float = 600.0
    # A user's messages beyond flood_messages within flood_window seconds are refused at
    # the door (one reply per burst says when they are read again); 0: no limit.
    flood_messages: int = 20
    flood_window: float = 60.0


@dataclass(frozen=True)
class WatchdogConfig:
    # A wedged actor is replaced within stale_after + ~0.5 s of its last heartbeat, i.e.
    # within two intervals; a healthy one still has ~2.5 s of mailbox latency to spare.
    heartbeat_interval: float = 5.0
    stale_after: float = 8.0


@dataclass(frozen=True)
class SupervisionConfig:
    # Wedged threads left behind (still alive) before the process gives up and exits
    # non-zero, so systemd starts a clean one instead of a leak growing forever.
    abandoned_thread_limit: int = 10
    # Past the limit, the threads get this long to finish before wakeful exits: replaced
    # actors that were only slow (a burst saturating the machine) exit by themselves.
    abandoned_grace: float = 30.0


@dataclass(frozen=True)
class ChatsConfig:
    # A chat with nothing to do for this long gives its thread back; its next message
    # starts a fresh actor from the journal (resuming the Claude session).
    idle_after: float = 300.0
    # What a chat does with a message sent while its brain works (docs/chat.md): "steer"
    # (into the running turn), "collect" (one next turn for all), "queue" (a turn each),
    # "interrupt" (stop, go on with it). Each chat may change its own with /mode.
    mode: str = "steer"
    # What each chat may spend on turns per UTC day, in USD; None: no budget.
    daily_budget_usd: float | None = None
    # [chats.overrides."<chat_id>"]: one chat's own keys (wakeful/chat_policy.py).
    overrides: Mapping[int, ChatOverride] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceConfig:
    # On SIGTERM/SIGINT running turns get this long to finish; the rest are stopped and
    # run again after the restart. Keep it below systemd's TimeoutStopSec.
    shutdown_grace: float = 20.0
    # "plain": one readable line per event (a terminal, a file); "json": one JSON object
    # per line (journald, log shippers).
    log_format: str = "plain"


@dataclass(frozen=True)
class ControlConfig:
    """[control]: the owner-only Unix socket `wakeful state` talks to (docs/operations.md)."""

    # Unset: $XDG_RUNTIME_DIR/wakeful/control.sock, else beside the journal.
    socket: str | None = None
    # State dumps show the first characters of queued messages; false shows none.
    previews: bool = True


@dataclass(frozen=True)
class MetricsConfig:
    """[metrics]: a Prometheus endpoint, off by default, loopback unless told otherwise."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True)
class Config:
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    brain: BrainConfig = field(default_factory=BrainConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    chats: ChatsConfig = field(default_factory=ChatsConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    files: FilesConfig = field(default_factory=FilesConfig)
    token: Secret | None = None

    def require_token(self) -> Secret:
        if self.token is None:
            raise ConfigError(
                f"no bot token: set ${self.telegram.token_env} or [telegram] token_file"
            )
        return self.token

    def chat_policy(self, chat_id: int) -> ChatPolicy:
        """[brain] and [chats] as they apply to this chat, its overrides included."""
        return resolve(chat_id, self.brain, self.chats.daily_budget_usd,
                       self.chats.overrides.get(chat_id))


_SECTIONS: dict[str, type] = {
    "telegram": TelegramConfig,
    "brain": BrainConfig,
    "watchdog": WatchdogConfig,
    "supervision": SupervisionConfig,
    "journal": JournalConfig,
    "delivery": DeliveryConfig,
    "chats": ChatsConfig,
    "service": ServiceConfig,
    "control": ControlConfig,
    "metrics": MetricsConfig,
    "files": FilesConfig,
}


def load(path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file (if any), apply environment overrides, resolve the token."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_toml(Path(path))
    sections: dict[str, Any] = {}
    for name, section_type in _SECTIONS.items():
        table = raw.pop(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _build_section(name, section_type, table, env)
    if raw:
        raise ConfigError(f"unknown section or key: {sorted(raw)[0]!r}")
    _check_variables(env, sections["telegram"].token_env)
    config = Config(**sections)
    return replace(config, token=_resolve_token(config.telegram, env))


# WAKEFUL_ variables that are not [section] keys: read by the stand-in brain and by the
# demo's search for the Claude Code CLI.
_OTHER_VARIABLES = frozenset({"WAKEFUL_CLAUDE_BIN"})
_OTHER_PREFIXES = ("WAKEFUL_STANDIN_",)


def _check_variables(env: Mapping[str, str], token_env: str) -> None:
    """A misspelled override must not be silently ignored: it is what the user meant."""
    known = sorted(f"WAKEFUL_{name.upper()}_{f.name.upper()}"
                   for name, section_type in _SECTIONS.items() for f in fields(section_type))
    for key in sorted(env):
        if (not key.startswith("WAKEFUL_") or key in known or key == token_env
                or key in _OTHER_VARIABLES or key.startswith(_OTHER_PREFIXES)):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"unknown environment variable {key}{hint}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        # TOML is UTF-8: tomllib lets the decoding error of any other bytes through.
        raise ConfigError(f"config file {path} is not UTF-8 text (the byte at offset "
                          f"{exc.start} is not)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None


def _build_section(
    name: str, section_type: type, table: dict[str, Any], env: Mapping[str, str]
) -> Any:
    if "token" in table:
        raise ConfigError(
            f"[{name}] token must not be in the config file: use token_env or token_file"
        )
    known = {f.name: f for f in fields(section_type)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"unknown key [{name}] {key}")
        values[key] = _coerce(f"[{name}] {key}", known[key].type, value, from_env=False)
    for key, f in known.items():
        env_key = f"WAKEFUL_{name.upper()}_{key.upper()}"
        if env_key in env:
            values[key] = _coerce(env_key, f.type, env[env_key], from_env=True)
    try:
        section = section_type(**values)
    except TypeError as exc:
        raise ConfigError(f"[{name}]: {exc}") from None
    _validate(name, section)
    return section


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True,
             "false": False, "0": False, "no": False, "off": False}


def _coerce(where: str, type_name: Any, value: Any, *, from_env: bool) -> Any:
    # "X | None": None is only ever the default (TOML has no null), so parse it as X.
    kind = str(type_name).removesuffix(" | None")
    if kind == "Mapping[int, ChatOverride]":
        if from_env:
            raise ConfigError(f"{where}: per-chat overrides can only be set in the config "
                              "file ([chats.overrides.\"<chat_id>\"])")
        return _overrides(value)
    try:
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "bool":
            if from_env:
                lowered = str(value).strip().lower()
                if lowered not in _BOOLEANS:
                    raise ValueError
                return _BOOLEANS[lowered]
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind.startswith("tuple[int"):
            items = value.replace(",", " ").split() if from_env else value
            if not isinstance(items, list):
                raise ValueError
            if any(isinstance(v, bool) or (not from_env and not isinstance(v, int))
                   for v in items):
                raise ValueError
            return tuple(int(v) for v in items)
        if kind.startswith("tuple[str"):
            items = shlex.split(value) if from_env else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise ValueError
            return tuple(items)
        if kind.startswith("Mapping"):
            if from_env or not isinstance(value, dict):
                raise ValueError
            return {str(k): str(v) for k, v in value.items()}
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise ConfigError(f"{where}: expected {kind}, got {value!r}")


def _overrides(value: Any) -> dict[int, ChatOverride]:
    """`[chats.overrides."<chat_id>"]` tables, each checked like a section of its own."""
    if not isinstance(value, dict):
        raise ConfigError('[chats] overrides must be tables: [chats.overrides."<chat_id>"]')
    known = {f.name: f for f in fields(ChatOverride)}
    overrides: dict[int, ChatOverride] = {}
    for key, table in value.items():
        where = f'[chats.overrides."{key}"]'
        try:
            chat_id = int(key)
        except ValueError:
            raise ConfigError(f"{where}: {key!r} is not a chat id (an integer, negative for "
                              "groups)") from None
        if chat_id in overrides:
            raise ConfigError(f"{where}: chat {chat_id} has another overrides table already")
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        values: dict[str, Any] = {}
        for k, v in table.items():
            if k not in known:
                close = difflib.get_close_matches(k, known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConfigError(f"unknown key {where} {k}{hint}")
            values[k] = _coerce(f"{where} {k}", known[k].type, v, from_env=False)
        override = ChatOverride(**values)
        _validate_override(where, override)
        overrides[chat_id] = override
    return overrides


def _validate_override(where: str, override: ChatOverride) -> None:
    for key in ("model", "permission_mode"):
        word = getattr(override, key)
        if word is not None and (not word or any(c.isspace() for c in word)):
            raise ConfigError(f"{where} {key} must be one word, got {word!r}")
    if override.workdir is not None and not override.workdir.strip():
        raise ConfigError(f"{where} workdir must not be empty")
    if override.mode is not None and override.mode not in QUEUE_MODES:
        raise ConfigError(f"{where} mode must be one of {', '.join(QUEUE_MODES)}, "
                          f"got {override.mode!r}")
    if override.daily_budget_usd is not None and not override.daily_budget_usd >= 0:
        raise ConfigError(f"{where} daily_budget_usd must not be negative")


def _validate(name: str, section: Any) -> None:
    if isinstance(section, TelegramConfig):
        if not section.base_url.startswith(("http://", "https://")):
            raise ConfigError("[telegram] base_url must start with http:// or https://")
        if not 0 <= section.poll_timeout <= 50:
            raise ConfigError("[telegram] poll_timeout must be between 0 and 50 seconds")
        if section.group_messages not in {g.value for g in GroupMessages}:
            raise ConfigError("[telegram] group_messages must be \"all\" or \"addressed\", "
                              f"got {section.group_messages!r}")
        if section.refusal_every < 0:
            raise ConfigError("[telegram] refusal_every must not be negative")
        if section.flood_messages < 0 or section.flood_window <= 0:
            raise ConfigError("[telegram] flood_messages must not be negative (0: no limit) "
                              "and flood_window must be positive")
    elif isinstance(section, BrainConfig):
        _validate_brain(section)
    elif isinstance(section, WatchdogConfig) and (
        section.heartbeat_interval <= 0 or section.stale_after <= section.heartbeat_interval
    ):
        raise ConfigError(
            "[watchdog] heartbeat_interval must be positive and below stale_after"
        )
    elif isinstance(section, SupervisionConfig) and (
            section.abandoned_thread_limit < 0 or section.abandoned_grace < 0):
        raise ConfigError("[supervision] abandoned_thread_limit and abandoned_grace must not "
                          "be negative")
    elif isinstance(section, JournalConfig):
        if section.synchronous not in SYNCHRONOUS:
            raise ConfigError(f"[journal] synchronous must be one of {', '.join(SYNCHRONOUS)}, "
                              f"got {section.synchronous!r}")
        if section.retain_days <= 0:
            raise ConfigError("[journal] retain_days must be positive")
    elif isinstance(section, DeliveryConfig):
        _validate_delivery(section)
    elif isinstance(section, ChatsConfig):
        if section.idle_after <= 0:
            raise ConfigError("[chats] idle_after must be positive")
        if section.mode not in QUEUE_MODES:
            raise ConfigError(f"[chats] mode must be one of {', '.join(QUEUE_MODES)}, "
                              f"got {section.mode!r}")
        if section.daily_budget_usd is not None and not section.daily_budget_usd >= 0:
            raise ConfigError("[chats] daily_budget_usd must not be negative (leave it unset "
                              "for no budget)")
    elif isinstance(section, FilesConfig) and section.max_bytes <= 0:
        raise ConfigError("[files] max_bytes must be positive")
    elif isinstance(section, ServiceConfig):
        if section.shutdown_grace < 0:
            raise ConfigError("[service] shutdown_grace must not be negative")
        if section.log_format not in ("plain", "json"):
            raise ConfigError(f'[service] log_format must be "plain" or "json", '
                              f"got {section.log_format!r}")
    elif isinstance(section, ControlConfig) and section.socket is not None and \
            not section.socket.strip():
        raise ConfigError("[control] socket must not be empty (leave it unset for the default)")
    elif isinstance(section, MetricsConfig) and not 0 < section.port < 65536:
        raise ConfigError(f"[metrics] port must be between 1 and 65535, got {section.port}")


def _validate_delivery(delivery: DeliveryConfig) -> None:
    if delivery.max_in_flight < 1:
        raise ConfigError("[delivery] max_in_flight must be at least 1")
    if not 0 <= delivery.urgent_slots < delivery.max_in_flight:
        raise ConfigError("[delivery] urgent_slots must be between 0 and max_in_flight - 1")
    for key in ("per_bot_per_second", "per_chat_per_second", "per_group_per_minute",
                "progress_attempts"):
        if getattr(delivery, key) < 1:
            raise ConfigError(f"[delivery] {key} must be at least 1")
    if delivery.flood_scope not in ("bot", "chat"):
        raise ConfigError(f'[delivery] flood_scope must be "bot" or "chat", '
                          f"got {delivery.flood_scope!r}")
    if delivery.max_backoff <= 0:
        raise ConfigError("[delivery] max_backoff must be positive")
    if delivery.done_reaction and delivery.done_reaction not in _REACTIONS:
        raise ConfigError(f"[delivery] done_reaction {delivery.done_reaction!r} is not one of "
                          "Telegram's reaction emoji")


def _validate_brain(brain: BrainConfig) -> None:
    if not brain.command:
        raise ConfigError("[brain] command must not be empty")
    flag = reserved_flag(brain.extra_args)
    if flag is not None:
        raise ConfigError(f"[brain] extra_args must not contain {flag!r}: wakeful sets it "
                          "itself (use the matching [brain] key, if there is one)")
    if brain.max_concurrent < 1:
        raise ConfigError("[brain] max_concurrent must be at least 1")
    for key in ("first_event_timeout", "idle_timeout", "turn_budget", "result_grace",
                "kill_grace", "retry_budget", "approval_timeout"):
        if getattr(brain, key) <= 0:
            raise ConfigError(f"[brain] {key} must be positive")
    if brain.max_attempts < 1:
        raise ConfigError("[brain] max_attempts must be at least 1")
    if brain.keep_warm < 0:
        raise ConfigError("[brain] keep_warm must be 0 (off) or more seconds")
    if brain.max_warm < 0:
        raise ConfigError("[brain] max_warm must be 0 or more")
    if not 0 <= brain.retry_initial_delay <= brain.retry_max_delay:
        raise ConfigError("[brain] retry_initial_delay must be between 0 and retry_max_delay")
    if brain.runner not in {r.value for r in RunnerKind}:
        raise ConfigError(f'[brain] runner must be "local" or "ray", got {brain.runner!r}')
    if not brain.ray_address.strip():
        raise ConfigError('[brain] ray_address must not be empty (use "auto")')
    for key in ("model", "permission_mode"):
        value = getattr(brain, key)
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise ConfigError(f"[brain] {key} must be one word, got {value!r}")


def _resolve_token(telegram: TelegramConfig, env: Mapping[str, str]) -> Secret | None:
    value = env.get(telegram.token_env)
    if value is None and telegram.token_file:
        value = _read_token_file(telegram.token_file)
    if value is None:
        return None
    value = value.strip()
    if not value or any(c.isspace() for c in value):
        raise ConfigError("bot token is empty or contains whitespace")
    return Secret(value)


def _read_token_file(path: str) -> str:
    # Only the path and the reason are named: a line quoting the file's bytes could
    # quote the token.
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read [telegram] token_file {path}: "
                          f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"[telegram] token_file {path} is not text: is it the right "
                          "file?") from None
