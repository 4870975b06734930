#!/usr/bin/env python3
"""One entry point for a fresh machine: set up the project, then run something.

    python3 scripts/dev.py demo     # venv + install + `wakeful demo`
    python3 scripts/dev.py test     # venv + install (+ Claude Code CLI) + ruff + pytest

Only the standard library is used here because this runs before anything is installed.
Setup is idempotent: a stamp keyed on pyproject.toml's hash skips reinstalling.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
TOOLS = ROOT / ".tools"
CLAUDE_CODE_VERSION = "2.1.328"


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _run(*cmd: str | os.PathLike[str], **kw: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)  # type: ignore[arg-type]


def ensure_venv(extras: str) -> Path:
    stamp_key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".wakeful-{stamp_key[:16]}"
    if stamp.exists():
        return _venv_python()
    if not _venv_python().exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    _run(_venv_python(), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-e", f".[{extras}]")
    for old in VENV.glob(".wakeful-*"):
        old.unlink()
    stamp.touch()
    return _venv_python()


def ensure_claude_cli() -> Path:
    """Install the real Claude Code CLI (a native binary from the npm registry) under .tools/."""
    prefix = TOOLS / f"claude-code-{CLAUDE_CODE_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "claude"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("dev.py: the real-CLI tests need npm to fetch @anthropic-ai/claude-code; "
                 "install Node.js/npm (apt-get install npm) and run again")
    prefix.mkdir(parents=True, exist_ok=True)
    _run(npm, "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error",
         f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}")
    if not binary.exists():
        sys.exit(f"dev.py: npm finished but {binary} is missing")
    return binary


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "run", "setup"}:
        print(__doc__)
        return 2
    what, rest = argv[0], argv[1:]
    if what == "demo":
        py = ensure_venv("test")
        return subprocess.call([str(py), "-m", "wakeful", "demo", *rest], cwd=ROOT)
    if what == "run":
        py = ensure_venv("test")
        return subprocess.call([str(py), "-m", "wakeful", "run", *rest], cwd=ROOT)
    # The Ray extra too: the `ray` tests run brains on a loopback cluster, and must run here.
    py = ensure_venv("test,ray")
    claude = ensure_claude_cli()
    if what == "setup":
        return 0
    env = dict(os.environ, WAKEFUL_CLAUDE_BIN=str(claude))
    _run(py, "-m", "ruff", "check", "wakeful", "tests", "benchmarks", "scripts")
    _run(py, "-m", "mypy")
    # pytest exits 5 when it collected nothing: that is a failure here, never a pass.
    rc = subprocess.call([str(py), "-m", "pytest", *rest], cwd=ROOT, env=env)
    if rc == 5:
        print("dev.py: pytest collected no tests; failing", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
