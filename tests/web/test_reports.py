"""The reports view (sans-I/O): request parsing, scope, ranking per level, classification, trend."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog import Catalog
from domain.classification import Classification
from domain.errors import ConfigError
from domain.reports import Figures, Period
from runtime.reports import latest
from tests.support import strategies
from tests.support.hypothesis_profile import FUZZ
from tests.support.reports import CITY, DEPT, WARD_A, WARD_B, sample_reports
from web.auth import Scope
from web.errors import ReportRequestError
from web.reports import check_scope, months_needed, parse_request, report_document, visible_units

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"
CATALOG = Catalog.from_file(DATA / "units.json")
BANDS = Classification.from_file(DATA / "classification.toml")


def data() -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for report in sample_reports():
        out.setdefault(report.period, {})[report.unit] = report
    return out


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("period=2026-13", 400, "period '2026-13' is not a report period; write a month as 2026-11"),
        ("period=abc", 400, "is not a report period"),
        ("period=2026-11&period=2026-10", 400, "'period' is given 2 times; give it once"),
        ("unit=NOPE", 404, "unit 'NOPE' is not in the unit catalog; check the code"),
    ],
)
def test_bad_requests_get_a_clear_error(query: str, status: int, message: str) -> None:
    with pytest.raises(ReportRequestError) as error:
        parse_request(query, catalog=CATALOG)
    assert error.value.status == status
    assert message in error.value.message


def test_a_good_request_is_read() -> None:
    request = parse_request("period=2026-Q4&unit=P-SAI-GON", catalog=CATALOG)
    assert (request.period, request.unit) == (Period.parse("2026-Q4"), WARD_A)
    assert parse_request("", catalog=CATALOG).period is None


@pytest.mark.parametrize(
    ("scope", "unit", "allowed"),
    [
        (Scope("leader"), WARD_A, True),
        (Scope("wall"), WARD_B, True),
        (Scope("unit", WARD_A), WARD_A, True),
        (Scope("unit", WARD_A), WARD_B, False),
        (Scope("unit", WARD_A), CITY, False),
        (Scope("unit", CITY), WARD_A, True),
    ],
)
def test_a_unit_token_sees_only_its_own_unit_and_those_under_it(
    scope: Scope, unit: str, allowed: bool
) -> None:
    if allowed:
        check_scope(scope, unit, CATALOG)
    else:
        with pytest.raises(ReportRequestError) as error:
            check_scope(scope, unit, CATALOG)
        assert error.value.status == 403
        assert f"unit {unit} is outside this token's scope (unit:{WARD_A})" in error.value.message


def test_visible_units() -> None:
    assert visible_units(Scope("unit", WARD_A), CATALOG) == [WARD_A]
    assert len(visible_units(Scope("leader"), CATALOG)) == len(CATALOG)


def test_months_needed_cover_twelve_periods_back() -> None:
    months = months_needed(Period.parse("2026-Q4"))
    assert len(months) == 36 and months[0] == "2024-01" and months[-1] == "2026-12"


def test_month_document_ranks_within_each_level_and_does_not_classify() -> None:
    doc = report_document(
        Period.parse("2026-11"), data(), catalog=CATALOG, classification=BANDS, scope=Scope("leader")
    )
    rows = {row["unit"]: row for row in doc["rows"]}
    assert (rows[WARD_A]["rank"], rows[WARD_B]["rank"]) == (1, 2)  # 58/60 before 60/80
    assert rows[CITY]["rank"] == 1  # the only city
    assert rows[DEPT]["rank"] is None  # 3 handled, below the minimum volume of 10
    assert rows[WARD_A]["change"] == 0 and rows[WARD_A]["previous_rank"] == 1
    assert rows[WARD_A]["revision"] == 2
    assert rows[WARD_A]["classification"] is None
    assert rows["P-TAN-DINH"]["figures"]["received"] == 0 and rows["P-TAN-DINH"]["revision"] is None
    assert doc["formulas"]["late_rate"]["en"].startswith("Late rate (QĐ 766) = (late still open")
    assert doc["trend"]["units"] == {CITY: [None] * 10 + [0.9, 0.9]}


def test_quarter_document_adds_months_and_classifies_with_the_rule() -> None:
    doc = report_document(
        Period.parse("2026-Q4"), data(), catalog=CATALOG, classification=BANDS, scope=Scope("leader")
    )
    rows = {row["unit"]: row for row in doc["rows"]}
    ward = rows[WARD_A]
    assert ward["figures"]["received"] == 40 + 80 + 120
    assert ward["figures"]["resolved"] == 30 + 60 + 90
    assert ward["revision"] == 2  # one revision after the close, in November
    assert ward["classification"]["band"] == "tot"
    assert ward["classification"]["rule_vi"].startswith("tỉ lệ đúng hạn 96.7 % ≥ 85.0 %")
    assert rows[DEPT]["classification"]["band"] is None


def test_unit_scope_document_holds_only_its_rows_and_its_trend() -> None:
    doc = report_document(
        Period.parse("2026-12"), data(), catalog=CATALOG, classification=BANDS, scope=Scope("unit", WARD_B)
    )
    assert [row["unit"] for row in doc["rows"]] == [WARD_B]
    assert doc["rows"][0]["rank"] == 2  # ranked among every ward
    assert list(doc["trend"]["units"]) == [WARD_B]


def test_rows_carry_figures_by_work_mode_and_category_and_by_assignee_except_on_the_wall() -> None:
    leader = report_document(
        Period.parse("2026-11"), data(), catalog=CATALOG, classification=BANDS, scope=Scope("leader")
    )
    splits = next(row for row in leader["rows"] if row["unit"] == WARD_A)["splits"]
    home = splits["work_mode"]["home"]
    assert (home["received"], home["resolved"], home["on_time"], home["late"]) == (12, 10, 9, 1)
    assert home["on_time_rate"] == 0.9 and home["carried_over"] == 0
    assert splits["category"]["moi-truong"]["received"] == 80
    assert splits["assignee"]["cb-0042"]["on_time_rate"] == 1.0
    own = report_document(
        Period.parse("2026-11"), data(), catalog=CATALOG, classification=BANDS, scope=Scope("unit", WARD_A)
    )
    assert "assignee" in own["rows"][0]["splits"]
    wall = report_document(
        Period.parse("2026-11"), data(), catalog=CATALOG, classification=BANDS, scope=Scope("wall")
    )
    wall_splits = next(row for row in wall["rows"] if row["unit"] == WARD_A)["splits"]
    assert set(wall_splits) == {"work_mode", "category"}


# -- fuzzed inputs: query strings, report records, classification files ----------------------

QUERY_KEYS = st.sampled_from(["period", "unit", "x", "period[]", ""])
QUERY_VALUES = st.sampled_from(["2026-11", "2026-Q4", "2026", "P-SAI-GON", "HCM"]) | st.text(max_size=30)


@FUZZ
@given(
    st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=5) | st.text(max_size=200).map(lambda t: [("", t)])
)
def test_any_query_string_is_a_request_or_a_clear_400_or_404(pairs: list[tuple[str, str]]) -> None:
    query = urlencode(pairs) if all(key for key, _ in pairs) else "".join(value for _, value in pairs)
    try:
        request = parse_request(query, catalog=CATALOG)
    except ReportRequestError as error:
        assert error.status in (400, 404) and error.message and len(error.message) < 300
    else:
        assert request.unit is None or request.unit in CATALOG


@FUZZ
@given(st.lists(strategies.json_values(strategies.json_scalars(text_size=20), max_leaves=30), max_size=6))
def test_any_record_on_the_reports_topic_is_read_or_skipped(values: list[object]) -> None:
    records = [(b"k", orjson.dumps(value)) for value in values] + [(b"k", b"\xff not json")]
    for report in latest(records).values():
        assert report.revision == int(report.revision)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["min_volume", "band", "x"]),
        strategies.json_values(strategies.json_scalars(text_size=10), max_leaves=20)
        | st.lists(
            st.dictionaries(
                st.sampled_from(
                    ["code", "name_vi", "name_en", "min_on_time_rate", "max_late_rate", "min_resolved", "y"]
                ),
                strategies.json_scalars(text_size=10),
            ),
            max_size=4,
        ),
    )
)
def test_any_classification_mapping_is_bands_or_a_config_error(data: dict[str, object]) -> None:
    try:
        classification = Classification.from_mapping(data)
    except ConfigError as error:
        assert str(error).startswith("classification: ")
    else:
        assert classification.bands and classification.place(Figures(resolved=100, on_time=90)) is not None
