"""Pydantic models of Gcore Everywhere Inference deployments (cloud v3).

They follow ``shared/seed/gcore-inference-deployment-get.txt`` and the official SDK's field names, and
are lenient on purpose: unknown fields are ignored and an unknown status still parses, so an API change
degrades a card instead of crashing a command.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.errors import ArgumentProblem

# The API takes deployment names of 4 to 30 characters; Gcore builds DNS names from them, so we also hold
# them to lowercase letters, digits and dashes before spending a request on a name that cannot exist.
DEPLOYMENT_NAME_MIN_LENGTH = 4
DEPLOYMENT_NAME_MAX_LENGTH = 30
# The largest project id: Gcore's are 32-bit, and the store keeps them in INTEGER columns. A larger number
# is refused before any query ("integer out of range" on PostgreSQL).
MAX_PROJECT_ID = 2**31 - 1
DEPLOYMENT_NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class DeploymentStatus(StrEnum):
    """The statuses the API documents, plus UNKNOWN for anything newer."""

    DEPLOYING = "DEPLOYING"
    PARTIALLYDEPLOYED = "PARTIALLYDEPLOYED"
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"
    PENDING = "PENDING"
    DELETING = "DELETING"
    UNKNOWN = "UNKNOWN"


class ApiModel(BaseModel):
    """Base of every API model: ignores fields we do not know yet."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class DeployStatus(ApiModel):
    ready: int = 0
    total: int = 0


class ThresholdTrigger(ApiModel):
    threshold: int


class HttpTrigger(ApiModel):
    rate: int
    window: int


class SqsTrigger(ApiModel):
    activation_queue_length: int | None = None
    aws_endpoint: str | None = None
    aws_region: str | None = None
    queue_length: int | None = None
    queue_url: str | None = None
    scale_on_delayed: bool | None = None
    scale_on_flight: bool | None = None
    secret_name: str | None = None


class ScaleTriggers(ApiModel):
    cpu: ThresholdTrigger | None = None
    memory: ThresholdTrigger | None = None
    gpu_memory: ThresholdTrigger | None = None
    gpu_utilization: ThresholdTrigger | None = None
    http: HttpTrigger | None = None
    sqs: SqsTrigger | None = None


class Scale(ApiModel):
    min: int = 0
    max: int = 0
    cooldown_period: int | None = None
    polling_interval: int | None = None
    triggers: ScaleTriggers = Field(default_factory=ScaleTriggers)

    @field_validator("triggers", mode="before")
    @classmethod
    def _null_triggers(cls, value: Any) -> Any:
        return {} if value is None else value


class Container(ApiModel):
    region_id: int
    deploy_status: DeployStatus = Field(default_factory=DeployStatus)
    scale: Scale = Field(default_factory=Scale)
    address: str | None = None
    error_message: str | None = None


class RetentionPolicy(ApiModel):
    period: int | None = None


class Logging(ApiModel):
    enabled: bool = False
    destination_region_id: int | None = None
    topic_name: str | None = None
    retention_policy: RetentionPolicy | None = None


class ExecAction(ApiModel):
    command: list[str] = Field(default_factory=list)


class HttpGetAction(ApiModel):
    path: str = "/"
    port: int | None = None
    host: str | None = None
    # `schema` shadows a BaseModel attribute, hence the alias.
    scheme: str | None = Field(default=None, alias="schema")
    headers: dict[str, str] | None = None


class TcpSocketAction(ApiModel):
    port: int


class Probe(ApiModel):
    exec: ExecAction | None = None
    http_get: HttpGetAction | None = None
    tcp_socket: TcpSocketAction | None = None
    failure_threshold: int | None = None
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    success_threshold: int | None = None
    timeout_seconds: int | None = None


class ProbeConfig(ApiModel):
    enabled: bool = False
    probe: Probe | None = None


class Probes(ApiModel):
    startup_probe: ProbeConfig | None = None
    readiness_probe: ProbeConfig | None = None
    liveness_probe: ProbeConfig | None = None


class IngressOpts(ApiModel):
    disable_response_buffering: bool | None = None


class Deployment(ApiModel):
    """One inference deployment, as ``GET …/deployments/{name}`` and the list endpoint return it."""

    name: str
    project_id: int
    status: str
    address: str | None = None
    auth_enabled: bool = False
    command: list[str] | str | None = None
    containers: list[Container] = Field(default_factory=list)
    created_at: str | None = None
    credentials_name: str | None = None
    description: str | None = None
    envs: dict[str, str] | None = None
    flavor_name: str | None = None
    image: str | None = None
    ingress_opts: IngressOpts | None = None
    listening_port: int | None = None
    logging: Logging | None = None
    probes: Probes | None = None
    timeout: int | None = None
    api_keys: list[str] | None = None

    @field_validator("containers", mode="before")
    @classmethod
    def _null_containers(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def state(self) -> DeploymentStatus:
        """The status as a known enum member, UNKNOWN for values the API did not document."""
        try:
            return DeploymentStatus(self.status.upper())
        except ValueError:
            return DeploymentStatus.UNKNOWN

    @property
    def ready_replicas(self) -> int:
        """Ready replicas summed over every container (region)."""
        return sum(c.deploy_status.ready for c in self.containers)

    @property
    def total_replicas(self) -> int:
        """Wanted replicas summed over every container (region)."""
        return sum(c.deploy_status.total for c in self.containers)


class DeploymentPage(ApiModel):
    """One page of ``GET …/deployments``."""

    count: int
    results: list[Deployment]


class ScaleBounds(ApiModel):
    min: int = 0
    max: int = 0
    # Read as they come (not validated): the watcher keeps only their numbers, in its spec.
    triggers: dict[str, Any] | None = None


class ContainerStatus(ApiModel):
    region_id: int
    deploy_status: DeployStatus = Field(default_factory=DeployStatus)
    scale: ScaleBounds = Field(default_factory=ScaleBounds)
    error_message: str | None = None


class DeploymentStatusView(ApiModel):
    """The part of a deployment the watcher reads: a tenth of the parsing of a full ``Deployment``.

    Besides the status, what its spec is made of (``bot/watch/specs.py``); probes are read unvalidated,
    and env values and probe headers are only ever digested there, never kept.
    """

    name: str
    status: str
    containers: list[ContainerStatus] = Field(default_factory=list)
    image: str | None = None
    flavor_name: str | None = None
    command: list[str] | str | None = None
    listening_port: int | None = None
    auth_enabled: bool = False
    envs: dict[str, Any] | None = None
    probes: dict[str, Any] | None = None

    @field_validator("containers", mode="before")
    @classmethod
    def _null_containers(cls, value: Any) -> Any:
        return [] if value is None else value


class DeploymentStatusPage(ApiModel):
    """One page of ``GET …/deployments``, read for the watcher."""

    count: int
    results: list[DeploymentStatusView]


class LogEntry(ApiModel):
    message: str
    pod: str | None = None
    region_id: int | None = None
    time: str | None = None


class LogPage(ApiModel):
    """One page of ``GET …/deployments/{name}/logs``."""

    count: int
    results: list[LogEntry]


class Region(ApiModel):
    """One region of ``GET /cloud/v1/regions``: the parts the bot shows."""

    id: int
    display_name: str
    slug: str | None = None


class UserActionResource(ApiModel):
    """A resource a user action touched; an inference deployment is ``inference_instance``, by name."""

    resource_id: str
    resource_type: str
    search_field: str | None = None


class UserAction(ApiModel):
    """One entry of Gcore's audit log (``GET /cloud/v1/user_actions``): the parts the bot reads."""

    timestamp: datetime
    action_type: str
    email: str | None = None
    user_id: int | None = None
    resources: list[UserActionResource] = Field(default_factory=list)

    @field_validator("resources", mode="before")
    @classmethod
    def _null_resources(cls, value: Any) -> Any:
        return [] if value is None else value


def deployment_name_problem(name: str) -> ArgumentProblem | None:
    """Why ``name`` cannot be a deployment name, or None when it can."""
    if not DEPLOYMENT_NAME_MIN_LENGTH <= len(name) <= DEPLOYMENT_NAME_MAX_LENGTH:
        return ArgumentProblem.NAME_LENGTH
    if not DEPLOYMENT_NAME_PATTERN.match(name):
        return ArgumentProblem.NAME_CHARACTERS
    return None
