"""Per-chat policy and daily budgets as pure decisions: config overrides, budget boundaries."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from wakeful.brain import command
from wakeful.config import ConfigError, load
from wakeful.conversation import budget

GROUP = -1001234567890


def _load(tmp_path: Path, text: str, **environ: str):
    path = tmp_path / "wakeful.toml"
    path.write_text(text)
    return load(path, environ=environ)


BASE = """
[brain]
command = ["claude"]
model = "sonnet"
allowed_tools = ["Read"]
permission_mode = "dontAsk"
workdir = "/srv/chats/{chat_id}"

[chats]
daily_budget_usd = 2.5
"""


def test_a_chat_without_overrides_gets_brain_and_chats_as_they_are(tmp_path: Path) -> None:
    config = _load(tmp_path, BASE)
    policy = config.chat_policy(42)
    assert policy.brain == config.brain
    assert (policy.daily_budget_usd, policy.approvals, policy.mode) == (2.5, False, None)


def test_an_override_changes_only_the_keys_it_names_and_only_for_its_chat(
        tmp_path: Path) -> None:
    config = _load(tmp_path, BASE + f"""
[chats.overrides."{GROUP}"]
model = "opus"
allowed_tools = ["Read", "WebFetch"]
daily_budget_usd = 20
mode = "collect"
approvals = true
""")
    policy = config.chat_policy(GROUP)
    # approvals: the CLI asks over stdio, and "dontAsk" (which would deny first) is dropped.
    assert command.argv(policy.brain, None)[-6:] == (
        "--model", "opus", "--allowedTools", "Read,WebFetch",
        "--permission-prompt-tool", "stdio")
    assert command.workdir(policy.brain, GROUP) == f"/srv/chats/{GROUP}"
    assert (policy.daily_budget_usd, policy.approvals, policy.mode) == (20.0, True, "collect")
    # Everything else of [brain] is untouched, and other chats see no override.
    assert policy.brain.command == ("claude",)
    assert config.chat_policy(42).brain.model == "sonnet"


def test_an_override_can_set_workdir_and_permission_mode(tmp_path: Path) -> None:
    config = _load(tmp_path, BASE + """
[chats.overrides."7"]
workdir = "/srv/vip/{chat_id}"
permission_mode = "acceptEdits"
daily_budget_usd = 0
""")
    policy = config.chat_policy(7)
    assert command.workdir(policy.brain, 7) == "/srv/vip/7"
    assert "acceptEdits" in command.argv(policy.brain, None)
    assert policy.daily_budget_usd == 0.0


def test_no_budget_unless_configured() -> None:
    config = load(None, environ={})
    assert config.chat_policy(1).daily_budget_usd is None


def test_the_daily_budget_can_come_from_the_environment() -> None:
    config = load(None, environ={"WAKEFUL_CHATS_DAILY_BUDGET_USD": "1.25"})
    assert config.chat_policy(1).daily_budget_usd == 1.25


@pytest.mark.parametrize(("table", "error"), [
    ('[chats.overrides."-100"]\nalowed_tools = ["Read"]',
     r'^unknown key \[chats.overrides."-100"\] alowed_tools; did you mean allowed_tools\?$'),
    ('[chats.overrides."general"]\nmodel = "opus"',
     r"^\[chats.overrides.\"general\"\]: 'general' is not a chat id"),
    ('[chats.overrides."-100"]\nmode = "shout"',
     r'^\[chats.overrides."-100"\] mode must be one of steer, collect, queue, interrupt, '
     r"got 'shout'$"),
    ('[chats.overrides."-100"]\ndaily_budget_usd = -1',
     r'^\[chats.overrides."-100"\] daily_budget_usd must not be negative$'),
    ('[chats.overrides."-100"]\ndaily_budget_usd = "lots"',
     r'^\[chats.overrides."-100"\] daily_budget_usd: expected float'),
    ('[chats.overrides."-100"]\nmodel = "two words"',
     r'^\[chats.overrides."-100"\] model must be one word'),
    ('[chats.overrides."-100"]\napprovals = "yes"',
     r'^\[chats.overrides."-100"\] approvals: expected bool'),
    ('[chats.overrides."-100"]\nallowed_tools = "Read"',
     r'^\[chats.overrides."-100"\] allowed_tools: expected tuple'),
    ('[chats.overrides."-100"]\nworkdir = " "',
     r'^\[chats.overrides."-100"\] workdir must not be empty$'),
    ('[chats.overrides."-100"]\n[chats.overrides."-0100"]',
     r'^\[chats.overrides."-0100"\]: chat -100 has another overrides table already$'),
    ("[chats]\noverrides = 3", r"^\[chats\] overrides must be tables"),
    ("[chats]\ndaily_budget_usd = -0.5", r"^\[chats\] daily_budget_usd must not be negative"),
    ("[telegram]\nflood_messages = -1", r"^\[telegram\] flood_messages must not be negative"),
    ("[telegram]\nflood_window = 0", r"flood_window must be positive$"),
])
def test_a_bad_override_or_limit_is_one_line_naming_the_key(
        tmp_path: Path, table: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as raised:
        _load(tmp_path, table)
    assert "\n" not in str(raised.value)


def test_overrides_cannot_come_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="WAKEFUL_CHATS_OVERRIDES: per-chat overrides can "
                                          "only be set in the config file"):
        load(None, environ={"WAKEFUL_CHATS_OVERRIDES": "x"})


def test_a_bad_override_stops_wakeful_check_with_exit_status_2(tmp_path: Path) -> None:
    from wakeful.cli import main

    path = tmp_path / "wakeful.toml"
    path.write_text('[chats.overrides."-100"]\nmodle = "opus"\n')
    assert main(["check", "--config", str(path)]) == 2


# --- budgets --------------------------------------------------------------------------

NOON = calendar.timegm((2026, 12, 5, 12, 0, 0))


def test_no_budget_never_refuses() -> None:
    assert budget.check(1_000_000.0, None, NOON) is None


def test_the_budget_is_reached_when_the_spend_reaches_it_not_before() -> None:
    assert budget.check(0.99, 1.0, NOON) is None
    reached = budget.check(1.0, 1.0, NOON)
    assert reached is not None and reached.resets_in == 12 * 3600
    assert budget.check(0.0, 0.0, NOON) is not None, "a zero budget allows no turn"


def test_the_refusal_names_the_spend_the_budget_and_the_reset() -> None:
    now = calendar.timegm((2026, 12, 5, 20, 47, 30))
    reached = budget.check(1.0234, 1.0, now)
    assert reached is not None
    assert budget.text(reached) == ("Daily budget reached for this chat: $1.02 of $1.00 spent "
                                    "today. It resets at 00:00 UTC (in 3 h 13 min).")


@pytest.mark.parametrize(("hms", "words"), [
    ((23, 59, 59), "in 1 min"), ((23, 0, 0), "in 1 h)"), ((22, 30, 0), "in 1 h 30 min"),
    ((0, 0, 0), "in 24 h"), ((23, 15, 0), "in 45 min"),
])
def test_the_reset_is_the_next_utc_midnight(hms: tuple[int, int, int], words: str) -> None:
    now = calendar.timegm((2026, 12, 5, *hms))
    reached = budget.check(5.0, 1.0, now)
    assert reached is not None and words in budget.text(reached)
    assert budget.next_reset(now) == calendar.timegm((2026, 12, 6, 0, 0, 0))
