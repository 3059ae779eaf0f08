"""``govpulse api`` as a process: contract tests generated from its own OpenAPI document
(schemathesis) against the running server, broker and Redis, and the process's context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from api.server import build_context, config
from runtime import services
from runtime.settings import load_settings
from tests.support.apitools import ApiNode, create_key, start_api
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def contract_api(
    broker: services.Service, redis_server: services.Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiNode, str]]:
    """One API for every generated case (on Redis db 3 of the session server)."""
    workdir = tmp_path_factory.mktemp("contract")
    stack = Stack(
        broker_port=broker.port, redis_url=f"redis://127.0.0.1:{redis_server.port}/3", workdir=workdir
    )
    node = start_api({**stack.env, "GOVPULSE_API_SEND_TIMEOUT": "5s"}, workdir / "logs")
    secret = create_key(stack.settings, "contract", rate=100_000.0)
    yield node, secret
    node.stop()


def test_every_operation_answers_as_its_openapi_document_says(contract_api: tuple[ApiNode, str]) -> None:
    # Driven by hand (not schemathesis' pytest plugin, which does not load with this pytest):
    # every operation of the served document, positive cases generated from its schemas.
    node, secret = contract_api
    schema = schemathesis.openapi.from_url(f"{node.base}/api/openapi.json")
    tested = []
    statuses: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        label = operation.label

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                base_url=node.base, headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS
            )
            statuses.setdefault(label, set()).add(response.status_code)  # noqa: B023 (called right here)

        call()
        tested.append(label)

    assert len(tested) >= 7, tested
    assert statuses["POST /api/v1/events"] & {202, 422}, statuses  # generated bodies reached admission
    assert statuses["POST /api/v1/indicators"] & {202, 422}, statuses


def test_the_context_reads_the_configured_data_files(tmp_path: Path) -> None:
    current = load_settings({"GOVPULSE_API_PORT": "0"})
    context = build_context(current)

    assert "P-SAI-GON" in context.catalog and "moi-truong" in context.sla.categories
    assert (config(current).host, config(current, port=1234).port) == ("127.0.0.1", 1234)
