"""The way out: every call to Telegram, scheduled, formatted and delivered."""
