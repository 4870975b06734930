"""When the root gives up, `wakeful run` exits non-zero and says why, so systemd restarts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import BotApi

REPO = Path(__file__).resolve().parents[2]


def test_a_root_child_that_keeps_failing_makes_wakeful_exit_non_zero_with_the_reason(
    bot_api: BotApi, tmp_path: Path
) -> None:
    # getMe works, so the service starts; every getUpdates is refused (a revoked token),
    # so the poller fails on each start until the root's intensity is exceeded.
    bot_api.core.fail_next("getUpdates", 401, "Unauthorized", times=1000)
    config = tmp_path / "wakeful.toml"
    config.write_text(
        f'[telegram]\nbase_url = "{bot_api.server.base_url}"\npoll_timeout = 1\n'
        f"allowed_user_ids = [1]\n\n[journal]\npath = \"{tmp_path / 'journal.sqlite3'}\"\n"
        f"\n[control]\nsocket = \"{tmp_path / 'run' / 'control.sock'}\"\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_")}
    env["WAKEFUL_TELEGRAM_TOKEN"] = bot_api.token
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "run", "--config", str(config)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert ("supervision gave up, exiting with status 1: poller keeps failing "
            "(RuntimeError('Telegram rejected the bot token") in output, output
    assert "restart intensity 5 in 60s exceeded" in output
    assert bot_api.core.call_counts()["getUpdates"] == 6, "started once, restarted five times"
