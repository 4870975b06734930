"""Fixtures: trees of test actors, and real services that always get stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.supervision.faults import FaultyGateway
from tests.supervision.harness import Tree
from wakeful.clock import Clock
from wakeful.config import Config
from wakeful.service import Service
from wakeful.state.journal import Journal


@pytest.fixture
def tree() -> Iterator[Callable[..., Tree]]:
    built: list[Tree] = []

    def build(*args: Any, **kwargs: Any) -> Tree:
        t = Tree(*args, **kwargs)
        built.append(t)
        return t

    yield build
    for t in reversed(built):
        t.stop()


@pytest.fixture
def service() -> Iterator[Callable[..., tuple[Service, FaultyGateway]]]:
    """Start the real service with a fault-injecting gateway; stop it after the test."""
    started: list[tuple[Service, FaultyGateway]] = []

    def start(config: Config, clock: Clock | None = None,
              journal: Journal | None = None) -> tuple[Service, FaultyGateway]:
        gateway = FaultyGateway.for_config(config)
        svc = Service(config, clock=clock, gateway=gateway, journal=journal)
        started.append((svc, gateway))
        svc.start()
        return svc, gateway

    yield start
    for svc, gateway in reversed(started):
        gateway.release_all()
        release = getattr(svc.journal, "release_all", None)
        if release is not None:
            release()
        svc.stop(grace=0)
