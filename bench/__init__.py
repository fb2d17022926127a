"""``python -m bench``: the bot's speeds, side by side with what a user would use instead."""
