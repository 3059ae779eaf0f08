"""``govpulse dev`` end to end: the whole embedded stack starts, serves the board, and Ctrl-C stops it all.

``govpulse dev`` runs as a real subprocess on free ports with its data directory in
``tmp_path``. Its process tree is read from ``/proc`` before the Ctrl-C (SIGINT) and
checked again after: every process it started must be gone.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis

from runtime import services

pytestmark = pytest.mark.integration

READY_WITHIN = 15.0  # what `govpulse dev` promises on a developer machine
READY_TIMEOUT = 60.0  # what this test tolerates on a loaded CI machine
EXIT_TIMEOUT = 30.0
READY = re.compile(
    r"govpulse ready in (?P<elapsed>[\d.]+)s — "
    r"wall (?P<wall>\S+) \| leader (?P<leader>\S+) \| indicators (?P<indicators>\S+) "
    r"\| reports (?P<reports>\S+) \| unit (?P<unit>\S+) "
    r"\| broker (?P<broker>\S+) \| redis (?P<redis>\S+)$"
)


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    start: int  # start time in clock ticks since boot: tells a reused pid apart
    argv: tuple[str, ...]

    @property
    def alive(self) -> bool:
        stat = _stat(self.pid)
        return stat is not None and stat[1] == self.start and stat[2] != "Z"

    @property
    def label(self) -> str:
        # redis-server rewrites its argv[0] to "redis-server 127.0.0.1:PORT".
        name = Path(self.argv[0].split(" ")[0]).name if self.argv else "?"
        if "govpulse.cli" in self.argv:
            return f"govpulse {self.argv[self.argv.index('govpulse.cli') + 1]}"
        if name.startswith("tansu"):
            return "tansu"
        if name in ("redis-server", "valkey-server"):
            return "redis-server"
        return name


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time, state) of ``pid``, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces
    return int(fields[1]), int(fields[19]), fields[0]


def descendants(root: int) -> list[Proc]:
    """Every living process below ``root``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry.name))
    out: list[Proc] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        stat = _stat(pid)
        try:
            argv = tuple(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        if stat is not None:
            out.append(Proc(pid, stat[1], argv))
            todo.extend(children.get(pid, []))
    return out


class Dev:
    """A running ``govpulse dev`` with its stdout read line by line in the background."""

    def __init__(self, env: dict[str, str], workdir: Path, *args: str) -> None:
        self.stderr_path = workdir / "dev.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "govpulse.cli", "dev", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # its own process group, like a terminal's foreground job
            )
        self.started = time.monotonic()
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_ready(self, timeout: float) -> tuple[re.Match[str], float]:
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.startswith("govpulse ready"):
                match = READY.match(line)
                assert match is not None, f"unexpected ready line: {line!r}"
                return match, time.monotonic() - self.started
        raise AssertionError(
            f"no 'govpulse ready' line within {timeout:.0f}s (exit code {self.process.poll()}); "
            f"stdout: {self.seen!r}; stderr: {self.stderr()}"
        )

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the foreground process group; return the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(EXIT_TIMEOUT)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(5)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def dev_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GOVPULSE_BROKER_PORT": str(services.free_port()),
        "GOVPULSE_REDIS_PORT": str(services.free_port()),
        "GOVPULSE_WEB_PORT": str(services.free_port()),
        "GOVPULSE_API_PORT": str(services.free_port()),
        "GOVPULSE_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def start_dev(tmp_path: Path) -> Iterator[list[Dev]]:
    """Started ``govpulse dev`` runs; any still running (a failed test) and their children are stopped."""
    runs: list[Dev] = []
    yield runs
    for run in runs:
        left = descendants(run.process.pid)
        run.stop()
        for proc in left:
            if proc.alive:
                os.kill(proc.pid, signal.SIGKILL)


def get(url: str) -> tuple[int, str, bytes]:
    url = url.split("#", 1)[0]  # the token travels in the fragment, never to the server
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def test_dev_starts_the_stack_serves_the_board_and_ctrl_c_stops_every_process(
    dev_env: dict[str, str], tmp_path: Path, start_dev: list[Dev]
) -> None:
    web = f"http://127.0.0.1:{dev_env['GOVPULSE_WEB_PORT']}"
    dev = Dev(dev_env, tmp_path)
    start_dev.append(dev)

    ready, elapsed = dev.wait_ready(READY_TIMEOUT)
    print(
        f"govpulse dev ready after {elapsed:.1f}s (reported {ready['elapsed']}s; target {READY_WITHIN:.0f}s)"
    )

    assert ready["wall"].startswith(f"{web}/#token=")
    assert ready["leader"].startswith(f"{web}/leader#token=")
    assert ready["indicators"].startswith(f"{web}/indicators#token=")
    assert ready["reports"].startswith(f"{web}/reports#token=")
    assert re.fullmatch(rf"{re.escape(web)}/unit/[A-Z0-9-]+#token=\S+", ready["unit"])
    assert ready["broker"] == f"127.0.0.1:{dev_env['GOVPULSE_BROKER_PORT']}"
    assert ready["redis"] == f"redis://127.0.0.1:{dev_env['GOVPULSE_REDIS_PORT']}/0"
    assert elapsed < READY_TIMEOUT

    status, content_type, page = get(ready["wall"])
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    assert b"<html" in page.lower()
    status, content_type, body = get(f"{web}/healthz")
    assert (status, content_type) == (200, "application/json")
    assert orjson.loads(body)["redis"] == "up"

    api_line = dev.lines.get(timeout=10)
    match = re.fullmatch(r"api (?P<docs>\S+) \| key (?P<key>gpk_\S+)", api_line)
    assert match is not None, api_line
    assert match["docs"] == f"http://127.0.0.1:{dev_env['GOVPULSE_API_PORT']}/api/docs"
    status, content_type, body = get(match["docs"].replace("/api/docs", "/api/openapi.json"))
    assert (status, orjson.loads(body)["openapi"]) == (200, "3.1.0")
    request = urllib.request.Request(
        match["docs"].replace("/api/docs", "/api/v1/items/PA-NONE"),
        headers={"Authorization": f"Bearer {match['key']}"},
    )
    with pytest.raises(urllib.error.HTTPError) as missing:  # the key works: 404, not 401
        urllib.request.urlopen(request, timeout=10)
    assert missing.value.code == 404
    missing.value.close()

    children = descendants(dev.process.pid)
    assert sorted(proc.label for proc in children) == [
        "govpulse api",
        "govpulse notify",
        "govpulse simulate",
        "govpulse simulate",  # feedback and tasks, and the indicator reports
        "govpulse web",
        "govpulse worker",
        "redis-server",
        "tansu",
    ], [proc.argv for proc in children]

    stopping = time.monotonic()
    code = dev.interrupt()
    print(f"govpulse dev exited {time.monotonic() - stopping:.1f}s after Ctrl-C")

    assert code == 0, dev.stderr()
    assert [proc.label for proc in children if proc.alive] == []
    for name in ("GOVPULSE_BROKER_PORT", "GOVPULSE_REDIS_PORT", "GOVPULSE_WEB_PORT"):
        assert not services.port_open(int(dev_env[name])), f"{name} still open"
    assert "stopping…" in dev.stderr()


def test_dev_uses_the_redis_at_govpulse_redis_url_instead_of_starting_one(
    dev_env: dict[str, str], tmp_path: Path, start_dev: list[Dev], redis_url: str
) -> None:
    dev = Dev({**dev_env, "GOVPULSE_REDIS_URL": redis_url}, tmp_path, "--no-simulator")
    start_dev.append(dev)

    ready, elapsed = dev.wait_ready(READY_TIMEOUT)
    print(f"govpulse dev (own Redis URL, no simulator) ready after {elapsed:.1f}s")
    children = descendants(dev.process.pid)
    client = redis.Redis.from_url(redis_url)
    try:
        workers = client.hgetall("board:workers")

        assert ready["redis"] == redis_url
        assert sorted(proc.label for proc in children) == [
            "govpulse api",
            "govpulse notify",
            "govpulse web",
            "govpulse worker",
            "tansu",
        ], [proc.argv for proc in children]
        assert not services.port_open(int(dev_env["GOVPULSE_REDIS_PORT"]))
        assert len(workers) == 1  # the worker publishes to the given Redis

        assert dev.interrupt() == 0, dev.stderr()
        assert [proc.label for proc in children if proc.alive] == []
        assert client.ping() is True  # not ours to stop
    finally:
        client.close()
