"""The unit catalog: city units and their hierarchy, as data.

Since 1 July 2025 Ho Chi Minh City has two levels: the city's departments (sở, ban,
ngành) and 168 wards, communes and a special zone (phường, xã, đặc khu), all children of
the city. Older catalogs have districts in between; the hierarchy is whatever the file
says, so roll-ups work for any depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from domain.errors import ConfigError

KINDS = frozenset({"city", "department", "district", "ward", "commune", "special_zone", "center"})
_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,47}\Z")


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

    def __init__(self, units: list[Unit], *, name: str = "") -> None:
        self.name = name
        by_code: dict[str, Unit] = {}
        for unit in units:
            if unit.code in by_code:
                raise ConfigError(f"unit catalog: code {unit.code!r} appears twice")
            by_code[unit.code] = unit
        self.units: Mapping[str, Unit] = by_code
        roots = [unit.code for unit in units if unit.parent is None]
        if len(roots) != 1:
            raise ConfigError(f"unit catalog needs exactly one root unit (parent null), found {roots}")
        self.root = roots[0]
        children: dict[str, list[str]] = {code: [] for code in self.units}
        for unit in units:
            if not _CODE.match(unit.code):
                raise ConfigError(
                    f"unit catalog: code {unit.code!r} must be uppercase letters, digits and '-'"
                )
            if unit.kind not in KINDS:
                raise ConfigError(
                    f"unit catalog: {unit.code} has kind {unit.kind!r}; use one of {sorted(KINDS)}"
                )
            if unit.parent is not None:
                if unit.parent not in self.units:
                    raise ConfigError(f"unit catalog: {unit.code} has unknown parent {unit.parent!r}")
                children[unit.parent].append(unit.code)
        self._children = {code: tuple(kids) for code, kids in children.items()}
        self._lineage: dict[str, tuple[str, ...]] = {}
        for code in self.units:
            chain = [code]
            while (parent := self.units[chain[-1]].parent) is not None:
                if parent in chain:
                    raise ConfigError(f"unit catalog: cycle through {parent}")
                chain.append(parent)
            self._lineage[code] = tuple(chain)

    @classmethod
    def from_file(cls, path: Path) -> Catalog:
        """Load a catalog JSON file (``{"name": …, "units": [{code, name_vi, name_en, kind, parent}]}``).

        Raises:
            ConfigError: unreadable file, missing fields, or not a tree.
        """
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(f"unit catalog {path}: {exc}") from None
        entries = data.get("units", []) if isinstance(data, dict) else []
        if not isinstance(entries, list):
            raise ConfigError(f"unit catalog {path}: 'units' must be an array of unit objects")
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
                raise ConfigError(
                    f"unit catalog {path}: unit #{index + 1} needs code, name_vi, kind and parent"
                ) from None
        if not units:
            raise ConfigError(f"unit catalog {path} has no units")
        return cls(units, name=str(data.get("name", "")))

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
