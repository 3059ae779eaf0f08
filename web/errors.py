"""Errors of the web package.

::

    GovpulseError
    └── WebError
        ├── AuthError        a token is missing, malformed, badly signed, expired or out of scope
        ├── ProtocolError    a client frame is not valid JSON or not a frame of the protocol
        ├── IndicatorScopeError  a unit token asked for another unit's indicators (403)
        └── ReportRequestError  a /reports request is malformed, unknown or out of scope (HTTP status)

Errors inside a websocket connection cannot reach a caller: the handler logs them with
``exc_info=True`` and closes the connection with 1011; other connections go on.
"""

from __future__ import annotations

from domain.errors import GovpulseError


class WebError(GovpulseError):
    """Base class of web errors."""


class AuthError(WebError):
    """The token cannot be accepted. :attr:`reason` is safe to log (it never holds the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProtocolError(WebError):
    """A client frame is invalid.

    Args:
        code: short machine code sent in the error frame (``bad_json``, ``bad_frame``,
            ``unknown_type``, ``too_large``).
        message: what is wrong and how to fix it.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IndicatorScopeError(WebError):
    """A token's scope does not cover the indicators asked for; the message says what it covers."""


class ReportRequestError(WebError):
    """A ``/reports`` request that cannot be answered.

    Args:
        status: the HTTP status (400 malformed, 401 no or bad token, 403 out of scope,
            404 unknown period or unit, 503 reports unavailable).
        message: what is wrong and how to fix it (sent to the client).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
