"""wakeful: a Telegram <-> Claude Code bridge that never goes deaf."""
__version__ = "0.1.0"
