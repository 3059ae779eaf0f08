"""The command line and the dev runner keep the board-token secret secret.

No command that signs or verifies board tokens starts in production without
``GOVPULSE_SECRET`` (exit code 2, one line naming the variable, nothing started); a
production token is signed with the configured secret only; no command prints the secret.
The settings rules behind this are in tests/runtime/test_settings.py and
tests/runtime/test_security.py; the web node's own refusals in tests/web/test_security.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import jwt
import pytest

from runtime.services import free_port
from runtime.settings import DEV_SECRET
from web.auth import AUDIENCE, signing_key, verify_token

SECRET = "production-secret-0123456789abcdef"
MISSING = (
    "GOVPULSE_SECRET is missing, and has no default outside GOVPULSE_PROFILE=dev; "
    "set it to a long random value (e.g. `openssl rand -hex 32`)"
)


def govpulse(*args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI with only ``env`` as GOVPULSE_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOVPULSE_")}
    return subprocess.run(
        [sys.executable, "-m", "govpulse.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def unreachable(tmp_path: Path) -> dict[str, str]:
    """Settings pointing at closed ports: a command that starts anything fails loudly."""
    return {
        "GOVPULSE_BROKER_URL": f"127.0.0.1:{free_port()}",
        "GOVPULSE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "GOVPULSE_WEB_PORT": str(free_port()),
        "GOVPULSE_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.mark.parametrize(
    "args",
    [("web",), ("token", "--scope", "wall"), ("dev", "--no-simulator")],
    ids=["web", "token", "dev"],
)
def test_production_without_a_secret_refuses_to_start(args: tuple[str, ...], tmp_path: Path) -> None:
    started = time.monotonic()
    result = govpulse(*args, env={"GOVPULSE_PROFILE": "production", **unreachable(tmp_path)})

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"govpulse {args[0]}: {MISSING}\n"
    assert time.monotonic() - started < 30
    assert not (tmp_path / "data" / "logs").exists()  # `dev` started no service


def test_a_production_token_is_signed_with_the_configured_secret_only(tmp_path: Path) -> None:
    result = govpulse(
        "token",
        "--scope",
        "leader",
        "--ttl",
        "5m",
        "--subject",
        "Nguyễn Văn A",
        env={"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": SECRET},
    )
    token = result.stdout.strip()

    assert result.returncode == 0
    claims = verify_token(SECRET, token, now=time.time())
    assert result.stderr.startswith(f"token id {claims.token_id}, leader for 'Nguyễn Văn A'")
    assert (claims.scope.text, claims.subject) == ("leader", "Nguyễn Văn A")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, signing_key(DEV_SECRET), algorithms=["HS256"], audience=AUDIENCE)


def test_no_command_prints_the_secret() -> None:
    result = govpulse("settings", env={"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": SECRET})

    assert result.returncode == 0
    assert "GOVPULSE_SECRET=(set)\n" in result.stdout
    assert SECRET not in result.stdout + result.stderr
