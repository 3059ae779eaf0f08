"""The root of govpulse's error tree, and the errors of the domain.

Every package adds its own branch under :class:`GovpulseError` in its own ``errors.py``
(``alerts.errors``, ``web.errors``). The tree::

    GovpulseError
    ├── ConfigError              a setting or a config file is wrong; the message says how to fix it
    ├── ServiceError             a process govpulse starts or needs (broker, Redis) is not usable
    ├── InvalidId                not an id or a unit code (domain.ids); callers re-raise it as their own
    ├── Rejected                 input that goes to gov.deadletter, with a reason
    │   ├── InvalidEvent         the message is not a valid event (bytes, JSON, fields)
    │   └── InvalidTransition    a valid event that cannot apply to the item's state
    ├── AlertsError              (alerts.errors)
    └── WebError                 (web.errors)
"""

from __future__ import annotations


class GovpulseError(Exception):
    """Base class of every error raised on purpose by govpulse."""


class ConfigError(GovpulseError):
    """A setting, environment variable or configuration file is invalid."""


class ServiceError(GovpulseError):
    """A service govpulse starts or connects to could not be used."""


class InvalidId(GovpulseError, ValueError):
    """A text is not an id or a unit code (:mod:`domain.ids`); the message names the field."""


class Rejected(GovpulseError):
    """Input that cannot be applied; it is dead-lettered with :attr:`reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidEvent(Rejected):
    """The message is not a valid event of the contract."""


class InvalidTransition(Rejected):
    """The event is valid but impossible for the item's current state."""
