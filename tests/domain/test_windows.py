"""Counter windows aligned to local midnight (UTC+7) and the 25th-12:00 reporting period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.calendar import LOCAL_TZ
from domain.errors import ConfigError
from domain.windows import DAY, WindowSpec, window_specs

M = 60.0
H = 3600.0


def local(text: str) -> float:
    """Epoch seconds of a local (Asia/Ho_Chi_Minh) ``YYYY-MM-DD HH:MM[:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def specs() -> dict[str, WindowSpec]:
    built = window_specs(["5m", "1h", "2h", "6h", "1d", "period"], {})
    return {spec.name: spec for spec in built}


@pytest.mark.parametrize(
    ("name", "at", "start"),
    [
        ("5m", local("2026-03-02 10:07:30"), local("2026-03-02 10:05")),
        ("5m", local("2026-03-02 10:05"), local("2026-03-02 10:05")),
        ("5m", local("2026-03-02 00:04:59"), local("2026-03-02 00:00")),
        ("1h", local("2026-03-02 10:59:59"), local("2026-03-02 10:00")),
        ("1h", local("2026-03-02 00:00"), local("2026-03-02 00:00")),
        # 2h and 6h windows start at even / 6-hour local times; UTC alignment would be 07:00 local.
        ("2h", local("2026-03-02 07:30"), local("2026-03-02 06:00")),
        ("2h", local("2026-03-02 08:30"), local("2026-03-02 08:00")),
        ("6h", local("2026-03-02 06:59"), local("2026-03-02 06:00")),
        ("6h", local("2026-03-02 05:00"), local("2026-03-02 00:00")),
        # The local day starts at 17:00 UTC the day before.
        ("1d", local("2026-03-02 06:30"), utc("2026-03-01 17:00")),
        ("1d", utc("2026-03-01 23:30"), local("2026-03-02 00:00")),
        ("1d", utc("2026-03-01 16:59:59"), local("2026-03-01 00:00")),
        ("1d", local("2026-03-02 23:59:59"), local("2026-03-02 00:00")),
    ],
)
def test_fixed_windows_align_to_local_midnight(
    specs: dict[str, WindowSpec], name: str, at: float, start: float
) -> None:
    spec = specs[name]
    assert spec.start(at) == start
    assert spec.end(start) == start + spec.size  # type: ignore[operator]
    assert spec.previous(start) == start - spec.size  # type: ignore[operator]


@pytest.mark.parametrize(
    ("at", "start", "end", "previous"),
    [
        (
            local("2026-03-02 10:00"),
            local("2026-02-25 12:00"),
            local("2026-03-25 12:00"),
            local("2026-01-25 12:00"),
        ),
        (
            local("2026-03-25 11:59:59"),
            local("2026-02-25 12:00"),
            local("2026-03-25 12:00"),
            local("2026-01-25 12:00"),
        ),
        (
            local("2026-03-25 12:00"),
            local("2026-03-25 12:00"),
            local("2026-04-25 12:00"),
            local("2026-02-25 12:00"),
        ),
        # The anchor is 12:00 local (05:00 UTC), not 12:00 UTC.
        (
            utc("2026-03-25 05:30"),
            local("2026-03-25 12:00"),
            local("2026-04-25 12:00"),
            local("2026-02-25 12:00"),
        ),
        (
            utc("2026-03-25 04:30"),
            local("2026-02-25 12:00"),
            local("2026-03-25 12:00"),
            local("2026-01-25 12:00"),
        ),
        # January belongs to the period that started on 25 December.
        (
            local("2026-01-10 08:00"),
            local("2025-12-25 12:00"),
            local("2026-01-25 12:00"),
            local("2025-11-25 12:00"),
        ),
        (
            local("2026-01-25 11:00"),
            local("2025-12-25 12:00"),
            local("2026-01-25 12:00"),
            local("2025-11-25 12:00"),
        ),
        (
            local("2026-01-25 12:00"),
            local("2026-01-25 12:00"),
            local("2026-02-25 12:00"),
            local("2025-12-25 12:00"),
        ),
        # Late December opens a period that ends in January of the next year.
        (
            local("2026-12-31 23:59"),
            local("2026-12-25 12:00"),
            local("2027-01-25 12:00"),
            local("2026-11-25 12:00"),
        ),
        (
            local("2026-12-25 12:00"),
            local("2026-12-25 12:00"),
            local("2027-01-25 12:00"),
            local("2026-11-25 12:00"),
        ),
        # February is short: the period still ends on the 25th of March.
        (
            local("2026-02-28 09:00"),
            local("2026-02-25 12:00"),
            local("2026-03-25 12:00"),
            local("2026-01-25 12:00"),
        ),
    ],
)
def test_period_runs_from_the_25th_noon_to_the_next(
    specs: dict[str, WindowSpec], at: float, start: float, end: float, previous: float
) -> None:
    spec = specs["period"]
    assert spec.size is None
    assert spec.start(at) == start
    assert spec.end(start) == end
    assert spec.previous(start) == previous


@pytest.mark.parametrize(
    ("anchor", "at", "start", "end"),
    [
        (
            (1, 0, 0),
            local("2026-03-15 10:00"),
            local("2026-03-01 00:00"),
            local("2026-04-01 00:00"),
        ),
        ((1, 0, 0), utc("2025-12-31 18:00"), local("2026-01-01 00:00"), local("2026-02-01 00:00")),
        (
            (1, 0, 0),
            local("2026-12-31 23:00"),
            local("2026-12-01 00:00"),
            local("2027-01-01 00:00"),
        ),
        (
            (28, 8, 30),
            local("2026-02-28 08:30"),
            local("2026-02-28 08:30"),
            local("2026-03-28 08:30"),
        ),
        (
            (28, 8, 30),
            local("2026-03-01 08:30"),
            local("2026-02-28 08:30"),
            local("2026-03-28 08:30"),
        ),
        (
            (28, 8, 30),
            local("2026-01-28 08:29"),
            local("2025-12-28 08:30"),
            local("2026-01-28 08:30"),
        ),
    ],
)
def test_period_anchor_is_configurable(
    anchor: tuple[int, int, int], at: float, start: float, end: float
) -> None:
    (spec,) = window_specs(["period"], {}, period_anchor=anchor)
    assert spec.start(at) == start
    assert spec.end(start) == end


def test_window_specs_carry_size_retention_and_anchor() -> None:
    built = window_specs(
        ["5m", "1h", "1d", "period", "15m"],
        {"5m": 6 * H, "1h": 3 * DAY, "period": 400 * DAY},
        period_anchor=(20, 0, 0),
    )
    assert built == (
        WindowSpec("5m", 5 * M, 6 * H, (20, 0, 0)),
        WindowSpec("1h", H, 3 * DAY, (20, 0, 0)),
        WindowSpec("1d", DAY, 30 * DAY, (20, 0, 0)),
        WindowSpec("period", None, 400 * DAY, (20, 0, 0)),
        WindowSpec("15m", 15 * M, 30 * DAY, (20, 0, 0)),
    )


@pytest.mark.parametrize(("name", "size"), [("24h", DAY), ("1440m", DAY), ("30s", 30.0), ("1h30m", 90 * M)])
def test_sizes_dividing_a_day_are_accepted(name: str, size: float) -> None:
    (spec,) = window_specs([name], {})
    assert spec.size == size
    assert spec.start(local("2026-03-02 23:59:59")) == local("2026-03-02 00:00") + ((DAY - 1) // size) * size


@pytest.mark.parametrize("name", ["7m", "0", "0s", "25h", "2d", "1w", "7s", "5h"])
def test_sizes_not_dividing_a_day_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        window_specs([name], {})
    assert str(caught.value) == (
        f"window {name!r} must divide a day evenly (e.g. 5m, 15m, 1h, 6h) "
        f"so that windows align to local midnight"
    )


@pytest.mark.parametrize("name", ["weekly", "5 minutes", "-5m", ""])
def test_unknown_window_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        window_specs([name], {})
    if name == "":
        assert str(caught.value) == "window '' is empty; expected a duration such as '10m' or '30'"
    else:
        assert str(caught.value) == (
            f"window {name!r}={name!r} is not a duration; use a number of seconds or units "
            f"ms/s/m/h/d/w, e.g. '500ms', '10m', '1h30m', '3d'"
        )
