"""A file name a user chose, made safe to create in a directory of ours. Pure.

The name comes from the sender ("document.file_name") and may be anything: a path
("../../etc/passwd", "/abs", "a/b"), control characters, a dotfile, 10,000 characters.
What comes out is one path component that names a plain, visible file: no separators,
no "..", no control characters, no leading dots, at most MAX_NAME_BYTES of UTF-8, the
extension kept when it can be. Uniqueness in the directory is the store's business
(store.py), since only the file system knows what is there.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_BYTES = 120  # well under every file system's 255, with room for " (99)"
MAX_SUFFIX_CHARS = 16  # an "extension" longer than this is part of the name


def safe_name(name: str | None, fallback: str) -> str:
    """`name` as one safe path component; `fallback` (itself made safe) when nothing is left."""
    cleaned = _clean(name or "")
    if not cleaned:
        cleaned = _clean(fallback) or "file"
    return _cap(cleaned, MAX_NAME_BYTES)


def numbered(name: str, number: int) -> str:
    """`report.pdf`, 2 -> `report (2).pdf`, still within MAX_NAME_BYTES."""
    stem, suffix = split_suffix(name)
    tail = f" ({number}){suffix}"
    return _cap_bytes(stem, MAX_NAME_BYTES - len(tail.encode())) + tail


def split_suffix(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot > MAX_SUFFIX_CHARS:
        return name, ""
    return name[:dot], name[dot:]


def _clean(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    # Whatever a path would make of it, only the last component is a name.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for char in name:
        if char.isspace():
            kept.append(" ")  # tabs, newlines, odd spaces: one plain space
        elif unicodedata.category(char)[0] != "C":
            kept.append(char)  # not control, format (bidi overrides), unassigned, surrogate
    name = " ".join("".join(kept).split())
    # A leading dot hides the file (or is "." / ".."); trailing dots and spaces confuse
    # other systems the file may be copied to.
    return name.lstrip(". ").rstrip(". ")


def _cap(name: str, limit: int) -> str:
    if len(name.encode()) <= limit:
        return name
    stem, suffix = split_suffix(name)
    return _cap_bytes(stem, limit - len(suffix.encode())) + suffix


def _cap_bytes(text: str, limit: int) -> str:
    """The longest prefix of `text` whose UTF-8 is at most `limit` bytes (whole characters)."""
    cut = text.encode()[:max(0, limit)].decode(errors="ignore")
    return cut.rstrip(". ") or "file"
