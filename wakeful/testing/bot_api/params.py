"""Typed access to Bot API call parameters, which arrive as JSON values or as form strings."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from wakeful.testing.bot_api.errors import bad_request


class Params:
    """One call's parameters; a wrong type answers 400 the way Telegram words it."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    def present(self, name: str) -> bool:
        return self._raw.get(name) not in (None, "")

    def required_int(self, name: str) -> int:
        value = self.as_int(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def as_int(self, name: str) -> int | None:
        value = self._raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f'field "{name}" must be an Integer')

    def as_float(self, name: str) -> float | None:
        value = self._raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be a Number')
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{name}" must be a Number') from None

    def as_bool(self, name: str) -> bool | None:
        value = self._raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
            return value.strip().lower() in ("true", "1")
        raise bad_request(f'field "{name}" must be a Boolean')

    def as_str(self, name: str) -> str | None:
        value = self._raw.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def as_json(self, name: str) -> Any:
        value = self._raw.get(name)
        if not isinstance(value, str):
            return copy.deepcopy(value)
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
