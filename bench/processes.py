"""Starting the bot (or the floor app) as a process, the way a user runs it, and signing requests to it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.remote import GCORE_KEY, RemoteFakes
from tests.fakes.slack_requests import form_body, signed_headers, slash_command
from tests.processes import stop_process

BOT_TOKEN = "xoxb-bench-bot-token"
SIGNING_SECRET = "bench-signing-secret"


def free_port() -> int:
    """A free port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    """A running ``python -m bot`` (or floor app) and what it took to become ready."""

    process: subprocess.Popen[bytes]
    url: str
    ready_seconds: float

    def rss_mib(self) -> float:
        """Resident memory of the process, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        """Stop the process, killing it if it does not stop in time."""
        stop_process(self.process, timeout=15)


def start(module: str, fakes: RemoteFakes, workdir: Path, **extra: str) -> BotProcess:
    """Start ``python -m <module>`` pointed at the fakes and wait (bounded) for its /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GCORE_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fakes.slack_api_url,
        GCORE_API_KEY=GCORE_KEY,
        GCORE_BASE_URL=fakes.gcore_url,
        GCORE_CLOUD_PROJECT_ID="1",
        # The benchmark watches many projects of its own.
        ALLOWED_PROJECT_IDS="*",
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="WARNING",
        DATABASE_URL=f"sqlite:///{workdir / f'bench-{port}.db'}",
    )
    env.update(extra)
    log = (workdir / f"{module.replace('.', '-')}-{port}.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", module], cwd=workdir, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = started + 30
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{module} exited with {process.returncode}; see {log.name}")
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return BotProcess(process, url, time.perf_counter() - started)
            except httpx.TransportError:
                pass
            time.sleep(0.005)
    process.kill()
    raise RuntimeError(f"{module} did not become ready in 30 s")


def signed_command(text: str, response_url: str, channel_id: str = "C0BENCH") -> tuple[str, dict[str, str]]:
    """The body and headers of ``/inference <text>`` as Slack sends it."""
    body = form_body(slash_command(text, response_url=response_url, channel_id=channel_id))
    return body, signed_headers(SIGNING_SECRET, body)
