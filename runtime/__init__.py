"""What every govpulse process shares to meet the world: settings, clocks, topics, the board store.

The rule of this floor: a piece belongs here when it touches the outside world (the
environment, the system clock, the broker's admin API, Redis, child processes, logging,
the C allocator) *and* more than one kind of process needs it (worker, web node, CLI).
It stands on :mod:`domain` only; :mod:`stream`, :mod:`web` and the entry points stand on
it, and it imports none of them.
"""
