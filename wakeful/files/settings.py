"""[files]: what wakeful accepts of the files users send, and where it puts them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

# The Bot API's own download limit: getFile refuses anything bigger ("file is too big").
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
FILES_SUBDIR = "telegram-files"


@dataclass(frozen=True)
class FilesConfig:
    # Files bigger than this are not downloaded; the user is told so. At most the Bot
    # API's 20 MB (a local Bot API server in --local mode allows more).
    max_bytes: int = TELEGRAM_DOWNLOAD_LIMIT
    # Where files go when [brain] workdir is unset ({chat_id} allowed). Empty: a
    # directory per chat beside the journal. With a workdir they go to
    # <workdir>/telegram-files, where the brain works.
    dir: str = ""


def files_directory(config: FilesConfig, workdir: str | None, journal_path: str,
                    chat_id: int) -> str:
    """The absolute directory a chat's files are saved in."""
    if workdir:
        return os.path.abspath(os.path.join(os.path.expanduser(workdir), FILES_SUBDIR))
    if config.dir:
        return os.path.abspath(os.path.expanduser(config.dir.replace("{chat_id}",
                                                                     str(chat_id))))
    base = (os.path.join(tempfile.gettempdir(), "wakeful")
            if journal_path == ":memory:" else os.path.dirname(os.path.abspath(journal_path)))
    return os.path.join(base, "files", str(chat_id))
