"""``govpulse apikey``: create (printed once), list, revoke, and refusals, on a real Redis."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from api.keys import hash_secret

pytestmark = pytest.mark.integration


def apikey(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOVPULSE_REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "-m", "govpulse.cli", "apikey", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_create_prints_the_key_once_and_stores_only_its_hash(redis_url: str) -> None:
    import redis

    created = apikey(
        redis_url, "create", "--name", "portal-1022", "--units", "P-SAI-GON,P-BEN-THANH", "--rate", "200/s"
    )
    listed = apikey(redis_url, "list")

    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("gpk_")
    assert created.stderr.strip() == (
        "key 'portal-1022' created: units P-BEN-THANH, P-SAI-GON, 200 requests/s. "
        "It is shown only now; store it safely."
    )
    assert listed.stdout == "portal-1022\tP-BEN-THANH, P-SAI-GON\t200/s\n"
    client = redis.Redis.from_url(redis_url)
    stored = b"".join(k + v for k, v in client.hgetall("api:keys").items())
    stored += b"".join(k + v for k, v in client.hgetall("api:key-hashes").items())
    client.close()
    assert secret.encode() not in stored and hash_secret(secret).encode() in stored


def test_revoke_by_name_and_refusals_say_what_to_do(redis_url: str) -> None:
    assert apikey(redis_url, "create", "--name", "ward").returncode == 0
    twice = apikey(redis_url, "create", "--name", "ward")
    bad_unit = apikey(redis_url, "create", "--name", "x", "--units", "NOPE")
    bad_rate = apikey(redis_url, "create", "--name", "y", "--rate", "lots")
    revoked = apikey(redis_url, "revoke", "--name", "ward")
    again = apikey(redis_url, "revoke", "--name", "ward")

    assert (twice.returncode, twice.stderr.strip()) == (
        2,
        "govpulse apikey: error: a key named 'ward' exists; revoke it first "
        "(`govpulse apikey revoke --name ward`) or choose another name",
    )
    assert bad_unit.returncode == 2 and "unknown unit NOPE" in bad_unit.stderr
    assert bad_rate.returncode == 2 and "rate 'lots' must look like 200/s or 6000/min" in bad_rate.stderr
    assert (revoked.returncode, revoked.stderr.strip()) == (0, "key 'ward' revoked")
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "govpulse apikey: no key named 'ward' (`govpulse apikey list`)",
    )
    assert apikey(redis_url, "list").stdout == ""
