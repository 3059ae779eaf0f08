"""``govpulse indicators`` against a real Redis: table and JSON, filters, errors."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
import redis

from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from govpulse.cli import main
from runtime.board import INDICATORS_KEY
from tests.web.test_indicators import red_row

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"


@pytest.fixture
def board(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    catalog = IndicatorCatalog.from_file(DATA / "indicators.toml", Catalog.from_file(DATA / "units.json"))
    row = red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-BAN-CO", time.time())
    client = redis.Redis.from_url(redis_url)
    client.delete(INDICATORS_KEY)
    client.hset(INDICATORS_KEY, row["key"], orjson.dumps(row))
    monkeypatch.setenv("GOVPULSE_REDIS_URL", redis_url)
    return str(row["key"])


def test_a_units_red_indicators_as_a_table(board: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["indicators", "--unit", "P-BAN-CO", "--status", "red"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["STATUS", "INDICATOR", "UNIT", "PERIOD"]
    assert len(lines) == 2 and lines[1].split()[:3] == ["red", "DT-GIAI-NGAN-PHUONG", "P-BAN-CO"]


def test_json_lists_every_assignment_of_the_unit_worst_first(
    board: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["indicators", "--unit", "P-BAN-CO", "--json"]) == 0

    rows = orjson.loads(capsys.readouterr().out)
    assert rows[0]["key"] == board and {r["owner"] for r in rows} == {"P-BAN-CO"}
    assert rows[-1]["status"] == "grey"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--unit", "P-NOWHERE"], "unknown unit 'P-NOWHERE': not in the unit catalog (GOVPULSE_UNITS_FILE)"),
        (["--status", "purple"], "unknown status 'purple': use red, orange, green or grey"),
    ],
)
def test_bad_filters_say_what_to_use(
    board: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["indicators", *argv]) == 1

    assert capsys.readouterr().err.strip() == message
