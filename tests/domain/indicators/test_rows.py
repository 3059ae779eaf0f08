from __future__ import annotations

from datetime import datetime

from domain.calendar import LOCAL_TZ
from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.rows import complete_rows, sort_rows


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


def row(key: str, status: str, gap: float | None) -> dict[str, object]:
    return {"key": key, "status": status, "gap": gap}


def test_rows_sort_red_first_then_orange_green_grey_and_by_gap() -> None:
    rows = [
        row("a", "grey", None),
        row("b", "green", 0.2),
        row("c", "red", -0.1),
        row("d", "orange", -0.05),
        row("e", "red", -0.4),
        row("f", "green", 0.01),
    ]

    assert [r["key"] for r in sort_rows(rows)] == ["e", "c", "d", "f", "b", "a"]


def test_complete_rows_fill_missing_assignments_as_grey(indicators: IndicatorCatalog) -> None:
    now = local("2026-05-10T10:00")
    stored = {
        "NS-THU|HCM|2026": {"key": "NS-THU|HCM|2026", "status": "red", "gap": -0.2, "owner": "SO-TAI-CHINH"}
    }

    rows = complete_rows(indicators, stored, now=now, owners=["SO-TAI-CHINH"])

    assert rows[0]["key"] == "NS-THU|HCM|2026"
    assert {r["owner"] for r in rows} == {"SO-TAI-CHINH"}
    assert all(r["status"] == "grey" and r["reason"] == "no_report" for r in rows[1:])
    assert not any(r.get("code") == "SO-1022-DUNG-HAN" for r in rows)  # the city's is VP-UBND's
    ward = complete_rows(indicators, {}, now=now, owners=["P-BAN-CO"])
    assert {r["period"] for r in ward if r["code"] == "SO-1022-DUNG-HAN"} == {"2026-05"}
