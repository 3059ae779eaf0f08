"""``govpulse token``: who holds a token (--subject), its id on stderr, and --revoke."""

from __future__ import annotations

import time

import pytest

from govpulse.cli import main
from runtime.revocations import KEY_PREFIX
from runtime.settings import DEV_SECRET
from web.auth import verify_token


def minted(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    assert main(["token", *argv]) == 0
    captured = capsys.readouterr()
    return captured.out.strip(), captured.err


def test_a_leader_token_carries_the_person_and_says_its_id(capsys: pytest.CaptureFixture[str]) -> None:
    token, err = minted(capsys, "--scope", "leader", "--subject", "Nguyễn Văn A")

    claims = verify_token(DEV_SECRET, token, now=time.time())
    assert (claims.scope.text, claims.subject) == ("leader", "Nguyễn Văn A")
    assert err.startswith(f"token id {claims.token_id}, leader for 'Nguyễn Văn A', expires ")


def test_a_wall_token_defaults_to_the_wall_screen(capsys: pytest.CaptureFixture[str]) -> None:
    token, _ = minted(capsys, "--scope", "wall", "--ttl", "30d")

    claims = verify_token(DEV_SECRET, token, now=time.time())
    assert claims.subject == "Màn hình phòng điều hành"
    assert 30 * 86400 - 5 < claims.expires_at - time.time() <= 30 * 86400


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--scope", "leader"], 'govpulse token: a leader token needs --subject "<the person\'s name>"\n'),
        (
            ["--scope", "unit:P-SAI-GON"],
            'govpulse token: a unit:P-SAI-GON token needs --subject "<the person\'s name>"\n',
        ),
        ([], "govpulse token: give --scope (wall | leader | unit:<CODE>), or --revoke TOKEN\n"),
        (["--revoke", "not-a-token"], "govpulse token: malformed token\n"),
    ],
    ids=["leader-without-subject", "unit-without-subject", "nothing", "revoke-garbage"],
)
def test_mistakes_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    assert main(["token", *argv]) == 2

    assert capsys.readouterr().err == error


@pytest.mark.integration
def test_revoke_puts_the_token_id_on_the_revoked_list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    import redis

    monkeypatch.setenv("GOVPULSE_REDIS_URL", redis_url)
    token, _ = minted(capsys, "--scope", "wall", "--ttl", "1h")
    token_id = verify_token(DEV_SECRET, token, now=time.time()).token_id

    assert main(["token", "--revoke", token]) == 0

    assert capsys.readouterr().out == f"revoked token {token_id}\n"
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists(KEY_PREFIX + str(token_id)) == 1
    finally:
        client.close()
