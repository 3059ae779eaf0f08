"""The city's operating indicators (bộ chỉ số điều hành): catalog, reports, projection, status.

Pure model, like the rest of :mod:`domain`: :mod:`.periods` (year, quarter and month
periods in local time), :mod:`.catalog` (the TOML catalog of indicators and their
targets), :mod:`.reports` (one reported value, validated), :mod:`.projection` (expected to
date, projected end value from pace and trend) and :mod:`.status` (red / orange / green /
grey with reasons and hysteresis). ``docs/indicators.md`` explains the formula.
"""
