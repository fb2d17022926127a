"""Watching: the pure transition diff, the watcher that polls, the notifier that delivers, paused channels."""
