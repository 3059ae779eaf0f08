"""Settings never give production a secret it was not given.

Only the ``dev`` profile falls back to the public dev secret; a blank value in production
is a missing secret. (Exact messages for a missing, short or public secret are in
tests/runtime/test_settings.py.)
"""

from __future__ import annotations

import pytest

from domain.errors import ConfigError
from runtime.settings import DEV_SECRET, load_settings, require_secret

SECRET = "production-secret-0123456789abcdef"


@pytest.mark.parametrize("secret", ["", "   ", "\t\n"])
def test_production_treats_a_blank_secret_as_missing(secret: str) -> None:
    settings = load_settings({"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": secret})

    assert settings.secret == ""
    with pytest.raises(ConfigError, match=r"^GOVPULSE_SECRET is missing, and has no default outside"):
        require_secret(settings)


def test_only_the_dev_profile_falls_back_to_the_dev_secret() -> None:
    assert require_secret(load_settings({})) == DEV_SECRET
    assert require_secret(load_settings({"GOVPULSE_PROFILE": "dev"})) == DEV_SECRET
    assert load_settings({"GOVPULSE_PROFILE": "production"}).secret == ""
    assert (
        require_secret(load_settings({"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": SECRET})) == SECRET
    )
