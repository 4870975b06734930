"""deploy/systemd/wakeful.service: what systemd reads there is what wakeful expects."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wakeful import cli
from wakeful.bots.gateway import POLL_READ_MARGIN
from wakeful.config import Config, load
from wakeful.ops.liveness import POLL_MARGIN
from wakeful.ops.systemd import STATUS_EVERY, STOP_BEYOND_GRACE
from wakeful.service import DRAIN_SLACK, WIND_DOWN
from wakeful.tree import ROOT_SPEC, watchdog_tick

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "wakeful.service"
DROP_IN = REPO / "deploy" / "systemd" / "wakeful.service.d" / "local.conf.example"


def _parse(text: str) -> dict[str, list[tuple[str, str]]]:
    """systemd's unit syntax, as much of it as the unit uses: sections, repeated keys,
    comments on their own lines, backslash continuations."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    logical = ""
    for raw in text.splitlines():
        line = (logical + raw.strip()) if logical else raw.strip()
        if line.endswith("\\"):
            logical = line[:-1] + " "
            continue
        logical = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None, f"a setting outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def _service() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in _parse(UNIT.read_text())["Service"]:
        found.setdefault(key, []).append(value)
    return found


def _one(key: str) -> str:
    (value,) = _service()[key]
    return value


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, f"not a plain time span: {value!r}"
    return float(match[1]) * (60 if match[2] == "min" else 1)


def _environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in _service()["Environment"]:
        for assignment in shlex.split(line):
            key, _, value = assignment.partition("=")
            env[key] = value
    return env


def test_the_unit_has_what_a_notify_service_with_a_watchdog_needs() -> None:
    sections = _parse(UNIT.read_text())
    assert set(sections) == {"Unit", "Service", "Install"}
    expected = {
        "Type": "notify", "NotifyAccess": "main", "Restart": "on-failure",
        "KillMode": "mixed", "User": "wakeful", "StateDirectory": "wakeful",
        "RuntimeDirectory": "wakeful", "RuntimeDirectoryMode": "0700",
        "LoadCredential": "telegram-token:/etc/wakeful/telegram-token",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
        "ProtectHome": "yes",
    }
    assert {key: _one(key) for key in expected} == expected
    for key in ("WatchdogSec", "RestartSec", "TimeoutStopSec"):
        assert _seconds(_one(key)) > 0
    # V8 compiles code into writable, then executable, memory.
    assert "MemoryDenyWriteExecute" not in _service()
    assert dict(sections["Install"]) == {"WantedBy": "multi-user.target"}


def test_the_units_environment_gives_wakeful_its_token_journal_socket_and_home(
    tmp_path: Path
) -> None:
    env = _environment()
    assert env["HOME"] == "/var/lib/wakeful"
    # As systemd hands it over: %d is the directory LoadCredential= copied the token to.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "telegram-token").write_text("123456:AAE-secret-secret-secret-secret\n")
    resolved = {k: v.replace("%d", str(credentials)) for k, v in env.items()}
    config = load(None, environ=resolved)  # a misspelled WAKEFUL_ key would be an error
    assert config.require_token().reveal() == "123456:AAE-secret-secret-secret-secret"
    assert config.journal.resolved_path() == "/var/lib/wakeful/journal.sqlite3"
    assert config.control.socket == "/run/wakeful/control.sock"
    # Both live in directories systemd creates for the service.
    assert config.journal.resolved_path().startswith(f"/var/lib/{_one('StateDirectory')}/")
    assert config.control.socket.startswith(f"/run/{_one('RuntimeDirectory')}/")


def test_exec_start_is_a_command_line_wakeful_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = shlex.split(_one("ExecStart"))
    assert Path(argv[0]).name == "wakeful" and Path(argv[0]).is_absolute()
    parsed: list[argparse.Namespace] = []
    monkeypatch.setattr(cli, "_run", lambda args: parsed.append(args) or 0)
    assert cli.main(argv[1:]) == 0  # an argparse error would raise SystemExit
    (args,) = parsed
    assert args.command == "run" and args.config == "/etc/wakeful/wakeful.toml"


def test_watchdog_and_stop_timeouts_fit_what_wakeful_does_by_default() -> None:
    defaults = Config()
    watchdog_sec = _seconds(_one("WatchdogSec"))
    # One getUpdates answer lost: the poll fails at poll_timeout + read margin, the retry
    # may wait a whole long poll. Not live from poll_timeout + POLL_MARGIN until then.
    poll_timeout = defaults.telegram.poll_timeout
    lost_answer = (2 * poll_timeout + POLL_READ_MARGIN + 1.0) - (poll_timeout + POLL_MARGIN)
    # A wedged critical actor: stale, reported on the next tick, replaced after backoff.
    hb = defaults.watchdog
    healing = hb.stale_after + watchdog_tick(hb.heartbeat_interval) + ROOT_SPEC.backoff.max_delay
    # Each check may send a ping; there must be several chances per period.
    assert watchdog_sec > max(lost_answer, healing) + STATUS_EVERY
    assert watchdog_sec >= 4 * STATUS_EVERY
    # A clean stop: the poller's confirmation, the grace, a killed turn's report, the
    # wind-down; then the tree and the gateway close.
    beyond_grace = 5.0 + DRAIN_SLACK + WIND_DOWN
    assert _seconds(_one("TimeoutStopSec")) >= defaults.service.shutdown_grace + beyond_grace + 20
    # What wakeful asks systemd for at STOPPING=1, whatever grace is configured.
    assert beyond_grace + 10 <= STOP_BEYOND_GRACE


def _verify(unit_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", str(unit_dir / "wakeful.service")],
                          capture_output=True, text=True, timeout=120)


def _installable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's `wakeful` (verify insists the
    program exists)."""
    program = Path(sys.executable).parent / "wakeful"
    assert program.exists(), program
    text = UNIT.read_text().replace("ExecStart=/opt/wakeful/bin/wakeful",
                                    f"ExecStart={program}")
    (tmp_path / "wakeful.service").write_text(text)
    return tmp_path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_accepts_the_unit_and_the_example_drop_in(tmp_path: Path) -> None:
    unit_dir = _installable_copy(tmp_path)
    done = _verify(unit_dir)
    assert done.returncode == 0 and "wakeful" not in done.stderr, done.stderr
    # The example drop-in with every setting switched on: no key systemd does not know.
    drop_in = unit_dir / "wakeful.service.d"
    drop_in.mkdir()
    enabled = re.sub(r"^#([A-Z]\w*=)", r"\1", DROP_IN.read_text(), flags=re.M)
    assert enabled.count("\n[Service]") == 1 and enabled != DROP_IN.read_text()
    (drop_in / "local.conf").write_text(enabled)
    done = _verify(unit_dir)
    assert done.returncode == 0 and "wakeful" not in done.stderr, done.stderr
    # The check itself is not blind: a misspelled key is reported.
    (drop_in / "local.conf").write_text("[Service]\nWatchdogSecs=5\n")
    assert "WatchdogSecs" in _verify(unit_dir).stderr
