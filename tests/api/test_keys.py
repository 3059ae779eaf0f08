"""API key records (api.keys): names, rates, units, scopes and hashing."""

from __future__ import annotations

import pytest

from api.errors import ApiKeyError
from api.keys import KEY_PREFIX, ApiKey, check_name, hash_secret, new_secret, parse_rate, parse_units
from domain.catalog import Catalog
from runtime.settings import load_settings

CATALOG = Catalog.from_file(load_settings({}).units_file)
CATALOG_2024 = Catalog.from_file(load_settings({}).units_file.with_name("units-2024.json"))


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("200/s", 200.0), ("6000/min", 100.0), ("0.5/s", 0.5), ("12", 12.0), (" 3 / m ", 0.05)],
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "rate 'fast' must look like 200/s or 6000/min"),
        ("200/h", "rate '200/h' must look like 200/s or 6000/min"),
        ("0/s", "rate '0/s' must be more than 0"),
    ],
)
def test_parse_rate_refuses_with_the_form_to_use(text: str, message: str) -> None:
    with pytest.raises(ApiKeyError) as caught:
        parse_rate(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("name", ["portal-1022", "ward.ben_thanh", "a"])
def test_check_name_accepts(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Portal", "-x", "a b", "x" * 65, "tên"])
def test_check_name_refuses(name: str) -> None:
    with pytest.raises(ApiKeyError, match=r"must be 1\.\.64 lower-case letters"):
        check_name(name)


def test_parse_units_splits_and_checks_against_the_catalog() -> None:
    assert parse_units(["P-SAI-GON,P-BEN-THANH", "HCM"], CATALOG) == {"P-SAI-GON", "P-BEN-THANH", "HCM"}
    with pytest.raises(ApiKeyError) as caught:
        parse_units(["P-SAI-GON NOPE"], CATALOG)
    assert str(caught.value) == (
        "unknown unit NOPE (not in the unit catalog, GOVPULSE_UNITS_FILE); use codes like P-BEN-THANH"
    )


def test_a_unit_covers_its_descendants() -> None:
    district = next(u for u in CATALOG_2024 if u.kind == "district")
    ward = CATALOG_2024.children(district.code)[0]
    other = next(
        u.code for u in CATALOG_2024 if u.kind == "ward" and district.code not in CATALOG_2024.lineage(u.code)
    )
    key = ApiKey(name="d", key_hash="h", units=frozenset({district.code}))

    assert key.covers(ward, CATALOG_2024)
    assert key.covers(district.code, CATALOG_2024)
    assert not key.covers(other, CATALOG_2024)
    assert ApiKey(name="all", key_hash="h").covers(other, CATALOG_2024)


def test_secrets_are_random_and_only_their_hash_is_kept() -> None:
    one, two = new_secret(), new_secret()
    key = ApiKey(
        name="p", key_hash=hash_secret(one), units=frozenset({"P-SAI-GON"}), rate=5.0, created_at=1.0
    )

    assert one.startswith(KEY_PREFIX) and len(one) == len(KEY_PREFIX) + 43 and one != two
    assert hash_secret(one) != hash_secret(two) and len(hash_secret(one)) == 64
    assert one.encode() not in key.to_json()
    assert ApiKey.from_json(key.to_json()) == key
