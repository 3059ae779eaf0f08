"""Human durations: parsing settings values and formatting for people."""

from __future__ import annotations

import pytest

from domain.durations import format_duration, parse_duration
from domain.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("0", 0.0),
        ("0.5", 0.5),
        ("1e3", 1000.0),
        ("500ms", 0.5),
        ("45s", 45.0),
        ("10m", 600.0),
        ("6h", 21600.0),
        ("3d", 259200.0),
        ("2w", 1209600.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s5ms", 93784.005),
        ("1.5h", 5400.0),
        ("0m", 0.0),
        (" 10M ", 600.0),
        ("1 h 30 m", 5400.0),
        ("5m5m", 600.0),
    ],
)
def test_durations_are_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "GOVPULSE_X is empty; expected a duration such as '10m' or '30'"),
        ("   ", "GOVPULSE_X is empty; expected a duration such as '10m' or '30'"),
        ("-5", "GOVPULSE_X='-5' is negative; durations are >= 0"),
        ("-0.1", "GOVPULSE_X='-0.1' is negative; durations are >= 0"),
        ("-inf", "GOVPULSE_X='-inf' is negative; durations are >= 0"),
        ("-5m", "not-a-duration"),
        ("5x", "not-a-duration"),
        ("m5", "not-a-duration"),
        ("5 minutes", "not-a-duration"),
        ("1h30", "not-a-duration"),
        ("1h-30m", "not-a-duration"),
        (".5h", "not-a-duration"),
        ("ten", "not-a-duration"),
        ("nan", "not-a-duration"),
        ("inf", "not-a-duration"),
        ("Infinity", "not-a-duration"),
    ],
)
def test_invalid_durations_name_the_setting(text: str, message: str) -> None:
    if message == "not-a-duration":
        message = (
            f"GOVPULSE_X={text!r} is not a duration; use a number of seconds or units "
            f"ms/s/m/h/d/w, e.g. '500ms', '10m', '1h30m', '3d'"
        )
    with pytest.raises(ConfigError) as caught:
        parse_duration(text, name="GOVPULSE_X")
    assert str(caught.value) == message


def test_default_name_is_duration() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration("")
    assert str(caught.value) == "duration is empty; expected a duration such as '10m' or '30'"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0ms"),
        (0.25, "250ms"),
        (0.999, "999ms"),
        (0.9996, "1s"),
        (1.0, "1s"),
        (45.0, "45s"),
        (59.6, "1m"),
        (61.0, "1m1s"),
        (600.0, "10m"),
        (3600.0, "1h"),
        (3661.0, "1h1m"),
        (86400.0, "1d"),
        (86405.0, "1d5s"),
        (90061.0, "1d1h"),
        (3 * 86400 + 4 * 3600 + 5 * 60, "3d4h"),
        (604800.0, "7d"),
    ],
)
def test_format_duration_keeps_the_two_largest_units(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.25, 1.0, 45.0, 600.0, 3600.0, 5400.0, 86400.0, 93784.0])
def test_formatted_durations_parse_back_to_at_most_the_same_length(seconds: float) -> None:
    assert 0 < parse_duration(format_duration(seconds)) <= seconds
