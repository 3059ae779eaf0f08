"""The documents say what the code does, and point only at files in the repository.

docs/events.md is the producers' contract: its field limits, event types, dead-letter
headers and examples are checked against domain/events.py, domain/items.py and
stream/outputs.py, so that a change to one without the other fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.events import MAX_LENGTH, EventType, parse_event
from domain.items import Item, ItemKind, apply_event
from govpulse.simulator.oracle import item_policy
from runtime.settings import load_settings
from stream.outputs import DEAD_LETTER_MAX_VALUE, dead_letter
from stream.stages.items import FEEDBACK, DeadLetter, Message

ROOT = Path(__file__).resolve().parents[1]
EVENTS = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the ``## title`` section of docs/events.md."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", EVENTS, re.M | re.S)
    assert match, f"docs/events.md has no '## {title}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    rows = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header row


def test_every_field_limit_is_the_codes() -> None:
    documented = {}
    for row in table_rows(section("The value: one JSON object")):
        limit = re.match(r"≤ (\d+) characters", row[3])
        if limit:
            documented[row[0].strip("`")] = int(limit.group(1))

    assert documented == dict(MAX_LENGTH)


def test_every_event_type_is_documented_once() -> None:
    documented = [row[0].strip("`") for row in table_rows(section("Event types"))]

    assert documented == [t.value for t in EventType]


def test_every_dead_letter_header_is_documented() -> None:
    documented = {row[0].strip("`") for row in table_rows(section("Dead letters: `gov.deadletter`"))}
    message = Message(FEEDBACK, "gov.feedback", 0, 7, b"PA-1", b"x" * (DEAD_LETTER_MAX_VALUE + 1))
    sent = dead_letter("gov.deadletter", DeadLetter(message, "too large"))

    assert {name for name, _ in sent.headers or []} == documented


def test_the_dead_letter_example_is_what_a_worker_writes() -> None:
    example = section("Dead letters: `gov.deadletter`").split("```\n")[1]
    value = re.search(r"^value:\s+(.*)$", example, re.M)
    assert value
    raw = value.group(1).encode()
    with pytest.raises(Exception) as refused:
        parse_event(raw)
    message = Message(FEEDBACK, "gov.feedback", 3, 1042, b"PA-2026-000123", raw)
    sent = dead_letter("gov.deadletter", DeadLetter(message, str(refused.value)))
    lines = [f"{name}  {value.decode()}" for name, value in sent.headers or []]

    assert [re.sub(r"\s+", "  ", line) for line in lines] == [
        re.sub(r"\s+", "  ", line.removeprefix("headers:").strip())
        for line in example.splitlines()
        if line.strip().startswith(("headers:", "govpulse."))
    ]


def test_the_valid_examples_apply_in_order() -> None:
    policy = item_policy(load_settings({}))
    items: dict[str, Item | None] = {}
    applied = []
    for block in re.findall(r"```json\n(.*?)```", section("Valid events"), re.S):
        event = parse_event(block.encode())
        kind = ItemKind.TASK if event.item_id.startswith("NV-") else ItemKind.FEEDBACK
        outcome = apply_event(items.get(event.item_id), event, policy, kind=kind)
        assert not outcome.duplicate
        items[event.item_id] = outcome.item
        applied.append((event.item_id, event.type.value))

    assert applied == [
        ("PA-2026-000123", "received"),
        ("PA-2026-000123", "transferred"),
        ("PA-2026-000123", "extended"),
        ("PA-2026-000123", "resolved"),
        ("NV-2026-0042", "received"),
        ("NV-2026-0042", "paused"),
        ("NV-2026-0042", "resumed"),
    ]


def repository_texts() -> list[Path]:
    folders = ("domain", "alerts", "runtime", "stream", "web", "govpulse", "bench", "tests", "docs")
    paths = [
        ROOT / "README.md",
        *(p for f in folders for p in (ROOT / f).rglob("*") if p.suffix in (".py", ".md")),
    ]
    return [p for p in paths if p != Path(__file__)]


def test_nothing_points_at_a_file_outside_the_repository() -> None:
    outside = re.compile(r"DESIGN\.md|\.\./shared|/work/shared")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in repository_texts()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]

    assert found == [], "point at docs/events.md, docs/protocol.md or docs/operations.md instead:\n" + (
        "\n".join(found)
    )


def test_indicator_report_fields_and_example_are_the_parsers() -> None:
    import orjson

    from domain.catalog import Catalog
    from domain.indicators.catalog import IndicatorCatalog
    from domain.indicators.reports import FIELDS, parse_report

    text = section("Indicator reports: `gov.indicators`")
    documented = {row[0].strip("`") for row in table_rows(text)}
    assert documented == set(FIELDS)
    settings = load_settings({})
    catalog = IndicatorCatalog.from_file(settings.indicators_file, Catalog.from_file(settings.units_file))
    example = orjson.loads(text.split("```json\n")[1].split("```")[0])
    report, _ = parse_report(orjson.dumps(example), catalog)
    assert report.value == 28.5
