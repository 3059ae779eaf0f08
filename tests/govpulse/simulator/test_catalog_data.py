"""The packaged unit catalogs: the 2025 two-level city and the 2024 three-level sample."""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources
from pathlib import Path

import orjson
import pytest

from domain.catalog import Catalog
from govpulse.simulator.model import load_weights

DATA = Path(str(resources.files("domain").joinpath("data")))
UNITS_2025 = DATA / "units.json"
UNITS_2024 = DATA / "units-2024.json"
CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,47}\Z")


def kinds(catalog: Catalog) -> Counter[str]:
    return Counter(unit.kind for unit in catalog)


def test_2025_catalog_has_168_commune_level_units_under_the_city() -> None:
    catalog = Catalog.from_file(UNITS_2025)
    assert catalog.root == "HCM"
    assert kinds(catalog) == {
        "city": 1,
        "department": 20,
        "ward": 113,
        "commune": 54,
        "special_zone": 1,
    }
    assert catalog.get("DK-CON-DAO").name_vi == "Đặc khu Côn Đảo"
    assert catalog.get("P-BEN-THANH").name_en == "Ben Thanh Ward"
    assert catalog.get("X-CU-CHI").name_vi == "Xã Củ Chi"
    assert catalog.get("SO-XAY-DUNG").name_en == "Department of Construction"
    document = orjson.loads(UNITS_2025.read_bytes())
    assert document["as_of"] == "2025-07-01"
    assert "Nghị quyết 1685/NQ-UBTVQH15" in document["note"]


@pytest.mark.parametrize("path", [UNITS_2025, UNITS_2024], ids=["2025", "2024"])
def test_codes_are_unique_uppercase_slugs(path: Path) -> None:
    entries = orjson.loads(path.read_bytes())["units"]
    codes = [entry["code"] for entry in entries]
    assert len(codes) == len(set(codes))
    assert [code for code in codes if not CODE.match(code)] == []
    assert [
        entry["name_vi"]
        for entry in entries
        if entry["kind"] == "ward" and not entry["name_vi"].startswith("Phường ")
    ] == []
    assert [
        entry["name_vi"]
        for entry in entries
        if entry["kind"] == "commune" and not entry["name_vi"].startswith("Xã ")
    ] == []


def test_2025_names_are_unique_in_both_languages() -> None:
    entries = orjson.loads(UNITS_2025.read_bytes())["units"]
    for language in ("name_vi", "name_en"):
        names = [entry[language] for entry in entries]
        assert len(names) == len(set(names)), language


def test_2025_catalog_is_two_levels() -> None:
    catalog = Catalog.from_file(UNITS_2025)
    assert catalog.lineage("P-SAI-GON") == ("P-SAI-GON", "HCM")
    assert catalog.lineage("SO-Y-TE") == ("SO-Y-TE", "HCM")
    assert {len(catalog.lineage(unit.code)) for unit in catalog} == {1, 2}


def test_2024_catalog_is_three_levels_with_22_districts() -> None:
    catalog = Catalog.from_file(UNITS_2024)
    assert kinds(catalog)["district"] == 22
    districts = [unit.code for unit in catalog if unit.kind == "district"]
    assert all(3 <= len(catalog.children(code)) <= 6 for code in districts)
    assert catalog.lineage("Q1-P-BEN-NGHE") == ("Q1-P-BEN-NGHE", "Q-1", "HCM")
    assert catalog.lineage("CC-X-AN-NHON-TAY") == ("CC-X-AN-NHON-TAY", "H-CU-CHI", "HCM")
    assert max(len(catalog.lineage(unit.code)) for unit in catalog) == 3


def test_2025_weights_cover_every_ward_commune_and_department() -> None:
    catalog = Catalog.from_file(UNITS_2025)
    weights = load_weights(UNITS_2025)
    assert set(weights) == {unit.code for unit in catalog if unit.code != "HCM"}
    assert all(weight > 0 for weight in weights.values())
