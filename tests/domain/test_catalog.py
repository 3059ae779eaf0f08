"""The unit catalog: lineage for roll-ups at any depth, and what is not a tree."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from domain.catalog import Catalog, Unit
from domain.errors import ConfigError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def two_levels() -> Catalog:
    return Catalog.from_file(DATA / "catalog_two_levels.json")


@pytest.fixture(scope="module")
def three_levels() -> Catalog:
    return Catalog.from_file(DATA / "catalog_three_levels.json")


def unit(code: str, parent: str | None, kind: str = "ward") -> Unit:
    return Unit(code=code, name_vi=code, name_en=code, kind=kind, parent=parent)


# -- two levels (city -> wards and departments, since 2025) -----------------------------


@pytest.mark.parametrize(
    ("code", "lineage"),
    [
        ("HCM", ("HCM",)),
        ("P-BEN-THANH", ("P-BEN-THANH", "HCM")),
        ("SO-TNMT", ("SO-TNMT", "HCM")),
        ("DK-CON-DAO", ("DK-CON-DAO", "HCM")),
    ],
)
def test_two_level_lineage_ends_at_the_city(two_levels: Catalog, code: str, lineage: tuple[str, ...]) -> None:
    assert two_levels.lineage(code) == lineage


def test_two_level_catalog_is_loaded_exactly(two_levels: Catalog) -> None:
    assert two_levels.name == "Thành phố Hồ Chí Minh (test, 2 cấp)"
    assert two_levels.root == "HCM"
    assert len(two_levels) == 7
    assert [u.code for u in two_levels] == [
        "HCM",
        "SO-TNMT",
        "SO-XD",
        "P-BEN-THANH",
        "P-SAI-GON",
        "X-CAN-GIO",
        "DK-CON-DAO",
    ]
    assert two_levels.get("P-BEN-THANH") == Unit(
        "P-BEN-THANH", "Phường Bến Thành", "Ben Thanh Ward", "ward", "HCM"
    )
    # name_en falls back to name_vi
    assert two_levels.get("P-SAI-GON").name_en == "Phường Sài Gòn"
    assert two_levels.children("HCM") == (
        "SO-TNMT",
        "SO-XD",
        "P-BEN-THANH",
        "P-SAI-GON",
        "X-CAN-GIO",
        "DK-CON-DAO",
    )
    assert [u.code for u in two_levels.leaves()] == [
        "SO-TNMT",
        "SO-XD",
        "P-BEN-THANH",
        "P-SAI-GON",
        "X-CAN-GIO",
        "DK-CON-DAO",
    ]
    assert two_levels.parent("HCM") is None
    assert two_levels.parent("X-CAN-GIO") == "HCM"


def test_membership_and_unknown_codes(two_levels: Catalog) -> None:
    assert "P-SAI-GON" in two_levels
    assert "P-XYZ" not in two_levels
    assert 5 not in two_levels
    with pytest.raises(KeyError):
        two_levels.get("P-XYZ")
    with pytest.raises(KeyError):
        two_levels.lineage("P-XYZ")


def test_unit_to_json_is_plain() -> None:
    assert Unit("Q1", "Quận 1", "District 1", "district", "HCM").to_json() == {
        "code": "Q1",
        "name_vi": "Quận 1",
        "name_en": "District 1",
        "kind": "district",
        "parent": "HCM",
    }


# -- three levels (city -> district -> ward, older catalogs) -----------------------------


@pytest.mark.parametrize(
    ("code", "lineage"),
    [
        ("HCM", ("HCM",)),
        ("Q1", ("Q1", "HCM")),
        ("Q1-BEN-NGHE", ("Q1-BEN-NGHE", "Q1", "HCM")),
        ("Q7-TAN-PHONG", ("Q7-TAN-PHONG", "Q7", "HCM")),
        ("SO-TNMT", ("SO-TNMT", "HCM")),
    ],
)
def test_three_level_lineage_goes_through_the_district(
    three_levels: Catalog, code: str, lineage: tuple[str, ...]
) -> None:
    assert three_levels.lineage(code) == lineage


def test_three_level_children_leaves_and_descendants(three_levels: Catalog) -> None:
    assert three_levels.children("HCM") == ("SO-TNMT", "Q1", "Q7")
    assert three_levels.children("Q1") == ("Q1-BEN-NGHE", "Q1-BEN-THANH")
    assert three_levels.children("Q1-BEN-NGHE") == ()
    assert [u.code for u in three_levels.leaves()] == [
        "SO-TNMT",
        "Q1-BEN-NGHE",
        "Q1-BEN-THANH",
        "Q7-TAN-PHONG",
    ]
    assert sorted(three_levels.descendants("HCM")) == [
        "Q1",
        "Q1-BEN-NGHE",
        "Q1-BEN-THANH",
        "Q7",
        "Q7-TAN-PHONG",
        "SO-TNMT",
    ]
    assert sorted(three_levels.descendants("Q1")) == ["Q1-BEN-NGHE", "Q1-BEN-THANH"]
    assert three_levels.descendants("Q7-TAN-PHONG") == []


# -- not a tree ----------------------------------------------------------------------

NOT_A_CODE = (
    "the code is not a unit code; use uppercase letters, digits and '-', at most 48 characters "
    "(e.g. 'P-BEN-THANH')"
)


@pytest.mark.parametrize(
    ("units", "message"),
    [
        (
            [unit("HCM", None, "city"), unit("HN", None, "city")],
            "unit catalog: units: needs exactly one root unit (parent null), found ['HCM', 'HN']; "
            "give the city parent null and every other unit a parent",
        ),
        (
            [unit("A", "B"), unit("B", "A")],
            "unit catalog: units: needs exactly one root unit (parent null), found []; "
            "give the city parent null and every other unit a parent",
        ),
        (
            [unit("HCM", None, "city"), unit("P-1", "Q9")],
            "unit catalog: unit P-1: parent 'Q9' is not in the catalog; add that unit or correct the parent",
        ),
        (
            [unit("HCM", None, "city"), unit("A", "B"), unit("B", "A")],
            "unit catalog: unit A: its parents form a cycle; make every chain of parents end at the root",
        ),
        (
            [unit("HCM", None, "city"), unit("SELF", "SELF")],
            "unit catalog: unit SELF: its parents form a cycle; make every chain of parents end at the root",
        ),
        (
            [unit("HCM", None, "city"), unit("p-ben-thanh", "HCM")],
            f"unit catalog: unit 'p-ben-thanh': {NOT_A_CODE}",
        ),
        (
            [unit("HCM", None, "city"), unit("P BEN THANH", "HCM")],
            f"unit catalog: unit 'P BEN THANH': {NOT_A_CODE}",
        ),
        (
            [unit("HCM", None, "city"), unit("-P1", "HCM")],
            f"unit catalog: unit '-P1': {NOT_A_CODE}",
        ),
        (
            [unit("HCM", None, "city"), unit("P" * 49, "HCM")],
            f"unit catalog: unit {'P' * 49!r}: {NOT_A_CODE}",
        ),
        (
            [unit("HCM", None, "city"), unit("P-1", "HCM"), unit("P-1", "HCM")],
            "unit catalog: unit P-1: the code appears twice; keep one entry per code",
        ),
        (
            [unit("HCM", None, "city"), unit("P-1", "HCM", "province")],
            "unit catalog: unit P-1: kind 'province' is unknown; use one of "
            "['center', 'city', 'commune', 'department', 'district', 'special_zone', 'ward']",
        ),
    ],
    ids=[
        "two-roots",
        "no-root",
        "unknown-parent",
        "cycle",
        "self-parent",
        "lowercase-code",
        "code-with-spaces",
        "code-starting-with-dash",
        "code-too-long",
        "duplicate-code",
        "unknown-kind",
    ],
)
def test_catalog_that_is_not_one_tree_is_config_error(units: list[Unit], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Catalog(units)
    assert str(caught.value) == message


def test_longest_allowed_code_is_accepted() -> None:
    catalog = Catalog([unit("HCM", None, "city"), unit("P" * 48, "HCM")])
    assert catalog.lineage("P" * 48) == ("P" * 48, "HCM")


NO_UNITS = "unit catalog file {path}: 'units': has no units; list the units, the city first (parent null)"
NOT_A_UNIT = (
    "is not an object with code, name_vi, kind and parent; "
    "add the missing fields (name_en is optional: it defaults to name_vi)"
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{}", NO_UNITS),
        (b'{"units": []}', NO_UNITS),
        (b"[]", NO_UNITS),
        (
            b'{"units": 5}',
            'unit catalog file {path}: \'units\': is not an array; write "units": [{{"code": …, …}}, …]',
        ),
        (
            b'{"units": [{"code": "HCM", "kind": "city", "parent": null}]}',
            "unit catalog file {path}: unit #1: " + NOT_A_UNIT,
        ),
        (
            b'{"units": [{"code": "HCM", "name_vi": "HCM", "kind": "city", "parent": null}, "P-1"]}',
            "unit catalog file {path}: unit #2: " + NOT_A_UNIT,
        ),
        (
            b'{"units": [{"code": "HCM", "name_vi": "HCM", "parent": null}]}',
            "unit catalog file {path}: unit #1: " + NOT_A_UNIT,
        ),
        (
            b'{"units": [{"code": "HCM", "name_vi": "HCM", "kind": "city", "parent": null},'
            b' {"code": "P-1", "name_vi": "P", "kind": "ward", "parent": "HN"}]}',
            "unit catalog file {path}: unit P-1: parent 'HN' is not in the catalog; "
            "add that unit or correct the parent",
        ),
    ],
    ids=[
        "no-units-key",
        "empty-units",
        "array",
        "units-not-array",
        "no-name",
        "not-an-object",
        "no-kind",
        "unknown-parent",
    ],
)
def test_malformed_catalog_file_is_config_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "units.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        Catalog.from_file(path)
    assert str(caught.value) == message.format(path=path)


def test_catalog_file_that_is_not_json_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "units.json"
    path.write_bytes(b"{units: ")
    with pytest.raises(orjson.JSONDecodeError) as decoded:
        orjson.loads(b"{units: ")
    with pytest.raises(ConfigError) as caught:
        Catalog.from_file(path)
    assert (
        str(caught.value) == f"unit catalog file {path}: syntax: {decoded.value}; write valid JSON in UTF-8"
    )


def test_missing_catalog_file_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError) as caught:
        Catalog.from_file(path)
    assert str(caught.value) == (
        f"unit catalog file {path}: path: [Errno 2] No such file or directory: '{path}'; "
        "check the path and its permissions"
    )


@pytest.mark.parametrize("name", ["units.json", "units-2024.json"])
def test_every_packaged_unit_has_a_vietnamese_and_an_english_name(name: str) -> None:
    path = Path(__file__).parents[2] / "domain" / "data" / name
    entries = orjson.loads(path.read_bytes())["units"]
    assert all(entry["name_vi"].strip() and entry["name_en"].strip() for entry in entries)
    assert len(Catalog.from_file(path)) == len(entries)
