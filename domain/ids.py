"""Identifiers: the one definition of an id and of a unit code.

An *id* names an item, an event, an alert or a silence: letters, digits and ``._:/-``,
starting with a letter or a digit (``PA-2026/11/0001``, ``ev:42``). A *unit code* names a
unit of the catalog: uppercase letters, digits and ``-``, at most 48 characters
(``P-BEN-THANH``). Both are safe in URLs, Redis keys and log lines as they are.

Every module that accepts one from outside (events, commands, board frames, tokens, page
paths, the catalog file) checks it here, and re-raises :class:`~domain.errors.InvalidId`
as its own error where its callers expect one.
"""

from __future__ import annotations

import re

from domain.errors import InvalidId

#: Regular expression of an id (without a length bound; see :data:`ID_MAX_LENGTH`).
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:/-]*"
#: Longest id accepted anywhere; event fields have tighter limits (``MAX_LENGTH``).
ID_MAX_LENGTH = 200
#: Longest unit code.
UNIT_CODE_MAX_LENGTH = 48
#: Regular expression of a unit code, length bound included (usable inside other patterns).
UNIT_CODE_PATTERN = rf"[A-Z0-9][A-Z0-9-]{{0,{UNIT_CODE_MAX_LENGTH - 1}}}"

_ID = re.compile(rf"{ID_PATTERN}\Z")
_UNIT_CODE = re.compile(rf"{UNIT_CODE_PATTERN}\Z")


def valid_id(text: object, *, max_length: int = ID_MAX_LENGTH) -> bool:
    """Return whether ``text`` is a string that is an id of at most ``max_length`` characters."""
    return isinstance(text, str) and len(text) <= max_length and _ID.match(text) is not None


def check_id(text: str, *, field: str, max_length: int = ID_MAX_LENGTH) -> str:
    """Return ``text`` if it is an id.

    Args:
        text: the candidate.
        field: name of the field it came from, for the message.
        max_length: longest accepted id.

    Raises:
        InvalidId: the message names ``field`` and what is wrong.
    """
    if len(text) > max_length:
        raise InvalidId(f"field '{field}' is {len(text)} characters, over the limit of {max_length}")
    if not _ID.match(text):
        raise InvalidId(f"field '{field}' = {text[:80]!r} has characters outside letters, digits and ._:/-")
    return text


def valid_unit_code(text: object) -> bool:
    """Return whether ``text`` is a string that is a unit code."""
    return isinstance(text, str) and _UNIT_CODE.match(text) is not None


def check_unit_code(text: str, *, field: str) -> str:
    """Return ``text`` if it is a unit code.

    Args:
        text: the candidate.
        field: name of the field it came from, for the message.

    Raises:
        InvalidId: the message names ``field`` and says what a unit code is.
    """
    if not _UNIT_CODE.match(text):
        raise InvalidId(
            f"field '{field}' = {text[:80]!r} is not a unit code; use uppercase letters, "
            f"digits and '-', at most {UNIT_CODE_MAX_LENGTH} characters (e.g. 'P-BEN-THANH')"
        )
    return text
