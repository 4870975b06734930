"""Telegram measures text in UTF-16 code units: limits, entity offsets and lengths alike."""

from __future__ import annotations


def utf16_length(text: str) -> int:
    # An emoji outside the BMP costs two units, so it takes two of a message's 4096.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
