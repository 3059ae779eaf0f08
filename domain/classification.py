"""Rankings and quarterly classification of units (bands from a TOML file).

Ranking: units that handled at least ``min_volume`` items are ranked by on-time rate
(QĐ 766), highest first; equal rates are ordered by items handled, most first; units equal
on both share a rank (1, 2, 2, 4). The change is the previous period's rank minus this one
(positive = moved up). Units below the minimum volume are listed, unranked, with why.

Classification: bands are tried in file order; a unit gets the first band whose every
condition holds, and the rule that placed it is written out beside it
(docs/reports.md "Classification").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.calendar import read_toml
from domain.errors import config_file_error
from domain.reports import Figures

_KIND = "classification"
_CONDITIONS = ("min_on_time_rate", "max_late_rate", "min_resolved")
_TEXT = ("code", "name_vi", "name_en")


@dataclass(frozen=True, slots=True)
class Band:
    """One classification band and its conditions (None = no condition)."""

    code: str
    name_vi: str
    name_en: str
    min_on_time_rate: float | None = None
    max_late_rate: float | None = None
    min_resolved: int | None = None

    def rule(self, figures: Figures) -> tuple[bool, str, str]:
        """(holds, rule text vi, rule text en) for ``figures``."""
        vi: list[str] = []
        en: list[str] = []
        holds = True
        rate = figures.on_time_rate
        if self.min_on_time_rate is not None:
            ok = rate is not None and rate >= self.min_on_time_rate
            holds &= ok
            sign = "≥" if ok else "<"
            vi.append(f"tỉ lệ đúng hạn {_pct(rate)} {sign} {_pct(self.min_on_time_rate)}")
            en.append(f"on-time rate {_pct(rate)} {sign} {_pct(self.min_on_time_rate)}")
        late = figures.late_rate
        if self.max_late_rate is not None:
            ok = late is not None and late <= self.max_late_rate
            holds &= ok
            sign = "≤" if ok else ">"
            vi.append(f"tỉ lệ trễ hạn {_pct(late)} {sign} {_pct(self.max_late_rate)}")
            en.append(f"late rate {_pct(late)} {sign} {_pct(self.max_late_rate)}")
        if self.min_resolved is not None:
            ok = figures.resolved >= self.min_resolved
            holds &= ok
            sign = "≥" if ok else "<"
            vi.append(f"đã giải quyết {figures.resolved} {sign} {self.min_resolved}")
            en.append(f"resolved {figures.resolved} {sign} {self.min_resolved}")
        if not vi:
            return True, "không đạt các mức trên", "met none of the bands above"
        return holds, " và ".join(vi), " and ".join(en)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a unit was placed and the rule that placed it (band None: not classified)."""

    band: Band | None
    rule_vi: str
    rule_en: str

    def to_json(self) -> dict[str, Any]:
        band = self.band
        return {
            "band": band.code if band else None,
            "name_vi": band.name_vi if band else "Không xếp loại",
            "name_en": band.name_en if band else "Not classified",
            "rule_vi": self.rule_vi,
            "rule_en": self.rule_en,
        }


@dataclass(frozen=True, slots=True)
class Classification:
    """The bands of a classification file and the minimum volume to be classified or ranked."""

    bands: tuple[Band, ...]
    min_volume: int = 10

    @classmethod
    def from_file(cls, path: Path) -> Classification:
        """Load bands from TOML.

        Raises:
            ConfigError: unreadable, not TOML, or an entry is wrong; the message names the
                entry and says how to fix it.
        """
        return cls.from_mapping(read_toml(_KIND, path), path=path)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, path: Path | None = None) -> Classification:
        """Bands from already-parsed TOML (see :meth:`from_file`)."""
        min_volume = data.get("min_volume", 10)
        if isinstance(min_volume, bool) or not isinstance(min_volume, int) or min_volume < 0:
            raise config_file_error(
                _KIND,
                path,
                f"min_volume = {min_volume!r}",
                "is not a whole number >= 0",
                "write min_volume = 10",
            )
        entries = data.get("band")
        if not isinstance(entries, list) or not entries:
            raise config_file_error(
                _KIND,
                path,
                "band",
                "there are no [[band]] tables",
                "add at least one [[band]] with code, name_vi and name_en",
            )
        bands: list[Band] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            where = f"band #{index + 1}"
            if not isinstance(entry, dict):
                raise config_file_error(_KIND, path, where, "is not a table", "write it as a [[band]] table")
            for name in _TEXT:
                value = entry.get(name)
                if not isinstance(value, str) or not value.strip():
                    raise config_file_error(
                        _KIND,
                        path,
                        f"{where}: {name}",
                        "is missing or empty",
                        f'write {name} = "…" in the band',
                    )
            unknown = sorted(set(entry) - set(_TEXT) - set(_CONDITIONS))
            if unknown:
                raise config_file_error(
                    _KIND,
                    path,
                    f"{where}: {unknown[0]}",
                    "is not a band setting",
                    f"use only {', '.join(_TEXT + _CONDITIONS)}",
                )
            for name in ("min_on_time_rate", "max_late_rate"):
                value = entry.get(name)
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
                ):
                    raise config_file_error(
                        _KIND,
                        path,
                        f"{where}: {name} = {value!r}",
                        "is not a share between 0 and 1",
                        f"write {name} = 0.95 for 95 %",
                    )
            resolved = entry.get("min_resolved")
            if resolved is not None and (
                isinstance(resolved, bool) or not isinstance(resolved, int) or resolved < 0
            ):
                raise config_file_error(
                    _KIND,
                    path,
                    f"{where}: min_resolved = {resolved!r}",
                    "is not a whole number >= 0",
                    "write min_resolved = 20",
                )
            code = entry["code"].strip()
            if code in seen:
                raise config_file_error(
                    _KIND,
                    path,
                    f"{where}: code = {code!r}",
                    "is used by an earlier band",
                    "give each band its own code",
                )
            seen.add(code)
            rate, late = entry.get("min_on_time_rate"), entry.get("max_late_rate")
            bands.append(
                Band(
                    code=code,
                    name_vi=entry["name_vi"].strip(),
                    name_en=entry["name_en"].strip(),
                    min_on_time_rate=float(rate) if rate is not None else None,
                    max_late_rate=float(late) if late is not None else None,
                    min_resolved=resolved,
                )
            )
        last = bands[-1]
        if (last.min_on_time_rate, last.max_late_rate, last.min_resolved) != (None, None, None):
            raise config_file_error(
                _KIND,
                path,
                f"band #{len(bands)} ({last.code})",
                "the last band has conditions, so some units would fit no band",
                'end with a band without conditions (e.g. code = "khong-hoan-thanh")',
            )
        return cls(tuple(bands), min_volume)

    def place(self, figures: Figures) -> Placement:
        """The band of a unit with ``figures``, and the rule that placed it."""
        if figures.resolved < self.min_volume:
            return Placement(
                None,
                f"chưa đủ {self.min_volume} hồ sơ đã giải quyết (có {figures.resolved})",
                f"fewer than {self.min_volume} items resolved ({figures.resolved})",
            )
        for band in self.bands:
            holds, vi, en = band.rule(figures)
            if holds:
                return Placement(band, vi, en)
        raise AssertionError("the last band has no conditions")  # checked at load


@dataclass(frozen=True, slots=True)
class Ranking:
    """A unit's place in a period (rank None: below the minimum volume)."""

    unit: str
    rank: int | None
    on_time_rate: float | None
    resolved: int
    previous_rank: int | None = None

    @property
    def change(self) -> int | None:
        """Previous rank minus this rank: positive = moved up (None if either is missing)."""
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "rank": self.rank,
            "on_time_rate": self.on_time_rate,
            "resolved": self.resolved,
            "previous_rank": self.previous_rank,
            "change": self.change,
        }


def rank(
    figures: Mapping[str, Figures],
    *,
    min_volume: int,
    previous: Mapping[str, Figures] | None = None,
) -> list[Ranking]:
    """Rank units by on-time rate (ties: more handled first; equal on both: same rank).

    Args:
        figures: unit → this period's figures.
        min_volume: fewer resolved items than this: listed, not ranked.
        previous: unit → the previous period's figures, for the change.
    """
    before = _ranks(previous or {}, min_volume)
    now = _ranks(figures, min_volume)
    ranked = sorted(
        figures.items(),
        key=lambda kv: (
            now.get(kv[0]) is None,
            now.get(kv[0]) or 0,
            kv[0],
        ),
    )
    return [Ranking(unit, now.get(unit), f.on_time_rate, f.resolved, before.get(unit)) for unit, f in ranked]


def _ranks(figures: Mapping[str, Figures], min_volume: int) -> dict[str, int]:
    eligible = [
        (unit, f)
        for unit, f in figures.items()
        if f.resolved >= max(min_volume, 1) and f.on_time_rate is not None
    ]
    eligible.sort(key=lambda kv: (-(kv[1].on_time_rate or 0.0), -kv[1].resolved, kv[0]))
    out: dict[str, int] = {}
    last: tuple[float, int] | None = None
    current = 0
    for position, (unit, f) in enumerate(eligible, start=1):
        score = (f.on_time_rate or 0.0, f.resolved)
        if score != last:
            current, last = position, score
        out[unit] = current
    return out


def _pct(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f} %"


def placements(classification: Classification, figures: Mapping[str, Figures]) -> dict[str, Placement]:
    """Placement of every unit."""
    return {unit: classification.place(f) for unit, f in figures.items()}


def band_codes(classification: Classification) -> Sequence[str]:
    return tuple(band.code for band in classification.bands)
