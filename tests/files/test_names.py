"""File names users choose, made safe; files saved only inside their directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wakeful.files.names import MAX_NAME_BYTES, numbered, safe_name
from wakeful.files.store import UnsafePath, save


@pytest.mark.parametrize(("given", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("/abs/path/name.txt", "name.txt"),
    ("a/b", "b"),
    ("a\\b.doc", "b.doc"),
    ("..", "fallback.bin"),
    ("../", "fallback.bin"),
    ("", "fallback.bin"),
    (None, "fallback.bin"),
    (".bashrc", "bashrc"),
    ("...hidden.txt", "hidden.txt"),
    ("nul\x00in\x00name.txt", "nulinname.txt"),
    ("bell\x07and\x1b[31mred.txt", "belland[31mred.txt"),
    ("new\nline\ttab.txt", "new line tab.txt"),
    ("right\u202eto-left.txt", "rightto-left.txt"),  # a bidi override hides the real suffix
    ("Résumé 2024.pdf", "Résumé 2024.pdf"),
    ("日本語のファイル.txt", "日本語のファイル.txt"),
    ("trailing dots...", "trailing dots"),
])
def test_a_name_becomes_one_plain_visible_component(given: str | None, expected: str) -> None:
    assert safe_name(given, "fallback.bin") == expected


def test_a_very_long_name_is_cut_to_the_limit_and_keeps_its_extension() -> None:
    name = safe_name("x" * 5000 + ".pdf", "f")
    assert name.endswith(".pdf") and len(name.encode()) <= MAX_NAME_BYTES
    wide = safe_name("界" * 500 + ".txt", "f")  # 3 bytes a character: never cut mid-character
    assert wide.endswith(".txt") and len(wide.encode()) <= MAX_NAME_BYTES
    assert wide.encode().decode() == wide


def test_numbered_names_keep_the_extension_and_the_limit() -> None:
    assert numbered("report.pdf", 2) == "report (2).pdf"
    assert numbered("README", 3) == "README (3)"
    assert len(numbered(safe_name("y" * 500 + ".txt", "f"), 99).encode()) <= MAX_NAME_BYTES


def test_saved_files_are_private_and_land_inside_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "chat" / "telegram-files"
    saved = save(str(directory), "../../etc/passwd", b"secret")
    assert saved.path == str(directory / "passwd") and saved.size == 6
    assert Path(saved.path).read_bytes() == b"secret"
    assert stat.S_IMODE(os.stat(saved.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(directory.parent).st_mode) == 0o700
    assert not (tmp_path / "etc").exists()


def test_an_existing_name_gets_a_number_and_is_never_overwritten(tmp_path: Path) -> None:
    first = save(str(tmp_path), "notes.txt", b"one")
    second = save(str(tmp_path), "notes.txt", b"two")
    third = save(str(tmp_path), "notes.txt", b"three")
    assert [Path(p).name for p in (first.path, second.path, third.path)] == \
        ["notes.txt", "notes (2).txt", "notes (3).txt"]
    assert Path(first.path).read_bytes() == b"one"


def test_a_symlink_planted_under_the_name_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep")
    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.txt").symlink_to(outside)
    saved = save(str(files), "notes.txt", b"new")
    assert Path(saved.path).name == "notes (2).txt"
    assert outside.read_bytes() == b"keep"


def test_a_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "files").symlink_to(elsewhere)
    with pytest.raises(UnsafePath):
        save(str(tmp_path / "files"), "a.txt", b"x")
    assert list(elsewhere.iterdir()) == []
