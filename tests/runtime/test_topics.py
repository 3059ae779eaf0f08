"""Topic names (contract names kept, internal ones under the app id, one prefix for all)
and their creation on a real broker."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import ServiceError
from runtime import services
from runtime.settings import load_settings
from runtime.topics import ALERTS, COMMANDS, DEADLETTER, FEEDBACK, TASKS, Topics, create_topics


def test_contract_topics_keep_their_names_and_internal_ones_carry_the_app_id() -> None:
    topics = Topics.for_settings(load_settings({}))

    assert (FEEDBACK, TASKS, ALERTS, DEADLETTER, COMMANDS) == (
        "gov.feedback",
        "gov.tasks",
        "gov.alerts",
        "gov.deadletter",
        "gov.commands",
    )
    assert topics.all() == (
        "gov.feedback",
        "gov.tasks",
        "gov.alerts",
        "gov.deadletter",
        "gov.commands",
        "govpulse.item-ticks",
        "govpulse.transitions",
        "govpulse.signals",
        "gov.indicators",
        "govpulse.indicator-ticks",
        "gov.reports",
    )


def test_the_prefix_applies_to_every_topic_and_the_app_id_to_internal_ones() -> None:
    topics = Topics.for_settings(load_settings({"GOVPULSE_TOPIC_PREFIX": "t1.", "GOVPULSE_APP_ID": "city"}))

    assert topics == Topics(
        feedback="t1.gov.feedback",
        tasks="t1.gov.tasks",
        alerts="t1.gov.alerts",
        deadletter="t1.gov.deadletter",
        commands="t1.gov.commands",
        item_ticks="t1.city.item-ticks",
        transitions="t1.city.transitions",
        signals="t1.city.signals",
        indicators="t1.gov.indicators",
        indicator_ticks="t1.city.indicator-ticks",
        reports="t1.gov.reports",
    )


@pytest.mark.integration
async def test_create_topics_creates_the_missing_ones_once(broker: services.Service) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    settings = load_settings(
        {
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
            "GOVPULSE_TOPIC_PREFIX": prefix,
            "GOVPULSE_PARTITIONS": "2",
        }
    )

    assert await create_topics(settings) == list(Topics.for_settings(settings).all())
    assert await create_topics(settings) == []


@pytest.mark.integration
async def test_a_partition_count_other_than_the_settings_is_refused(broker: services.Service) -> None:
    environ = {
        "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
        "GOVPULSE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
    }
    await create_topics(load_settings({**environ, "GOVPULSE_PARTITIONS": "2"}))

    with pytest.raises(ServiceError) as refused:
        await create_topics(load_settings({**environ, "GOVPULSE_PARTITIONS": "3"}))
    assert str(refused.value) == (
        f"topic {environ['GOVPULSE_TOPIC_PREFIX']}gov.feedback has 2 partitions, expected "
        "GOVPULSE_PARTITIONS=3; co-partitioning needs them equal"
    )


@pytest.mark.integration
async def test_an_unreachable_broker_is_a_service_error_naming_the_fix() -> None:
    port = services.free_port()
    settings = load_settings({"GOVPULSE_BROKER_URL": f"127.0.0.1:{port}"})

    with pytest.raises(
        ServiceError,
        match=(
            rf"^broker 127\.0\.0\.1:{port} unreachable: .*; "
            r"check GOVPULSE_BROKER_URL or start it with `govpulse dev`$"
        ),
    ):
        await create_topics(settings, timeout=0.5)
