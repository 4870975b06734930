"""The one exception of the control socket: a problem worded for the operator in one line."""

from __future__ import annotations


class ControlError(Exception):
    """Why the control socket cannot be served or reached, in one line (no traceback)."""
