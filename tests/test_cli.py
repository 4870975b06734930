"""The `wakeful` command as users run it: a subprocess, a config file, signals, exit codes."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BotApi

REPO = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_")}
    env.update(extra)
    return env


def _start_run(bot_api: BotApi, tmp_path: Path, chat: int, brain_delay: float,
               extra_toml: str = "", preexec_fn: Callable[[], None] | None = None,
               **env: str) -> subprocess.Popen[str]:
    """`wakeful run` for one chat against the local server, the token in its environment
    (plus `env`; an empty value removes that variable)."""
    config = tmp_path / "wakeful.toml"
    config.write_text(
        f'[telegram]\nbase_url = "{bot_api.server.base_url}"\npoll_timeout = 2\n'
        f"allowed_user_ids = [{chat}]\n\n"
        f'[brain]\ncommand = ["{sys.executable}", "-m", "wakeful.brain.standin", '
        f'"--delay", "{brain_delay}"]\n\n[journal]\npath = "{tmp_path / "journal.sqlite3"}"\n'
        # Its own socket: never the runtime dir's, where a real wakeful may be serving.
        f'\n[control]\nsocket = "{tmp_path / "run" / "control.sock"}"\n{extra_toml}'
    )
    environ = {k: v for k, v in _env(WAKEFUL_TELEGRAM_TOKEN=bot_api.token, **env).items()
               if v != ""}
    return subprocess.Popen(
        [sys.executable, "-m", "wakeful", "run", "--config", str(config)],
        cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=preexec_fn,
    )


def test_demo_runs_on_a_fresh_machine_and_exits_zero_with_a_summary() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "demo"], cwd=REPO, env=_env(),
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert "messages sent        60" in out
    assert "answered             60" in out
    assert "acknowledged (👀)    60" in out
    assert "replies in order     yes" in out
    assert "OK: every message answered, in order" in out
    assert "p99 bound 3 s" in out
    assert "Telegram calls" in out and "setMessageReaction 1.00" in out


def test_demo_fails_when_the_eyes_come_later_than_the_bound() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "demo", "--chats", "2", "--messages", "1",
         "--brain-delay", "0", "--ack-p99-max", "0"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is over the bound of 0 s (--ack-p99-max)" in done.stdout
    assert "answered             2" in done.stdout, "the run itself went well"
    assert "FAILED" in done.stdout


def test_run_with_config_answers_a_message_and_exits_zero_on_sigterm(
    bot_api: BotApi, tmp_path: Path
) -> None:
    chat = 700_001
    proc = _start_run(bot_api, tmp_path, chat, brain_delay=0.1)
    try:
        # The token reaches the process through its environment only, never argv.
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert bot_api.token.encode() not in cmdline
        bot_api.core.inject_text(chat, "hello from the outside", user_id=chat)
        (reply,) = bot_api.wait_replies(chat, 1, timeout=60)
        assert reply.text == "echo: hello from the outside"
        output = _stop(proc)
    finally:
        _reap(proc)
    assert proc.returncode == 0, output
    assert "stopped" in output
    assert "Traceback" not in output, "a clean stop logs no errors"
    assert bot_api.token not in output
    secret_part = bot_api.token.split(":", 1)[1]
    assert secret_part not in output


def test_a_stop_while_run_still_checks_is_clean_and_exits_zero(
        bot_api: BotApi, tmp_path: Path) -> None:
    # getMe answers "retry after 3 s": the preflight waits, and the stop comes meanwhile.
    bot_api.core.fail_next("getMe", 429, retry_after=3)
    proc = _start_run(bot_api, tmp_path, chat=4101, brain_delay=0.1)
    try:
        assert bot_api.core.wait_for(lambda c: c.call_counts().get("getMe", 0) >= 1, 30)
        out = _stop(proc)
        assert proc.returncode == 0, out
        assert "stopped before serving" in out and "Traceback" not in out
        assert "getUpdates" not in bot_api.core.call_counts(), "it never started serving"
    finally:
        _reap(proc)


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, as a service manager stops it; returns all it printed."""
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=60)[0]


def _reap(proc: subprocess.Popen[str]) -> None:
    """Whatever the test did, no `wakeful run` outlives it."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""  # gone meanwhile


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _find(root: int, marker: str, parent: int | None = None, timeout: float = 30.0) -> int:
    """The one process under `root` whose command line holds `marker` (and whose parent
    is `parent`: each turn's process is forked from the fork server, its command line
    and all), once it runs."""
    deadline = time.monotonic() + timeout
    while True:
        found = [pid for pid in _descendants(root) if marker in _cmdline(pid)
                 and (parent is None or _parent(pid) == parent)]
        if len(found) == 1 or time.monotonic() > deadline:
            (pid,) = found
            return pid
        time.sleep(0.05)


def test_no_process_the_service_starts_carries_the_bot_token(bot_api: BotApi,
                                                             tmp_path: Path) -> None:
    chat = 700_003
    proc = _start_run(bot_api, tmp_path, chat, brain_delay=4.0)
    try:
        bot_api.core.inject_text(chat, "think for a while", user_id=chat)
        # Typing is sent once the turn starts: the fork server and the turn's helper are
        # alive now, the brain a moment later (it thinks for 4 s).
        assert bot_api.core.wait_for(lambda c: any(
            r.kind == "chat_action" for r in c.sent(chat)), timeout=60)
        # Named, so that a process read is a process that exists: the fork server every
        # turn's process comes from, and the brain the turn runs.
        fork_server = _find(proc.pid, "multiprocessing.forkserver", parent=proc.pid)
        brain = _find(proc.pid, "wakeful.brain.standin")
        descendants = _descendants(proc.pid)
        environs = {pid: Path(f"/proc/{pid}/environ").read_bytes()
                    for pid in (fork_server, brain)}
        assert all(b"PATH=" in environ for environ in environs.values()), \
            "an environment was read, not an empty file"
        for pid in descendants:
            try:
                environs.setdefault(pid, Path(f"/proc/{pid}/environ").read_bytes())
            except OSError:
                continue  # ended since: the turn's helpers come and go
        carriers = [(pid, _cmdline(pid)) for pid, environ in environs.items()
                    if bot_api.token.encode() in environ]
        assert carriers == []
        bot_api.wait_replies(chat, 1, timeout=60)
        output = _stop(proc)
    finally:
        _reap(proc)
    assert proc.returncode == 0, output


NOBODY = 65534


def _as_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _readable_by_nobody(path: str) -> bool:
    """Whether a process of uid 65534, the service's own uid here, can read `path`."""
    return subprocess.run(["cat", path], preexec_fn=_as_nobody, capture_output=True,
                          timeout=30).returncode == 0


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [ln for ln in status.splitlines() if ln.startswith("Uid:")]
    return int(line.split()[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="playing another user needs root")
def test_a_brain_of_the_same_user_cannot_read_the_token_from_the_services_environ(
    bot_api: BotApi
) -> None:
    # /proc/<pid>/environ keeps what the process was started with, token included, for
    # the process's whole life: only being non-dumpable closes it to its own user. The
    # service runs as nobody here, so its uid's processes (a brain, say) are nobody too.
    home = Path(tempfile.mkdtemp(prefix="wakeful-nobody-"))
    chat = 700_004
    try:
        home.chmod(0o755)
        os.chown(home, NOBODY, NOBODY)
        proc = _start_run(bot_api, home, chat, brain_delay=4.0, preexec_fn=_as_nobody)
        try:
            bot_api.core.inject_text(chat, "think for a while", user_id=chat)
            running = bot_api.core.wait_for(lambda c: any(
                r.kind == "chat_action" for r in c.sent(chat)), timeout=60)
            assert running, proc.communicate(timeout=10)[0] if proc.poll() is not None else ""
            assert _uid(proc.pid) == NOBODY
            fork_server = _find(proc.pid, "multiprocessing.forkserver", parent=proc.pid)
            # The same user reads a dumpable process's environ (the fork server's, which
            # holds no token): what stops it at the service is the service's own doing.
            assert _readable_by_nobody(f"/proc/{fork_server}/environ")
            assert not _readable_by_nobody(f"/proc/{proc.pid}/environ")
            bot_api.wait_replies(chat, 1, timeout=60)
            output = _stop(proc)
        finally:
            _reap(proc)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert proc.returncode == 0, output


def test_version_and_a_misspelled_override_are_answered_clearly(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "wakeful", "--version"], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("wakeful "), done
    config = tmp_path / "ok.toml"
    config.write_text("[brain]\nmax_concurrent = 2\n")
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "run", "--config", str(config)], cwd=REPO,
        env=_env(WAKEFUL_TELEGRAM_TOKEN="123:abc", WAKEFUL_BRAIN_MAX_CONCURENT="2"),
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == ("wakeful: config error: unknown environment variable "
                                   "WAKEFUL_BRAIN_MAX_CONCURENT; did you mean "
                                   "WAKEFUL_BRAIN_MAX_CONCURRENT?")


def test_bad_config_gives_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[brain]\nmax_concurrent = 0\n")
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "run", "--config", str(config)],
        cwd=REPO, env=_env(WAKEFUL_TELEGRAM_TOKEN="123:abc"), capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "wakeful: config error: [brain] max_concurrent must be at least 1"
    assert "Traceback" not in done.stderr


def test_missing_token_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "ok.toml"
    config.write_text("[telegram]\npoll_timeout = 5\n")
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "run", "--config", str(config)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "no bot token: set $WAKEFUL_TELEGRAM_TOKEN" in done.stderr


def test_the_cli_module_stays_light_because_every_brain_turn_imports_it() -> None:
    # multiprocessing's fork server children import the launching script; for the
    # `wakeful` console script that is this module.
    done = subprocess.run(
        [sys.executable, "-c", "import sys, wakeful.cli; "
         "print(sorted(m for m in ('telegram', 'sqlite3', 'pykka', 'httpx') if m in sys.modules))"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def _journal_config(tmp_path: Path, journal: Path, bot_api: BotApi) -> Path:
    # A reachable Telegram: run's preflight (getMe) passes, so the journal is what refuses.
    config = tmp_path / "wakeful.toml"
    config.write_text(f'[telegram]\nbase_url = "{bot_api.server.base_url}"\n\n'
                      f'[journal]\npath = "{journal}"\n')
    return config


def _run_briefly(config: Path, bot_api: BotApi,
                 **popen: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wakeful", "run", "--config", str(config)],
        cwd=REPO, env=_env(WAKEFUL_TELEGRAM_TOKEN=bot_api.token), capture_output=True,
        text=True, timeout=60, **popen)  # type: ignore[call-overload]


def test_a_corrupt_journal_is_one_clear_line_and_a_non_zero_exit(bot_api: BotApi,
                                                                 tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    journal.write_bytes(b"\x00garbage" * 512)
    done = _run_briefly(_journal_config(tmp_path, journal, bot_api), bot_api)
    assert done.returncode == 1
    assert done.stderr.strip().startswith(f"wakeful: journal error: journal {journal} is corrupt")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_second_instance_on_the_same_journal_refuses_to_start(bot_api: BotApi,
                                                                tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    with open(f"{journal}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242\n")
        lock.flush()
        done = _run_briefly(_journal_config(tmp_path, journal, bot_api), bot_api)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"wakeful: journal error: journal {journal} is in use by another wakeful (pid 4242); "
        "only one instance may run per journal (and per bot token)")


def test_a_read_only_journal_is_one_clear_line_and_a_non_zero_exit(bot_api: BotApi) -> None:
    home = Path(tempfile.mkdtemp(prefix="wakeful-ro-"))  # reachable by another user
    try:
        home.chmod(0o755)
        if os.geteuid() == 0:  # the directory is writable (preflight passes), the file is not
            os.chown(home, 65534, 65534)
        journal = home / "journal.sqlite3"
        journal.write_bytes(b"")
        journal.chmod(0o444)
        config = _journal_config(home, journal, bot_api)
        config.chmod(0o644)

        def as_nobody() -> None:  # root may write anything: play a user who may not
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)

        done = _run_briefly(config, bot_api, preexec_fn=as_nobody)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().startswith(f"wakeful: journal error: journal {journal} is read-only")
