"""Errors of the alerts package.

::

    GovpulseError
    ├── ConfigError              the rules file is invalid (domain.errors)
    └── AlertsError
        └── CommandRejected      a command on gov.commands cannot apply; see .reason
"""

from __future__ import annotations

from domain.errors import GovpulseError


class AlertsError(GovpulseError):
    """Base class of alert errors."""


class CommandRejected(AlertsError):
    """A command (ack, explanation, silence) is malformed or not allowed.

    The stage logs it, answers the sender with :attr:`reason` if it can, and goes on.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
