"""Queue modes as data: names, defaults, what each implies."""

from __future__ import annotations

from wakeful.chat_policy import QUEUE_MODES
from wakeful.config import ChatsConfig
from wakeful.conversation import modes
from wakeful.conversation.modes import Mode


def test_steer_is_the_default_everywhere() -> None:
    assert modes.DEFAULT is Mode.STEER
    assert ChatsConfig().mode == Mode.STEER.value


def test_the_configs_mode_names_are_the_conversations() -> None:
    assert tuple(QUEUE_MODES) == tuple(m.value for m in Mode)


def test_parse_is_forgiving_about_case_and_spaces_and_strict_about_names() -> None:
    assert modes.parse(" Collect ") is Mode.COLLECT
    assert modes.parse("fast") is None
    assert modes.parse(None) is None


def test_what_each_mode_implies() -> None:
    assert [m for m in Mode if m.follows_up] == [Mode.STEER, Mode.INTERRUPT]
    assert [m for m in Mode if not m.merges] == [Mode.QUEUE]
    assert set(modes.DESCRIPTIONS) == set(Mode)
