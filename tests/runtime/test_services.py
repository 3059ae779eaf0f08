"""Starting and stopping child services: ports, waits, the refusals that say how to fix them.

The broker and Redis themselves are started by the session fixtures (tests/conftest.py)
for every integration test; these tests cover the pieces around them with small local
processes and sockets.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from domain.errors import ServiceError
from runtime import services


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something listens on for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_free_port_has_no_listener() -> None:
    assert not services.port_open(services.free_port())


def test_port_open_sees_a_listener(listening: int) -> None:
    assert services.port_open(listening)
    services.wait_for_port(listening, timeout=1, name="listener")  # returns at once


def test_waiting_for_a_port_nobody_opens_times_out_naming_the_service() -> None:
    port = services.free_port()
    started = time.monotonic()

    with pytest.raises(ServiceError, match=rf"^Tansu broker did not listen on port {port} within 0s$"):
        services.wait_for_port(port, timeout=0.3, name="Tansu broker")
    assert time.monotonic() - started < 2


def test_a_process_that_exits_before_listening_is_reported_with_its_exit_code(tmp_path: Path) -> None:
    port = services.free_port()
    process = services.spawn([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "child.log")

    with pytest.raises(ServiceError, match=rf"^Redis server exited with code 3 before listening on {port}$"):
        services.wait_for_port(port, timeout=10, name="Redis server", process=process)


@pytest.mark.parametrize(
    ("start", "variables"),
    [
        (services.start_tansu, "GOVPULSE_BROKER_PORT to a free port, or GOVPULSE_BROKER_URL"),
        (services.start_redis, "GOVPULSE_REDIS_PORT to a free port, or GOVPULSE_REDIS_URL"),
    ],
    ids=["tansu", "redis"],
)
def test_a_port_in_use_is_refused_before_anything_starts(
    start: Callable[..., services.Service], variables: str, listening: int, tmp_path: Path
) -> None:
    with pytest.raises(ServiceError) as refused:
        start(listening, log_dir=tmp_path / "logs")

    assert str(refused.value).startswith(f"port {listening} is already in use; set {variables}")
    assert not (tmp_path / "logs").exists()


def test_spawn_appends_output_to_the_log_and_stop_terminates(tmp_path: Path) -> None:
    log_path = tmp_path / "child.log"
    log_path.write_text("earlier run\n")
    code = "import sys, time; print('ready', flush=True); time.sleep(60)"
    process = services.spawn([sys.executable, "-c", code], log_path, env={"PATH": ""})
    service = services.Service("child", 0, process, log_path)
    deadline = time.monotonic() + 10
    while "ready" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert service.running
    service.stop(timeout=5)
    assert not service.running
    assert process.returncode == -15  # SIGTERM
    assert log_path.read_text() == "earlier run\nready\n"


def test_kill_is_a_sigkill(tmp_path: Path) -> None:
    process = services.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "child.log")
    service = services.Service("child", 0, process, tmp_path / "child.log")

    service.kill()
    assert process.returncode == -9
    service.stop()  # stopping a dead service is a no-op
