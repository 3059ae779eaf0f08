"""``govpulse report``: a closed period from gov.reports as XLSX, CSV or JSON, and clear
errors for a malformed period, an unknown unit and a period without reports."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook

from govpulse.cli import main
from runtime import services
from runtime.settings import load_settings
from runtime.topics import Topics, create_topics
from tests.support.reports import WARD_A, sample_reports

pytestmark = pytest.mark.integration


@pytest.fixture
def published(broker: services.Service, monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {
        "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
        "GOVPULSE_TOPIC_PREFIX": f"r{uuid.uuid4().hex[:8]}.",
        "GOVPULSE_PARTITIONS": "2",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(environ)

    async def publish() -> None:
        await create_topics(settings)
        producer = AIOKafkaProducer(bootstrap_servers=settings.broker_bootstrap)
        await producer.start()
        try:
            for report in sample_reports():
                value = orjson.dumps(report.to_json())
                await producer.send_and_wait(
                    Topics.for_settings(settings).reports, value, key=report.key.encode()
                )
        finally:
            await producer.stop()

    asyncio.run(publish())


def test_xlsx_of_a_quarter(published: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q4.xlsx"
    assert main(["report", "--period", "2026-Q4", "--format", "xlsx", "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"report 2026-Q4: 189 units written to {out}")
    book = load_workbook(io.BytesIO(out.read_bytes()))
    assert book["Phường"]["A5"].value == WARD_A
    assert book["Phường"]["R5"].value == "Hoàn thành tốt nhiệm vụ"


def test_json_and_csv_of_a_month(
    published: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--period", "2026-11", "--format", "json", "--unit", WARD_A]) == 0
    document = orjson.loads(capsys.readouterr().out)
    assert [row["unit"] for row in document["rows"]] == [WARD_A]
    assert document["rows"][0]["revision"] == 2
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--period", "2026-11", "--format", "csv"]) == 0
    assert (tmp_path / "bao-cao-2026-11.csv").read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-13"], "govpulse report: --period: period '2026-13' is not a report period"),
        (
            ["--period", "2026-11", "--unit", "NOPE"],
            "govpulse report: --unit 'NOPE' is not in the unit catalog",
        ),
        (
            ["--period", "2025-01"],
            "govpulse report: no reports for period 2025-01; the latest closed months are",
        ),
    ],
)
def test_bad_requests_are_one_line_errors(
    published: None, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *args]) == 2
    assert capsys.readouterr().err.startswith(message)
