"""``govpulse dev``: the whole embedded stack on one machine, ready in seconds.

Starts (unless given by URL) a Tansu broker and a Redis server, creates the topics, then
runs one worker, one web node, one notifier (with a VAPID key made in the data
directory for Web Push), the HTTP API and the simulator as child processes sharing one
accelerated clock. Prints one line starting with ``govpulse ready`` and the board URLs
once the worker has processed its first event, then a line with the API's docs URL and a
development API key; Ctrl-C (or SIGTERM) stops every process
it started, newest first.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import orjson
import redis

from domain.calendar import format_instant
from domain.catalog import Catalog
from domain.errors import ServiceError
from runtime import services
from runtime.settings import Settings, load_settings, require_secret
from runtime.topics import create_topics

DEFAULT_SPEED = 120.0
READY_TIMEOUT = 90.0


class Stack:
    """The processes ``govpulse dev`` started, stopped in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.services: list[services.Service] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> services.Service:
        log_path = self.log_dir / f"{name}.log"
        process = services.spawn(argv, log_path, env)
        service = services.Service(name, 0, process, log_path, argv)
        self.services.append(service)
        return service

    def add(self, service: services.Service) -> None:
        self.services.append(service)

    def failed(self) -> services.Service | None:
        return next((s for s in self.services if not s.running), None)

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.running:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for service in reversed(self.services):
            try:
                service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.kill()


def run(
    settings: Settings, *, simulator: bool = True, speed: float | None = None, history_days: float = 2.0
) -> int:
    """Run the embedded stack until interrupted; return the exit code.

    Raises:
        ConfigError: ``GOVPULSE_SECRET`` missing outside the dev profile (before anything starts).
    """
    require_secret(settings)
    started = time.monotonic()
    data_dir = settings.data_dir.resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(log_dir)
    stopping = {"flag": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        env = _environment(settings, stack, speed=speed)
        child_settings = load_settings(env)
        asyncio.run(create_topics(child_settings))
        python = sys.executable
        stack.spawn("worker", [python, "-m", "govpulse.cli", "worker"], env)
        stack.spawn("web", [python, "-m", "govpulse.cli", "web"], env)
        stack.spawn("notify", [python, "-m", "govpulse.cli", "notify"], env)
        stack.spawn("api", [python, "-m", "govpulse.cli", "api"], env)
        if simulator:
            start = time.time() - history_days * 86400.0
            start_text = format_instant(start)
            stack.spawn("simulator", [python, "-m", "govpulse.cli", "simulate", "--start", start_text], env)
            # This year's indicator reports: those due by now at once, the rest as the clock runs.
            stack.spawn("indicators", [python, "-m", "govpulse.cli", "simulate", "--indicators"], env)
        _wait_ready(child_settings, stack, stopping, simulator=simulator)
        if stopping["flag"]:
            return 130
        print(_ready_line(child_settings, time.monotonic() - started), flush=True)
        print(_api_line(child_settings), flush=True)
        print(f"logs: {log_dir}  (Ctrl-C stops everything)", flush=True)
        while not stopping["flag"]:
            failed = stack.failed()
            if failed is not None:
                print(
                    f"govpulse dev: {failed.name} exited with code {failed.process.returncode}; "
                    f"see {failed.log_path}",
                    file=sys.stderr,
                )
                print(_tail(failed.log_path), file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except ServiceError as exc:
        print(f"govpulse dev: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", file=sys.stderr, flush=True)
        stack.stop()


def _environment(settings: Settings, stack: Stack, *, speed: float | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()}
    env["GOVPULSE_PROFILE"] = settings.profile
    env.setdefault("PYTHONUNBUFFERED", "1")
    if not settings.broker_url:
        stack.add(services.start_tansu(settings.broker_port, log_dir=stack.log_dir))
        env["GOVPULSE_BROKER_URL"] = f"127.0.0.1:{settings.broker_port}"
    if not settings.redis_url:
        stack.add(services.start_redis(settings.redis_port, log_dir=stack.log_dir))
        env["GOVPULSE_REDIS_URL"] = f"redis://127.0.0.1:{settings.redis_port}/0"
    if services.port_open(
        settings.web_port, settings.web_host if settings.web_host != "0.0.0.0" else "127.0.0.1"
    ):
        raise ServiceError(
            f"port {settings.web_port} is already in use; set GOVPULSE_WEB_PORT to a free port"
        )
    if services.port_open(
        settings.api.port, settings.api.host if settings.api.host != "0.0.0.0" else "127.0.0.1"
    ):
        raise ServiceError(
            f"port {settings.api.port} is already in use; set GOVPULSE_API_PORT to a free port"
        )
    if "GOVPULSE_CLOCK" not in os.environ:
        env["GOVPULSE_CLOCK"] = "accelerated"
        env["GOVPULSE_CLOCK_SPEED"] = str(speed or DEFAULT_SPEED)
    elif speed is not None:
        env["GOVPULSE_CLOCK_SPEED"] = str(speed)
    env.setdefault("GOVPULSE_CLOCK_ORIGIN", f"{time.time():.3f}")
    env["GOVPULSE_DATA_DIR"] = str(settings.data_dir.resolve())
    if not settings.vapid_private_key:
        env["GOVPULSE_VAPID_PRIVATE_KEY"] = str(dev_vapid_key(settings.data_dir.resolve()))
    return env


def dev_vapid_key(data_dir: Path) -> Path:
    """A VAPID key for Web Push in development, made once in the data directory."""
    from py_vapid import Vapid

    path = data_dir / "vapid.pem"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        vapid = Vapid()
        vapid.generate_keys()
        vapid.save_key(str(path))
        path.chmod(0o600)
    return path


def _wait_ready(settings: Settings, stack: Stack, stopping: dict[str, bool], *, simulator: bool) -> None:
    """Wait until the worker reports a processed event (or, without simulator, is up)."""
    client = redis.Redis.from_url(settings.redis_target, socket_timeout=2)
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while time.monotonic() < deadline and not stopping["flag"]:
            failed = stack.failed()
            if failed is not None:
                raise ServiceError(
                    f"{failed.name} exited early; see {failed.log_path}\n{_tail(failed.log_path)}"
                )
            try:
                workers = client.hgetall("board:workers")
            except redis.RedisError:
                workers = {}
            for raw in workers.values():
                info = orjson.loads(raw)
                if info.get("events", 0) > 0 or (not simulator and info.get("partitions")):
                    return
            time.sleep(0.1)
    finally:
        client.close()
    if not stopping["flag"]:
        raise ServiceError(f"the worker processed no event within {READY_TIMEOUT:.0f}s; see {stack.log_dir}")


def _ready_line(settings: Settings, elapsed: float) -> str:
    from web.auth import mint_token

    catalog = Catalog.from_file(settings.units_file)
    secret = require_secret(settings)
    now = time.time()

    # Demo people, so threads and acknowledgements show a name, not "dev".
    subjects = {"wall": "Màn hình phòng điều hành", "leader": "Lãnh đạo (demo)"}

    def link(path: str, scope: str) -> str:
        subject = subjects.get(scope, "Cán bộ đơn vị (demo)")
        token = mint_token(secret, scope=scope, ttl_seconds=8 * 3600, subject=subject, now=now)
        return f"{settings.public_url}{path}#token={token}"

    leaves = catalog.leaves()
    unit = next((u.code for u in leaves if u.kind == "ward"), leaves[0].code)
    return (
        f"govpulse ready in {elapsed:.1f}s — wall {link('/', 'wall')} | leader {link('/leader', 'leader')} "
        f"| indicators {link('/indicators', 'leader')} | reports {link('/reports', 'leader')} "
        f"| unit {link('/unit/' + unit, 'unit:' + unit)} | broker {settings.broker_bootstrap} "
        f"| redis {settings.redis_target}"
    )


def _api_line(settings: Settings) -> str:
    """The API's docs URL and a fresh development key ``dev`` (replacing an older one)."""
    from api.keys import ApiKey, hash_secret, new_secret
    from api.store import ApiStore

    secret = new_secret()

    async def create() -> None:
        store = ApiStore.from_url(settings.redis_target, Catalog.from_file(settings.units_file))
        try:
            await store.revoke("dev")
            await store.add_key(
                ApiKey(
                    name="dev",
                    key_hash=hash_secret(secret),
                    rate=settings.api.default_rate,
                    created_at=time.time(),
                )
            )
        finally:
            await store.close()

    asyncio.run(create())
    return f"api http://{settings.api.host}:{settings.api.port}/api/docs | key {secret}"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
