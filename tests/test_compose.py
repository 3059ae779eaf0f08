"""docker-compose.yml and the Dockerfile: the distributed shape (Kafka KRaft, Redis, a
topics job, two workers, two web nodes) wired with real setting names and no secret in
the file. The structure is checked with PyYAML everywhere; ``docker compose config``
runs too where Compose is installed (the plugin, else Compose v1)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from runtime.settings import OPTIONS, load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
KNOWN = {option.env for option in OPTIONS}
WORKERS = ("worker-1", "worker-2")
WEBS = ("web-1", "web-2")
NOTIFIERS = ("notify-1", "notify-2")
APIS = ("api-1", "api-2")
GOVPULSE = ("topics", *WORKERS, *WEBS, *NOTIFIERS, *APIS)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=VALUE list form
        env = dict(entry.split("=", 1) for entry in env)
    return {str(k): str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def test_compose_has_kafka_redis_topics_job_two_workers_two_web_nodes_and_two_notifiers(
    compose: dict[str, Any],
) -> None:
    found = services(compose)

    assert set(found) == {"kafka", "redis", *GOVPULSE}
    assert [command(found[name]) for name in GOVPULSE] == [
        ["govpulse", "topics"],
        ["govpulse", "worker"],
        ["govpulse", "worker"],
        ["govpulse", "web"],
        ["govpulse", "web"],
        ["govpulse", "notify"],
        ["govpulse", "notify"],
        ["govpulse", "api"],
        ["govpulse", "api"],
    ]
    assert found["topics"]["restart"] == "no"


@pytest.mark.parametrize(("name", "repository"), [("kafka", "apache/kafka"), ("redis", "redis")])
def test_infrastructure_uses_official_images_with_pinned_versions(
    compose: dict[str, Any], name: str, repository: str
) -> None:
    image, _, tag = services(compose)[name]["image"].partition(":")

    assert image == repository
    assert re.match(r"\d+\.\d+\.\d+", tag), f"{name} image tag {tag!r} is not a pinned version"


def test_kafka_runs_in_kraft_mode_with_one_broker_reachable_on_the_compose_network(
    compose: dict[str, Any],
) -> None:
    env = environment(services(compose)["kafka"])

    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert "PLAINTEXT://:9092" in env["KAFKA_LISTENERS"].split(",")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["CLUSTER_ID"]
    assert not any("ZOOKEEPER" in key for key in env)


def test_redis_runs_without_persistence_and_never_evicts_board_keys(
    compose: dict[str, Any],
) -> None:
    argv = command(services(compose)["redis"])

    assert argv[0] == "redis-server"
    assert argv[argv.index("--save") + 1] == ""
    assert argv[argv.index("--appendonly") + 1] == "no"
    assert argv[argv.index("--maxmemory-policy") + 1] == "noeviction"


@pytest.mark.parametrize("name", GOVPULSE)
def test_govpulse_services_use_the_built_image_and_real_settings(compose: dict[str, Any], name: str) -> None:
    service = services(compose)[name]
    env = environment(service)

    assert service["build"] == "."
    assert service["image"].startswith("govpulse:")
    assert set(env) <= KNOWN, f"unknown settings {sorted(set(env) - KNOWN)}"
    assert env["GOVPULSE_BROKER_URL"] == "kafka:9092"
    assert env["GOVPULSE_REDIS_URL"] == "redis://redis:6379/0"
    assert env["GOVPULSE_STORE"] == "govmemory://"
    assert env["GOVPULSE_PROFILE"] == "production"


def test_every_govpulse_service_agrees_on_the_partition_count(compose: dict[str, Any]) -> None:
    found = services(compose)
    counts = {environment(found[name])["GOVPULSE_PARTITIONS"] for name in GOVPULSE}

    assert len(counts) == 1
    assert int(counts.pop()) >= 2
    assert environment(found["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


@pytest.mark.parametrize("name", (*WORKERS, *NOTIFIERS))
def test_workers_start_after_the_topics_job_succeeded_and_the_services_are_healthy(
    compose: dict[str, Any], name: str
) -> None:
    depends = services(compose)[name]["depends_on"]

    assert depends == {
        "topics": {"condition": "service_completed_successfully"},
        "kafka": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services(compose)["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}


@pytest.mark.parametrize("name", WEBS)
def test_web_nodes_listen_on_all_interfaces_with_distinct_host_ports(
    compose: dict[str, Any], name: str
) -> None:
    service = services(compose)[name]
    env = environment(service)
    (port,) = service["ports"]
    host, container = str(port).split(":")

    assert env["GOVPULSE_WEB_HOST"] == "0.0.0.0"
    assert container == env["GOVPULSE_WEB_PORT"]
    assert f"http://localhost:{host}" in env["GOVPULSE_ALLOWED_ORIGINS"].split(",")
    assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
    other = next(n for n in WEBS if n != name)
    assert services(compose)[other]["ports"] != service["ports"]


@pytest.mark.parametrize("name", WEBS)
def test_web_nodes_take_the_secret_from_the_environment_without_a_default(
    compose: dict[str, Any], name: str
) -> None:
    value = environment(services(compose)[name])["GOVPULSE_SECRET"]

    # ${VAR:?message}: compose refuses to start when it is unset; never ${VAR:-default}.
    assert re.fullmatch(r"\$\{GOVPULSE_SECRET:\?[^}]+\}", value), value


def test_no_secret_value_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()

    assert "GOVPULSE_SECRET:-" not in text and "GOVPULSE_SECRET-" not in text
    for name, service in services(compose).items():
        secret = environment(service).get("GOVPULSE_SECRET")
        assert secret is None or secret.startswith("${GOVPULSE_SECRET:?"), name
    assert "govpulse-dev-secret" not in text


@pytest.mark.parametrize("name", ["kafka", "redis", *WORKERS, *WEBS, *NOTIFIERS, *APIS])
def test_long_running_services_have_healthchecks(compose: dict[str, Any], name: str) -> None:
    check = services(compose)[name]["healthcheck"]

    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert check.get("interval") and check.get("retries")


def test_web_healthcheck_probes_healthz_on_the_container_port(compose: dict[str, Any]) -> None:
    for name in WEBS:
        service = services(compose)[name]
        probe = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{environment(service)['GOVPULSE_WEB_PORT']}/healthz" in probe


@pytest.mark.parametrize("name", APIS)
def test_api_nodes_listen_on_all_interfaces_with_distinct_host_ports_and_probe_healthz(
    compose: dict[str, Any], name: str
) -> None:
    service = services(compose)[name]
    env = environment(service)
    host, container = service["ports"][0].split(":")

    assert env["GOVPULSE_API_HOST"] == "0.0.0.0"
    assert container == env["GOVPULSE_API_PORT"]
    assert f"http://127.0.0.1:{env['GOVPULSE_API_PORT']}/api/healthz" in " ".join(
        service["healthcheck"]["test"]
    )
    other = next(n for n in APIS if n != name)
    assert host != services(compose)[other]["ports"][0].split(":")[0]


def test_the_compose_environment_loads_as_valid_settings(compose: dict[str, Any]) -> None:
    env = environment(services(compose)["web-1"])
    env["GOVPULSE_SECRET"] = "x" * 32  # what the operator provides

    settings = load_settings(env)

    assert (settings.broker_bootstrap, settings.redis_target, settings.partitions) == (
        "kafka:9092",
        "redis://redis:6379/0",
        12,
    )
    assert settings.production and settings.web_host == "0.0.0.0"


def test_dockerfile_builds_the_project_on_python_3_11_slim() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]

    assert instructions[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN pip install .") for line in instructions)
    assert any(line.startswith("USER ") and line != "USER root" for line in instructions)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".env"} <= set(ignored)


def compose_command() -> list[str] | None:
    """``docker compose`` (the plugin), else Compose v1's ``docker-compose``, else None."""
    if shutil.which("docker") is not None:
        result = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if result.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    return None


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    tool = compose_command()
    if tool is None:
        pytest.skip(
            "neither `docker compose` nor `docker-compose` is installed: `config` not run "
            "(the structure is checked above); `make test` installs Debian's docker-compose as root"
        )
    path = COMPOSE
    if tool == ["docker-compose"]:
        # Compose v1 predates the top-level `name`; everything else must validate as is.
        path = tmp_path / "docker-compose.yml"
        path.write_text(re.sub(r"(?m)^name:.*\n", "", COMPOSE.read_text()))

    def config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*tool, "-f", str(path), "--project-directory", str(ROOT), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin:/usr/local/bin", **env},
        )

    result = config({"GOVPULSE_SECRET": "x" * 32})
    assert result.returncode == 0, result.stderr
    unset = config({})
    assert unset.returncode != 0 and "GOVPULSE_SECRET" in unset.stderr
