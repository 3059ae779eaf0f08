"""Board tokens: minting, verification against an injected now, scopes."""

from __future__ import annotations

import jwt
import pytest
from hypothesis import given

from tests.support.strategies import json_scalars, json_values
from web.auth import (
    AUDIENCE,
    Claims,
    Scope,
    mint_token,
    parse_scope,
    read_token_id,
    signing_key,
    verify_token,
)
from web.errors import AuthError

SECRET = "a-long-enough-test-secret-value"
NOW = 1_750_000_000.0
UNITS = {"P-SAI-GON", "SO-NOI-VU"}


def known(code: str) -> bool:
    return code in UNITS


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("wall", Scope("wall")),
        ("leader", Scope("leader")),
        ("unit:P-SAI-GON", Scope("unit", "P-SAI-GON")),
    ],
)
def test_mint_then_verify_round_trips_scope_subject_and_expiry(scope: str, expected: Scope) -> None:
    token = mint_token(SECRET, scope=scope, ttl_seconds=600, subject="an.nguyen", now=NOW)

    claims = verify_token(SECRET, token, now=NOW + 599, unit_exists=known)

    assert claims == Claims(expected, "an.nguyen", NOW + 600, claims.token_id)
    assert claims.token_id is not None and len(claims.token_id) == 32


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "bad signature"),
        (lambda t: "not.a.jwt", "malformed token"),
        (lambda t: "", "no token"),
        (lambda t: "x" * 5000, "token longer than 4096 characters"),
    ],
)
def test_tampered_or_garbage_tokens_are_refused(mutate: object, reason: str) -> None:
    token = mint_token(SECRET, scope="wall", ttl_seconds=600, subject="s", now=NOW)

    with pytest.raises(AuthError) as caught:
        verify_token(SECRET, mutate(token), now=NOW)  # type: ignore[operator]

    assert caught.value.reason == reason


def test_token_signed_with_another_secret_is_refused() -> None:
    token = mint_token("another-secret-of-some-length", scope="wall", ttl_seconds=600, subject="s", now=NOW)

    with pytest.raises(AuthError, match=r"^bad signature$"):
        verify_token(SECRET, token, now=NOW)


@pytest.mark.parametrize("after", [600.0, 601.0, 86400.0])
def test_expired_token_is_refused_at_and_after_exp(after: float) -> None:
    token = mint_token(SECRET, scope="wall", ttl_seconds=600, subject="s", now=NOW)

    with pytest.raises(AuthError, match=f"^expired {after - 600:.0f}s ago$"):
        verify_token(SECRET, token, now=NOW + after)


def test_expiry_uses_the_injected_now_not_the_system_clock() -> None:
    long_ago = 1_000_000_000.0
    token = mint_token(SECRET, scope="wall", ttl_seconds=60, subject="s", now=long_ago)

    assert verify_token(SECRET, token, now=long_ago + 30).expires_at == long_ago + 60


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"scope": "wall", "sub": "s", "aud": AUDIENCE}, "missing claim 'exp'"),
        ({"scope": "wall", "exp": NOW + 60, "aud": AUDIENCE}, "missing claim 'sub'"),
        ({"sub": "s", "exp": NOW + 60, "aud": AUDIENCE}, "missing claim 'scope'"),
        ({"scope": "wall", "sub": "s", "exp": NOW + 60, "aud": "other-app"}, "wrong audience"),
        (
            {"scope": "admin", "sub": "s", "exp": NOW + 60, "aud": AUDIENCE},
            "scope 'admin' must be 'wall', 'leader' or 'unit:<CODE>'",
        ),
        (
            {"scope": "unit:p-lower", "sub": "s", "exp": NOW + 60, "aud": AUDIENCE},
            "scope 'unit:p-lower': unit code must be uppercase letters, digits and '-'",
        ),
        (
            {"scope": "unit:P-NOWHERE", "sub": "s", "exp": NOW + 60, "aud": AUDIENCE},
            "scope 'unit:P-NOWHERE': unit P-NOWHERE is not in the unit catalog",
        ),
        (
            {"scope": ["wall"], "sub": "s", "exp": NOW + 60, "aud": AUDIENCE},
            "claims 'scope' and 'sub' must be strings",
        ),
    ],
)
def test_hand_made_tokens_with_bad_claims_are_refused(claims: dict[str, object], reason: str) -> None:
    token = jwt.encode(claims, signing_key(SECRET), algorithm="HS256")

    with pytest.raises(AuthError) as caught:
        verify_token(SECRET, token, now=NOW, unit_exists=known)

    assert caught.value.reason == reason


def test_none_algorithm_is_refused() -> None:
    token = jwt.encode(
        {"scope": "wall", "sub": "s", "exp": NOW + 60, "aud": AUDIENCE}, None, algorithm="none"
    )

    with pytest.raises(AuthError, match=r"^invalid token"):
        verify_token(SECRET, token, now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scope": "unit:P-NOWHERE"}, "unit P-NOWHERE is not in the unit catalog"),
        ({"scope": "root"}, "scope 'root' must be"),
        ({"ttl_seconds": 0}, "ttl_seconds must be > 0, got 0"),
        ({"subject": ""}, "subject must be 1-200 printable characters"),
    ],
)
def test_mint_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "scope": "wall",
        "ttl_seconds": 60,
        "subject": "s",
        "now": NOW,
        "unit_exists": known,
    }
    args.update(kwargs)

    with pytest.raises(AuthError, match=message):
        mint_token(SECRET, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("wall", Scope("wall")),
        ("leader", Scope("leader")),
        ("unit:SO-NOI-VU", Scope("unit", "SO-NOI-VU")),
    ],
)
def test_parse_scope_and_text_round_trip(text: str, scope: Scope) -> None:
    assert parse_scope(text, unit_exists=known) == scope
    assert scope.text == text


@pytest.mark.parametrize("text", ["", "unit:", "unit", "WALL", "leader:x", "unit:P SAI"])
def test_parse_scope_refuses_malformed_scopes(text: str) -> None:
    with pytest.raises(AuthError, match="scope"):
        parse_scope(text)


def test_every_token_gets_its_own_id_and_a_given_id_is_kept() -> None:
    first = mint_token(SECRET, scope="wall", ttl_seconds=60, subject="Màn hình tường", now=NOW)
    second = mint_token(SECRET, scope="wall", ttl_seconds=60, subject="Màn hình tường", now=NOW)
    named = mint_token(SECRET, scope="wall", ttl_seconds=60, subject="x", now=NOW, token_id="wall-1")

    ids = [verify_token(SECRET, t, now=NOW).token_id for t in (first, second, named)]

    assert ids[0] != ids[1] and ids[2] == "wall-1"


def test_a_subject_with_vietnamese_letters_round_trips() -> None:
    token = mint_token(SECRET, scope="leader", ttl_seconds=60, subject="Nguyễn Văn A", now=NOW)

    assert verify_token(SECRET, token, now=NOW).subject == "Nguyễn Văn A"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "claim 'jti' must be 1-64 letters, digits, '-' or '_'"),
        ("has space", "claim 'jti' must be 1-64 letters, digits, '-' or '_'"),
        ("x" * 65, "claim 'jti' must be 1-64 letters, digits, '-' or '_'"),
        (7, "invalid token (InvalidJTIError)"),  # PyJWT's own type check
    ],
)
def test_a_malformed_token_id_is_refused(bad: object, reason: str) -> None:
    payload = {"scope": "wall", "sub": "s", "aud": AUDIENCE, "exp": int(NOW + 60), "jti": bad}
    token = jwt.encode(payload, signing_key(SECRET), algorithm="HS256")

    with pytest.raises(AuthError) as refused:
        verify_token(SECRET, token, now=NOW)
    assert refused.value.reason == reason


def test_a_token_minted_without_an_id_still_verifies_but_cannot_be_revoked() -> None:
    payload = {"scope": "wall", "sub": "s", "aud": AUDIENCE, "exp": int(NOW + 60)}
    token = jwt.encode(payload, signing_key(SECRET), algorithm="HS256")

    assert verify_token(SECRET, token, now=NOW).token_id is None
    with pytest.raises(AuthError, match="the token has no id"):
        read_token_id(SECRET, token)


def test_the_id_of_an_expired_token_can_still_be_read_to_revoke_it() -> None:
    token = mint_token(SECRET, scope="wall", ttl_seconds=60, subject="s", now=NOW, token_id="old-wall")

    assert read_token_id(SECRET, token) == ("old-wall", NOW + 60)
    with pytest.raises(AuthError, match="bad signature"):
        read_token_id("another-long-enough-secret-value", token)


@given(jti=json_values(json_scalars(text_size=80), max_leaves=4))
def test_any_token_id_claim_verifies_or_is_refused_with_a_reason(jti: object) -> None:
    payload = {"scope": "wall", "sub": "s", "aud": AUDIENCE, "exp": int(NOW + 60), "jti": jti}
    token = jwt.encode(payload, signing_key(SECRET), algorithm="HS256")

    try:
        claims = verify_token(SECRET, token, now=NOW)
    except AuthError as exc:
        assert exc.reason
    else:
        assert isinstance(claims.token_id, str) and claims.token_id == jti
