"""`wakeful check`, and the same checks refusing `wakeful run`: one line per problem, exit 2.

Subprocesses against the local Bot API server, as an operator runs them; the retry
and thread-leak properties run in-process, with a fake sleep between attempts.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.conftest import BotApi
from tests.test_cli import REPO, _env
from wakeful.config import BrainConfig, Config, Secret, TelegramConfig
from wakeful.ops.brain_check import check_brain
from wakeful.ops.check import findings, preflight
from wakeful.ops.control_check import check_control
from wakeful.ops.findings import Finding, Outcome
from wakeful.ops.telegram_check import ATTEMPTS, Sleep
from wakeful.state.journal import JournalConfig


def _check(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in _env(**env).items() if k != "XDG_RUNTIME_DIR"}
    return subprocess.run([sys.executable, "-m", "wakeful", "check", "--config", str(config)],
                          cwd=REPO, env=environ, capture_output=True, text=True,
                          timeout=120)


def _assert_token_hidden(token: str, *outputs: str) -> None:
    secret_part = token.split(":", 1)[1]
    for output in outputs:
        assert token not in output and secret_part not in output, output


@dataclass(frozen=True)
class Ctx:
    tmp: Path
    base_url: str
    token: str

    def toml(self, telegram: str = "", brain: str = "", journal: str | None = None) -> str:
        journal = journal or str(self.tmp / "state" / "journal.sqlite3")
        return (f'[telegram]\nbase_url = "{self.base_url}"\n{telegram}\n'
                f"[brain]\n{brain}\n[journal]\npath = \"{journal}\"\n")

    def file(self) -> Path:
        """A regular file: nothing can be created under it, not even by root."""
        path = self.tmp / "a-file"
        path.write_text("not a directory\n")
        return path

    def directory(self, name: str) -> Path:
        """A directory where a file is expected: it exists, and not even root can read it
        as a file (the tests run as root, so a file's mode would not stop them)."""
        path = self.tmp / name
        path.mkdir()
        return path

    def token_file(self, content: bytes | None) -> str:
        """[telegram] token_file pointing at a file holding `content` (None: no file)."""
        path = self.tmp / "token"
        if content is not None:
            path.write_bytes(content)
        return f'token_file = "{path}"'


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _script(ctx: Ctx, name: str, body: str, mode: int = 0o755) -> Path:
    path = ctx.tmp / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


@dataclass(frozen=True)
class Case:
    name: str
    config: Callable[[Ctx], str | bytes | None]  # the file's content; None: no file at all
    line: Callable[[Ctx], str]  # the one line on stderr (a prefix, when it ends in "...")
    env: Callable[[Ctx], dict[str, str]] = lambda ctx: {"WAKEFUL_TELEGRAM_TOKEN": ctx.token}


def _no_text(_made: Path) -> None:
    """What a case's config returns when it made the path itself (not a file)."""


# A config file in Latin-1, as an editor set to it would save "café".
LATIN_1 = b"[brain]\nmax_concurrent = 2  # caf\xe9\n"

CASES = [
    Case("unknown key", lambda c: c.toml(brain="max_concurent = 2"),
         lambda c: "wakeful: config error: unknown key [brain] max_concurent"),
    Case("wrong type", lambda c: c.toml(brain='max_concurrent = "four"'),
         lambda c: "wakeful: config error: [brain] max_concurrent: expected int, got 'four'"),
    Case("bad TOML", lambda c: "[brain\nmax_concurrent = 2\n",
         lambda c: f"wakeful: config error: config file {c.tmp / 'wakeful.toml'} is not "
                   "valid TOML: ..."),
    Case("missing config file", lambda c: None,
         lambda c: f"wakeful: config error: config file not found: {c.tmp / 'wakeful.toml'}"),
    Case("unreadable config file", lambda c: _no_text(c.directory("wakeful.toml")),
         lambda c: f"wakeful: config error: cannot read config file {c.tmp / 'wakeful.toml'}: "
                   "Is a directory"),
    Case("config file not UTF-8", lambda c: LATIN_1,
         lambda c: f"wakeful: config error: config file {c.tmp / 'wakeful.toml'} is not UTF-8 "
                   f"text (the byte at offset {LATIN_1.index(0xe9)} is not)"),
    Case("unknown WAKEFUL_ variable", lambda c: c.toml(),
         lambda c: "wakeful: config error: unknown environment variable "
                   "WAKEFUL_BRAIN_MAX_CONCURENT; did you mean WAKEFUL_BRAIN_MAX_CONCURRENT?",
         env=lambda c: {"WAKEFUL_TELEGRAM_TOKEN": c.token, "WAKEFUL_BRAIN_MAX_CONCURENT": "2"}),
    Case("no token", lambda c: c.toml(),
         lambda c: "wakeful: config error: no bot token: set $WAKEFUL_TELEGRAM_TOKEN or "
                   "[telegram] token_file",
         env=lambda c: {}),
    Case("token_file missing", lambda c: c.toml(telegram=c.token_file(None)),
         lambda c: f"wakeful: config error: cannot read [telegram] token_file {c.tmp / 'token'}: "
                   "No such file or directory",
         env=lambda c: {}),
    Case("token_file unreadable",
         lambda c: c.toml(telegram=f'token_file = "{c.directory("token")}"'),
         lambda c: f"wakeful: config error: cannot read [telegram] token_file {c.tmp / 'token'}: "
                   "Is a directory",
         env=lambda c: {}),
    Case("token_file not text", lambda c: c.toml(telegram=c.token_file(b"\xff\xfe1:\x00")),
         lambda c: f"wakeful: config error: [telegram] token_file {c.tmp / 'token'} is not "
                   "text: is it the right file?",
         env=lambda c: {}),
    Case("brain missing from PATH", lambda c: c.toml(brain='command = ["claude"]'),
         lambda c: 'wakeful: [brain] command "claude" not found on PATH (install '
                   "@anthropic-ai/claude-code, or set [brain] command to its path)",
         env=lambda c: {"WAKEFUL_TELEGRAM_TOKEN": c.token, "PATH": str(c.tmp)}),
    Case("brain not executable",
         lambda c: c.toml(brain=f'command = ["{_script(c, "brain", "exit 0", 0o644)}"]'),
         lambda c: f'wakeful: [brain] command "{c.tmp / "brain"}" is not executable '
                   f'({c.tmp / "brain"}): chmod +x it, or fix [brain] command'),
    Case("brain --version fails",
         lambda c: c.toml(brain=f'command = ["{_script(c, "brain", "echo nope >&2; exit 3")}"]'),
         lambda c: f"wakeful: [brain] {c.tmp / 'brain'} --version failed with exit status 3: "
                   "nope"),
    Case("workdir not creatable",
         lambda c: c.toml(brain=f'workdir = "{c.file()}/chats/{{chat_id}}"'),
         lambda c: f"wakeful: [brain] workdir {c.tmp}/a-file/chats/{{chat_id}}: "
                   f"{c.tmp}/a-file/chats cannot be created: {c.tmp}/a-file is not a directory"),
    Case("journal directory not writable",
         lambda c: c.toml(journal=f"{c.file()}/journal.sqlite3"),
         lambda c: f"wakeful: journal directory {c.tmp}/a-file is not a directory"),
    Case("invalid token", lambda c: c.toml(),
         lambda c: "wakeful: Telegram rejected the bot token (Unauthorized): check "
                   "$WAKEFUL_TELEGRAM_TOKEN / token_file",
         env=lambda c: {"WAKEFUL_TELEGRAM_TOKEN": c.token[:-4] + "XXXX"}),
    Case("no network",
         lambda c: replace(c, base_url=f"http://127.0.0.1:{_closed_port()}/bot").toml(),
         lambda c: "wakeful: cannot reach Telegram at http://127.0.0.1:...",),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_bad_setup_is_its_own_line_on_stderr_and_exit_2(
    case: Case, bot_api: BotApi, tmp_path: Path
) -> None:
    ctx = Ctx(tmp_path, bot_api.server.base_url, bot_api.token)
    config = tmp_path / "wakeful.toml"
    content = case.config(ctx)
    if isinstance(content, bytes):
        config.write_bytes(content)
    elif content is not None:
        config.write_text(content)
    env = case.env(ctx)
    done = _check(config, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    expected = case.line(ctx)
    if expected.endswith("..."):
        assert line.startswith(expected.removesuffix("...")), line
    else:
        assert line == expected
    for token in {bot_api.token, env.get("WAKEFUL_TELEGRAM_TOKEN", bot_api.token)}:
        _assert_token_hidden(token, done.stdout, done.stderr)


def test_no_network_names_the_address_and_the_reason_after_three_attempts(
    tmp_path: Path
) -> None:
    port = _closed_port()
    config = Config(telegram=TelegramConfig(base_url=f"http://127.0.0.1:{port}/bot"),
                    token=Secret("123456:no-network-token-abcdefgh"))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    (telegram, *_rest) = findings(_in(tmp_path, config), sleep=sleep)
    assert telegram == Finding.problem(
        f"cannot reach Telegram at http://127.0.0.1:{port}/bot: ConnectError: "
        f"All connection attempts failed ({ATTEMPTS} attempts)")
    assert len(waits) == ATTEMPTS - 1 and all(0 < w <= 2.5 for w in waits), waits


def test_a_good_config_passes_prints_the_ok_lines_and_creates_nothing(
    bot_api: BotApi, tmp_path: Path
) -> None:
    ctx = Ctx(tmp_path, bot_api.server.base_url, bot_api.token)
    config = tmp_path / "wakeful.toml"
    config.write_text(ctx.toml(brain=f'workdir = "{tmp_path}/chats/{{chat_id}}"'))
    done = _check(config, {"WAKEFUL_TELEGRAM_TOKEN": bot_api.token})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    bot_id = bot_api.core.bot_user["id"]
    assert done.stdout.splitlines() == [
        f"ok: telegram: @wakeful_test_bot (id {bot_id}) at {bot_api.server.base_url}",
        "ok: webhook: none (wakeful polls getUpdates)",
        f"ok: brain: {sys.executable} (0.1.0 (wakeful stand-in brain))",
        f"ok: workdir: {tmp_path}/chats/{{chat_id}} (will be created)",
        f"ok: journal: {tmp_path}/state/journal.sqlite3 (directory will be created)",
        f"ok: control: {tmp_path}/state/run/control.sock (directory will be created 0700)",
    ]
    assert bot_api.core.call_counts() == {"getMe": 1, "getWebhookInfo": 1}
    assert not (tmp_path / "chats").exists() and not (tmp_path / "state").exists()
    _assert_token_hidden(bot_api.token, done.stdout, done.stderr)


def test_a_set_webhook_is_a_note_and_check_still_passes(bot_api: BotApi, tmp_path: Path) -> None:
    bot_api.core.set_webhook("https://hook:pw@hooks.example.com:8443/s3cret-path")
    config = tmp_path / "wakeful.toml"
    config.write_text(Ctx(tmp_path, bot_api.server.base_url, bot_api.token).toml())
    done = _check(config, {"WAKEFUL_TELEGRAM_TOKEN": bot_api.token})
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("note: webhook set (https://hooks.example.com:8443/...): wakeful run will delete "
            "it to poll") in done.stdout.splitlines()
    assert "s3cret" not in done.stdout and "pw@" not in done.stdout
    assert bot_api.core.webhook_url() != "", "check only looks; run deletes it"
    _assert_token_hidden(bot_api.token, done.stdout, done.stderr)


def _in(tmp_path: Path, config: Config) -> Config:
    """`config` with its journal in this test's directory."""
    return replace(config, journal=JournalConfig(path=str(tmp_path / "journal.sqlite3")))


def _config(bot_api: BotApi, tmp_path: Path) -> Config:
    return _in(tmp_path, Config(telegram=TelegramConfig(base_url=bot_api.server.base_url),
                                token=Secret(bot_api.token)))


def test_a_passing_502_on_get_me_is_retried_and_the_check_passes(
    bot_api: BotApi, tmp_path: Path
) -> None:
    bot_api.core.fail_next("getMe", 502)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    found = findings(_config(bot_api, tmp_path), sleep=sleep)
    assert [f.outcome for f in found] == [Outcome.OK] * 6, found
    assert bot_api.core.call_counts()["getMe"] == 2
    assert len(waits) == 1 and 0 < waits[0] <= 2.5


def test_a_short_flood_wait_is_waited_out_and_a_long_one_reported(
    bot_api: BotApi, tmp_path: Path
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    bot_api.core.fail_next("getMe", 429, retry_after=3)
    assert _problems(bot_api, tmp_path, sleep) == []
    assert waits == [3.0], "retry_after is honoured exactly"

    waits.clear()
    bot_api.core.fail_next("getMe", 429, retry_after=60)
    assert _problems(bot_api, tmp_path, sleep) == [
        "Telegram is limiting this bot's calls (retry after 60 s): try again later"]
    assert waits == [], "a minute is not waited out in a preflight"


def _problems(bot_api: BotApi, tmp_path: Path, sleep: Sleep) -> list[str]:
    found = findings(_config(bot_api, tmp_path), sleep=sleep)
    return [f.line for f in found if f.outcome is Outcome.PROBLEM]


def test_a_lasting_5xx_gives_up_after_three_attempts_and_a_rejected_token_at_once(
    bot_api: BotApi, tmp_path: Path
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    bot_api.core.outage("getMe", 503, seconds=600)
    assert _problems(bot_api, tmp_path, sleep) == [
        f"cannot reach Telegram at {bot_api.server.base_url}: Service Unavailable "
        f"({ATTEMPTS} attempts)"]
    assert bot_api.core.outage_counts()["getMe"] == ATTEMPTS
    bot_api.core.outage("getMe", 503, seconds=0)

    waits.clear()
    config = replace(_config(bot_api, tmp_path), token=Secret(bot_api.token + "0"))
    problems = [f.line for f in findings(config, sleep=sleep) if f.outcome is Outcome.PROBLEM]
    assert problems == ["Telegram rejected the bot token (Unauthorized): check "
                        "$WAKEFUL_TELEGRAM_TOKEN / token_file"]
    assert waits == [], "no retry can fix a rejected token"


def test_the_check_leaves_no_thread_or_connection_behind(bot_api: BotApi, tmp_path: Path) -> None:
    config = _config(bot_api, tmp_path)
    findings(config)  # the first one starts what stays anyway (the server's listener)
    before = {t.ident for t in threading.enumerate()}
    assert preflight(config) == []
    # The server serves each connection on a thread until the client closes it: a
    # connection the check left open would keep one alive.
    deadline = time.monotonic() + 5.0
    while {t.ident for t in threading.enumerate()} - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {t.name for t in threading.enumerate() if t.ident not in before} == set()


def test_the_brain_is_found_on_the_path_the_brain_gets(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    brain = bin_dir / "mybrain"
    brain.write_text("#!/bin/sh\necho '9.9.9 (Fake Code)'\n")
    brain.chmod(0o755)
    config = BrainConfig(command=("mybrain",), env={"PATH": str(bin_dir)})
    assert check_brain(config, {"PATH": "/usr/bin:/bin"}, "WAKEFUL_TELEGRAM_TOKEN") == \
        Finding.ok(f"brain: {brain} (9.9.9 (Fake Code))")
    # Not on the service's PATH when [brain] env sets none and PATH is not passed through.
    hidden = BrainConfig(command=("mybrain",), env_passthrough=())
    assert check_brain(hidden, {"PATH": str(bin_dir)}, "WAKEFUL_TELEGRAM_TOKEN") == \
        Finding.problem('[brain] command "mybrain" not found on the default PATH '
                        "/bin:/usr/bin, since PATH is not in [brain] env_passthrough "
                        "(set [brain] command to its path)")


def test_a_brain_that_hangs_on_version_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    children = tmp_path / "children"
    brain = tmp_path / "brain"
    brain.write_text(f"#!/bin/sh\nsleep 600 &\necho $! > {children}\nsleep 600\n")
    brain.chmod(0o755)
    started = time.monotonic()
    found = check_brain(BrainConfig(command=(str(brain),)), {}, "T", timeout=1.0)
    assert found == Finding.problem(f"[brain] {brain} --version did not answer within 1 s")
    assert time.monotonic() - started < 10
    grandchild = int(children.read_text())
    deadline = time.monotonic() + 5.0
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild), "the brain's own child went with it"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_the_brain_never_sees_the_token_even_if_passed_through(tmp_path: Path) -> None:
    brain = tmp_path / "brain"
    brain.write_text('#!/bin/sh\necho "token=[$WAKEFUL_TELEGRAM_TOKEN]"\n')
    brain.chmod(0o755)
    config = BrainConfig(command=(str(brain),),
                         env_passthrough=("PATH", "WAKEFUL_TELEGRAM_TOKEN"))
    found = check_brain(config, {"WAKEFUL_TELEGRAM_TOKEN": "1:secret"}, "WAKEFUL_TELEGRAM_TOKEN")
    assert found == Finding.ok(f"brain: {brain} (token=[])")


def test_a_relative_brain_with_a_per_chat_workdir_is_refused(tmp_path: Path) -> None:
    config = BrainConfig(command=("./bin/claude",), workdir=str(tmp_path / "{chat_id}"))
    assert check_brain(config, {}, "T") == Finding.problem(
        '[brain] command "./bin/claude" is relative but [brain] workdir differs per chat: '
        "give its absolute path")


def test_run_with_the_brain_missing_exits_2_at_start_and_serves_nothing(
    bot_api: BotApi, tmp_path: Path
) -> None:
    ctx = Ctx(tmp_path, bot_api.server.base_url, bot_api.token)
    config = tmp_path / "wakeful.toml"
    config.write_text(ctx.toml(brain='command = ["claude"]'))
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "run", "--config", str(config)], cwd=REPO,
        env=_env(WAKEFUL_TELEGRAM_TOKEN=bot_api.token, PATH=str(tmp_path)),
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        'wakeful: [brain] command "claude" not found on PATH (install '
        "@anthropic-ai/claude-code, or set [brain] command to its path)")
    assert "getUpdates" not in bot_api.core.call_counts(), "nothing was served"
    assert not (tmp_path / "state").exists(), "the journal was never opened"
    _assert_token_hidden(bot_api.token, done.stdout, done.stderr)


def test_the_control_socket_directory_is_checked_before_run_would_refuse_it(
    tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    config = Config(control=replace(Config().control, socket=str(shared / "control.sock")),
                    journal=JournalConfig(path=str(tmp_path / "journal.sqlite3")))
    assert check_control(config, environ={}) == Finding.problem(
        f"control: socket directory {shared} is open to group or others (mode 0755); make "
        "it 0700 or choose another [control] socket")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    config = replace(config, control=replace(config.control,
                                             socket=str(private / "control.sock")))
    assert check_control(config, environ={}) == Finding.ok(
        f"control: {private / 'control.sock'}")
    too_long = tmp_path / ("x" * 120) / "control.sock"
    config = replace(config, control=replace(config.control, socket=str(too_long)))
    assert check_control(config, environ={}).outcome is Outcome.PROBLEM
