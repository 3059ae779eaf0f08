"""Board tokens: PyJWT HS256 with a scope, a subject and an expiry.

Scopes (docs/protocol.md "Tokens"):

* ``wall``: read everything (the control-room display);
* ``leader``: read everything; acknowledge alerts, request explanations;
* ``unit:<CODE>``: only that unit's counters, alerts and queue; answer explanation requests.

Every token carries an id (``jti``) so that one token can be revoked before it expires
(``govpulse token-revoke``, :mod:`runtime.revocations`); a read-only ``wall`` token is what a
kiosk keeps in its browser's localStorage.

Expiry is checked against the ``now`` the caller passes (PyJWT's own clock is turned off),
so tests and accelerated demos stay deterministic. Tokens carry ``aud = govpulse-board`` so
a token signed with the same secret for something else is refused. The HMAC key is derived
from ``GOVPULSE_SECRET`` (SHA-256 of a purpose label and the secret), which gives the 32-byte
key HS256 wants whatever the secret's length and keeps board tokens separate from any other
use of the secret.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from domain.ids import valid_unit_code
from web.errors import AuthError

AUDIENCE = "govpulse-board"
ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096
_SUBJECT = re.compile(r"[^\x00-\x1f\x7f]{1,200}\Z")
_TOKEN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


@dataclass(frozen=True, slots=True)
class Scope:
    """What a token may see and do. ``unit`` is set only for ``kind == "unit"``."""

    kind: str  # "wall" | "leader" | "unit"
    unit: str | None = None

    @property
    def text(self) -> str:
        """The scope as written in tokens: ``wall``, ``leader`` or ``unit:<CODE>``."""
        return f"unit:{self.unit}" if self.kind == "unit" else self.kind

    @property
    def reads_all(self) -> bool:
        """Wall and leader scopes see every unit."""
        return self.kind in ("wall", "leader")


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified token."""

    scope: Scope
    subject: str
    expires_at: float
    token_id: str | None = None  # "jti"; tokens minted before ids existed have none


def signing_key(secret: str) -> bytes:
    """The HS256 key of board tokens, derived from ``GOVPULSE_SECRET``."""
    return hashlib.sha256(b"govpulse board token v1\x00" + secret.encode()).digest()


def parse_scope(text: str, *, unit_exists: Callable[[str], bool] | None = None) -> Scope:
    """Parse ``wall``, ``leader`` or ``unit:<CODE>``.

    Args:
        text: the scope string.
        unit_exists: predicate telling whether a unit code is in the catalog; when
            given, ``unit:<CODE>`` of an unknown unit is refused.

    Raises:
        AuthError: malformed scope or unknown unit.
    """
    if text in ("wall", "leader"):
        return Scope(text)
    prefix, sep, code = text.partition(":")
    if prefix != "unit" or not sep:
        raise AuthError(f"scope {text[:60]!r} must be 'wall', 'leader' or 'unit:<CODE>'")
    if not valid_unit_code(code):
        raise AuthError(f"scope {text[:60]!r}: unit code must be uppercase letters, digits and '-'")
    if unit_exists is not None and not unit_exists(code):
        raise AuthError(f"scope {text[:60]!r}: unit {code} is not in the unit catalog")
    return Scope("unit", code)


def mint_token(
    secret: str,
    *,
    scope: str,
    ttl_seconds: float,
    subject: str,
    now: float,
    unit_exists: Callable[[str], bool] | None = None,
    token_id: str | None = None,
) -> str:
    """Sign a board token.

    Args:
        secret: ``GOVPULSE_SECRET`` (see :func:`runtime.settings.require_secret`).
        scope: ``wall``, ``leader`` or ``unit:<CODE>``.
        ttl_seconds: lifetime from ``now``.
        subject: who holds it (user name or screen id); recorded in commands.
        now: issue instant, real epoch seconds.
        unit_exists: optional catalog check for unit scopes.
        token_id: the ``jti`` claim (a random id when None), used to revoke this token.

    Raises:
        AuthError: the scope or subject is invalid, or the ttl is not positive.
    """
    parsed = parse_scope(scope, unit_exists=unit_exists)
    if ttl_seconds <= 0:
        raise AuthError(f"ttl_seconds must be > 0, got {ttl_seconds}")
    if not _SUBJECT.match(subject):
        raise AuthError("subject must be 1-200 printable characters")
    payload = {
        "scope": parsed.text,
        "sub": subject,
        "aud": AUDIENCE,
        "iat": int(now),
        "exp": int(now + ttl_seconds),
        "jti": token_id or uuid.uuid4().hex,
    }
    return jwt.encode(payload, signing_key(secret), algorithm=ALGORITHM)


def verify_token(
    secret: str,
    token: str,
    *,
    now: float,
    unit_exists: Callable[[str], bool] | None = None,
) -> Claims:
    """Check a token's signature, audience, expiry (against ``now``) and scope.

    Raises:
        AuthError: with a reason that is safe to log (never the token itself).
    """
    if not isinstance(token, str) or not token:
        raise AuthError("no token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthError(f"token longer than {MAX_TOKEN_LENGTH} characters")
    try:
        claims = jwt.decode(
            token,
            signing_key(secret),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={
                "require": ["exp", "scope", "sub", "aud"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise AuthError("bad signature") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"missing claim {exc.claim!r}") from None
    except jwt.InvalidAudienceError:
        raise AuthError("wrong audience") from None
    except jwt.DecodeError:
        raise AuthError("malformed token") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token ({type(exc).__name__})") from None
    expires_at = claims.get("exp")
    if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
        raise AuthError("claim 'exp' is not a number")
    if now >= expires_at:
        raise AuthError(f"expired {now - expires_at:.0f}s ago")
    scope = claims.get("scope")
    subject = claims.get("sub")
    if not isinstance(scope, str) or not isinstance(subject, str) or not _SUBJECT.match(subject):
        raise AuthError("claims 'scope' and 'sub' must be strings")
    token_id = claims.get("jti")
    if token_id is not None and (not isinstance(token_id, str) or not _TOKEN_ID.match(token_id)):
        raise AuthError("claim 'jti' must be 1-64 letters, digits, '-' or '_'")
    return Claims(parse_scope(scope, unit_exists=unit_exists), subject, float(expires_at), token_id)


def read_token_id(secret: str, token: str) -> tuple[str, float]:
    """The id and expiry of a token signed with ``secret``, expired or not (to revoke it).

    Raises:
        AuthError: the token is not ours or has no id.
    """
    claims = verify_token(secret, token, now=float("-inf"))
    if claims.token_id is None:
        raise AuthError(
            "the token has no id (minted before tokens carried one); change GOVPULSE_SECRET to revoke it"
        )
    return claims.token_id, claims.expires_at
