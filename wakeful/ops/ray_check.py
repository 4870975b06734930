"""Preflight for `[brain] runner = "ray"`: ray is installed and its cluster answers.

Without it an unreachable head shows only as turns that wait forever in the queue.
The head's port is tried first (a refused connection is one quick, clear line); then
a child process joins the cluster and counts the nodes that will run brains.

The preflight runs before `wakeful run` drops the bot token from its environment
(cli.py), so the child gets only what a Ray driver needs, never the rest.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping

from wakeful.brain.config import BrainConfig
from wakeful.config import TelegramConfig
from wakeful.ops.findings import Finding

CONNECT_TIMEOUT = 30.0
PORT_TIMEOUT = 3.0

# What a Ray driver reads from its environment: where Python and its packages are, who
# and where the user is (Ray names its session and temp files after them), the locale,
# the proxies and TLS files gRPC honours, and Ray's own settings (RAY_ADDRESS, RAY_TLS_*).
PROBE_VARIABLES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ", "LANG", "LANGUAGE",
    "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
})
PROBE_PREFIXES = ("RAY_", "GRPC_", "LC_")


def probe_environment(environ: Mapping[str, str], token_env: str) -> dict[str, str]:
    """The allowlisted part of `environ`, and never the variable the token is read from
    (even one an operator named RAY_something)."""
    return {name: value for name, value in environ.items()
            if (name in PROBE_VARIABLES or name.startswith(PROBE_PREFIXES))
            and name != token_env}


def check_ray(brain: BrainConfig, timeout: float = CONNECT_TIMEOUT, *,
              environ: Mapping[str, str] | None = None,
              token_env: str = TelegramConfig.token_env) -> Finding:
    """`environ` is the service's environment (os.environ by default); the probe gets
    its allowlisted part."""
    address = brain.ray_address
    if importlib.util.find_spec("ray") is None:
        return Finding.problem("[brain] runner is \"ray\" but ray is not installed: "
                               "pip install 'wakeful[ray]'")
    endpoint = head_endpoint(address)
    if endpoint is not None:
        try:
            socket.create_connection(endpoint, timeout=PORT_TIMEOUT).close()
        except OSError as exc:
            return Finding.problem(f"cannot reach the Ray head at {address}: "
                                   f"{exc.strerror or exc}")
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "wakeful.ops.ray_probe", address],
            env=probe_environment(os.environ if environ is None else environ, token_env),
            capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Finding.problem(f"the Ray cluster at {address} did not answer within "
                               f"{timeout:g} s")
    lines = probe.stdout.strip().splitlines()
    try:
        found = json.loads(lines[-1])
    except (IndexError, ValueError):
        return Finding.problem(f"cannot join the Ray cluster at {address} "
                               f"(probe exited with status {probe.returncode})")
    if "error" in found:
        return Finding.problem(f"cannot join the Ray cluster at {address}: {found['error']}")
    if not found["nodes"]:
        return Finding.problem(f"the Ray cluster at {address} has no node to run brains on: "
                               "start workers with --resources='{\"wakeful_brain\": N}'")
    return Finding.ok(f"ray cluster at {address}: {found['nodes']} nodes, "
                      f"{found['slots']} brain slots")


def head_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of an explicit address; None for "auto" (Ray finds its own)."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return None
    return host, int(port)
