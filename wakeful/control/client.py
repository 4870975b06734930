"""PLACEHOLDER (helper B replaces this module)."""

from __future__ import annotations

import argparse


def state_command(args: argparse.Namespace) -> int:
    return 1
