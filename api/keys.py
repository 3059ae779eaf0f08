"""API keys: what a key may do, and how it is stored (hashed).

A key is ``gpk_`` followed by 43 URL-safe random characters (256 bits). Only its SHA-256
is stored (a fast hash is enough for a random secret of that size; there is nothing to
brute-force). A key has a name (who holds it, e.g. ``portal-1022``; it travels as the
``govpulse.api_key`` header on every message the key produces), an optional set of unit
codes it may write for and read (empty: every unit), and a rate in requests per second.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from api.errors import ApiKeyError
from domain.catalog import Catalog

KEY_PREFIX = "gpk_"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute)\Z")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key's record (never the key itself).

    Args:
        name: unique name, lower-case letters, digits and ``._-`` (≤ 64).
        key_hash: hex SHA-256 of the key.
        units: unit codes the key may write events for and read; empty = all units.
            A unit covers its descendants in the catalog (a district key covers its wards).
        rate: requests per second (per API process), token bucket with a one-second burst.
        created_at: epoch seconds.
    """

    name: str
    key_hash: str
    units: frozenset[str] = field(default_factory=frozenset)
    rate: float = 50.0
    created_at: float = 0.0

    def covers(self, unit: str, catalog: Catalog) -> bool:
        """Whether this key may write for / read ``unit`` (or any unit when unscoped)."""
        if not self.units:
            return True
        if unit not in catalog:
            return unit in self.units
        return any(node in self.units for node in catalog.lineage(unit))

    def scope_text(self) -> str:
        return ", ".join(sorted(self.units)) if self.units else "all units"

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "name": self.name,
                "key_hash": self.key_hash,
                "units": sorted(self.units),
                "rate": self.rate,
                "created_at": self.created_at,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> ApiKey:
        data: Mapping[str, Any] = orjson.loads(raw)
        return cls(
            name=str(data["name"]),
            key_hash=str(data["key_hash"]),
            units=frozenset(str(unit) for unit in data.get("units", ())),
            rate=float(data.get("rate", 50.0)),
            created_at=float(data.get("created_at", 0.0)),
        )


def new_secret() -> str:
    """A fresh random API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The stored form of a key: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    """Validate a key name.

    Raises:
        ApiKeyError: not 1..64 lower-case letters, digits and ``._-``.
    """
    if not _NAME.match(name):
        raise ApiKeyError(
            f"key name {name[:80]!r} must be 1..64 lower-case letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (e.g. portal-1022)"
        )
    return name


def parse_rate(text: str) -> float:
    """``200/s``, ``12000/min`` or a bare number (per second) → requests per second.

    Raises:
        ApiKeyError: not a positive rate.
    """
    cleaned = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        cleaned += "/s"
    match = _RATE.match(cleaned)
    if match is None:
        raise ApiKeyError(f"rate {text!r} must look like 200/s or 6000/min")
    amount = float(match.group(1))
    per = 60.0 if match.group(2).startswith("m") else 1.0
    if amount <= 0:
        raise ApiKeyError(f"rate {text!r} must be more than 0")
    return amount / per


def parse_units(values: Iterable[str], catalog: Catalog) -> frozenset[str]:
    """Unit codes (comma- or space-separated, repeatable) checked against the catalog.

    Raises:
        ApiKeyError: a code is not in the catalog.
    """
    codes = {code.strip() for value in values for code in re.split(r"[,\s]+", value) if code.strip()}
    unknown = sorted(code for code in codes if code not in catalog)
    if unknown:
        raise ApiKeyError(
            f"unknown unit {', '.join(unknown)} (not in the unit catalog, GOVPULSE_UNITS_FILE); "
            f"use codes like P-BEN-THANH"
        )
    return frozenset(codes)
