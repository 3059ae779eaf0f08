"""Helpers for the API tests: a real ``govpulse api`` process, keys, and an HTTP client."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.keys import ApiKey, hash_secret, new_secret
from api.store import ApiStore
from domain.catalog import Catalog
from runtime import services
from runtime.services import Service
from runtime.settings import Settings

UNIT_A = "P-SAI-GON"
UNIT_B = "P-BEN-THANH"


@dataclass
class ApiNode:
    """A running API process and how to reach it."""

    service: Service
    port: int
    env: dict[str, str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, secret: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30.0, **kwargs)

    def log(self, lines: int = 60) -> str:
        text = self.service.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        self.service.stop(timeout=10)


def start_api(env: Mapping[str, str], log_dir: Path, *, name: str = "api") -> ApiNode:
    """Start ``govpulse api`` with ``env`` on a free port and wait until it answers."""
    port = services.free_port()
    full = {**os.environ, **env, "GOVPULSE_API_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    argv = [sys.executable, "-m", "govpulse.cli", "api"]
    process = services.spawn(argv, log_path, full)
    service = Service(name, port, process, log_path, argv)
    node = ApiNode(service, port, dict(env))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"govpulse api exited with {process.returncode}:\n{node.log()}")
        try:
            if httpx.get(f"{node.base}/open311/v2/services.json", timeout=1.0).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.kill()
    raise AssertionError(f"govpulse api did not answer within 30 s:\n{node.log()}")


def create_key(settings: Settings, name: str, *, units: Iterable[str] = (), rate: float = 10_000.0) -> str:
    """Store a key record in the settings' Redis; return the key."""
    secret = new_secret()
    key = ApiKey(name=name, key_hash=hash_secret(secret), units=frozenset(units), rate=rate, created_at=0.0)

    async def run() -> None:
        store = ApiStore.from_url(settings.redis_target, Catalog.from_file(settings.units_file))
        try:
            await store.add_key(key)
        finally:
            await store.close()

    asyncio.run(run())
    return secret


def received(
    item_id: str, event_id: str, *, unit: str = UNIT_A, at: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A valid ``received`` event (occurred now unless ``at``)."""
    from domain.events import format_instant

    return {
        "event_id": event_id,
        "item_id": item_id,
        "type": "received",
        "occurred_at": at or format_instant(time.time()),
        "unit": unit,
        "category": "moi-truong",
        **extra,
    }


def event(item_id: str, event_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    """Any event type, occurred now."""
    from domain.events import format_instant

    return {
        "event_id": event_id,
        "item_id": item_id,
        "type": kind,
        "occurred_at": format_instant(time.time()),
        **extra,
    }
