"""Preflight for `[brain] runner = "ray"`: ray is installed and its cluster answers.

Without it an unreachable head shows only as turns that wait forever in the queue.
The head's port is tried first (a refused connection is one quick, clear line); then
a child process joins the cluster and counts the nodes that will run brains.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys

from wakeful.brain.config import BrainConfig
from wakeful.ops.findings import Finding

CONNECT_TIMEOUT = 30.0
PORT_TIMEOUT = 3.0


def check_ray(brain: BrainConfig, timeout: float = CONNECT_TIMEOUT) -> Finding:
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
