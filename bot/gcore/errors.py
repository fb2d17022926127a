"""What can go wrong talking to Gcore, as typed errors that carry what happened."""

from __future__ import annotations

from bot.errors import UserFacingError


class GcoreError(UserFacingError):
    """Any failure talking to the Gcore API; ``str()`` is for logs, ``formatters.errors`` for people."""


class DeploymentNotFound(GcoreError):
    """The project has no deployment of that name."""

    def __init__(self, project_id: int, name: str) -> None:
        super().__init__(f"no deployment {name!r} in project {project_id}")
        self.project_id, self.name = project_id, name


class ProjectNotFound(GcoreError):
    """The project does not exist, or the key cannot see it."""

    def __init__(self, project_id: int) -> None:
        super().__init__(f"no project {project_id} visible to the key")
        self.project_id = project_id


class GcoreAuthError(GcoreError):
    """The API key was rejected (401) or lacks the permission (403)."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}: the API key was refused")
        self.status_code = status_code


class GcoreRateLimited(GcoreError):
    """Gcore kept answering 429 after our retries."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"rate limited (Retry-After {retry_after})")
        self.retry_after = retry_after


class GcoreUnavailable(GcoreError):
    """Gcore did not answer, or answered 5xx, after our retries; ``status_code`` is the 5xx, None when
    there was no answer (a timeout, or a refused or dropped connection)."""

    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(f"Gcore unavailable: {detail}")
        self.detail, self.status_code = detail, status_code


class GcoreInvalidResponse(GcoreError):
    """Gcore answered something we cannot read."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"invalid Gcore response: {detail}")
        self.detail = detail


class GcoreIncompleteListing(GcoreError):
    """The pages of a listing do not add up to the ``count`` they claim, or do not end."""

    def __init__(self, project_id: int, detail: str) -> None:
        super().__init__(f"incomplete listing of project {project_id}: {detail}")
        self.project_id, self.detail = project_id, detail


class GcoreRequestRejected(GcoreError):
    """Gcore refused the request (a 4xx other than 401, 403, 404, 429). ``api_message`` is Gcore's reason,
    secrets masked, for the log: it is never shown in Slack."""

    def __init__(self, status_code: int, api_message: str) -> None:
        super().__init__(f"HTTP {status_code}: {api_message[:300]}")
        self.status_code, self.api_message = status_code, api_message[:300]


def failure_reason(error: GcoreError) -> str:
    """Why a request failed, as a short code a failed poll stores and ``formatters.outages`` words:
    ``auth:401``, ``no_answer``, ``http:503``, ``rate_limited``, ``invalid``, ``not_found``,
    ``rejected:400`` or ``error``. Never anything Gcore sent, so nothing to escape and no secret."""
    if isinstance(error, GcoreAuthError):
        return f"auth:{error.status_code}"
    if isinstance(error, GcoreUnavailable):
        return "no_answer" if error.status_code is None else f"http:{error.status_code}"
    if isinstance(error, GcoreRateLimited):
        return "rate_limited"
    if isinstance(error, GcoreInvalidResponse | GcoreIncompleteListing):
        return "invalid"
    if isinstance(error, ProjectNotFound):
        return "not_found"
    if isinstance(error, GcoreRequestRejected):
        return f"rejected:{error.status_code}"
    return "error"
