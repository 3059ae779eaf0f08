"""Hypothesis settings of the fuzz tests: bounded, reproducible, no example database.

Each fuzz test is decorated with :data:`FUZZ` (or a copy with another ``max_examples``)
instead of loading a global profile, so the settings of other tests do not change.
``derandomize=True`` makes every run draw the same examples (CI is reproducible, a failure
reproduces locally) and ``database=None`` keeps ``.hypothesis/`` out of the tree.
The deadline is generous: it only catches pathological inputs (a parser going quadratic),
not a busy CI machine.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, Phase, settings

FUZZ = settings(
    derandomize=True,
    database=None,
    max_examples=200,
    deadline=timedelta(seconds=2),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(max_examples: int, *, shrink: bool = True) -> settings:
    """:data:`FUZZ` with another number of examples.

    Args:
        max_examples: examples to run.
        shrink: false for tests whose examples are expensive: a failure then reports the
            drawn example as found instead of spending minutes minimising it.
    """
    if shrink:
        return settings(FUZZ, max_examples=max_examples)
    return settings(
        FUZZ,
        max_examples=max_examples,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target),
    )
