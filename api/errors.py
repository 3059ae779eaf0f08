"""Errors of the API package.

::

    GovpulseError
    └── ApiError               (api.errors)
        └── ApiKeyError        an API key spec or name is invalid (``govpulse apikey``)
"""

from __future__ import annotations

from domain.errors import GovpulseError


class ApiError(GovpulseError):
    """Base class of the API's errors."""


class ApiKeyError(ApiError):
    """An API key option or name is invalid; the message says how to fix it."""
