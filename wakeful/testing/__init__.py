"""Test doubles shipped with wakeful: a local Telegram Bot API and a fake Anthropic Messages API.

They live here, not beside the edges they imitate, so that `bots/` and `brain/` hold
only the product. They ship because `wakeful demo` runs on them (no token, no account),
and the tests and benchmarks share them.
"""
