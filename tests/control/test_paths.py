"""Where the socket goes, and the directory rules that keep it the owner's alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wakeful.config import Config, ControlConfig
from wakeful.control.errors import ControlError
from wakeful.control.paths import SocketPlace, prepare_directory, socket_place
from wakeful.state.journal import JournalConfig


def _config(tmp_path: Path, socket: str | None = None) -> Config:
    return Config(journal=JournalConfig(path=str(tmp_path / "state" / "journal.sqlite3")),
                  control=ControlConfig(socket=socket))


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_configured_socket_wins(tmp_path: Path) -> None:
    place = socket_place(_config(tmp_path, str(tmp_path / "mine.sock")),
                         {"XDG_RUNTIME_DIR": "/run/user/1"})
    assert place == SocketPlace(tmp_path / "mine.sock", default=False)


def test_unset_it_lives_in_the_runtime_dir_else_beside_the_journal(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert socket_place(config, {"XDG_RUNTIME_DIR": "/run/user/7"}) == SocketPlace(
        Path("/run/user/7/wakeful/control.sock"), default=True)
    assert socket_place(config, {}) == SocketPlace(
        tmp_path / "state" / "run" / "control.sock", default=True)


def test_a_missing_directory_is_created_private(tmp_path: Path) -> None:
    place = SocketPlace(tmp_path / "a" / "b" / "control.sock", default=False)
    prepare_directory(place)
    assert _mode(place.directory) == 0o700


def test_the_default_directory_is_closed_again_if_someone_opened_it(tmp_path: Path) -> None:
    place = socket_place(_config(tmp_path), {})
    place.directory.mkdir(parents=True)
    place.directory.chmod(0o755)
    prepare_directory(place)
    assert _mode(place.directory) == 0o700


def test_a_chosen_directory_open_to_others_is_refused_not_changed(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o750)
    with pytest.raises(ControlError) as refused:
        prepare_directory(SocketPlace(directory / "control.sock", default=False))
    assert str(refused.value) == (f"socket directory {directory} is open to group or others "
                                  "(mode 0750); make it 0700 or choose another [control] socket")
    assert _mode(directory) == 0o750


def test_a_directory_of_another_owner_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    with pytest.raises(ControlError) as refused:
        # Played by asking on behalf of a uid that does not own it (no root needed).
        prepare_directory(SocketPlace(directory / "control.sock", default=True),
                          uid=os.geteuid() + 4242)
    assert str(refused.value) == (
        f"socket directory {directory} belongs to uid {os.geteuid()}, not to this wakeful "
        f"(uid {os.geteuid() + 4242}); choose another [control] socket")


def test_a_file_where_the_directory_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("")
    with pytest.raises(ControlError, match="is not a directory"):
        prepare_directory(SocketPlace(tmp_path / "run" / "control.sock", default=True))


def test_a_path_too_long_for_a_unix_socket_is_one_clear_line(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120) / "control.sock"
    with pytest.raises(ControlError, match=r"too long for a Unix socket \(\d+ bytes, the limit "
                       r"is 107\); set \[control\] socket to a shorter path"):
        prepare_directory(SocketPlace(deep, default=False))
