"""Slack: the Bolt app, the HTTP ack path, the Web API client and its error classification, pacing, the token."""
