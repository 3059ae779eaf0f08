"""Rankings (on-time rate, minimum volume, ties by volume, change) and classification bands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domain.classification import Classification, rank
from domain.errors import ConfigError
from domain.reports import Figures

DEFAULT = Path(__file__).resolve().parents[2] / "domain" / "data" / "classification.toml"


def f(resolved: int, on_time: int, *, received: int = 0, carried: int = 0, late_open: int = 0) -> Figures:
    return Figures(
        received=received or resolved,
        carried_over=carried,
        resolved=resolved,
        on_time=on_time,
        late=resolved - on_time,
        late_open=late_open,
    )


def test_units_are_ranked_by_on_time_rate_then_volume_with_shared_ranks() -> None:
    figures = {
        "A": f(100, 90),  # 90 %
        "B": f(50, 45),  # 90 %, fewer handled
        "C": f(20, 20),  # 100 %
        "D": f(100, 90),  # same as A: shared rank
        "E": f(5, 5),  # below the minimum volume
        "F": f(0, 0),
    }
    result = {r.unit: r.rank for r in rank(figures, min_volume=10)}
    assert result == {"C": 1, "A": 2, "D": 2, "B": 4, "E": None, "F": None}


def test_ranking_lists_ranked_units_first_then_the_unranked() -> None:
    ordered = [r.unit for r in rank({"X": f(3, 3), "Y": f(10, 5), "Z": f(10, 9)}, min_volume=10)]
    assert ordered == ["Z", "Y", "X"]


def test_change_is_previous_rank_minus_current() -> None:
    previous = {"A": f(10, 10), "B": f(10, 5), "C": f(2, 2)}
    current = {"A": f(10, 5), "B": f(10, 10), "C": f(10, 1)}
    result = {
        r.unit: (r.rank, r.previous_rank, r.change) for r in rank(current, min_volume=10, previous=previous)
    }
    assert result == {"B": (1, 2, 1), "A": (2, 1, -1), "C": (3, None, None)}


@pytest.mark.parametrize(
    ("figures", "band", "rule"),
    [
        (f(100, 98), "xuat-sac", "on-time rate 98.0 % ≥ 95.0 % and late rate 2.0 % ≤ 2.0 %"),
        # 96 % on time but 4 % late: not xuất sắc, the next band that holds is tốt.
        (f(100, 96), "tot", "on-time rate 96.0 % ≥ 85.0 % and late rate 4.0 % ≤ 5.0 %"),
        (f(100, 90), "hoan-thanh", "on-time rate 90.0 % ≥ 70.0 %"),
        (f(100, 50), "khong-hoan-thanh", "met none of the bands above"),
        (f(9, 9), None, "fewer than 10 items resolved (9)"),
    ],
)
def test_default_bands_place_units_and_say_which_rule(figures: Figures, band: str | None, rule: str) -> None:
    placement = Classification.from_file(DEFAULT).place(figures)
    assert (placement.band.code if placement.band else None) == band
    assert placement.rule_en == rule


def test_vietnamese_rule_text() -> None:
    placement = Classification.from_file(DEFAULT).place(f(100, 75))
    assert placement.rule_vi == "tỉ lệ đúng hạn 75.0 % ≥ 70.0 %"
    assert placement.to_json()["name_vi"] == "Hoàn thành nhiệm vụ"


GOOD_BAND = {"code": "a", "name_vi": "A", "name_en": "A"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "band: there are no [[band]] tables; add at least one [[band]]"),
        (
            {"band": [{"code": "a", "name_vi": "A"}]},
            'band #1: name_en: is missing or empty; write name_en = "…" in the band',
        ),
        (
            {"band": [{**GOOD_BAND, "min_on_time_rate": 95}]},
            "band #1: min_on_time_rate = 95: is not a share between 0 and 1; "
            "write min_on_time_rate = 0.95 for 95 %",
        ),
        (
            {"band": [{**GOOD_BAND, "colour": "red"}]},
            "band #1: colour: is not a band setting; use only code, name_vi",
        ),
        (
            {"band": [{**GOOD_BAND, "min_resolved": -1}]},
            "band #1: min_resolved = -1: is not a whole number >= 0; write min_resolved = 20",
        ),
        (
            {"band": [GOOD_BAND, GOOD_BAND]},
            "band #2: code = 'a': is used by an earlier band; give each band its own code",
        ),
        (
            {"band": [{**GOOD_BAND, "max_late_rate": 0.1}]},
            "band #1 (a): the last band has conditions, so some units would fit no band",
        ),
        (
            {"min_volume": "ten", "band": [GOOD_BAND]},
            "min_volume = 'ten': is not a whole number >= 0; write min_volume = 10",
        ),
    ],
)
def test_bad_classification_file_is_refused_with_the_entry_and_the_fix(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        Classification.from_mapping(data, path=Path("bands.toml"))
    assert str(error.value).startswith("classification file bands.toml: ")
    assert message in str(error.value)


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bands.toml"
    bad.write_text("[[band]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"classification file .*bands.toml: syntax: .*; write valid TOML"):
        Classification.from_file(bad)
