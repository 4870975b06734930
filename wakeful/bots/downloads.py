"""Downloading a file Telegram named (getFile's URL) straight to disk, chunk by chunk.

Runs on the gateway loop. PTB only downloads whole files into memory, so the gateway
streams with its own httpx client: the file is never held in memory, a download over
the limit stops at the first chunk past it (or at once, when the response says its
length), and a download that fails any way leaves nothing in the directory
(`files/store.py`'s NewFile). Failures are raised as the exceptions bots/errors.py
classifies: FileTooBig, FileUnavailable (Telegram would not serve it), and PTB's
NetworkError / TimedOut for what is worth another try. The URL carries the bot token:
it never appears in an error.
"""

from __future__ import annotations

import httpx
from telegram.error import NetworkError, TimedOut

from wakeful.bots.errors import FileTooBig, FileUnavailable
from wakeful.delivery.calls import SavedFile
from wakeful.files import store

# Telegram answers these for a link that expired or was never valid.
_NOT_SERVED = frozenset({401, 403, 404})


async def download(client: httpx.AsyncClient, url: str, directory: str, name: str,
                   max_bytes: int) -> SavedFile:
    """GET `url` into a new file named after `name` in `directory`; where it went."""
    try:
        # Asked for as is: a compressed body would be a size the limit cannot see coming.
        async with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) \
                as response:
            if response.status_code in _NOT_SERVED:
                raise FileUnavailable("Telegram did not serve the file")
            if response.status_code != 200:
                raise NetworkError(f"the download answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FileTooBig(f"{declared} bytes, over the limit of {max_bytes}")
            with store.NewFile(directory, name, max_bytes) as new:
                # As the network hands them over (httpcore reads 64 KB at most at a time).
                async for chunk in response.aiter_bytes():
                    new.write(chunk)
                return new.finish()
    except store.TooBig as exc:
        raise FileTooBig(str(exc)) from None
    except httpx.TimeoutException as exc:
        raise TimedOut(f"the download timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise NetworkError(f"the download failed ({type(exc).__name__})") from None
