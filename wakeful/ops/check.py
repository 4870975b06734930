"""PLACEHOLDER (helper A replaces this module)."""

from __future__ import annotations

import argparse

from wakeful.config import Config


def preflight(config: Config) -> list[str]:
    return []


def check_command(args: argparse.Namespace) -> int:
    return 0
