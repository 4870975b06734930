"""A local fake of the Telegram Bot API for tests and the demo.

`BotApiCore` holds the state; `LocalBotApiServer` serves it over loopback HTTP and
`InProcessRequest` plugs it straight into PTB without a socket. `RateLimits` switches on
Telegram's flood limits; `Photo`, `Document`, `Sticker` and `Voice` are what simulated
users can send besides text.
"""

from wakeful.testing.bot_api.core import BotApiCore, Reply, SentRecord, random_token
from wakeful.testing.bot_api.faults import LossMode
from wakeful.testing.bot_api.http import LocalBotApiServer
from wakeful.testing.bot_api.inproc import InProcessRequest
from wakeful.testing.bot_api.limits import RateLimits, Throttled
from wakeful.testing.bot_api.media import Document, Photo, Sticker, Voice

__all__ = [
    "BotApiCore",
    "Document",
    "InProcessRequest",
    "LocalBotApiServer",
    "LossMode",
    "Photo",
    "RateLimits",
    "Reply",
    "SentRecord",
    "Sticker",
    "Throttled",
    "Voice",
    "random_token",
]
