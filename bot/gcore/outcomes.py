"""What the client tells its observer of each attempt (``bot.metrics``): which endpoint, named as a template
(``deployments.get``, never the path with a deployment's name in it), and how the attempt ended."""

from __future__ import annotations

import re

import httpx

# The client's deployment paths: the list, one deployment, and its logs, start and stop.
_DEPLOYMENTS = re.compile(
    r"/cloud/v3/inference/\d+/deployments(?P<one>/[^/]+(?:/(?P<verb>logs|start|stop))?)?"
)
_OTHER_ENDPOINTS = {"/cloud/v1/regions": "regions.list", "/cloud/v1/user_actions": "user_actions.list"}


def endpoint_of(path: str) -> str:
    """The template of one of the client's paths: ``deployments.list``, ``deployments.get``,
    ``deployments.logs``, ``deployments.start``, ``deployments.stop``, ``regions.list``,
    ``user_actions.list``; ``other`` for any path the client does not build."""
    found = _DEPLOYMENTS.fullmatch(path)
    if found is None:
        return _OTHER_ENDPOINTS.get(path, "other")
    if found["verb"]:
        return f"deployments.{found['verb']}"
    return "deployments.get" if found["one"] else "deployments.list"


def outcome_of(answer: httpx.Response | Exception) -> str:
    """``ok`` for an answer below 400, else its status code; ``timeout`` when no whole answer came in time
    (the request's deadline, or a read or write timeout); ``connection`` for any other transport failure."""
    if isinstance(answer, httpx.Response):
        return "ok" if answer.status_code < 400 else str(answer.status_code)
    if isinstance(answer, httpx.ConnectTimeout):
        return "connection"
    if isinstance(answer, TimeoutError | httpx.TimeoutException):
        return "timeout"
    return "connection"
