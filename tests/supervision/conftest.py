"""Fixtures: trees of test actors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.supervision.harness import Tree


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
