"""How a webhook URL may be shown: its scheme and host, never its path.

A webhook's path (and any user:password in it) is usually its secret: whoever knows
it can post fake updates to the bot's server. Logs and `wakeful check` show only
where the webhook points.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def webhook_origin(url: str) -> str:
    """`https://example.com:8443/...` for any URL; `(unparseable URL)` if it is not one."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "(unparseable URL)"
    if not parts.scheme or not host:
        return "(unparseable URL)"
    if ":" in host:
        host = f"[{host}]"  # IPv6
    where = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{where}/..."
