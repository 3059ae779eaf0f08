"""The root of govpulse's error tree, and the errors of the domain.

Every package adds its own branch under :class:`GovpulseError` in its own ``errors.py``
(``alerts.errors``, ``web.errors``). The tree::

    GovpulseError
    ├── ConfigError              a setting or a config file is wrong; the message says how to fix it
    │                            (files: config_file_error's "<kind> file <path>: <entry>: <what>; <fix>")
    ├── ServiceError             a process govpulse starts or needs (broker, Redis) is not usable
    ├── InvalidId                not an id or a unit code (domain.ids); callers re-raise it as their own
    ├── InvalidPeriod            not a report period (domain.reports): 2026-11, 2026-Q4, 2026
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


class InvalidPeriod(GovpulseError, ValueError):
    """A report period string that is not ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""


class Rejected(GovpulseError):
    """Input that cannot be applied; it is dead-lettered with :attr:`reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidEvent(Rejected):
    """The message is not a valid event of the contract."""


class InvalidTransition(Rejected):
    """The event is valid but impossible for the item's current state."""


def config_file_error(kind: str, path: object, entry: str, problem: str, fix: str) -> ConfigError:
    """A :class:`ConfigError` about one entry of a configuration file, in the one form
    ``<kind> file <path>: <entry>: <what is wrong>; <how to fix>``.

    Args:
        kind: what the file holds: ``unit catalog``, ``calendar``, ``SLA``, ``rules``.
        path: the file; ``None`` for data not read from a file (the message then starts
            with ``<kind>:``).
        entry: the entry at fault, as the file spells it (``[category.y-te]``, ``unit P-1``,
            ``override #2``), or ``syntax`` / ``path`` for the file as a whole.
        problem: what is wrong with it.
        fix: how to fix it.
    """
    where = kind if path is None else f"{kind} file {path}"
    return ConfigError(f"{where}: {entry}: {problem}; {fix}")
