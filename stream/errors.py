"""Errors of the stream package.

::

    GovpulseError
    └── StreamError
        └── Rejected                 input that goes to gov.deadletter, with a reason
            ├── InvalidEvent         the message is not a valid event (bytes, JSON, fields)
            └── InvalidTransition    a valid event that cannot apply to the item's state
"""

from __future__ import annotations

from govpulse.errors import GovpulseError


class StreamError(GovpulseError):
    """Base class of stream processing errors."""


class Rejected(StreamError):
    """Input that cannot be applied; it is dead-lettered with :attr:`reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidEvent(Rejected):
    """The message is not a valid event of the contract."""


class InvalidTransition(Rejected):
    """The event is valid but impossible for the item's current state."""
