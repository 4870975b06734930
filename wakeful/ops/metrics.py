"""The Prometheus endpoint: /metrics over HTTP, off unless [metrics] enabled = true.

A private registry (never prometheus_client's global one) holds the state collector
(wakeful/ops/collector.py) and the process and platform collectors. Every scrape
asks the actors for their snapshots; nothing is counted twice.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from functools import partial
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from wakeful.config import Config
from wakeful.ops.collector import StateCollector

log = logging.getLogger(__name__)

# For the whole scrape (Service.state asks every actor at once, against one deadline):
# well within Prometheus' default scrape timeout of 10 s; an actor this slow to
# answer is wedged (the watchdog will say so) or swamped, and is left out.
SCRAPE_TIMEOUT = 2.0


class MetricsError(Exception):
    """The endpoint cannot be served; the message is the one line the operator sees."""


class MetricsServer:
    def __init__(self, server: WSGIServer | None = None,
                 thread: threading.Thread | None = None) -> None:
        self._server = server
        self._thread = thread

    @classmethod
    def start(cls, service: Any, config: Config) -> MetricsServer:
        """Serve /metrics on [metrics] host:port; disabled, nothing listens.

        Raises MetricsError (address in use, unknown host) before anything is served.
        """
        settings = config.metrics
        if not settings.enabled:
            return cls()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StateCollector(partial(service.state, timeout=SCRAPE_TIMEOUT)))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        where = f"{settings.host}:{settings.port}"
        try:
            server, thread = start_http_server(settings.port, settings.host, registry=registry)
        except OSError as exc:
            raise MetricsError(f"metrics: cannot listen on {where}: "
                               f"{exc.strerror or exc}") from None
        if not _loopback(settings.host):
            log.warning("metrics listen on %s, reachable from other machines: the series hold "
                        "counts only, but anyone who can reach the port can read them", where)
        log.info("metrics on http://%s/metrics", where)
        return cls(server, thread)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()  # waits for serve_forever to return
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
