"""What every benchmark shares: throwaway services, process probes, statistics, results.

Each benchmark starts its own :class:`Deployment` (an in-memory Tansu broker and/or a
Redis server on free ports, in a temporary work directory) and removes it afterwards.
govpulse processes are the real command line (``python -m govpulse.cli worker|web``)
with the deployment's ``GOVPULSE_*`` variables; the developer's own ``GOVPULSE_*``
variables are never passed on.

Process probes read ``/proc`` (Linux): CPU seconds are ``utime + stime`` of
``/proc/<pid>/stat``, resident memory is ``VmRSS`` of ``/proc/<pid>/status``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from runtime import services
from runtime.services import Service
from runtime.settings import Settings, load_settings

log = logging.getLogger(__name__)

PROFILES = ("quick", "full")
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO_DIR = BENCH_DIR.parent
#: Secret of every throwaway web node (the dev profile would accept the public one too).
SECRET = "bench-secret-0123456789abcdef"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A benchmark could not measure what it set out to (the message says what failed)."""


# -- machine and run ---------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``platform.processor()`` as a fallback)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the repository (read-only), or ``None``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_DIR, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def git_dirty() -> bool | None:
    """Whether the working tree has uncommitted changes (``git status --porcelain``)."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip())


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages, rounded."""
    return [round(value, 2) for value in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory, OS and Python of this machine."""
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_bytes": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }


def now_iso() -> str:
    """The current instant, ISO 8601 UTC with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard limit (child processes inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- process probes ----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) that process ``pid`` has used so far.

    Raises:
        OSError: the process is gone.
    """
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces; the rest follows its closing ")".
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` (``VmRSS``).

    Raises:
        OSError: the process is gone.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no VmRSS for pid {pid}")


def child_pid(pid: int, *, timeout: float = 10.0) -> int:
    """The (first) child of ``pid``: the real process when ``pid`` is a wrapper (py-spy)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                children = (task / "children").read_text().split()
                if children:
                    return int(children[0])
        time.sleep(0.05)
    raise BenchError(f"process {pid} started no child within {timeout:.0f}s")


class CpuSampler:
    """Samples the CPU time of some processes every ``interval`` seconds in a thread.

    :meth:`at` interpolates a process's CPU seconds at any wall-clock instant inside the
    sampled span, so a figure can be taken "between the first and the last event"
    even when those instants are known only afterwards.
    """

    def __init__(self, *, interval: float = 0.05) -> None:
        self.interval = interval
        self._pids: dict[str, int] = {}
        self._series: dict[str, tuple[list[float], list[float]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def watch(self, name: str, pid: int) -> None:
        """Start sampling process ``pid`` under ``name`` (replacing an earlier one)."""
        with self._lock:
            self._pids[name] = pid
            self._series[name] = ([], [])
        self._sample(name, pid)

    def _sample(self, name: str, pid: int) -> None:
        try:
            value = cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            with self._lock:
                self._pids.pop(name, None)  # gone: keep its series, stop sampling
            return
        with self._lock:
            times, values = self._series[name]
            times.append(time.time())
            values.append(value)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                pids = list(self._pids.items())
            for name, pid in pids:
                self._sample(name, pid)

    def at(self, name: str, instant: float) -> float:
        """CPU seconds of ``name`` at wall-clock ``instant`` (linear between samples).

        Raises:
            BenchError: ``instant`` is outside the sampled span.
        """
        with self._lock:
            times, values = (list(s) for s in self._series[name])
        if not times or instant < times[0] - self.interval or instant > times[-1] + self.interval:
            raise BenchError(f"no CPU samples of {name} around {instant:.3f}")
        index = bisect.bisect_left(times, instant)
        if index <= 0:
            return values[0]
        if index >= len(times):
            return values[-1]
        t0, t1 = times[index - 1], times[index]
        v0, v1 = values[index - 1], values[index]
        return v0 if t1 == t0 else v0 + (v1 - v0) * (instant - t0) / (t1 - t0)

    def between(self, name: str, start: float, end: float) -> float:
        """CPU seconds ``name`` used between two wall-clock instants."""
        return self.at(name, end) - self.at(name, start)


# -- statistics --------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of sorted values, interpolated linearly."""
    if not ordered:
        return math.nan
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: Iterable[float], *, scale: float = 1.0, digits: int = 1) -> dict[str, Any]:
    """``{"count", "p50", "p90", "p99", "max", "min", "mean"}`` of ``values`` times ``scale``."""
    ordered = sorted(v * scale for v in values)
    if not ordered:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "min": None, "mean": None}
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 0.50), digits),
        "p90": round(percentile(ordered, 0.90), digits),
        "p99": round(percentile(ordered, 0.99), digits),
        "max": round(ordered[-1], digits),
        "min": round(ordered[0], digits),
        "mean": round(sum(ordered) / len(ordered), digits),
    }


# -- services ----------------------------------------------------------------------------


def base_environment() -> dict[str, str]:
    """This process's environment without any ``GOVPULSE_*`` variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVPULSE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Deployment:
    """A throwaway broker and/or Redis, and govpulse processes using them.

    Args:
        name: short name (work directory prefix, app id).
        broker: start an in-memory Tansu broker.
        redis: start a Redis server.
        env: ``GOVPULSE_*`` variables on top of the deployment's own.
        keep: keep the work directory (logs) after :meth:`close`.
    """

    def __init__(
        self,
        name: str,
        *,
        broker: bool = True,
        redis: bool = True,
        env: Mapping[str, str] | None = None,
        keep: bool = False,
    ) -> None:
        self.name = name
        self.keep = keep
        self.workdir = Path(tempfile.mkdtemp(prefix=f"govpulse-bench-{name}-"))
        self.services: list[Service] = []
        self.processes: list[Service] = []
        self.failed = False
        logs = self.workdir / "logs"
        try:
            self.broker = services.start_tansu(services.free_port(), log_dir=logs) if broker else None
            if self.broker is not None:
                self.services.append(self.broker)
            self.redis = services.start_redis(services.free_port(), log_dir=logs) if redis else None
            if self.redis is not None:
                self.services.append(self.redis)
        except BaseException:
            self.close()
            raise
        self.env: dict[str, str] = {
            "GOVPULSE_PROFILE": "dev",
            # A closed port when there is no broker: web nodes then refuse commands only.
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{self.broker.port if self.broker else services.free_port()}",
            "GOVPULSE_APP_ID": f"bench-{name}",
            "GOVPULSE_TOPIC_PREFIX": "bench.",
            "GOVPULSE_DATA_DIR": str(self.workdir / "data"),
            "GOVPULSE_SECRET": SECRET,
            "GOVPULSE_LOG_LEVEL": "info",
            **(env or {}),
        }
        if self.redis is not None:
            self.env["GOVPULSE_REDIS_URL"] = self.redis_url

    @property
    def bootstrap(self) -> str:
        if self.broker is None:
            raise BenchError("this deployment has no broker")
        return f"127.0.0.1:{self.broker.port}"

    @property
    def redis_url(self) -> str:
        if self.redis is None:
            raise BenchError("this deployment has no Redis")
        return f"redis://127.0.0.1:{self.redis.port}/0"

    def settings(self, env: Mapping[str, str] | None = None) -> Settings:
        """The settings govpulse processes of this deployment read."""
        return load_settings({**self.env, **(env or {})})

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.failed = True
        self.close()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        port: int = 0,
    ) -> Service:
        """Start ``argv`` with the deployment's environment; output goes to ``logs/<name>.log``."""
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        try:
            process = subprocess.Popen(
                list(argv),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**base_environment(), **self.env, **(env or {})},
                cwd=REPO_DIR,
                start_new_session=True,
            )
        finally:
            handle.close()
        service = Service(name, port, process, log_path, list(argv))
        self.processes.append(service)
        return service

    def govpulse(
        self,
        name: str,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        port: int = 0,
        py_spy: Path | None = None,
    ) -> Service:
        """Start ``govpulse <command>`` (``worker``, ``web``); under py-spy when ``py_spy``
        names an output file (the profiled process is then the service's child)."""
        argv = [sys.executable, "-m", "govpulse.cli", command]
        if py_spy is not None:
            argv = [
                py_spy_binary(),
                "record",
                "--format",
                "raw",
                "--rate",
                "100",
                "-o",
                str(py_spy),
                "--",
                *argv,
            ]
        return self.start(name, argv, env=env, port=port)

    def close(self) -> None:
        """Stop every process (children first) and service; remove the work directory."""
        for process in reversed(self.processes):
            process.stop(timeout=15)
        for service in reversed(self.services):
            service.stop(timeout=5)
        if self.failed or self.keep:
            log.warning("kept the work directory with the logs: %s", self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def py_spy_binary() -> str:
    """``py-spy`` next to this Python (the project's ``.venv``), else from PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise BenchError("py-spy is not installed; `pip install py-spy` or run without --py-spy")
    return found


class LogWatch:
    """Reads a growing log file line by line, remembering where it stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def lines(self) -> list[str]:
        """Lines added since the last call."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in complete]

    def wait_for(
        self, pattern: re.Pattern[str], *, timeout: float, process: Service | None = None, poll: float = 0.02
    ) -> tuple[re.Match[str], float]:
        """Wait for a line matching ``pattern``; return the match and when it was seen.

        Raises:
            BenchError: timeout, or ``process`` exited first.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                match = pattern.search(line)
                if match is not None:
                    return match, time.time()
            if process is not None and not process.running:
                raise BenchError(
                    f"{process.name} exited with code {process.process.returncode}; see {self.path}"
                )
            time.sleep(poll)
        raise BenchError(f"no line matching {pattern.pattern!r} in {self.path} within {timeout:.0f}s")


#: The worker's line once it owns partitions and rebuilt its indexes (stream.app).
RECOVERED = re.compile(
    r"partitions \[[0-9, ]*\] recovered: rebuilt deadline index for (\d+) items .* in ([0-9.]+)s"
)


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll ``predicate()`` until it returns something truthy.

    Raises:
        BenchError: ``timeout`` seconds passed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")


# -- Kafka -------------------------------------------------------------------------------


Outgoing = tuple[str, bytes | None, bytes]


async def produce(bootstrap: str, messages: Iterable[Outgoing], *, window: int = 5000) -> int:
    """Send ``(topic, key, value)`` messages in order and wait for all; return how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all"
    )
    await producer.start()
    count = 0
    try:
        futures: list[asyncio.Future[Any]] = []
        for topic, key, value in messages:
            futures.append(await producer.send(topic, value, key=key))
            count += 1
            if len(futures) >= window:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return count


class OffsetReader:
    """Reads a consumer group's committed offsets without joining the group."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )

    async def __aenter__(self) -> OffsetReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Committed offset of each partition (0 when none)."""
        out: dict[TopicPartition, int] = {}
        for tp in partitions:
            out[tp] = await self._consumer.committed(tp) or 0
        return out


def topic_partitions(topics: Iterable[str], partitions: int) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for topic in topics for p in range(partitions)]


async def highwaters(bootstrap: str, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
    """High-water marks as Fetch reports them (ListOffsets is wrong on this Tansu build)."""
    from stream.transport import fetch_highwaters

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        listed = await consumer.end_offsets(list(partitions))
    finally:
        await consumer.stop()
    fetched = await fetch_highwaters(bootstrap, list(partitions), listed=listed)
    return {TopicPartition(tp.topic, tp.partition): value for tp, value in fetched.items()}


# -- results -----------------------------------------------------------------------------


@dataclass
class Section:
    """One benchmark's results, with the conditions it ran under."""

    name: str
    data: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)


def run_info(profile: str, *, started: float, load_before: list[float]) -> dict[str, Any]:
    """Metadata every section carries: when, which commit, how loaded the machine was."""
    return {
        "timestamp": now_iso(),
        "profile": profile,
        "commit": git_commit(),
        "dirty": git_dirty(),
        "seconds": round(time.monotonic() - started, 1),
        "loadavg_before": load_before,
        "loadavg_after": load_average(),
    }


def write_results(
    sections: Sequence[Section], *, profile: str, markdown: str, results_dir: Path = RESULTS_DIR
) -> Path:
    """Merge ``sections`` into ``latest.json`` (sections not run now are kept, each with
    its own ``run`` metadata), write a timestamped copy and ``latest.md``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    latest = results_dir / "latest.json"
    previous: dict[str, Any] = {}
    if latest.is_file():
        with contextlib.suppress(orjson.JSONDecodeError, OSError):
            loaded = orjson.loads(latest.read_bytes())
            if isinstance(loaded, dict):
                previous = loaded
    stamp = datetime.now(UTC)
    doc: dict[str, Any] = {
        "timestamp": stamp.isoformat(timespec="seconds"),
        "profile": profile,
        "commit": git_commit(),
        "dirty": git_dirty(),
        "machine": machine_info(),
        "python": platform.python_version(),
        "loadavg": load_average(),
    }
    names = [section.name for section in sections]
    for key, value in previous.items():
        if key not in doc and isinstance(value, dict) and "run" in value and key not in names:
            doc[key] = value
    for section in sections:
        doc[section.name] = {**section.data, "run": section.run}
    doc["sections"] = {
        key: value["run"]["timestamp"]
        for key, value in doc.items()
        if isinstance(value, dict) and "run" in value
    }
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    latest.write_bytes(body + b"\n")
    (results_dir / f"{stamp.strftime('%Y%m%d-%H%M%S')}-{profile}.json").write_bytes(body + b"\n")
    (results_dir / "latest.md").write_text(markdown)
    return latest


def load_latest(results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    """The current ``latest.json`` (empty when there is none)."""
    path = results_dir / "latest.json"
    if not path.is_file():
        return {}
    loaded = orjson.loads(path.read_bytes())
    return loaded if isinstance(loaded, dict) else {}


@contextlib.contextmanager
def timed(what: str) -> Iterator[None]:
    """Log how long a step took."""
    started = time.monotonic()
    yield
    log.info("%s took %.1fs", what, time.monotonic() - started)
