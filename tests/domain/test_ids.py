"""Ids and unit codes: one definition, checked with messages naming the field."""

from __future__ import annotations

import re

import pytest

from domain.errors import InvalidId
from domain.ids import (
    ID_MAX_LENGTH,
    UNIT_CODE_MAX_LENGTH,
    UNIT_CODE_PATTERN,
    check_id,
    check_unit_code,
    valid_id,
    valid_unit_code,
)

OUTSIDE = "has characters outside letters, digits and ._:/-"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("PA-1", True),
        ("PA-2026/11/0001", True),
        ("ev:42", True),
        ("a.b_c", True),
        ("0", True),
        ("x" * ID_MAX_LENGTH, True),
        ("x" * (ID_MAX_LENGTH + 1), False),
        ("", False),
        ("-ev", False),
        ("_ev", False),
        ("ev 1", False),
        ("PA-1\n", False),
        ("PA-1<script>", False),
        ("PHẢN-ÁNH-1", False),
        (None, False),
        (42, False),
    ],
)
def test_valid_id(text: object, valid: bool) -> None:
    assert valid_id(text) is valid


@pytest.mark.parametrize(
    ("text", "field", "max_length", "message"),
    [
        ("ev 1", "event_id", 128, f"field 'event_id' = 'ev 1' {OUTSIDE}"),
        ("", "item_id", 64, f"field 'item_id' = '' {OUTSIDE}"),
        ("x" * 65, "item_id", 64, "field 'item_id' is 65 characters, over the limit of 64"),
        ("<" * 100, "alert", ID_MAX_LENGTH, f"field 'alert' = {'<' * 80!r} {OUTSIDE}"),
    ],
)
def test_check_id_names_the_field(text: str, field: str, max_length: int, message: str) -> None:
    with pytest.raises(InvalidId) as caught:
        check_id(text, field=field, max_length=max_length)
    assert str(caught.value) == message


def test_check_id_returns_a_valid_id() -> None:
    assert check_id("PA-1", field="item_id") == "PA-1"
    assert check_id("x" * 64, field="item_id", max_length=64) == "x" * 64


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("HCM", True),
        ("P-BEN-THANH", True),
        ("SO-TNMT", True),
        ("Q1", True),
        ("A" * UNIT_CODE_MAX_LENGTH, True),
        ("A" * (UNIT_CODE_MAX_LENGTH + 1), False),
        ("", False),
        ("-P", False),
        ("p-ben-thanh", False),
        ("P BEN", False),
        ("P.1", False),
        ("P-1\n", False),
        ("<script>", False),
        (None, False),
        (7, False),
    ],
)
def test_valid_unit_code(text: object, valid: bool) -> None:
    assert valid_unit_code(text) is valid


def test_check_unit_code_names_the_field_and_the_form() -> None:
    assert check_unit_code("P-BEN-THANH", field="unit") == "P-BEN-THANH"
    with pytest.raises(InvalidId) as caught:
        check_unit_code("p-lower", field="silence.unit")
    assert str(caught.value) == (
        "field 'silence.unit' = 'p-lower' is not a unit code; use uppercase letters, digits and '-', "
        "at most 48 characters (e.g. 'P-BEN-THANH')"
    )


def test_invalid_id_is_a_value_error() -> None:
    assert issubclass(InvalidId, ValueError)


def test_unit_code_pattern_embeds_in_other_patterns() -> None:
    path = re.compile(rf"/unit/({UNIT_CODE_PATTERN})/?\Z")
    match = path.match("/unit/P-BEN-THANH/")
    assert match is not None and match.group(1) == "P-BEN-THANH"
    assert path.match("/unit/" + "A" * (UNIT_CODE_MAX_LENGTH + 1)) is None
