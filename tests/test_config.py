"""Configuration: a TOML file, environment overrides, and one clear line for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.config import ConfigError, Secret, load


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wakeful.toml"
    path.write_text(text)
    return path


def test_example_config_in_the_repo_loads() -> None:
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    config = load(example, environ={"WAKEFUL_TELEGRAM_TOKEN": "1:x"})
    assert config.token == Secret("1:x")
    assert config.telegram.allowed_user_ids
    assert config.journal.synchronous == "full" and config.service.shutdown_grace == 20


def test_the_journal_lives_in_the_users_state_directory_by_default(tmp_path: Path) -> None:
    config = load(None, environ={})
    assert config.journal.resolved_path().endswith("wakeful/journal.sqlite3")
    path = _write(tmp_path, '[journal]\npath = "~/j.sqlite3"\n')
    assert load(path, environ={}).journal.resolved_path() == str(Path.home() / "j.sqlite3")


def test_defaults_without_a_file_deny_everyone_and_use_the_stand_in_brain() -> None:
    config = load(None, environ={})
    assert config.telegram.allowed_user_ids == ()
    assert "wakeful.brain.standin" in config.brain.command
    assert config.token is None
    with pytest.raises(ConfigError, match="no bot token"):
        config.require_token()


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[brain]\nmax_concurrent = 2\n[telegram]\nallowed_user_ids = [1]\n')
    config = load(path, environ={
        "WAKEFUL_BRAIN_MAX_CONCURRENT": "7",
        "WAKEFUL_TELEGRAM_ALLOWED_USER_IDS": "5, 6",
        "WAKEFUL_TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",
        "WAKEFUL_BRAIN_COMMAND": "claude --model sonnet",
        "WAKEFUL_TELEGRAM_TOKEN": "9:abc",
    })
    assert config.brain.max_concurrent == 7
    assert config.telegram.allowed_user_ids == (5, 6)
    assert config.telegram.base_url == "http://127.0.0.1:9/bot"
    assert config.brain.command == ("claude", "--model", "sonnet")


def test_token_comes_from_a_file_and_never_prints(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("123:secret-value\n")
    path = _write(tmp_path, f'[telegram]\ntoken_file = "{token_file}"\n')
    config = load(path, environ={})
    assert config.require_token().reveal() == "123:secret-value"
    assert "secret-value" not in repr(config)
    assert "secret-value" not in str(config.token)
    assert "secret-value" not in f"{config.token}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[telegram]\ntoken = "1:abc"\n', "token must not be in the config file"),
        ("[telegram]\npoll_timeout = 99\n", "poll_timeout must be between 0 and 50"),
        ('[telegram]\nbase_url = "ftp://x"\n', "base_url must start with http"),
        ('[brain]\nmax_concurrent = "four"\n', "[brain] max_concurrent: expected int"),
        ("[brain]\ncommand = []\n", "[brain] command must not be empty"),
        ("[brain]\nnope = 1\n", "unknown key [brain] nope"),
        ("[nonsense]\nx = 1\n", "unknown section or key: 'nonsense'"),
        ("[watchdog]\nheartbeat_interval = 10\nstale_after = 5\n", "below stale_after"),
        ("this is = not toml =", "is not valid TOML"),
        ("[telegram]\nallowed_user_ids = [true]\n", "allowed_user_ids: expected"),
        ('[telegram]\ngroup_messages = "mentions"\n', 'must be "all" or "addressed"'),
        ("[telegram]\nallowed_chat_ids = [-1.5]\n", "allowed_chat_ids: expected"),
        ('[journal]\nsynchronous = "off"\n', "[journal] synchronous must be one of full"),
        ("[journal]\nretain_days = 0\n", "[journal] retain_days must be positive"),
        ("[chats]\nidle_after = -1\n", "[chats] idle_after must be positive"),
        ('[chats]\nmode = "fast"\n', "[chats] mode must be one of steer, collect, queue"),
        ("[service]\nshutdown_grace = -5\n", "[service] shutdown_grace must not be negative"),
    ],
)
def test_each_mistake_is_named_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, text), environ={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_wakeful_variables_are_errors_naming_the_closest_key() -> None:
    with pytest.raises(ConfigError, match="did you mean WAKEFUL_BRAIN_MAX_CONCURRENT"):
        load(None, environ={"WAKEFUL_BRAIN_MAX_CONCURENT": "2"})
    with pytest.raises(ConfigError, match=r"unknown environment variable WAKEFUL_XYZZY$"):
        load(None, environ={"WAKEFUL_XYZZY": "1"})
    # The token's variable (whatever it is called), the stand-in's and the CLI finder's
    # are not config keys, and not errors.
    config = load(None, environ={"WAKEFUL_TELEGRAM_TOKEN_ENV": "WAKEFUL_BOT_TOKEN",
                                 "WAKEFUL_BOT_TOKEN": "1:x", "WAKEFUL_STANDIN_LOG": "/tmp/x",
                                 "WAKEFUL_CLAUDE_BIN": "/usr/bin/claude"})
    assert config.require_token().reveal() == "1:x"


def test_missing_file_and_bad_env_values_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="WAKEFUL_BRAIN_MAX_CONCURRENT: expected int"):
        load(None, environ={"WAKEFUL_BRAIN_MAX_CONCURRENT": "many"})
    with pytest.raises(ConfigError, match="token is empty or contains whitespace"):
        load(None, environ={"WAKEFUL_TELEGRAM_TOKEN": "12 34"})


def test_the_example_config_names_every_key_of_every_section() -> None:
    """An operator learns the keys from the example: a key missing there is a key unknown."""
    import dataclasses
    import re

    from wakeful.config import _SECTIONS

    text = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text()
    for name, section_type in _SECTIONS.items():
        assert f"[{name}]" in text, f"[{name}] is missing from config.example.toml"
        body = text.split(f"[{name}]", 1)[1].split("\n[", 1)[0]
        for f in dataclasses.fields(section_type):
            assert re.search(rf"^#? ?{f.name} ?=", body, re.MULTILINE), \
                f"[{name}] {f.name} is missing from config.example.toml"
