"""The simulated year of indicator reports: valid, seeded, shaped like the plans, with a truth."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.reports import parse_report
from govpulse.simulator.indicators import IndicatorTruth, SimulatedReport, simulate_year

DATA = Path(__file__).resolve().parents[3] / "domain" / "data"


@pytest.fixture(scope="module")
def catalog() -> IndicatorCatalog:
    return IndicatorCatalog.from_file(DATA / "indicators.toml", Catalog.from_file(DATA / "units.json"))


@pytest.fixture(scope="module")
def year(catalog: IndicatorCatalog) -> tuple[list[SimulatedReport], IndicatorTruth]:
    return simulate_year(catalog, year=2026, seed=7)


def test_every_report_is_valid_and_sent_in_order(
    catalog: IndicatorCatalog, year: tuple[list[SimulatedReport], IndicatorTruth]
) -> None:
    reports, _ = year

    parsed = [parse_report(report.value, catalog)[0] for report in reports]

    assert [r.sent_at for r in reports] == sorted(r.sent_at for r in reports)
    assert all(report.key.decode() == p.unit for report, p in zip(reports, parsed, strict=True))
    assert all(r.sent_at >= p.as_of for r, p in zip(reports, parsed, strict=True))
    assert len({p.event_id for p in parsed}) == len(parsed)


def test_same_seed_same_year(
    catalog: IndicatorCatalog, year: tuple[list[SimulatedReport], IndicatorTruth]
) -> None:
    again, truth = simulate_year(catalog, year=2026, seed=7)

    assert again == year[0] and truth.final == year[1].final


def test_truth_has_units_ending_below_and_above(year: tuple[list[SimulatedReport], IndicatorTruth]) -> None:
    _, truth = year
    below = sum(truth.below(key) for key in truth.final)

    assert 0.15 < below / len(truth.final) < 0.5


def test_disbursement_is_back_loaded_and_revenue_dips_at_tet(
    year: tuple[list[SimulatedReport], IndicatorTruth],
) -> None:
    reports, _ = year

    def monthly(code: str, unit: str) -> list[float]:
        bodies = [orjson.loads(r.value) for r in reports]
        return [
            b["value"]
            for b in sorted(bodies, key=lambda b: b["as_of"])
            if b["indicator"] == code and b["unit"] == unit
        ]

    disbursed = monthly("DT-GIAI-NGAN", "HCM")
    revenue = monthly("NS-THU", "HCM")
    assert disbursed[5] < 0.45 * disbursed[-1]  # under half by the end of June
    gains = [b - a for a, b in zip([0.0, *revenue], revenue, strict=False)]
    assert gains[1] < min(gains[2:])  # February (Tết) is the weakest month
