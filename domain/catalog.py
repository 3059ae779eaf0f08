"""The unit catalog: city units and their hierarchy, as data.

Since 1 July 2025 Ho Chi Minh City has two levels: the city's departments (sở, ban,
ngành) and 168 wards, communes and a special zone (phường, xã, đặc khu), all children of
the city. Older catalogs have districts in between; the hierarchy is whatever the file
says, so roll-ups work for any depth.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from domain.errors import ConfigError, config_file_error
from domain.ids import UNIT_CODE_MAX_LENGTH, valid_unit_code

KINDS = frozenset({"city", "department", "district", "ward", "commune", "special_zone", "center"})
_KIND = "unit catalog"


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of the catalog."""

    code: str
    name_vi: str
    name_en: str
    kind: str
    parent: str | None

    def to_json(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "name_vi": self.name_vi,
            "name_en": self.name_en,
            "kind": self.kind,
            "parent": self.parent,
        }


class Catalog:
    """Units by code, with the parent chain of each.

    Raises:
        ConfigError: on construction, if the units do not form one tree.
    """

    def __init__(self, units: list[Unit], *, name: str = "", path: Path | None = None) -> None:
        self.name = name

        def error(entry: str, problem: str, fix: str) -> ConfigError:
            return config_file_error(_KIND, path, entry, problem, fix)

        by_code: dict[str, Unit] = {}
        for unit in units:
            if unit.code in by_code:
                raise error(f"unit {unit.code}", "the code appears twice", "keep one entry per code")
            by_code[unit.code] = unit
        self.units: Mapping[str, Unit] = by_code
        roots = [unit.code for unit in units if unit.parent is None]
        if len(roots) != 1:
            raise error(
                "units",
                f"needs exactly one root unit (parent null), found {roots}",
                "give the city parent null and every other unit a parent",
            )
        self.root = roots[0]
        children: dict[str, list[str]] = {code: [] for code in self.units}
        for unit in units:
            if not valid_unit_code(unit.code):
                raise error(
                    f"unit {unit.code!r}",
                    "the code is not a unit code",
                    f"use uppercase letters, digits and '-', at most {UNIT_CODE_MAX_LENGTH} characters "
                    "(e.g. 'P-BEN-THANH')",
                )
            if unit.kind not in KINDS:
                raise error(
                    f"unit {unit.code}", f"kind {unit.kind!r} is unknown", f"use one of {sorted(KINDS)}"
                )
            if unit.parent is not None:
                if unit.parent not in self.units:
                    raise error(
                        f"unit {unit.code}",
                        f"parent {unit.parent!r} is not in the catalog",
                        "add that unit or correct the parent",
                    )
                children[unit.parent].append(unit.code)
        self._children = {code: tuple(kids) for code, kids in children.items()}
        self._lineage: dict[str, tuple[str, ...]] = {}
        for code in self.units:
            chain = [code]
            while (parent := self.units[chain[-1]].parent) is not None:
                if parent in chain:
                    raise error(
                        f"unit {parent}",
                        "its parents form a cycle",
                        "make every chain of parents end at the root",
                    )
                chain.append(parent)
            self._lineage[code] = tuple(chain)

    @classmethod
    def from_file(cls, path: Path) -> Catalog:
        """Load a catalog JSON file (``{"name": …, "units": [{code, name_vi, name_en, kind, parent}]}``).

        Raises:
            ConfigError: unreadable file, missing fields, or not a tree.
        """
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise config_file_error(
                _KIND, path, "path", str(exc), "check the path and its permissions"
            ) from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise config_file_error(_KIND, path, "syntax", str(exc), "write valid JSON in UTF-8") from None
        entries = data.get("units", []) if isinstance(data, dict) else []
        if not isinstance(entries, list):
            raise config_file_error(
                _KIND, path, "'units'", "is not an array", 'write "units": [{"code": …, …}, …]'
            )
        units: list[Unit] = []
        for index, entry in enumerate(entries):
            try:
                units.append(
                    Unit(
                        code=str(entry["code"]),
                        name_vi=str(entry["name_vi"]),
                        name_en=str(entry.get("name_en") or entry["name_vi"]),
                        kind=str(entry["kind"]),
                        parent=None if entry.get("parent") is None else str(entry["parent"]),
                    )
                )
            except (KeyError, TypeError):
                raise config_file_error(
                    _KIND,
                    path,
                    f"unit #{index + 1}",
                    "is not an object with code, name_vi, kind and parent",
                    "add the missing fields (name_en is optional: it defaults to name_vi)",
                ) from None
        if not units:
            raise config_file_error(
                _KIND, path, "'units'", "has no units", "list the units, the city first (parent null)"
            )
        return cls(units, name=str(data.get("name", "")), path=path)

    def __contains__(self, code: object) -> bool:
        return code in self.units

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units.values())

    def __len__(self) -> int:
        return len(self.units)

    def get(self, code: str) -> Unit:
        """Return the unit ``code``.

        Raises:
            KeyError: unknown code.
        """
        return self.units[code]

    def lineage(self, code: str) -> tuple[str, ...]:
        """``code`` followed by its ancestors up to the root: the nodes an event rolls up into."""
        return self._lineage[code]

    def parent(self, code: str) -> str | None:
        return self.units[code].parent

    def children(self, code: str) -> tuple[str, ...]:
        return self._children[code]

    def leaves(self) -> list[Unit]:
        """Units with no children (the ones items are usually assigned to)."""
        return [unit for unit in self.units.values() if not self._children[unit.code]]

    def descendants(self, code: str) -> list[str]:
        """All units below ``code``."""
        out: list[str] = []
        stack = list(self._children[code])
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(self._children[current])
        return out
