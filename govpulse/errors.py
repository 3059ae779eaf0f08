"""Errors shared by every govpulse package.

The tree is short on purpose::

    GovpulseError
    ├── ConfigError          a setting or a config file is wrong; the message says how to fix it
    └── ServiceError         a process govpulse starts or needs (broker, Redis) is not usable
"""

from __future__ import annotations


class GovpulseError(Exception):
    """Base class of every error raised on purpose by govpulse."""


class ConfigError(GovpulseError):
    """A setting, environment variable or configuration file is invalid."""


class ServiceError(GovpulseError):
    """A service govpulse starts or connects to could not be used."""
