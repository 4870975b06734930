"""The files users sent, as the Bot API serves them: getFile and the download URL.

Every file an injected message carries (see `media`) is registered with its declared
size. getFile answers its `file_path` (Telegram's "documents/file_3.pdf" shape), or
refuses a file over the Bot API's 20 MB download limit with Telegram's own "file is too
big". A download serves the content a test registered for the file_id, else
deterministic bytes of the declared size, so a test can compare what landed on disk.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from wakeful.testing.bot_api.errors import JSONDict, bad_request

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files, as api.telegram.org does
_FOLDERS = {"photo": "photos", "document": "documents", "voice": "voice", "sticker": "stickers",
            "video": "videos", "audio": "music", "video_note": "video_notes",
            "animation": "animations"}


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    size: int
    kind: str
    extension: str
    path: str | None = None  # given by the first getFile
    content: bytes | None = None


def default_bytes(file_id: str, size: int) -> bytes:
    """What a download serves for a file whose content no test registered."""
    pattern = hashlib.sha256(file_id.encode()).digest()
    return (pattern * (size // len(pattern) + 1))[:size]


class FileStore:
    """Not thread-safe: the core calls it with its lock held."""

    def __init__(self) -> None:
        self._files: dict[str, _File] = {}
        self._paths: dict[str, _File] = {}
        self.downloads = 0
        self.expired = False  # every download answers 404, as an expired link does

    def register(self, fields: JSONDict) -> None:
        """Remember every file in an injected message's fields."""
        for kind, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and isinstance(item.get("file_id"), str):
                    self._add(kind, item)

    def _add(self, kind: str, item: dict[str, Any]) -> None:
        mime = item.get("mime_type")
        extension = ".jpg" if kind == "photo" else (
            mimetypes.guess_extension(mime) if isinstance(mime, str) else None) or ""
        size = item.get("file_size")
        self._files.setdefault(item["file_id"], _File(
            item["file_id"], str(item.get("file_unique_id") or item["file_id"]),
            size if isinstance(size, int) else 0, kind, extension))

    def set_content(self, file_id: str, content: bytes,
                    declared_size: int | None = None) -> None:
        file = self._files.get(file_id)
        if file is None:
            raise ValueError(f"no file {file_id!r} was sent")
        file.content = content
        file.size = len(content) if declared_size is None else declared_size

    def content(self, file_id: str) -> bytes:
        file = self._files[file_id]
        return file.content if file.content is not None else default_bytes(file_id, file.size)

    def get_file(self, file_id: str | None) -> JSONDict:
        """The getFile handler's answer (or its refusal)."""
        if not file_id:
            raise bad_request("file_id not specified")
        file = self._files.get(file_id)
        if file is None:
            raise bad_request("invalid file_id")
        if file.size > DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        if file.path is None:
            folder = _FOLDERS.get(file.kind, "files")
            file.path = f"{folder}/file_{len(self._paths)}{file.extension}"
            self._paths[file.path] = file
        return {"file_id": file.file_id, "file_unique_id": file.file_unique_id,
                "file_size": file.size, "file_path": file.path}

    def download(self, file_path: str) -> bytes | None:
        """The bytes at a file_path getFile gave out; None: no such file (404)."""
        file = self._paths.get(file_path)
        if file is None or self.expired:
            return None
        self.downloads += 1
        return self.content(file.file_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)
