"""Hypothesis strategies shared by the fuzz tests of every input (topics, commands, frames)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_scalars(*, text_size: int) -> st.SearchStrategy[Any]:
    """Any JSON scalar: null, booleans, 64-bit integers, finite floats, short text."""
    return (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=text_size)
    )


def json_values(scalars: st.SearchStrategy[Any], *, max_leaves: int) -> st.SearchStrategy[Any]:
    """Any JSON value built from ``scalars``: small arrays and objects, nested."""
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )
