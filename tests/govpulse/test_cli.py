"""The ``govpulse`` command line, in-process: its commands, exit codes and one-line errors.

Commands that start services are tested where they live (tests/govpulse/test_dev.py,
tests/govpulse/simulator/test_command.py, tests/govpulse/test_replay.py,
tests/govpulse/test_stats.py); secrets in production in tests/govpulse/test_security.py.
"""

from __future__ import annotations

import re
import time
import uuid

import jwt
import pytest

from govpulse.cli import main
from runtime import services
from runtime.settings import DEV_SECRET, OPTIONS, load_settings
from runtime.topics import Topics
from web.auth import AUDIENCE, signing_key, verify_token

COMMANDS = [
    "dev",
    "worker",
    "web",
    "notify",
    "simulate",
    "replay",
    "report",
    "token",
    "stats",
    "indicators",
    "topics",
    "silence",
    "api",
    "apikey",
    "settings",
]


def test_without_a_command_the_help_lists_exactly_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2

    help_text = capsys.readouterr().out
    assert help_text.startswith("usage: govpulse [-h] COMMAND ...")
    assert re.findall(r"^    ([a-z]+)\b", help_text, re.M) == COMMANDS


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve"])

    assert exited.value.code == 2
    assert "invalid choice: 'serve'" in capsys.readouterr().err


def test_token_prints_a_token_signed_with_the_dev_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--scope", "unit:P-BEN-THANH", "--ttl", "10m", "--sub", "an.nguyen"]) == 0

    token = capsys.readouterr().out.strip()
    claims = verify_token(DEV_SECRET, token, now=time.time())
    assert (claims.scope.text, claims.subject) == ("unit:P-BEN-THANH", "an.nguyen")
    assert 590 < claims.expires_at - time.time() <= 600
    assert jwt.decode(token, signing_key(DEV_SECRET), algorithms=["HS256"], audience=AUDIENCE)["sub"] == (
        "an.nguyen"
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["token", "--scope", "unit:NOPE"],
            "govpulse token: scope 'unit:NOPE': unit NOPE is not in the unit catalog\n",
        ),
        (["silence"], "govpulse silence: give --unit and/or --rule\n"),
    ],
    ids=["unknown-unit", "silence-without-target"],
)
def test_errors_are_one_line_and_exit_2(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2

    out, err = capsys.readouterr()
    assert (out, err) == ("", error)


def test_silence_names_the_rules_when_given_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["silence", "--rule", "too_loud"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("govpulse silence: --rule 'too_loud' is not a rule; use one of: ")
    assert "unit_surge" in err


def test_settings_lists_every_variable_and_hides_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOVPULSE_SECRET", "a-secret-that-is-long-enough")
    monkeypatch.setenv("GOVPULSE_PARTITIONS", "12")

    assert main(["settings"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [option.env for option in OPTIONS]
    assert "GOVPULSE_SECRET=(set)" in lines
    assert "GOVPULSE_PARTITIONS=12" in lines


def test_settings_markdown_is_the_documentation_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "--markdown"]) == 0

    table = capsys.readouterr().out
    assert table.startswith("|")
    assert all(f"`{option.env}`" in table for option in OPTIONS)


@pytest.mark.integration
def test_topics_creates_every_topic_once(
    broker: services.Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {
        "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
        "GOVPULSE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
        "GOVPULSE_PARTITIONS": "1",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    names = Topics.for_settings(load_settings(environ)).all()

    assert main(["topics"]) == 0
    assert main(["topics"]) == 0

    assert (
        capsys.readouterr().out
        == f"{len(names)} topics created: {', '.join(names)}\n0 topics created (all existed)\n"
    )
