"""The way in: who may talk to the bot, decided once at the door, before anything is stored."""
