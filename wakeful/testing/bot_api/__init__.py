"""A local fake of the Telegram Bot API for tests and the demo.

`BotApiCore` holds the state; `LocalBotApiServer` serves it over loopback HTTP and
`InProcessRequest` plugs it straight into PTB without a socket.
"""

from wakeful.testing.bot_api.core import BotApiCore, SentRecord, random_token
from wakeful.testing.bot_api.http import LocalBotApiServer
from wakeful.testing.bot_api.inproc import InProcessRequest

__all__ = ["BotApiCore", "InProcessRequest", "LocalBotApiServer", "SentRecord", "random_token"]
