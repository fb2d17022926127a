"""A deployment's startup, readiness and liveness probes in words: a summary for the card, details for the
modal; header values stay masked."""

from __future__ import annotations

import shlex

from bot.gcore.models import Deployment, Probe, ProbeConfig
from formatters.text import MASK, code, escape_mrkdwn, plural, seconds

_PROBE_ORDER = (
    ("startup_probe", "Startup"),
    ("readiness_probe", "Readiness"),
    ("liveness_probe", "Liveness"),
)


def probes(deployment: Deployment) -> list[tuple[str, ProbeConfig | None]]:
    """Each probe's label and configuration, in the order they run."""
    probes = deployment.probes
    return [(label, getattr(probes, attr) if probes else None) for attr, label in _PROBE_ORDER]


def _probe_actions(probe: Probe) -> list[str]:
    found = []
    if probe.http_get is not None:
        port = f" on port {probe.http_get.port}" if probe.http_get.port is not None else ""
        found.append(f"HTTP GET {code(probe.http_get.path)}{port}")
    if probe.tcp_socket is not None:
        found.append(f"TCP port {probe.tcp_socket.port}")
    if probe.exec is not None:
        found.append("exec " + code(shlex.join(probe.exec.command)))
    return found


def probe_summary(config: ProbeConfig | None) -> str:
    """One line for the card: what the probe does and how often."""
    if config is None or not config.enabled:
        return "off"
    if config.probe is None:
        return "on"
    how = " + ".join(_probe_actions(config.probe)) or "on"
    if config.probe.period_seconds:
        how += f", every {seconds(config.probe.period_seconds)}"
    return how


def merged_probe_summaries(deployment: Deployment) -> list[str]:
    """The card's probe lines, probes that read the same sharing one: ``Startup, readiness, liveness: off``."""
    merged: dict[str, list[str]] = {}
    for label, config in probes(deployment):
        merged.setdefault(probe_summary(config), []).append(label)
    lines = []
    for summary, labels in merged.items():
        named = ", ".join([labels[0], *(label.lower() for label in labels[1:])])
        lines.append(f"{named}: {summary}")
    return lines


def probe_details(label: str, config: ProbeConfig | None) -> str:
    """Everything about one probe for the details modal; header values masked."""
    if config is None or not config.enabled:
        return f"*{label}*: off"
    probe = config.probe
    if probe is None:
        return f"*{label}*: on"
    lines = [f"*{label}*: on"]
    if probe.http_get is not None:
        get = probe.http_get
        target = f"{get.host or 'the container'}:{get.port}" if get.port is not None else (get.host or "")
        line = f"HTTP GET {code(get.path)} on {code(target)}"
        if get.scheme:
            line += f" ({escape_mrkdwn(get.scheme)})"
        if get.headers:
            line += " · headers: " + ", ".join(f"{code(name)}: {MASK}" for name in sorted(get.headers))
        lines.append(line)
    if probe.tcp_socket is not None:
        lines.append(f"TCP port {probe.tcp_socket.port}")
    if probe.exec is not None:
        lines.append("exec " + code(shlex.join(probe.exec.command)))
    timing = [
        f"first after {seconds(probe.initial_delay_seconds)}"
        if probe.initial_delay_seconds is not None
        else "",
        f"every {seconds(probe.period_seconds)}" if probe.period_seconds else "",
        f"timeout {seconds(probe.timeout_seconds)}" if probe.timeout_seconds else "",
        f"unhealthy after {plural(probe.failure_threshold, 'failure')}" if probe.failure_threshold else "",
        f"healthy after {plural(probe.success_threshold, 'success')}" if probe.success_threshold else "",
    ]
    if any(timing):
        lines.append(" · ".join(part for part in timing if part))
    return "\n".join(lines)
