from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.catalog import Catalog
from domain.errors import ConfigError
from domain.indicators.catalog import GROUPS, IndicatorCatalog
from tests.support.strategies import json_scalars, json_values

DATA = Path(__file__).resolve().parents[3] / "domain" / "data"


def entry(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": "NS-THU",
        "name_vi": "Thu ngân sách",
        "name_en": "Budget revenue",
        "group": "budget",
        "measure": "tỷ đồng",
        "direction": "higher",
        "kind": "cumulative",
        "cadence": "month",
        "period": "year",
        "owner": "SO-TAI-CHINH",
        "city_target": 1000,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def test_packaged_catalog_covers_every_group_at_city_and_ward_level(indicators: IndicatorCatalog) -> None:
    assert len(indicators) >= 40
    assert {i.group for i in indicators.indicators.values()} == set(GROUPS)
    kinds = {indicators.units.get(a.unit).kind for a in indicators.assignments()}
    assert {"city", "ward", "department"} <= kinds
    assert all(i.name_vi != i.name_en for i in indicators.indicators.values())


def test_packaged_plans_are_back_loaded_for_disbursement_and_dip_at_tet(indicators: IndicatorCatalog) -> None:
    disbursement = indicators.get("DT-GIAI-NGAN").plan
    revenue = indicators.get("NS-THU").plan
    assert disbursement is not None and revenue is not None
    assert disbursement[8] < 0.6  # under 60 % by the end of September
    increments = [b - a for a, b in zip((0.0, *revenue), revenue, strict=False)]
    assert increments[1] == min(increments)  # February (Tết) is the weakest month


def test_city_target_is_owned_by_the_owner_department(indicators: IndicatorCatalog) -> None:
    city = indicators.assignment("NS-THU", "HCM")
    ward = indicators.assignment("NS-THU-PHUONG", "P-BAN-CO")

    assert city is not None and city.owner == "SO-TAI-CHINH"
    assert ward is not None and ward.owner == "P-BAN-CO"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"direction": "up"},
            "indicator NS-THU: direction = 'up' is unknown; use one of ['higher', 'lower']",
        ),
        ({"code": "ns thu"}, "indicator ns thu: code 'ns thu' is not an indicator code; use 2-32 uppercase"),
        (
            {"owner": "SO-NONE"},
            "indicator NS-THU: owner 'SO-NONE' is not in the unit catalog; use a unit code",
        ),
        (
            {"targets": {"P-NOWHERE": 3}},
            "indicator NS-THU: targets: unit 'P-NOWHERE' is not in the unit catalog",
        ),
        ({"city_target": "many"}, "indicator NS-THU: city_target = 'many' is not a finite number"),
        ({"city_target": None}, "indicator NS-THU: has no target; write city_target"),
        (
            {"plan": [0.5, 1.0]},
            "indicator NS-THU: plan needs 12 cumulative shares (one per month of the year)",
        ),
        ({"plan": [0.5] * 11 + [0.9]}, "indicator NS-THU: plan [0.5, 0.5"),
        ({"kind": "level", "plan": [1.0] * 12}, "indicator NS-THU: plan is set on a kind without"),
        (
            {"kind": "ratio"},
            "indicator NS-THU: a ratio is measured in '%', not 'tỷ đồng'; write measure = \"%\"",
        ),
        (
            {"cadence": "year", "period": "month"},
            "indicator NS-THU: cadence 'year' is longer than the period 'month'",
        ),
        ({"level": "ward"}, "indicator NS-THU: unit_target and level go together"),
        ({"derived": "on_time_rate"}, 'indicator NS-THU: derived and source = "derived" go together'),
        (
            {"thresholds": {"margin": 0.02}},
            "indicator NS-THU thresholds: exit_margin 0.025 is above margin 0.02",
        ),
        ({"thresholds": {"min_dwell": "soon"}}, "indicator NS-THU thresholds: min_dwell: min_dwell"),
        ({"colour": "red"}, "indicator NS-THU: key 'colour' is unknown; use only"),
    ],
)
def test_bad_entries_are_refused_naming_file_entry_and_fix(
    units: Catalog, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    path = tmp_path / "indicators.toml"
    with pytest.raises(ConfigError) as caught:
        IndicatorCatalog.from_mapping({"indicator": [entry(**changes)]}, units, path=path)

    assert str(caught.value).startswith(f"indicator catalog file {path}: {message}")


def test_duplicate_codes_and_empty_catalogs_are_refused(units: Catalog) -> None:
    with pytest.raises(ConfigError, match="indicator NS-THU: the code appears twice"):
        IndicatorCatalog.from_mapping({"indicator": [entry(), entry()]}, units)
    with pytest.raises(ConfigError, match=r"\[\[indicator\]\]: no indicators"):
        IndicatorCatalog.from_mapping({}, units)


def test_unreadable_toml_names_the_file(units: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[indicator]\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=f"indicator catalog file {path}: syntax: "):
        IndicatorCatalog.from_file(path, units)


def test_level_targets_reach_every_ward_and_overrides_win(units: Catalog) -> None:
    catalog = IndicatorCatalog.from_mapping(
        {"indicator": [entry(city_target=None, level="ward", unit_target=5, targets={"P-BAN-CO": 7})]}, units
    )
    wards = [u.code for u in units if u.kind in ("ward", "commune", "special_zone")]

    assert {a.unit for a in catalog.assignments()} == set(wards)
    assert catalog.assignment("NS-THU", "P-BAN-CO").target == 7  # type: ignore[union-attr]
    assert catalog.assignment("NS-THU", "P-XUAN-HOA").target == 5  # type: ignore[union-attr]


KEYS = st.sampled_from(
    [
        "code",
        "name_vi",
        "name_en",
        "group",
        "measure",
        "direction",
        "kind",
        "cadence",
        "period",
        "owner",
        "city_target",
        "level",
        "unit_target",
        "targets",
        "plan",
        "source",
        "derived",
        "thresholds",
        "x",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(KEYS, json_values(json_scalars(text_size=8), max_leaves=4), max_size=12),
    st.dictionaries(
        st.sampled_from(["margin", "min_dwell", "min_reports", "y"]), json_scalars(text_size=4), max_size=3
    ),
)
def test_fuzzed_catalog_entries_load_or_are_refused_with_a_config_error(
    units: Catalog, changes: dict[str, Any], defaults: dict[str, Any]
) -> None:
    try:
        catalog = IndicatorCatalog.from_mapping(
            {"defaults": defaults, "indicator": [entry(**changes)]}, units
        )
    except ConfigError as exc:
        assert str(exc).startswith("indicator catalog: ")
    else:
        assert len(catalog) == 1


def test_daily_retention_needed_is_the_longest_derived_period_plus_a_day(
    indicators: IndicatorCatalog, units: Catalog, tmp_path: Path
) -> None:
    assert indicators.daily_retention_needed() == ("SO-1022-DUNG-HAN-QUY", 93)  # a quarter: 92 days
    reported_only = tmp_path / "reported.toml"
    text = (DATA / "indicators.toml").read_text(encoding="utf-8")
    kept = [block for block in text.split("[[indicator]]") if 'source = "derived"' not in block]
    reported_only.write_text("[[indicator]]".join(kept), encoding="utf-8")
    assert IndicatorCatalog.from_file(reported_only, units).daily_retention_needed() is None
