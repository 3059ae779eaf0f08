"""Report fixtures for the web and CLI tests: a few closed months of a few units."""

from __future__ import annotations

from domain.reports import Figures, Period, Report
from domain.sketch import Sketch

CITY, WARD_A, WARD_B, DEPT = "HCM", "P-SAI-GON", "P-BEN-THANH", "SO-NOI-VU"


def make_report(
    unit: str, month: str, *, received: int, resolved: int, on_time: int, revision: int = 1
) -> Report:
    start, end = Period.parse(month).bounds()
    sketch = Sketch()
    for day in range(1, resolved + 1):
        sketch.add(float(1 + day % 5))  # working days
    figures = Figures(
        received=received,
        carried_over=3,
        resolved=resolved,
        on_time=on_time,
        late=resolved - on_time,
        late_open=1,
        open_at_end=3 + received - resolved,
        transferred_in=2,
        transferred_out=1,
        reopened=1,
        avg_days=2.5,
        p90_days=4.0,
    )
    counts = {
        "received": received,
        "resolved": resolved,
        "resolved_on_time": on_time,
        "resolved_late": resolved - on_time,
        "transferred_in": 2,
        "transferred_out": 1,
        "reopened": 1,
        "opened": received + 2 + 1,
        "closed": resolved + 1,
    }
    if unit == "P-SAI-GON":  # a few items of the work-from-home pilot, and one staff member
        counts |= {
            "received@m:home": 12,
            "resolved@m:home": 10,
            "resolved_on_time@m:home": 9,
            "resolved_late@m:home": 1,
            "received@c:moi-truong": received,
            "resolved@a:cb-0042": 5,
            "resolved_on_time@a:cb-0042": 5,
        }
    return Report(unit, month, start, end, revision, end + 3600.0 * revision, figures, counts, sketch)


def sample_reports() -> list[Report]:
    """Three months of Q4 2026 for the city, two wards and a department; November of
    P-SAI-GON is in its second revision."""
    out = []
    for month, factor in (("2026-10", 1), ("2026-11", 2), ("2026-12", 3)):
        out.append(
            make_report(CITY, month, received=400 * factor, resolved=300 * factor, on_time=270 * factor)
        )
        out.append(
            make_report(
                WARD_A,
                month,
                received=40 * factor,
                resolved=30 * factor,
                on_time=29 * factor,
                revision=2 if month == "2026-11" else 1,
            )
        )
        out.append(
            make_report(WARD_B, month, received=50 * factor, resolved=40 * factor, on_time=30 * factor)
        )
        out.append(make_report(DEPT, month, received=5, resolved=3, on_time=3))
    return out
