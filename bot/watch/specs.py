"""A deployment's compact spec, and what changed in it: pure, so every rule is tested without a server.

The spec is what a person changes to make a rollout: image, flavor, command, listening port, auth, the
regions with their scale and triggers, the probes, the env variables. It is kept as a flat tuple of
``key, value, key, value, …`` (cheap to hold for ten thousand deployments, cheap to compare). Values that
may be secret (env values, the command, probe headers and exec commands) are kept only as a short keyed
digest: a change is noticed, the value is never held, stored, logged or shown.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.gcore.models import DeploymentStatusView

# A spec: ("image", "nginx:1.25", "scale/1", "1-3", …), keys sorted.
Spec = tuple[str, ...]
# Every value is cut to this many characters (an image reference is the longest in practice).
SPEC_VALUE_MAX_CHARS = 200
# Keys of fields kept only as a digest; a change of one shows no value.
SECRET_FIELDS = frozenset({"command", "env", "probe-secret"})
_PERSON = b"inference-spec"
# The spec entry naming the key its digests were made with (a digest of the key, never the key).
DIGEST_KEY_ENTRY = "digest-key"
_PROBES = ("startup_probe", "readiness_probe", "liveness_probe")


@dataclass(frozen=True)
class Change:
    """One difference between two specs, as data the formatters word.

    ``field`` is image, flavor, command, port, auth, region, scale, triggers, probe or env; ``item`` the
    region id, probe (startup, readiness, liveness) or env variable it is about; ``how`` added, removed or
    changed. ``old`` and ``new`` are None for what is never shown (env values, command, probe secrets).
    """

    field: str
    item: str = ""
    old: str | None = None
    new: str | None = None
    how: str = "changed"


def digest_key(secret: str) -> bytes:
    """The key of the spec's digests, derived from a secret the database never holds (the Gcore API key):
    without it a stored digest cannot be checked against guessed values."""
    return hashlib.blake2b(secret.encode("utf-8"), digest_size=32, person=b"inference-dkey").digest()


def _digest(key: bytes, *parts: str) -> str:
    blake = hashlib.blake2b(digest_size=8, person=_PERSON, key=key)
    for part in parts:
        blake.update(part.encode("utf-8", "replace"))
        blake.update(b"\0")
    return blake.hexdigest()


def _text(value: Any) -> str:
    return sys.intern(str(value)[:SPEC_VALUE_MAX_CHARS])


def _triggers(triggers: Mapping[str, Any] | None) -> str:
    """``cpu 80 · http 10/60s``: each trigger's own numbers, in name order."""
    words = []
    for name, trigger in sorted((triggers or {}).items()):
        if not isinstance(trigger, Mapping):
            continue
        if "threshold" in trigger:
            words.append(f"{name} {trigger['threshold']}")
        elif "rate" in trigger:
            words.append(f"{name} {trigger.get('rate')}/{trigger.get('window')}s")
        else:
            words.append(f"{name} {_digest(b'', repr(sorted(trigger.items())))[:6]}")
    return " · ".join(words) or "none"


def _probe(config: Any, secret_key: bytes) -> tuple[str, str | None]:
    """A probe's shown settings (``http /healthz :80 · every 5s``…) and the digest of its secret parts."""
    if (
        not isinstance(config, Mapping)
        or not config.get("enabled")
        or not isinstance(config.get("probe"), Mapping)
    ):
        return "off", None
    probe: Mapping[str, Any] = config["probe"]
    words = []
    http, tcp, exe = probe.get("http_get"), probe.get("tcp_socket"), probe.get("exec")
    secret: list[str] = []
    if isinstance(http, Mapping):
        words.append(f"http {http.get('path', '/')} :{http.get('port')}")
        for header, value in sorted((http.get("headers") or {}).items()):
            secret.extend((str(header), str(value)))
    if isinstance(tcp, Mapping):
        words.append(f"tcp :{tcp.get('port')}")
    if isinstance(exe, Mapping):
        words.append("exec")
        secret.extend(str(part) for part in exe.get("command") or ())
    for key, label in (
        ("period_seconds", "every {}s"),
        ("timeout_seconds", "timeout {}s"),
        ("initial_delay_seconds", "delay {}s"),
        ("failure_threshold", "fails after {}"),
        ("success_threshold", "ok after {}"),
    ):
        if probe.get(key) is not None:
            words.append(label.format(probe[key]))
    return " · ".join(words), (_digest(secret_key, *secret) if secret else None)


def spec_of(deployment: DeploymentStatusView, secret_key: bytes = b"") -> Spec:
    """The compact spec of a deployment as the list endpoint gave it; ``secret_key`` (``digest_key``)
    keys the digests of what may be secret."""
    spec: dict[str, str] = {DIGEST_KEY_ENTRY: _digest(secret_key, "key id")}
    for key, value in (
        ("image", deployment.image),
        ("flavor", deployment.flavor_name),
        ("port", deployment.listening_port),
    ):
        if value is not None:
            spec[key] = _text(value)
    spec["auth"] = "on" if deployment.auth_enabled else "off"
    command = deployment.command
    if command:
        spec["command"] = _digest(secret_key, *(command if isinstance(command, list) else [command]))
    for container in deployment.containers:
        region = container.region_id
        spec[f"scale/{region}"] = f"{container.scale.min}-{container.scale.max}"
        spec[f"triggers/{region}"] = _text(_triggers(container.scale.triggers))
    for kind in _PROBES:
        shown, secret = _probe((deployment.probes or {}).get(kind), secret_key)
        name = kind.removesuffix("_probe")
        spec[f"probe/{name}"] = _text(shown)
        if secret is not None:
            spec[f"probe-secret/{name}"] = secret
    for variable, value in (deployment.envs or {}).items():
        spec[f"env/{_text(variable)}"] = _digest(secret_key, str(variable), str(value))
    flat: list[str] = []
    for key in sorted(spec):
        flat.extend((sys.intern(key), spec[key]))
    return tuple(flat)


def spec_dict(spec: Spec) -> dict[str, str]:
    """The spec as a mapping of key to value (how it is stored)."""
    return dict(zip(spec[0::2], spec[1::2], strict=True))


def spec_from(data: Mapping[str, Any]) -> Spec:
    """A stored spec back as a spec."""
    flat: list[str] = []
    for key in sorted(data):
        flat.extend((sys.intern(str(key)), sys.intern(str(data[key]))))
    return tuple(flat)


def spec_changes(old: Spec | None, new: Spec | None) -> tuple[Change, ...]:
    """What changed from ``old`` to ``new``; nothing when either is unknown (a baseline invents nothing)."""
    if old is None or new is None or old == new:
        return ()
    before, after = spec_dict(old), spec_dict(new)
    # Digests made with another key (the API key was rotated, or the spec predates keys) cannot be
    # compared: their fields are a new baseline, not a change.
    rekeyed = before.pop(DIGEST_KEY_ENTRY, None) != after.pop(DIGEST_KEY_ENTRY, None)
    regions_added = {key.split("/", 1)[1] for key in after if key.startswith("scale/") and key not in before}
    regions_gone = {key.split("/", 1)[1] for key in before if key.startswith("scale/") and key not in after}
    found: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        field, _, item = key.partition("/")
        if rekeyed and field in SECRET_FIELDS:
            continue
        if field in ("scale", "triggers") and item in regions_added | regions_gone:
            if field == "scale":
                found.append(Change("region", item, how="added" if item in regions_added else "removed"))
            continue
        if field == "probe-secret":
            shown_before, shown_after = before.get(f"probe/{item}"), after.get(f"probe/{item}")
            if shown_before != shown_after or shown_after == "off":
                continue  # told as the probe's own change
            found.append(Change("probe", item))
            continue
        how = "added" if was is None else "removed" if now is None else "changed"
        if field in SECRET_FIELDS:
            found.append(Change(field, item, how=how))
        else:
            found.append(Change(field, item, was, now, how))
    return tuple(found)
